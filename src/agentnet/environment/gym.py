"""Gymnasium pools: an agent playing many Gymnasium environments, recorded as sessions.

:class:`EnvPool` (alias ``GamePool``, the original's names) runs ``n_envs`` Gymnasium
environments, each on its own so that one environment can fail, hang or die and be recreated
without touching the others: with ``vectorization="sync"`` the ``gymnasium.Env`` objects are
stepped directly in this process (the pool emulates Gymnasium's vector autoreset modes itself),
with ``"async"`` each sits in its own ``AsyncVectorEnv`` of one (a worker process). Each tick it
asks the agent for actions (observations gathered into one preallocated array and converted to
the agent's device once), keeps the agent's memory per environment, and records sessions
``[n_envs, n_steps, ...]`` that follow :class:`~agentnet.agent.Sessions`' episode-end
contract, so that every objective and the replay take them as they are:

- an episode's last tick ``t`` is alive; tick ``t + 1`` is dead and observes the state the
  episode ended in (for a time limit, the bootstrap target); tick ``t + 2`` starts the next
  episode, where memory restarts at zeros. Dead ticks earn 0.
- ``is_truncated[t]`` is ``truncated and not terminated`` (both at once counts as terminated).
- Gymnasium's autoreset modes say when an environment is reset after an episode's end: with
  ``NEXT_STEP`` (its default) on the dead tick (the step after the end only resets; its action
  is ignored and it is never recorded as a transition), with ``SAME_STEP`` (the final
  observation from ``info["final_obs"]``) and ``DISABLED`` (an explicit reset) right after the
  last step. The sessions are the same in every mode; only when a reset runs (and when a
  failing one is counted) differs.
- A failure (an exception in ``step``/``reset``, a malformed return from them (an
  :class:`EnvOutputError`, see :class:`EnvPool`), a dead worker process, a step slower than
  ``step_timeout``) aborts that environment's episode: the tick is its last (reward 0, ended as a
  termination, no bootstrap), the next tick is dead and shows the observation the agent acted on,
  and a new episode starts from an environment recreated from the factory. A reset failing
  after a completed last step (``DISABLED``, and ``SAME_STEP`` in ``"sync"``) keeps that step
  as recorded and starts the next episode in a recreated environment. Other environments are
  untouched. ``pool.restarts`` counts recreations, ``pool.failures`` says what happened. The same
  failure in every environment at once is a mistake, not a fault, and raises (see
  :class:`EnvPool`).

>>> import torch
>>> from agentnet import Agent, layers as L
>>> from agentnet.resolver import EpsilonGreedyResolver
>>> obs = L.InputLayer((None, 4), name="observation")
>>> q = L.DenseLayer(obs, num_units=2, nonlinearity=None, name="q")
>>> agent = Agent(obs, policy_estimators=q, action_layers=EpsilonGreedyResolver(q))
>>> with EnvPool(agent, "CartPole-v1", n_envs=2, seed=0) as pool:
...     sessions = pool.interact(5)
>>> sessions.observations.shape, sessions.actions.shape, sessions.is_alive.dtype
(torch.Size([2, 5, 4]), torch.Size([2, 5]), torch.bool)
"""
from __future__ import annotations

import functools
import multiprocessing
import numbers
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import gymnasium
import numpy as np
import torch
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, VectorEnv

from ..agent.sessions import Sessions
from ..layers.base import format_shape
from ..layers.graph import get_all_layers
from .episodes import EpisodeStats

__all__ = ["EnvPool", "GamePool", "EnvFailure", "EnvOutputError"]

# what happened to one environment on one tick, when it was not a plain step (see _settle)
_CRASH, _END, _RESET, _FIRST = range(4)
#: EnvPool._tick_sync or _tick_async: (t, actions, alive, rows, rewards) -> events; the actions
#: are one per environment (sync) or one array per action layer (async), the rewards tick t's
#: column of the call's rewards
_Tick = Callable[[int, Any, "list[bool] | None", "list[np.ndarray]", np.ndarray],
                 "list[tuple[int, int, Any]]"]


class EnvFailure(NamedTuple):
    """One failure of one environment: which, when (the pool's tick count), in what, and why.

    ``phase`` is ``"step"``, ``"reset"`` or ``"start"`` (making the environment again).
    """

    env_index: int
    tick: int
    phase: str
    error: BaseException


class EnvOutputError(ValueError):
    """An environment's ``reset`` or ``step`` returned something that does not fit (see
    :class:`EnvPool`); the message says what was received and what was expected. The pool
    counts it as that environment's failure."""


class EnvPool:
    """``n_envs`` Gymnasium environments played by an agent, recorded as sessions.

    Args:
        agent: an :class:`agentnet.Agent`; its observation layers take the environments'
            observations (a Tuple space in layer order, a Dict space by layer name), its
            action layers give the actions.
        env: a Gymnasium id (``"CartPole-v1"``) or a zero-argument factory returning a
            ``gymnasium.Env`` (picklable by cloudpickle for ``"async"``, e.g. a
            ``functools.partial``).
        n_envs: how many environments (rows of the sessions).
        vectorization: ``"sync"`` (stepped one after another in this process) or ``"async"``
            (one worker process each).
        autoreset_mode: a ``gymnasium.vector.AutoresetMode`` or its name; None for Gymnasium's
            default, ``NEXT_STEP``.
        max_consecutive_failures: an environment failing this many times in a row (without
            a successful step between) raises ``RuntimeError`` from the last exception (the
            pool is then broken: close it); 1 never recreates. While the pool is being built,
            an environment that cannot be made or reset is a mistake and raises at once.
        step_timeout: seconds an ``"async"`` environment may take to step or reset before it
            counts as hung (its worker is terminated and it is recreated). None waits forever.
        seed: environment ``i`` is first reset with seed ``seed + i`` (Gymnasium's vector
            convention); its ``k``-th recreation with a seed drawn from ``(seed, i, k)``. None
            for unseeded environments.
        vector_kwargs: more arguments for each ``AsyncVectorEnv`` (e.g. ``context="spawn"``,
            ``shared_memory=False``); ``"async"`` only.
        **flags: passed to the agent's react function (e.g. ``greedy=True``).

    Sessions carry on across :meth:`interact` calls: the pool remembers each environment's
    pending observation, the agent's memory and whether the last tick was alive.

    Every ``reset`` and ``step`` return is checked, in both vectorizations (``"async"`` checks
    in the worker process): an observation must have each observation layer's part of the
    observation space's shape exactly (nothing is broadcast: a scalar or a ``(1,)`` array for a
    ``(4,)`` space is refused) and a dtype of a kind that fits the space's (integers or floats
    for a float space, integers for an integer one, bools for a bool one), in a dict (a Dict
    space) or a tuple (a Tuple space); a reward must be a real scalar (a Python or numpy
    int, float or bool, or a 0-d array of one; a 1-element array is refused); ``terminated``
    and ``truncated`` bools (Python, numpy, or 0-d bool arrays); ``info`` a dict. Anything else
    is an :class:`EnvOutputError`, a failure of that environment like an exception it raised:
    recorded in :attr:`failures`, its row's episode aborted, the environment recreated, a
    ``RuntimeWarning`` naming the environment (index and factory), the field and what was
    received against what was expected.

    Failures that are the user's mistake rather than an environment's fault raise
    ``RuntimeError`` from :meth:`interact` instead of recreating environments without end:

    - with ``n_envs >= 2``, when every environment fails in ``step`` on the same tick with the
      same exception type (a hang or a dead worker process excepted), e.g. actions that do
      not fit the action space: the failures are recorded, no environment is recreated;
    - when one environment fails ``max_consecutive_failures`` times in a row (above).

    The error names the exception, the action given to the environment, the action space, and
    whether the action fits it (if not, the likely cause: e.g. an agent with two action layers
    gives each environment a tuple). The pool is then broken: close it.
    """

    def __init__(self, agent: Any, env: str | Callable[[], gymnasium.Env], n_envs: int = 8,
                 vectorization: str = "sync", autoreset_mode: Any = None,
                 max_consecutive_failures: int = 5, step_timeout: float | None = None,
                 seed: int | None = None, vector_kwargs: dict[str, Any] | None = None,
                 **flags: Any):
        if isinstance(env, str):
            self.env_id: str | None = env
            self.make_env: Callable[[], gymnasium.Env] = functools.partial(gymnasium.make, env)
        elif callable(env):
            self.env_id, self.make_env = None, env
        else:
            raise TypeError(f"EnvPool: env must be a Gymnasium id or a zero-argument factory, "
                            f"got {type(env).__name__}")
        if vectorization not in ("sync", "async"):
            raise ValueError(f"EnvPool: vectorization must be 'sync' or 'async', "
                             f"got {vectorization!r}")
        if int(n_envs) < 1 or int(max_consecutive_failures) < 1:
            raise ValueError(f"EnvPool: n_envs and max_consecutive_failures must be positive, "
                             f"got {n_envs} and {max_consecutive_failures}")
        if step_timeout is not None and vectorization != "async":
            raise ValueError("EnvPool: step_timeout needs vectorization='async' (a step in this "
                             "process cannot be interrupted)")
        if step_timeout is not None and not step_timeout > 0:
            raise ValueError(f"EnvPool: step_timeout must be positive, got {step_timeout}")
        if vector_kwargs and vectorization != "async":
            raise ValueError(f"EnvPool: vector_kwargs ({', '.join(vector_kwargs)}) need "
                             f"vectorization='async' (with 'sync' the environments are stepped "
                             f"directly, in no vector environment)")
        self.agent = agent
        self.n_envs = int(n_envs)
        self.vectorization = vectorization
        self.autoreset_mode = (AutoresetMode.NEXT_STEP if autoreset_mode is None
                               else AutoresetMode(autoreset_mode))
        self.max_consecutive_failures = int(max_consecutive_failures)
        self.step_timeout = step_timeout
        self.seed = seed
        self.vector_kwargs = dict(vector_kwargs or {})
        self.flags = flags
        self._react = agent.get_react_function(**flags)  # checks the flags
        self.restarts = 0
        """How many times an environment was recreated after a failure, in all."""
        self.env_restarts = [0] * self.n_envs
        """The same, per environment."""
        self.failures: list[EnvFailure] = []
        """Every failure, in order."""
        self.ticks = 0
        """Ticks played so far (the time axis of all sessions joined)."""
        self.closed = False
        n = self.n_envs
        # an environment of "sync", an AsyncVectorEnv of one of "async"
        self._slots: list[Any] = [None] * n
        self._consecutive = [0] * n
        self._dead = np.zeros(n, dtype=bool)          # the next tick is a dead tick
        self._reset_step = np.zeros(n, dtype=bool)    # ... on which the env takes its reset step
        self._first: list[list[np.ndarray] | None] = [None] * n  # ... or after which this obs
        self._prev_alive = np.zeros(n, dtype=bool)
        self._calm = False  # all alive on the next tick, none starting an episode
        self._memory = agent.get_zeros_like_memory(n)
        self._evaluations = 0
        self._layout: list[tuple[tuple[int, ...], np.dtype]] = []  # per observation layer
        self._check: _OutputCheck | None = None  # checks returns in "sync" (set with _layout)
        self._quick: tuple[tuple[int, ...], np.dtype, frozenset[np.dtype], int] = (
            (), np.dtype(float), frozenset(), 0)  # (set with _layout)
        self._fits: Callable[[Any], bool] = bool  # the same for several parts (set with _layout)
        self._action_space: Any = None
        self._names = [layer.name for layer in agent.observation_layers]
        try:
            first = [self._start(i, tolerate=False) for i in range(n)]
            # what the next tick sees: one array [n_envs, ...] per observation layer, in the
            # observation space's dtype (as a Gymnasium vector environment would batch it)
            self._pending = [np.empty((n, *shape), dtype) for shape, dtype in self._layout]
            for i, parts in enumerate(first):
                _write(self._pending, i, parts)
        except BaseException:
            self.close()
            raise

    # --- the environments -------------------------------------------------------------------
    def _seed_for(self, i: int) -> int | None:
        if self.seed is None:
            return None
        k = self.env_restarts[i]
        if k == 0:
            return self.seed + i
        return int(np.random.SeedSequence([self.seed, i, k]).generate_state(1)[0])

    def _start(self, i: int, tolerate: bool = True) -> list[np.ndarray]:
        """(Re)create environment ``i`` and reset it; returns its first observation. Without
        ``tolerate`` (building the pool) a failure is a mistake and raises as it is."""
        while True:
            phase = "start"
            try:
                if self.vectorization == "async":  # checked in the worker process
                    checked = functools.partial(_checked_env, self.make_env, self._names)
                    self._slots[i] = AsyncVectorEnv([checked], autoreset_mode=self.autoreset_mode,
                                                    **self.vector_kwargs)
                else:
                    self._slots[i] = self.make_env()
                if not self._layout:  # the first environment made
                    self._check = self._check_spaces(self._slots[i])
                    self._layout = self._check.layout
                    shape, dtype = self._layout[0]
                    # what _tick_sync's common case tests: shape, dtype, fitting dtypes, and
                    # the length of a one-dimensional layout longer than 1 (of an array of a
                    # fitting dtype, that length and any other shape, no row can be written)
                    self._quick = (shape, dtype, self._check.dtypes[0],
                                   shape[0] if len(shape) == 1 and shape[0] > 1 else 0)
                    self._fits = self._check.fits
                phase = "reset"
                return self._reset_slot(i, self._seed_for(i))
            except Exception as error:  # noqa: BLE001 - any failure of user code is a crash
                self._discard(i)
                if not tolerate:
                    raise
                self._fail(i, phase, error)

    def _slot(self, i: int) -> Any:
        slot = self._slots[i]
        if slot is None:
            raise RuntimeError(f"EnvPool: environment {i} is closed")
        return slot

    def _reset_slot(self, i: int, seed: int | None) -> list[np.ndarray]:
        """Reset environment ``i``: its observation, one (copied) array per observation layer."""
        slot = self._slot(i)
        if isinstance(slot, AsyncVectorEnv):
            slot.reset_async(seed=seed)
            observations, _ = slot.reset_wait(timeout=self.step_timeout)
            return [np.array(part[0]) for part in self._parts(observations)]
        result = slot.reset(seed=seed)
        assert self._check is not None
        problem = self._check.reset(result)
        if problem is not None:
            raise EnvOutputError(problem)
        return [np.array(part) for part in self._parts(result[0])]

    def _restart(self, i: int) -> list[np.ndarray]:
        self._discard(i)
        return self._start(i)

    def _reset_or_restart(self, i: int) -> list[np.ndarray]:
        try:
            return self._reset_slot(i, None)
        except Exception as error:  # noqa: BLE001
            self._fail(i, "reset", error)
            return self._restart(i)

    def _fail(self, i: int, phase: str, error: BaseException, action: Any = None) -> None:
        """Count a failure of environment ``i`` (in ``step``: given ``action``); raise after too
        many in a row."""
        error, _ = _normalize(error, self.step_timeout)
        self.failures.append(EnvFailure(i, self.ticks, phase, error))
        self._consecutive[i] += 1
        if self._consecutive[i] >= self.max_consecutive_failures:
            diagnosis = f" {self._diagnose(i, action)}" if phase == "step" else ""
            raise RuntimeError(f"EnvPool: environment {i} failed {self._consecutive[i]} times in "
                               f"a row (max_consecutive_failures="
                               f"{self.max_consecutive_failures}); last in {phase}: "
                               f"{_describe_error(error)}.{diagnosis}") from error
        self.restarts += 1
        self.env_restarts[i] += 1
        warnings.warn(f"EnvPool: environment {i} failed in {phase} at tick {self.ticks} "
                      f"({_describe_error(error)}); recreated it from its factory "
                      f"{self._factory_name()} (restart {self.env_restarts[i]} of this "
                      f"environment, {self.restarts} in all)", RuntimeWarning, stacklevel=4)

    def _fail_together(self, events: list[tuple[int, int, Any]], actions: Any) -> None:
        """Raise if every environment failed in ``step`` on this tick with the same exception
        type (not a hang or a dead worker): a mistake shared by all, not a fault of one."""
        errors = [(i, _normalize(payload, self.step_timeout))
                  for i, kind, payload in events if kind == _CRASH]
        if len(errors) < self.n_envs or any(infrastructure for _, (_, infrastructure) in errors):
            return
        kinds = {type(error) for _, (error, _) in errors}
        if len(kinds) > 1:
            return
        for i, (error, _) in errors:
            self.failures.append(EnvFailure(i, self.ticks, "step", error))
        i, (error, _) = errors[0]
        raise RuntimeError(
            f"EnvPool: all {self.n_envs} environments failed in step at tick {self.ticks} with "
            f"the same {type(error).__name__}, a mistake shared by all of them rather than a "
            f"fault of one (none was recreated; the pool is now broken: close it). Environment "
            f"{i}: {_describe_error(error)}. {self._diagnose(i, self._action_of(i, actions))}"
        ) from error

    def _action_of(self, i: int, actions: Any) -> Any:
        """Environment ``i``'s action of a tick: ``actions`` as :meth:`_tick_sync` or
        :meth:`_tick_async` take them."""
        if self.vectorization == "sync":
            return actions[i]
        return actions[0][i] if len(actions) == 1 else tuple(a[i] for a in actions)

    def _diagnose(self, i: int, action: Any) -> str:
        """What ``action``, given to environment ``i``, says about a failing step."""
        space = self._action_space
        try:
            fits = bool(space.contains(action))
        except Exception:  # noqa: BLE001 - a value the space cannot even look at
            fits = False
        given = f"environment {i} was given {_describe(action)}, the action space is {space}"
        if fits:
            return (f"The action fits the action space ({given}): the environment (or its "
                    f"factory) fails by itself.")
        n_layers = len(self.agent.action_layers)
        layers = (f"; the agent has {n_layers} action layers, whose actions each environment "
                  f"gets as a tuple" if n_layers > 1 else "")
        return (f"Likely cause: the actions given do not fit the action space ({given}{layers}); "
                f"check the agent's action layers against the environment.")

    def _factory_name(self) -> str:
        if self.env_id is not None:
            return self.env_id
        factory: Any = self.make_env
        while isinstance(factory, functools.partial):
            factory = factory.func
        return str(getattr(factory, "__qualname__", type(factory).__name__))

    def _discard(self, i: int) -> None:
        slot, self._slots[i] = self._slots[i], None
        if slot is not None:
            _shutdown(slot, force=True)

    def _check_spaces(self, slot: Any) -> _OutputCheck:
        """Check the observation space against the observation layers; returns the check of
        what the environments return, whose ``layout`` is the shape and dtype of each layer's
        part of an observation. Notes the action space."""
        vector = isinstance(slot, VectorEnv)
        space = slot.single_observation_space if vector else slot.observation_space
        self._action_space = slot.single_action_space if vector else slot.action_space
        if isinstance(space, gymnasium.spaces.Dict):
            missing = [name for name in self._names if name not in space.spaces]
            if missing:
                raise ValueError(f"EnvPool: the observation space is a Dict with keys "
                                 f"{list(space.spaces)}; observation layers {missing} match none")
        parts = _space_parts(space, self._names)
        layers = self.agent.observation_layers
        if len(parts) != len(layers):
            raise ValueError(f"EnvPool: the environment gives {len(parts)} observations, the "
                             f"agent has {len(layers)} observation layers")
        for part, layer in zip(parts, layers):
            shape, expected = tuple(part.shape or ()), tuple(layer.output_shape[1:])
            if len(shape) != len(expected) or any(e is not None and e != s
                                                  for e, s in zip(expected, shape)):
                raise ValueError(f"EnvPool: observations have shape "
                                 f"{format_shape((None, *shape))}, {layer.describe()} expects "
                                 f"{format_shape(layer.output_shape)}")
            if part.dtype is None:
                raise ValueError(f"EnvPool: the observation space {part} has no array dtype; "
                                 f"{layer.describe()} needs arrays")
        return _OutputCheck(space, self._names)

    def _parts(self, observation: Any) -> list[Any]:
        """An observation (or a batch of them) as a list, one entry per observation layer."""
        structure = None if self._check is None else self._check.structure
        if structure == "dict":
            return [observation[name] for name in self._names]
        if structure == "tuple":
            return list(observation)
        return [observation]

    # --- one tick -----------------------------------------------------------------------------
    def _tick_sync(self, t: int, actions: Sequence[Any] | np.ndarray, alive: list[bool] | None,
                   rows: list[np.ndarray], rewards: np.ndarray) -> list[tuple[int, int, Any]]:
        """Step the environments of ``"sync"`` on tick ``t``: write what they observe next
        into ``rows`` and their rewards into ``rewards`` (tick ``t``'s column of the call's
        rewards); return the events (crashes, episode ends, dead ticks), in environment
        order, for :meth:`_settle`. ``alive`` None: every environment is alive.

        Each return is checked (an :class:`EnvOutputError` is a crash): first by a few
        identity tests for the common case (an array of a fitting dtype and the layout's shape,
        a float, False twice, a dict); anything else by the whole check (:class:`_OutputCheck`).
        """
        events: list[tuple[int, int, Any]] = []
        consecutive = self._consecutive
        failing = any(consecutive)  # some environment's last step failed
        single = len(rows) == 1
        row = rows[0]
        shape, dtype, dtypes, length = self._quick
        if alive is None and single:  # the common tick: nothing but steps
            for i, (env, action) in enumerate(zip(self._slots, actions)):
                try:
                    result = env.step(action)
                except Exception as error:  # noqa: BLE001 - any failure of user code
                    events.append((i, _CRASH, error))
                    continue
                try:
                    observation, reward, terminated, truncated, info = result
                    if ((observation.dtype is dtype or observation.dtype in dtypes)
                            and (len(observation) == length if length
                                 else observation.shape == shape)
                            and (type(reward) is float or type(reward) in _REAL_TYPES)
                            and type(info) is dict):
                        if terminated is False and truncated is False:  # the common step
                            row[i] = observation  # raises for any other shape of that length
                            rewards[i] = reward
                            if failing:
                                consecutive[i] = 0
                            continue
                        common = (type(terminated) in _BOOL_TYPES
                                  and type(truncated) in _BOOL_TYPES
                                  and observation.shape == shape)
                    else:
                        common = False
                except (TypeError, ValueError, AttributeError):  # not five values, no array
                    common = False
                if not common:
                    problem = self._step_problem(result)
                    if problem is not None:
                        events.append((i, _CRASH, EnvOutputError(problem)))
                        continue
                row[i] = observation
                rewards[i] = reward
                if failing:
                    consecutive[i] = 0
                if terminated or truncated:
                    events.append((i, _END, (terminated, truncated, None)))
            return events
        parts, fits = self._parts, self._fits
        for i, env in enumerate(self._slots):
            if alive is not None and not alive[i]:
                if not self._reset_step[i]:
                    events.append((i, _FIRST, None))
                    continue
                try:  # NEXT_STEP: the dead tick's step only resets
                    result = env.reset()
                except Exception as error:  # noqa: BLE001
                    events.append((i, _RESET, error))
                    continue
                problem = self._reset_problem(result)
                if problem is not None:
                    events.append((i, _RESET, EnvOutputError(problem)))
                    continue
                observation = result[0]
                events.append((i, _RESET, None))
            else:
                try:
                    result = env.step(actions[i])
                except Exception as error:  # noqa: BLE001 - any failure of user code
                    events.append((i, _CRASH, error))
                    continue
                try:
                    observation, reward, terminated, truncated, info = result
                    common = (((observation.dtype is dtype or observation.dtype in dtypes)
                               and observation.shape == shape) if single
                              else fits(observation)) and (
                        (type(reward) is float or type(reward) in _REAL_TYPES)
                        and type(terminated) in _BOOL_TYPES
                        and type(truncated) in _BOOL_TYPES and type(info) is dict)
                except (TypeError, ValueError, AttributeError):  # not five values, no array
                    common = False
                if not common:
                    problem = self._step_problem(result)
                    if problem is not None:
                        events.append((i, _CRASH, EnvOutputError(problem)))
                        continue
                rewards[i] = reward
                if failing:
                    consecutive[i] = 0
                if terminated or truncated:
                    events.append((i, _END, (terminated, truncated, None)))
            if single:
                row[i] = observation
            else:
                _write(rows, i, parts(observation))
        return events

    def _step_problem(self, result: Any) -> str | None:
        assert self._check is not None
        return self._check.step(result)

    def _reset_problem(self, result: Any) -> str | None:
        assert self._check is not None
        return self._check.reset(result)

    def _tick_async(self, t: int, actions: list[np.ndarray], alive: list[bool] | None,
                    rows: list[np.ndarray], rewards: np.ndarray) -> list[tuple[int, int, Any]]:
        """:meth:`_tick_sync` for ``"async"``: every environment's step is sent, then the
        answers collected (each within ``step_timeout``)."""
        n = self.n_envs
        which = [alive is None or alive[i] or bool(self._reset_step[i]) for i in range(n)]
        results = self._step_async(actions, which)
        events: list[tuple[int, int, Any]] = []
        for i in range(n):
            if not (alive is None or alive[i]):
                if not self._reset_step[i]:
                    events.append((i, _FIRST, None))
                elif isinstance(results[i], Exception):
                    events.append((i, _RESET, results[i]))
                else:  # NEXT_STEP: this step only reset the environment
                    _write(rows, i, [part[0] for part in self._parts(results[i][0])])
                    events.append((i, _RESET, None))
                continue
            result = results[i]
            if isinstance(result, Exception):
                events.append((i, _CRASH, result))
                continue
            self._consecutive[i] = 0
            observations, reward, terminated, truncated, info = result
            rewards[i] = reward[0]
            observation = [part[0] for part in self._parts(observations)]
            if not (terminated[0] or truncated[0]):
                _write(rows, i, observation)
                continue
            first = None
            if self.autoreset_mode == AutoresetMode.SAME_STEP:
                first = [np.array(part) for part in observation]
                observation = self._parts(info["final_obs"][0])
            _write(rows, i, observation)
            events.append((i, _END, (bool(terminated[0]), bool(truncated[0]), first)))
        return events

    def _step_async(self, actions: list[np.ndarray], which: list[bool]) -> list[Any]:
        """Step the environments in ``which``: ``(obs, reward, term, trunc, info)`` (batches of
        one) per environment, or the exception it raised, or None where not stepped."""
        results: list[Any] = [None] * self.n_envs
        waiting = []
        for i in range(self.n_envs):
            if not which[i]:
                continue
            action = (actions[0][i:i + 1] if len(actions) == 1
                      else tuple(a[i:i + 1] for a in actions))
            try:
                self._slot(i).step_async(action)
                waiting.append(i)
            except Exception as error:  # noqa: BLE001
                results[i] = error
        deadline = None if self.step_timeout is None else time.monotonic() + self.step_timeout
        for i in waiting:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                results[i] = self._slot(i).step_wait(timeout=timeout)
            except Exception as error:  # noqa: BLE001
                results[i] = error
        return results

    def _settle(self, t: int, events: list[tuple[int, int, Any]], seen: list[np.ndarray],
                rows: list[np.ndarray], truncated_log: np.ndarray, actions: Any) -> None:
        """The bookkeeping of tick ``t`` beyond plain steps: ``seen`` is what the tick
        observed, ``rows`` what the next one will, ``actions`` what the environments were
        given (as :meth:`_tick_sync` or :meth:`_tick_async` took them)."""
        if len(events) == self.n_envs > 1:
            self._fail_together(events, actions)
        for i, kind, payload in events:
            if kind == _CRASH:
                # aborted: the episode ends here as if terminated (no bootstrap); the dead tick
                # shows the observation acted on; the next episode starts in a new environment
                self._fail(i, "step", payload, self._action_of(i, actions))
                self._first[i] = self._restart(i)
                _write(rows, i, [part[i] for part in seen])
                self._dead[i], self._reset_step[i] = True, False
            elif kind == _END:
                terminated, truncated, first = payload
                self._dead[i] = True
                truncated_log[i, t] = bool(truncated and not terminated)
                if self.autoreset_mode == AutoresetMode.NEXT_STEP:
                    self._reset_step[i] = True
                elif first is not None:  # reset already (an asynchronous SAME_STEP)
                    self._first[i] = first
                else:  # SAME_STEP (synchronous) and DISABLED: reset now
                    self._first[i] = self._reset_or_restart(i)
            elif kind == _RESET:  # a dead tick whose step was the reset
                self._dead[i] = self._reset_step[i] = False
                if payload is not None:
                    self._fail(i, "reset", payload)
                    _write(rows, i, self._restart(i))
            else:  # _FIRST: a dead tick after which the next episode's first observation comes
                self._dead[i] = False
                first, self._first[i] = self._first[i], None
                assert first is not None
                _write(rows, i, first)

    # --- sessions ---------------------------------------------------------------------------
    def interact(self, n_steps: int = 100) -> Sessions:
        """Play ``n_steps`` ticks in every environment and return them as sessions.

        Returns:
            :class:`~agentnet.agent.Sessions` on the agent's device: observations
            ``[n_envs, n_steps, ...]`` (what the agent acted on), actions, policy, agent_states
            (memory after each tick), rewards float32, is_alive and is_truncated bool
            ``[n_envs, n_steps]``, ``initial_agent_states`` (the memory entering tick 0, after a
            restart there) and ``next_observations`` (what the next call's tick 0 will see).
        """
        if self.closed:
            raise RuntimeError("EnvPool: interact on a closed pool")
        if int(n_steps) < 1:
            raise ValueError(f"EnvPool.interact: n_steps must be at least 1, got {n_steps}")
        agent, n, n_steps = self.agent, self.n_envs, int(n_steps)
        device = agent.device
        obs_dtypes = [layer.output_dtype for layer in agent.observation_layers]
        # every observation of this call, tick-major: row t is what tick t sees (row n_steps
        # what the next call's tick 0 will); the agent gets row t without a copy on the CPU
        log = [np.empty((n_steps + 1, n, *shape), dtype) for shape, dtype in self._layout]
        for part, pending in zip(log, self._pending):
            part[0] = pending
        converters = [_converter(dtype, np_dtype, device)
                      for dtype, (_, np_dtype) in zip(obs_dtypes, self._layout)]
        single_obs = len(log) == 1
        log_rows = list(log[0])  # each tick's row (views made at once)
        rewards = np.zeros((n, n_steps), dtype=np.float32)
        reward_columns = list(rewards.T)  # each tick's column
        alive_log = np.ones((n, n_steps), dtype=bool)
        truncated_log = np.zeros((n, n_steps), dtype=bool)
        sync = self.vectorization == "sync"
        tick: _Tick = self._tick_sync if sync else self._tick_async
        to_numpy = _numpy_converter(device)
        react, flags = agent._react, self.flags
        single_action, n_actions = agent.single_action, len(agent.action_layers)
        memories = self._memory
        views = [(-1,) + (1,) * (m.dim() - 1) for m in memories]
        initial = memories
        action_log: list[Any] = []
        memory_log: list[list[torch.Tensor]] = []
        policy_log: list[Any] = []
        completed, kept = 0, memories  # ticks done, the memory after them
        try:
            with torch.inference_mode():
                for t in range(n_steps):
                    alive_list: list[bool] | None = None
                    if not self._calm:
                        alive = ~self._dead
                        first = alive & ~self._prev_alive  # a new episode: memory restarts
                        if memories and first.any():
                            mask = torch.as_tensor(first, device=device)
                            memories = [m.masked_fill(mask.view(view), 0)
                                        for m, view in zip(memories, views)]
                        alive_log[:, t] = alive
                        alive_list = alive.tolist()
                    if t == 0:
                        initial = memories
                    if single_obs:  # (no comprehensions: each is a call)
                        seen = [log_rows[t]]
                        observations = [converters[0](seen[0])]
                        rows = [log_rows[t + 1]]
                    else:
                        seen = [part[t] for part in log]
                        observations = [c(o) for c, o in zip(converters, seen)]
                        rows = [part[t + 1] for part in log]
                    actions, memories, policy = react(observations, memories, flags)
                    if single_action:
                        actions_np = [to_numpy(actions)]
                        step_actions: Sequence[Any] | np.ndarray = actions_np[0]
                    else:
                        actions_np = [to_numpy(a) for a in actions]
                        step_actions = (list(zip(*actions_np)) if n_actions > 1
                                        else actions_np[0])
                    given = step_actions if sync else actions_np
                    events = tick(t, given, alive_list, rows, reward_columns[t])
                    if events:
                        self._settle(t, events, seen, rows, truncated_log, given)
                    if alive_list is not None:
                        self._prev_alive = alive
                    # no events: every environment was alive (_prev_alive all True) and is
                    self._calm = not events
                    action_log.append(actions)
                    memory_log.append(memories)
                    policy_log.append(policy)
                    self.ticks += 1
                    completed, kept = t + 1, memories
        finally:  # also when interrupted: the next call goes on from the last whole tick
            self._memory = kept
            self._pending = [part[completed].copy() for part in log]
        return self._sessions(log, obs_dtypes, action_log, memory_log, policy_log,
                              [m.clone() for m in initial], rewards, alive_log, truncated_log)

    def _sessions(self, log: list[np.ndarray], obs_dtypes: list[torch.dtype],
                  action_log: list[Any], memory_log: list[list[torch.Tensor]],
                  policy_log: list[Any], initial: list[torch.Tensor], rewards: np.ndarray,
                  alive_log: np.ndarray, truncated_log: np.ndarray) -> Sessions:
        """Assemble the sessions of one :meth:`interact` (outside inference mode: the result
        is made of ordinary tensors, usable in a loss)."""
        agent = self.agent
        device = agent.device
        n_steps = rewards.shape[1]

        def stack(sequence: list[Any], single: bool) -> Any:
            if single:
                return torch.stack(sequence, dim=1)
            return [torch.stack(parts, dim=1) for parts in zip(*sequence)]

        observations = [torch.as_tensor(np.ascontiguousarray(part[:n_steps].swapaxes(0, 1)),
                                        dtype=dtype, device=device)
                        for part, dtype in zip(log, obs_dtypes)]
        next_observations = [torch.as_tensor(part[n_steps], dtype=dtype, device=device)
                             for part, dtype in zip(log, obs_dtypes)]
        memory_seq = stack(memory_log, False) if agent.state_layers else []
        return Sessions(
            env_states=[],
            observations=observations[0] if agent.single_observation else observations,
            agent_states=dict(zip(agent.state_layers, memory_seq)),
            actions=stack(action_log, agent.single_action),
            policy=stack(policy_log, agent.single_policy) if agent.policy_layers else [],
            rewards=torch.as_tensor(rewards, device=device),
            is_alive=torch.as_tensor(alive_log, device=device),
            is_truncated=torch.as_tensor(truncated_log, device=device),
            next_env_states=[],
            next_observations=next_observations,
            additional_outputs=[],
            initial_agent_states=initial,
        )


    def update(self, n_steps: int, session_pool: Any) -> Sessions:
        """:meth:`interact` for ``n_steps`` ticks and append the sessions to ``session_pool``
        (a :class:`~agentnet.environment.SessionPoolEnvironment` of ``session_length`` equal
        to ``n_steps``); returns the sessions.

        Sessions follow each other without overlapping: replayed with ``crop_last`` (the
        objectives' default), a session's last tick is only the bootstrap value of the ticks
        before it, so one transition in ``n_steps`` is never trained on (longer sessions lose
        fewer)."""
        if session_pool.session_length != n_steps:
            raise ValueError(f"EnvPool.update: the session pool stores sessions of "
                             f"{session_pool.session_length} ticks, got n_steps={n_steps}")
        sessions = self.interact(n_steps)
        session_pool.append_sessions(sessions)
        return sessions

    # --- evaluation -------------------------------------------------------------------------
    def evaluate(self, n_games: int = 1, record_video: str | None = None,
                 max_steps: int | None = None, seed: int | None = None) -> EpisodeStats:
        """Play ``n_games`` whole episodes greedily on new environments (the pool's own are
        left as they are) and measure them.

        Args:
            n_games: episodes to play (at most ``n_envs`` at a time, one per environment).
            record_video: a directory: record every episode there with
                ``gymnasium.wrappers.RecordVideo`` (needs ``moviepy``, and a factory making
                environments with ``render_mode="rgb_array"``; an id is made so).
            max_steps: cut episodes longer than this (None: play until the environment ends).
            seed: game ``g`` is reset with ``seed + g`` (None: unseeded).

        Returns:
            :class:`~agentnet.environment.EpisodeStats`: float32 ``returns`` and ``lengths [n]``.
        """
        layers = get_all_layers(self.agent.action_layers + self.agent.state_layers)
        greedy = {"greedy": True} if any("greedy" in layer.accepted_flags
                                         for layer in layers) else {}
        react = self.agent.get_react_function(**{**self.flags, **greedy})
        self._evaluations += 1
        returns: list[float] = []
        lengths: list[int] = []
        for start in range(0, int(n_games), self.n_envs):
            games = range(start, min(int(n_games), start + self.n_envs))
            envs: list[gymnasium.Env] = []
            try:
                for game in games:
                    envs.append(self._make_eval_env(record_video, game))
                played = self._play(react, envs, [None if seed is None else seed + g
                                                  for g in games], max_steps)
            finally:
                for env in envs:
                    env.close()
            returns += played[0]
            lengths += played[1]
        return EpisodeStats(torch.tensor(returns, dtype=torch.float32),
                            torch.tensor(lengths, dtype=torch.float32))

    def _make_eval_env(self, record_video: str | None, game: int) -> gymnasium.Env:
        if record_video is None:
            return self.make_env()
        env = (gymnasium.make(self.env_id, render_mode="rgb_array") if self.env_id is not None
               else self.make_env())
        if env.render_mode != "rgb_array":
            env.close()
            raise ValueError(f"EnvPool.evaluate: record_video needs environments made with "
                             f"render_mode='rgb_array', the factory's have {env.render_mode!r}")
        return gymnasium.wrappers.RecordVideo(
            env, record_video, episode_trigger=lambda _: True, disable_logger=True,
            name_prefix=f"evaluation-{self._evaluations}-game-{game}")

    def _play(self, react: Callable[..., Any], envs: list[gymnasium.Env],
              seeds: Sequence[int | None], max_steps: int | None
              ) -> tuple[list[float], list[int]]:
        """One episode in each of ``envs``, in lockstep."""
        observations = [self._parts(env.reset(seed=s)[0]) for env, s in zip(envs, seeds)]
        memories: list[torch.Tensor] = self.agent.get_zeros_like_memory(len(envs))
        running = np.ones(len(envs), dtype=bool)
        returns, lengths = [0.0] * len(envs), [0] * len(envs)
        while running.any() and (max_steps is None or max(lengths) < max_steps):
            batch = [np.stack([o[k] for o in observations]) for k in range(len(observations[0]))]
            reaction = react(batch, memories)
            memories = reaction.new_states
            actions = _as_list(reaction.actions)
            for i in np.flatnonzero(running):
                action = actions[0][i] if len(actions) == 1 else tuple(a[i] for a in actions)
                observation, reward, terminated, truncated, _ = envs[i].step(action)
                observations[i] = self._parts(observation)
                returns[i] += float(reward)
                lengths[i] += 1
                if terminated or truncated:
                    running[i] = False
        return returns, lengths

    # --- closing ----------------------------------------------------------------------------
    def close(self) -> None:
        """Close every environment; no worker process is left behind."""
        for i, slot in enumerate(self._slots):
            self._slots[i] = None
            if slot is not None:
                _shutdown(slot, force=False, timeout=self.step_timeout)
        self.closed = True

    def __enter__(self) -> EnvPool:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"EnvPool({self._factory_name()}, n_envs={self.n_envs}, "
                f"vectorization={self.vectorization!r}, "
                f"autoreset_mode={self.autoreset_mode.value}, restarts={self.restarts})")


GamePool = EnvPool


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


# --- checking what environments return -----------------------------------------------------
#: the types of rewards and of episode ends told by a quick test (any other: the whole check)
_REAL_TYPES = frozenset({float, int, np.float64, np.float32, np.int64, np.int32})
_BOOL_TYPES = frozenset({bool, np.bool_})
#: the dtype kinds an observation may have, per kind of its space's dtype (other kinds: equal)
_FITTING_KINDS = {"f": "biuf", "i": "biu", "u": "biu", "b": "b", "c": "biufc"}
_KIND_NAMES = {"b": "bool", "i": "integer", "u": "integer", "f": "float", "c": "complex"}


def _space_parts(space: gymnasium.Space, names: Sequence[str]) -> list[Any]:
    """The parts of an observation space, one per observation layer (``names``: a Dict's)."""
    if isinstance(space, gymnasium.spaces.Dict):
        return [space[name] for name in names]
    if isinstance(space, gymnasium.spaces.Tuple):
        return list(space.spaces)
    return [space]


class _OutputCheck:
    """Checks what an environment's ``reset`` and ``step`` return against its observation
    space, as the observation layers (``names``: which parts of a Dict space) take it. Each
    check returns None where everything fits, else what does not (an :class:`EnvOutputError`'s
    message). ``"async"`` workers make their own (see :class:`_CheckedEnv`)."""

    def __init__(self, space: gymnasium.Space, names: Sequence[str]):
        self.structure = ("dict" if isinstance(space, gymnasium.spaces.Dict) else
                          "tuple" if isinstance(space, gymnasium.spaces.Tuple) else "single")
        self.names = list(names)
        self.layout = [(tuple(part.shape or ()), np.dtype(part.dtype))
                       for part in _space_parts(space, names)]
        #: per part: numpy's dtypes of a kind that fits (a quick test; the kinds decide)
        self.dtypes = [frozenset(np.dtype(code) for code in np.typecodes["All"]
                                 if np.dtype(code).kind in _FITTING_KINDS.get(dtype.kind, ""))
                       for _, dtype in self.layout]

    def _split(self, observation: Any) -> list[Any] | str:
        """The observation's parts, or what was expected if it is not made of them."""
        if self.structure == "dict":
            if not isinstance(observation, dict):
                return f"a dict with keys {self.names}"
            missing = [name for name in self.names if name not in observation]
            if missing:
                return f"a dict with keys {self.names} (missing {missing})"
            return [observation[name] for name in self.names]
        if self.structure == "tuple":
            if not (isinstance(observation, tuple) and len(observation) == len(self.layout)):
                return f"a tuple of {len(self.layout)}"
            return list(observation)
        return [observation]

    def fits(self, observation: Any) -> bool:
        """Whether every part of ``observation`` is an array of exactly its part's shape and
        of a fitting dtype (the common case, told cheaply; False does not mean malformed)."""
        parts = self._split(observation)
        return not isinstance(parts, str) and all(
            type(part) is np.ndarray and part.shape == shape and part.dtype in dtypes
            for part, (shape, _), dtypes in zip(parts, self.layout, self.dtypes))

    def observation(self, observation: Any, phase: str) -> str | None:
        parts = self._split(observation)
        if isinstance(parts, str):
            return (f"{phase} returned a malformed observation: got {_describe(observation)}, "
                    f"expected {parts}")
        for k, (part, (shape, dtype)) in enumerate(zip(parts, self.layout)):
            if _array_fits(part, shape, dtype):
                continue
            where = {"dict": f" {self.names[k]!r}", "tuple": f" part {k}"}.get(self.structure, "")
            kinds = _FITTING_KINDS.get(dtype.kind)
            other = ("" if kinds is None else " (or another dtype of kind "
                     + " or ".join(dict.fromkeys(_KIND_NAMES[kind] for kind in kinds)) + ")")
            return (f"{phase} returned a malformed observation{where}: got {_describe(part)}, "
                    f"expected an array of shape {shape} and dtype {dtype}{other}")
        return None

    def step(self, result: Any) -> str | None:
        """What is wrong with ``(observation, reward, terminated, truncated, info)``."""
        if not (isinstance(result, tuple) and len(result) == 5):
            return (f"step returned {_describe(result)}, expected a tuple (observation, reward, "
                    f"terminated, truncated, info)")
        observation, reward, terminated, truncated, info = result
        problem = self.observation(observation, "step")
        if problem is not None:
            return problem
        if not _is_real(reward):
            return (f"step returned a malformed reward: got {_describe(reward)}, expected a "
                    f"real scalar (a Python or numpy int, float or bool, or a 0-d array of one)")
        for name, value in (("terminated", terminated), ("truncated", truncated)):
            if not _is_bool(value):
                return (f"step returned a malformed {name}: got {_describe(value)}, expected "
                        f"a bool (Python, numpy, or a 0-d bool array)")
        return _info_problem(info, "step")

    def reset(self, result: Any) -> str | None:
        """What is wrong with ``(observation, info)``."""
        if type(result) is tuple and len(result) == 2 and type(result[1]) is dict and (
                self.fits(result[0])):
            return None
        if not (isinstance(result, tuple) and len(result) == 2):
            return f"reset returned {_describe(result)}, expected a tuple (observation, info)"
        return self.observation(result[0], "reset") or _info_problem(result[1], "reset")


def _array_fits(value: Any, shape: tuple[int, ...], dtype: np.dtype) -> bool:
    """Whether ``value`` is (or converts to) an array of ``shape`` exactly and of a dtype of a
    kind fitting ``dtype``'s."""
    try:
        array = value if type(value) is np.ndarray else np.asarray(value)
    except Exception:  # noqa: BLE001 - not even an array
        return False
    if array.shape != shape:
        return False
    kinds = _FITTING_KINDS.get(dtype.kind)
    return array.dtype.kind in kinds if kinds is not None else array.dtype == dtype


def _is_real(value: Any) -> bool:
    return isinstance(value, (numbers.Real, np.bool_)) or (
        isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "biuf")


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_)) or (
        isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind == "b")


def _info_problem(info: Any, phase: str) -> str | None:
    if isinstance(info, dict):
        return None
    return f"{phase} returned a malformed info: got {_describe(info)}, expected a dict"


def _describe(value: Any) -> str:
    """What a value is, for a message: its type and shape, and a short repr."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, np.generic):
        return f"a numpy {value.dtype} scalar {value} (shape ())"
    if isinstance(value, numbers.Number):
        return f"a Python {type(value).__name__} {text} (shape ())"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}, {text}"
    if isinstance(value, dict):
        return f"a dict with keys {list(value)}"
    return "None" if value is None else f"an object of type {type(value).__name__}, {text}"


def _describe_error(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else repr(error)


def _normalize(error: BaseException, step_timeout: float | None) -> tuple[BaseException, bool]:
    """An environment's failure as the pool records it, and whether it is a hang or a dead
    worker process rather than an exception of the environment's."""
    if isinstance(error, multiprocessing.TimeoutError):
        return TimeoutError(f"no answer within step_timeout={step_timeout} s ({error})"), True
    if isinstance(error, (EOFError, BrokenPipeError, ConnectionResetError)):
        return RuntimeError(f"the worker process died ({type(error).__name__})"), True
    if len(error.args) == 1 and type(error.args[0]) is type(error):
        return error.args[0], False  # AsyncVectorEnv raises a worker's error wrapped in its type
    return error, False


def _checked_env(make_env: Callable[[], Any], names: Sequence[str]) -> Any:
    """``make_env()`` (in an ``"async"`` worker process) with its returns checked."""
    env = make_env()
    return _CheckedEnv(env, names) if isinstance(env, gymnasium.Env) else env


class _CheckedEnv(gymnasium.Wrapper):
    """An environment whose ``reset`` and ``step`` raise :class:`EnvOutputError` where their
    returns do not fit (see :class:`_OutputCheck`)."""

    def __init__(self, env: gymnasium.Env, names: Sequence[str]):
        super().__init__(env)
        self._names = list(names)
        self._check: _OutputCheck | None = None  # made at the first use: the pool has checked
        # the observation space against the observation layers by then

    def _raise_if_malformed(self, result: Any, phase: str) -> None:
        if self._check is None:
            self._check = _OutputCheck(self.env.observation_space, self._names)
        problem = self._check.step(result) if phase == "step" else self._check.reset(result)
        if problem is not None:
            raise EnvOutputError(problem)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        result = self.env.reset(seed=seed, options=options)
        self._raise_if_malformed(result, "reset")
        return result

    def step(self, action: Any) -> Any:
        result = self.env.step(action)
        self._raise_if_malformed(result, "step")
        return result


def _write(rows: list[np.ndarray], i: int, parts: Sequence[Any]) -> None:
    """Write one environment's observation (one part per observation layer) into row ``i``."""
    for row, part in zip(rows, parts):
        row[i] = part


def _converter(dtype: torch.dtype, np_dtype: np.dtype,
               device: torch.device) -> Callable[[np.ndarray], torch.Tensor]:
    """numpy observations ``[n_envs, ...]`` to the tensor an observation layer takes: without
    a copy when they already are (on the CPU, in its dtype)."""
    if device.type == "cpu":
        try:
            same = torch.from_numpy(np.empty(0, np_dtype)).dtype == dtype
        except TypeError:  # a dtype torch does not share with numpy
            same = False
        if same:
            return torch.from_numpy
    return functools.partial(torch.as_tensor, dtype=dtype, device=device)


def _numpy_converter(device: torch.device) -> Callable[[torch.Tensor], np.ndarray]:
    if device.type == "cpu":
        return torch.Tensor.numpy
    return lambda tensor: tensor.cpu().numpy()


def _shutdown(slot: Any, force: bool, timeout: float | None = None) -> None:
    """Close an environment or an asynchronous vector environment; for the latter ``force``
    (or a failing close) terminates its workers, and ``timeout`` bounds the wait for a step
    still under way."""
    if not isinstance(slot, VectorEnv):
        try:
            slot.close()
        except Exception:  # noqa: BLE001 - a broken environment may fail to close
            pass
        return
    if getattr(slot, "closed", False):
        return
    if not force:
        try:
            if isinstance(slot, AsyncVectorEnv):
                slot.close(timeout=timeout)
            else:
                slot.close()
            return
        except Exception:  # noqa: BLE001 - fall through to terminating the workers
            pass
    processes = list(getattr(slot, "processes", ()))
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join()
    for pipe in getattr(slot, "parent_pipes", ()):
        if pipe is not None and not pipe.closed:
            pipe.close()
    if not processes:
        try:
            slot.close()
        except Exception:  # noqa: BLE001 - a broken environment may fail to close
            pass
    slot.closed = True
