"""A readable table of one session: what the agent saw, thought and did at every tick.
:func:`print_sessions` also takes the original AgentNet's call, printed by
:mod:`agentnet.display.original_sessions`.

>>> import torch
>>> from agentnet.agent import Sessions
>>> s = Sessions(env_states=[], observations=torch.tensor([[[0.5, -1.0], [0.25, 0.0]]]),
...              agent_states={}, actions=torch.tensor([[1, 0]]),
...              policy=torch.tensor([[[0.1, 0.9], [0.7, 0.3]]]),
...              rewards=torch.tensor([[1.0, 0.0]]), is_alive=torch.tensor([[True, False]]),
...              is_truncated=torch.tensor([[False, False]]), next_env_states=[],
...              next_observations=[])
>>> print_sessions(s, action_names=["left", "right"])
session 0 of 1: 2 ticks, 1 alive, return 1.00
tick  observation  policy        action  reward  alive
   0  0.50 -1.00    0.10 [0.90]  right     1.00  yes
   1  0.25  0.00   [0.70] 0.30   left      0.00  no
"""
from __future__ import annotations

import difflib
import inspect
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO, overload

import numpy as np
import torch
from numpy.typing import ArrayLike

from ..records import as_list
from .original_sessions import ORIGINAL_PATTERN, print_original_sessions, unit_width

__all__ = ["print_sessions", "format_sessions"]

_DIM, _RESET = "\x1b[2m", "\x1b[0m"


@dataclass
class _Cell:
    """One tensor at one tick as number tokens (right-aligned slot by slot down a column), or
    as free ``text`` (an action name); ``marked`` is the slot of the chosen action."""

    tokens: list[str]
    text: bool = False
    marked: int | None = None
    suffix: str = ""


def _number(x: float | int | bool, precision: int) -> str:
    if isinstance(x, bool):
        return str(int(x))
    if isinstance(x, int):
        return str(x)
    if not math.isfinite(x):
        return str(x)
    if abs(x) >= 10 ** 6:
        return f"{x:.{precision}e}"
    return f"{x:.{precision}f}"


def _cell(x: torch.Tensor, precision: int, max_values: int, mark: int | None = None,
          markable: bool = False) -> _Cell:
    """Format one tick of a tensor: a scalar, or a vector abbreviated past ``max_values``.

    In a ``markable`` column (a policy whose chosen action is marked) an abbreviated vector
    keeps a last slot for the chosen entry when it falls past the cut, blank otherwise, so
    slots stay aligned from tick to tick.
    """
    if x.dim() == 0:
        return _Cell([_number(x.item(), precision)])
    flat = x.reshape(-1).tolist()
    if len(flat) <= max_values:
        return _Cell([_number(v, precision) for v in flat], marked=mark)
    head = max(max_values - (2 if markable else 1), 1)
    tokens = [_number(v, precision) for v in flat[:head]] + ["…"]
    marked = mark if mark is not None and mark < head else None
    if markable:
        beyond = mark is not None and mark >= head
        tokens.append(_number(flat[mark], precision) if mark is not None and beyond else "")
        marked = len(tokens) - 1 if beyond else marked
    return _Cell(tokens, marked=marked, suffix=" (" + "x".join(map(str, x.shape)) + ")")


def _render_column(cells: list[_Cell]) -> list[str]:
    """Strings for one column, with every number slot right-aligned across ticks."""
    widths: dict[int, int] = {}
    for cell in cells:
        for k, token in enumerate(cell.tokens):
            widths[k] = max(widths.get(k, 0), len(token))
    any_marked = any(cell.marked is not None for cell in cells)
    out = []
    for cell in cells:
        if cell.text:
            out.append(cell.tokens[0])
        elif any_marked:  # " a  b [c] d": a bracket pair never shifts a slot
            out.append("".join(f"[{token.rjust(widths[k])}]" if k == cell.marked
                               else f" {token.rjust(widths[k])} "
                               for k, token in enumerate(cell.tokens)).rstrip(
                                   "" if cell.suffix else " ") + cell.suffix)
        else:
            out.append(" ".join(token.rjust(widths[k])
                                for k, token in enumerate(cell.tokens)) + cell.suffix)
    return out


def _check_leading(name: str, value: torch.Tensor, batch: int, time: int) -> None:
    if value.dim() < 2 or tuple(value.shape[:2]) != (batch, time):
        raise ValueError(f"print_sessions: {name} must be [batch={batch}, time={time}, ...] like "
                         f"the rewards, got shape {tuple(value.shape)}")


def _action_names_per_layer(action_names: Any, n_actions: int) -> list[Any]:
    if action_names is None:
        return [None] * n_actions
    if n_actions == 1 and (isinstance(action_names, Mapping)
                           or all(isinstance(a, str) for a in action_names)):
        return [action_names]
    names = list(action_names)
    if len(names) != n_actions:
        raise ValueError(f"print_sessions: sessions hold {n_actions} action tensors, so "
                         f"action_names must be a list of {n_actions} name lists (or None), "
                         f"got {len(names)} entries")
    return names


def _action_cell(a: torch.Tensor, names: Any, precision: int, max_values: int) -> _Cell:
    if a.dim() == 0 and not a.is_floating_point():
        index = int(a.item())
        if names is not None:
            try:
                return _Cell([str(names[index])], text=True)
            except (IndexError, KeyError):
                pass
        return _Cell([str(index)])
    return _cell(a, precision, max_values)


def format_sessions(sessions: Any, batch_index: int = 0, max_ticks: int | None = None,
                    action_names: Any = None, *, hide_dead: bool = False,
                    show_states: bool = False, precision: int = 2, max_values: int = 8,
                    color: bool = False) -> str:
    """The table :func:`print_sessions` prints, as a string (arguments as there)."""
    rewards = torch.as_tensor(sessions.rewards)
    if rewards.dim() != 2:
        raise ValueError(f"print_sessions: rewards must be [batch, time], got shape "
                         f"{tuple(rewards.shape)}")
    batch, time = rewards.shape
    if isinstance(batch_index, bool) or not isinstance(batch_index, (int, np.integer)):
        raise TypeError(f"print_sessions: batch_index must be an int, got "
                        f"{type(batch_index).__name__} (Sessions carry their own actions and "
                        f"rewards; the original's call takes arrays: print_sessions(policy_seq, "
                        f"action_seq, reward_seq))")
    if not -batch <= batch_index < batch:
        raise IndexError(f"print_sessions: batch_index={batch_index} but the sessions hold "
                         f"{batch} sessions")
    if max_ticks is not None and max_ticks < 0:
        raise ValueError(f"print_sessions: max_ticks must be >= 0 or None, got {max_ticks}")
    b = batch_index % batch

    def row_of(name: str, value: Any) -> torch.Tensor:
        value = torch.as_tensor(value)
        _check_leading(name, value, batch, time)
        return value[b].detach().cpu()

    observations = as_list(sessions.observations)
    actions = as_list(sessions.actions)
    policies = as_list(sessions.policy)
    states = dict(sessions.agent_states or {}) if show_states else {}
    many = {"observation": len(observations) > 1, "policy": len(policies) > 1,
            "action": len(actions) > 1}

    def title(kind: str, i: int) -> str:
        return f"{kind} {i}" if many[kind] else kind

    obs_rows = [(title("observation", i), row_of(title("observation", i), o))
                for i, o in enumerate(observations)]
    state_rows = [(getattr(layer, "name", None) or f"state {i}", row_of(f"state {i}", s))
                  for i, (layer, s) in enumerate(states.items())]
    policy_rows = [(title("policy", i), row_of(title("policy", i), p))
                   for i, p in enumerate(policies)]
    action_rows = [(title("action", i), row_of(title("action", i), a))
                   for i, a in enumerate(actions)]
    names_per_action = _action_names_per_layer(action_names, len(actions))
    alive = row_of("is_alive", sessions.is_alive).bool()
    truncated = getattr(sessions, "is_truncated", None)
    truncated = (row_of("is_truncated", truncated).bool() if truncated is not None
                 else torch.zeros_like(alive))
    reward_row = rewards[b].detach().cpu()

    # policy i marks action i's choice, when both have one entry per tick and action ids
    def chosen(i: int, t: int) -> int | None:
        if len(policies) != len(actions):
            return None
        a, p = action_rows[i][1][t], policy_rows[i][1][t]
        if a.dim() == 0 and not a.is_floating_point() and p.dim() == 1:
            index = int(a.item())
            return index if 0 <= index < p.shape[0] else None
        return None

    ticks = list(range(time if max_ticks is None else min(max_ticks, time)))
    hidden = [t for t in ticks if hide_dead and not alive[t]]
    ticks = [t for t in ticks if not (hide_dead and not alive[t])]

    headers = ["tick"] + [n for n, _ in obs_rows + state_rows + policy_rows + action_rows]
    headers += ["reward", "alive"]
    columns: list[list[str]] = [[str(t) for t in ticks]]
    for _, values in obs_rows + state_rows:
        columns.append(_render_column([_cell(values[t], precision, max_values) for t in ticks]))
    for i, (_, values) in enumerate(policy_rows):
        columns.append(_render_column(
            [_cell(values[t], precision, max_values, chosen(i, t), markable=True)
             for t in ticks]))
    for (_, values), names in zip(action_rows, names_per_action):
        columns.append(_render_column(
            [_action_cell(values[t], names, precision, max_values) for t in ticks]))
    columns.append([_number(float(reward_row[t]), precision) for t in ticks])
    columns.append([("yes, cut" if truncated[t] else "yes") if alive[t] else "no"
                    for t in ticks])

    right_aligned = {0, len(headers) - 2}  # tick and reward
    widths = [max([len(h)] + [len(v) for v in col]) for h, col in zip(headers, columns)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if k in right_aligned else c.ljust(w)
                         for k, (c, w) in enumerate(zip(cells, widths))).rstrip()

    total = float((reward_row * alive).sum())
    lines = [f"session {b} of {batch}: {time} ticks, {int(alive.sum())} alive, "
             f"return {_number(total, precision)}", line(headers)]
    for r, t in enumerate(ticks):
        text = line([col[r] for col in columns])
        lines.append(f"{_DIM}{text}{_RESET}" if color and not alive[t] else text)
    if hidden:
        lines.append(f"({len(hidden)} dead ticks hidden)")
    if max_ticks is not None and time > max_ticks:
        lines.append(f"… {time - max_ticks} more ticks")
    return "\n".join(lines)


@overload
def print_sessions(sessions: Any, batch_index: int = 0, max_ticks: int | None = None,
                   action_names: Any = None, file: TextIO | None = None, *,
                   hide_dead: bool = False, show_states: bool = False, precision: int = 2,
                   max_values: int = 8, color: bool | None = None) -> None: ...


@overload
def print_sessions(policy_seq: ArrayLike, action_seq: ArrayLike, reward_seq: ArrayLike,
                   action_names: Any = None, is_alive_seq: ArrayLike | None = None,
                   reference_policy_seq: ArrayLike | None = None, pattern: str = ORIGINAL_PATTERN,
                   plot_policy: bool = True, hidden_seq: ArrayLike | None = None,
                   legend: bool = True, qv_line_width: Callable[[int], float] = unit_width
                   ) -> None: ...


def print_sessions(*args: Any, **kwargs: Any) -> None:
    """Print sessions: agentnet's table of one session, or the original AgentNet's log of
    every session, depending on the first argument.

    **agentnet's call**, ``print_sessions(sessions, batch_index=0, max_ticks=None,
    action_names=None, file=None, *, hide_dead=False, show_states=False, precision=2,
    max_values=8, color=None)``: one session as a table, per tick what the agent saw, thought
    and did. Columns: ``tick``; each observation (vectors abbreviated past ``max_values``
    numbers, with the shape); with ``show_states``, each memory of ``agent_states``; each
    policy (Q-values, probabilities...) with the chosen action's entry in ``[brackets]``; each
    action (its name from ``action_names``); ``reward``; ``alive`` (``yes, cut`` on the last
    tick of an episode cut by a time limit, per ``is_truncated``). Use
    :func:`format_sessions` for the string.

    - sessions: :class:`~agentnet.agent.Sessions` (or anything with its fields), every tensor
      ``[B, T, ...]``; observations, policy and actions may be lists.
    - batch_index: which session of the batch (negative counts from the end).
    - max_ticks: show only the first ``max_ticks`` ticks (None for all).
    - action_names: names of the discrete actions, a list (or dict) indexed by action id;
      for several action tensors, a list with one such list (or None) per tensor.
    - file: where to print (default ``sys.stdout``).
    - hide_dead: leave out the ticks where the session is no longer alive.
    - show_states: add a column per agent memory.
    - precision: decimals of every float; max_values: longest vector shown in full.
    - color: dim dead ticks with ANSI codes; None for "when ``file`` is a terminal".

    **The original's call**, ``print_sessions(policy_seq, action_seq, reward_seq,
    action_names=None, is_alive_seq=None, reference_policy_seq=None, pattern=" {action}(qv =
    {q_values_predicted}) -> {reward}{q_values_reference} |", plot_policy=True,
    hidden_seq=None, legend=True, qv_line_width=lambda action_i: 1)``, taken when the first
    argument is an array or a tensor (numpy arrays and torch tensors alike; or when
    ``policy_seq=`` is given by keyword): for EVERY session of the batch, the line
    ``session # i``, then ``pattern`` for each tick up to the first dead one, on one line
    (``{action}``: the action's name, ``{q_values_predicted}``: the policy's entry for it,
    ``{reward}``, ``{q_values_reference}``: ``(ref = ...)`` when a reference is given), then
    two line ends at the first dead tick or ``reached max session length`` if there was none;
    with ``plot_policy`` (the default) a matplotlib figure per session: each action's policy
    over time (line widths ``qv_line_width(action)``), each unit of ``hidden_seq`` dashed,
    the chosen actions as dots, the session's end as a vertical line; ``plt.show()``.

    - policy_seq: float ``[B, T, A]``, the policy (e.g. Q-values) of every action.
    - action_seq: int ``[B, T]``, the actions taken (ids in ``[0, A)``).
    - reward_seq: ``[B, T]``, what they earned.
    - action_names: a name per action id; default ``"action #i"``.
    - is_alive_seq: ``[B, T]``, truthy while the session runs; default always alive.
    - reference_policy_seq: ``[B, T]`` for the chosen actions or ``[B, T, A]``: shown as
      ``(ref = ...)``, e.g. the Q-learning reference.
    - hidden_seq: ``[B, T, units]``, memory to plot along (plot only).
    - legend: whether the plot has a legend.

    With one session, ``action_seq`` ``[T]`` and every other ``*_seq`` without its batch
    axis. Values print as numpy prints them (torch tensors are converted to numpy first, so
    both give the same text). The plot needs matplotlib (the ``plot`` extra); pass
    ``plot_policy=False`` to print only.

    Both return None. Shapes that do not fit raise ``ValueError`` naming the argument and its
    shape; the other call's keywords raise ``TypeError``.
    """
    original = bool({"policy_seq", "action_seq", "reward_seq"} & kwargs.keys()) or (
        bool(args) and "sessions" not in kwargs and _is_array_like(args[0]))
    if not args and not kwargs.keys() & {"sessions", "policy_seq", "action_seq", "reward_seq"}:
        raise TypeError("print_sessions needs sessions (agentnet's call) or policy_seq, "
                        "action_seq, reward_seq (the original's call)")
    if original:
        _call(print_original_sessions, _print_sessions, args, kwargs,
              "the original's call print_sessions(policy_seq, action_seq, reward_seq, ...)",
              "agentnet's call print_sessions(sessions, ...) with Sessions")
    else:
        _call(_print_sessions, print_original_sessions, args, kwargs,
              "agentnet's call print_sessions(sessions, ...) with Sessions",
              "the original's call print_sessions(policy_seq, action_seq, reward_seq, ...) "
              "with arrays or tensors")


def _is_array_like(value: Any) -> bool:
    return isinstance(value, (torch.Tensor, np.ndarray, list, tuple))


def _call(target: Callable[..., None], other: Callable[..., None], args: tuple[Any, ...],
          kwargs: dict[str, Any], this_call: str, other_call: str) -> None:
    """``target(*args, **kwargs)``, with a keyword of the ``other`` call, an unknown keyword
    (with the closest known one) or too many arguments raising ``TypeError`` that says which
    call was understood."""
    known = inspect.signature(target).parameters
    for name in kwargs:
        if name in known:
            continue
        if name in inspect.signature(other).parameters:
            raise TypeError(f"print_sessions: {name}= belongs to {other_call}; these arguments "
                            f"were read as {this_call}")
        close = difflib.get_close_matches(name, list(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise TypeError(f"print_sessions: unexpected keyword argument {name!r} for "
                        f"{this_call}{hint}")
    try:
        inspect.signature(target).bind(*args, **kwargs)
    except TypeError as error:
        raise TypeError(f"print_sessions ({this_call}): {error}") from None
    target(*args, **kwargs)


def _print_sessions(sessions: Any, batch_index: int = 0, max_ticks: int | None = None,
                    action_names: Any = None, file: TextIO | None = None, *,
                    hide_dead: bool = False, show_states: bool = False, precision: int = 2,
                    max_values: int = 8, color: bool | None = None) -> None:
    """agentnet's call of :func:`print_sessions`."""
    if _is_array_like(sessions) or not hasattr(sessions, "rewards"):
        raise TypeError(f"print_sessions: sessions must be Sessions (or anything with its "
                        f"fields), got {type(sessions).__name__}; the original's call takes "
                        f"arrays or tensors: print_sessions(policy_seq, action_seq, reward_seq)")
    file = sys.stdout if file is None else file
    if color is None:
        color = bool(getattr(file, "isatty", lambda: False)())
    text = format_sessions(sessions, batch_index, max_ticks, action_names, hide_dead=hide_dead,
                           show_states=show_states, precision=precision, max_values=max_values,
                           color=color)
    print(text, file=file)
