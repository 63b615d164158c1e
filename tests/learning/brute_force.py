"""Random sessions and the slow, obvious per-episode references that the brute-force tests
of ``agentnet.learning`` share (this is no test file: the tests import from it).

Sessions are plain Python lists, one row and one tick at a time, written from the
episode-end contract of :class:`agentnet.records.Sessions` only, never from the library's
code: whole episodes with terminations, truncations, restarts inside rows, rows that end
mid-episode, every treatment of the row's end.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FAST = settings(max_examples=100, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LAMBDAS = st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0))
VALUE = st.floats(-5.0, 5.0, allow_nan=False, allow_infinity=False)


# ---------------------------------------------------------------- random sessions

@dataclass
class Case:
    """Sessions as plain Python lists ``[B][T]``, plus how the row's end is treated."""

    alive: list[list[bool]]
    truncated: list[list[bool]]
    rewards: list[list[float]]
    values: list[list[float]]
    gammas: float | list[float] | list[list[float]]   # a number, [B] or [B][T]
    crop_last: bool
    after_end: list[float] | None                      # state_values_after_end, [B]
    end_at_tmax: bool

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rewards), len(self.rewards[0])

    @property
    def cropped(self) -> bool:
        """Whether the row's last tick is only a bootstrap value: ``crop_last``, unless
        ``end_at_tmax`` makes that tick a termination with a reference of its own."""
        return self.crop_last and not self.end_at_tmax

    def gamma(self, b: int, t: int) -> float:
        g = self.gammas
        if isinstance(g, float):
            return g
        return g[b] if isinstance(g[b], float) else g[b][t]  # type: ignore[index,return-value]

    def kwargs(self) -> dict:
        """The library's arguments, as float64 tensors."""
        f64 = torch.float64
        return dict(
            state_values=torch.tensor(self.values, dtype=f64),
            rewards=torch.tensor(self.rewards, dtype=f64),
            is_alive=torch.tensor(self.alive),
            is_truncated=torch.tensor(self.truncated),
            gamma_or_gammas=(self.gammas if isinstance(self.gammas, float)
                             else torch.tensor(self.gammas, dtype=f64)),
            crop_last=self.crop_last,
            # the library refuses a value after the row when the last tick is cropped
            state_values_after_end=(None if self.after_end is None
                                    or (self.crop_last and not self.end_at_tmax)
                                    else torch.tensor(self.after_end, dtype=f64)),
            end_at_tmax=self.end_at_tmax,
        )


@st.composite
def row_structures(draw, length: int, restart: bool = False):
    """``(alive, truncated)`` for one row: segments of alive ticks, each ended by a
    termination (one dead final-state tick), a truncation (flag on the last alive tick, then
    the dead final-state tick) or by the row's end; after a final state, maybe more dead ticks,
    then a new episode or dead to the end. ``restart`` forces a second episode in the row."""
    alive: list[bool] = []
    truncated: list[bool] = []
    lead = 0 if restart else draw(st.sampled_from([0, 0, 0, 1, 2]))
    alive += [False] * min(lead, length)
    truncated += [False] * min(lead, length)
    while len(alive) < length:
        first = restart and not any(alive)
        room = length - len(alive)
        n_alive = draw(st.integers(1, room - 2 if first else room))
        alive += [True] * n_alive
        truncated += [False] * n_alive
        if len(alive) == length:
            break                                   # (c) the row ends while the episode goes on
        truncated[-1] = draw(st.booleans())         # (b) a truncation, else (a) a termination
        alive.append(False)                         # the final state
        truncated.append(False)
        room = length - len(alive)
        alive += [False] * (n_dead := draw(st.integers(0, room - 1 if first else room)))
        truncated += [False] * n_dead
    return alive, truncated


@st.composite
def cases(draw, min_time: int = 2, restart_in_row_0: bool = False) -> Case:
    batch = draw(st.integers(1, 4))
    time = draw(st.integers(min_time, 12))
    rows = [draw(row_structures(time, restart=restart_in_row_0 and b == 0)) for b in range(batch)]
    floats_bt = st.lists(st.lists(VALUE, min_size=time, max_size=time),
                         min_size=batch, max_size=batch)
    unit = st.floats(0.0, 1.0)
    gammas = draw(st.one_of(
        unit,
        st.lists(unit, min_size=batch, max_size=batch),
        st.lists(st.lists(unit, min_size=time, max_size=time), min_size=batch, max_size=batch)))
    return Case(
        alive=[a for a, _ in rows], truncated=[tr for _, tr in rows],
        rewards=draw(floats_bt), values=draw(floats_bt), gammas=gammas,
        crop_last=draw(st.booleans()),
        after_end=draw(st.none() | st.lists(VALUE, min_size=batch, max_size=batch)),
        end_at_tmax=draw(st.booleans()),
    )


# ---------------------------------------------------------------- the slow references

def walk(case: Case, b: int, t: int, n: int | None,
         bonuses: Grid | None = None) -> tuple[float, int]:
    """The n-step reference of alive tick t in row b (n None: unbounded) and the number of
    rewards it summed. Walks forward from t, stopping when the window is full, the episode
    ends or the row ends, then adds the discounted bootstrap value. ``bonuses`` (SAC's
    entropy bonuses): added, discounted, at every tick of the window after t."""
    length = case.shape[1]
    r, v, alive, truncated = case.rewards[b], case.values[b], case.alive[b], case.truncated[b]
    total, discount, s, steps = 0.0, 1.0, t, 0
    while True:
        total += discount * (r[s] + (bonuses[b][s] if bonuses is not None and s > t else 0.0))
        discount *= case.gamma(b, s)
        steps += 1
        if s + 1 == length:                          # past the row (only without crop_last)
            after = 0.0 if case.after_end is None else case.after_end[b]
            return total + discount * (0.0 if case.end_at_tmax else after), steps
        if not alive[s + 1]:                         # the episode ended: s + 1 is its final state
            return total + discount * (v[s + 1] if truncated[s] else 0.0), steps
        if case.cropped and s + 1 == length - 1:   # the row ends: its last tick is a bootstrap
            return total + discount * v[s + 1], steps
        if n is not None and steps == n:             # the window is full
            return total + discount * v[s + 1], steps
        s += 1


def has_reference(case: Case, b: int, t: int) -> bool:
    return case.alive[b][t] and not (case.cropped and t == case.shape[1] - 1)


F64 = torch.float64
SETTINGS = settings(max_examples=25, derandomize=True, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

Grid = list[list[float]]


# ---------------------------------------------------------------- random sessions

@dataclass
class Batch:
    """A :class:`Case` (rewards, values, masks, gammas, the row's end) plus what objectives
    over actions need, as Python lists: Q-values ``[B][T][A]`` (small integers and halves, so
    that ties happen), target Q-values, actions, the target policy's probabilities, the
    behaviour policy's log-probabilities of the actions taken and one more float ``[B][T]``."""

    case: Case
    q: list[Grid]
    q_target: list[Grid]
    actions: list[list[int]]
    pi: list[Grid]
    behaviour: Grid
    other: Grid

    def t(self, name: str) -> torch.Tensor:
        value = getattr(self, name)
        return torch.tensor(value, dtype=torch.int64 if name == "actions" else F64)

    def taken(self, qvalues: list[Grid]) -> Grid:
        """``Q(s_t, a_t)``."""
        return [[row[t][a] for t, a in enumerate(acts)] for row, acts in zip(qvalues, self.actions)]


@st.composite
def batches(draw, min_time: int = 2) -> Batch:
    case = draw(cases(min_time=min_time))
    batch, time = case.shape
    n_actions = draw(st.integers(1, 4))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2 ** 31)))
    shape = (batch, time, n_actions)
    q = torch.randint(-3, 4, shape, generator=gen, dtype=F64) / 2
    pi = torch.softmax(torch.randn(shape, generator=gen, dtype=F64), -1)
    behaviour = torch.rand((batch, time), generator=gen, dtype=F64).clamp(0.05).log()
    return Batch(case=case, q=q.tolist(), q_target=torch.randn(shape, generator=gen).tolist(),
                 actions=torch.randint(0, n_actions, (batch, time), generator=gen).tolist(),
                 pi=pi.tolist(), behaviour=behaviour.tolist(),
                 other=(2 * torch.randn((batch, time), generator=gen, dtype=F64)).tolist())


def session_kwargs(case: Case, end: str | None = "end_at_tmax",
                   after_end: str | None = "state_values_after_end") -> dict:
    """The sessions' keyword arguments of an objective, with its own names for the row's end
    (None: the objective has no such argument, and the case must not use it)."""
    kwargs = case.kwargs()
    del kwargs["state_values"]
    end_at_tmax, after = kwargs.pop("end_at_tmax"), kwargs.pop("state_values_after_end")
    if end is None:
        assert not end_at_tmax
    else:
        kwargs[end] = end_at_tmax
    if after_end is None:
        assert case.after_end is None
    else:
        kwargs[after_end] = after
    return kwargs


def tensor(grid: Grid) -> torch.Tensor:
    return torch.tensor(grid, dtype=F64)


def squared(reference: float, predicted: float) -> float:
    return (reference - predicted) ** 2


def huber(reference: float, predicted: float) -> float:
    d = abs(reference - predicted)
    return 0.5 * d * d if d <= 1.0 else d - 0.5


def per_tick(case: Case, fn) -> Grid:
    """``fn(b, t)`` at every tick that gets a loss of its own, 0 elsewhere."""
    batch, length = case.shape
    return [[fn(b, t) if has_reference(case, b, t) else 0.0 for t in range(length)]
            for b in range(batch)]


def n_step(case: Case, values: Grid, n: int | None, bonuses: Grid | None = None) -> Grid:
    """The n-step reference bootstrapping from ``values``, at ticks with a loss."""
    with_values = replace(case, values=values)
    return per_tick(case, lambda b, t: walk(with_values, b, t, n, bonuses)[0])
