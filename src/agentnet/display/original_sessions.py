"""The original AgentNet's ``print_sessions(policy_seq, action_seq, reward_seq, ...)``, kept
for ported code: its log of every session and, with ``plot_policy``, a matplotlib figure per
session. :func:`agentnet.display.print_sessions` calls :func:`print_original_sessions` when its
first argument is an array or a tensor (or ``policy_seq=`` is given); agentnet's own table of one
session is :mod:`agentnet.display.sessions`."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

__all__: list[str] = []

#: the original's default ``pattern``: one tick of the log
ORIGINAL_PATTERN = " {action}(qv = {q_values_predicted}) -> {reward}{q_values_reference} |"


def unit_width(action_i: int) -> float:
    """The original's ``qv_line_width``: every Q-value line 1 point wide."""
    return 1


def _as_array(name: str, value: Any) -> np.ndarray:
    """``value`` (a tensor, an array or nested lists) as a numeric numpy array."""
    array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"print_sessions: {name} must be a numeric array or tensor, got "
                         f"{type(value).__name__} of dtype {array.dtype}")
    return array


def _check_seq(name: str, array: np.ndarray, leading: tuple[int, ...], extra: int | tuple[int, ...],
               what: str) -> None:
    """Raise unless ``array`` is ``leading`` followed by ``extra`` more axes (one of them)."""
    ranks = (extra,) if isinstance(extra, int) else extra
    if array.ndim - len(leading) not in ranks or array.shape[:len(leading)] != leading:
        raise ValueError(f"print_sessions: {name} must be {what}, like action_seq "
                         f"{leading}, got shape {array.shape}")


def print_original_sessions(policy_seq: Any, action_seq: Any, reward_seq: Any,
                            action_names: Any = None, is_alive_seq: Any = None,
                            reference_policy_seq: Any = None, pattern: str = ORIGINAL_PATTERN,
                            plot_policy: bool = True, hidden_seq: Any = None,
                            legend: bool = True,
                            qv_line_width: Callable[[int], float] = unit_width) -> None:
    """The original's call of :func:`print_sessions`, printing as the original did."""
    policy = _as_array("policy_seq", policy_seq)
    actions = _as_array("action_seq", action_seq)
    rewards = _as_array("reward_seq", reward_seq)
    given = {"is_alive_seq": is_alive_seq, "reference_policy_seq": reference_policy_seq,
             "hidden_seq": hidden_seq}
    optional = {name: None if v is None else _as_array(name, v) for name, v in given.items()}
    if actions.ndim == 1:  # one session: every sequence gets a batch axis of 1
        if policy.ndim != 2:
            raise ValueError(f"print_sessions: action_seq is one session [tick] (shape "
                            f"{actions.shape}), so policy_seq must be [tick, action], got "
                            f"shape {policy.shape}")
        policy, actions, rewards = policy[None], actions[None], rewards[None]
        optional = {name: None if v is None else v[None] for name, v in optional.items()}
    if actions.ndim != 2 or actions.dtype.kind not in "iu":
        raise ValueError(f"print_sessions: action_seq must be integer action ids [batch, tick] "
                         f"(or [tick]), got {actions.dtype} of shape {actions.shape}")
    batch_tick = actions.shape
    _check_seq("policy_seq", policy, batch_tick, 1, "[batch, tick, action]")
    _check_seq("reward_seq", rewards, batch_tick, 0, "[batch, tick]")
    alive = optional["is_alive_seq"]
    alive = np.ones_like(actions) if alive is None else alive
    _check_seq("is_alive_seq", alive, batch_tick, 0, "[batch, tick]")
    n_actions = policy.shape[2]
    if actions.size and (actions.min() < 0 or actions.max() >= n_actions):
        raise ValueError(f"print_sessions: action_seq holds actions {actions.min()} to "
                         f"{actions.max()}, but policy_seq {policy.shape} has {n_actions}")
    reference = optional["reference_policy_seq"]
    if reference is not None:
        _check_seq("reference_policy_seq", reference, batch_tick, (0, 1),
                   "[batch, tick] or [batch, tick, action]")
        if reference.ndim == 3:  # the reference of the chosen actions
            reference = np.take_along_axis(reference, actions[..., None], 2)[..., 0]
    hidden = optional["hidden_seq"]
    if hidden is not None:
        _check_seq("hidden_seq", hidden, batch_tick, 1, "[batch, tick, units]")
    if action_names is None:  # one name per action (the original's skipped the last one)
        action_names = [f"action #{i}" for i in range(n_actions)]
    needed = n_actions if plot_policy else int(actions.max()) + 1 if actions.size else 0
    if isinstance(action_names, Sequence) and len(action_names) < needed:
        raise ValueError(f"print_sessions: action_names has {len(action_names)} name(s), but "
                         f"{'policy_seq has' if plot_policy else 'action_seq holds'} "
                         f"{needed} actions")
    plt = _pyplot() if plot_policy else None

    for session_id in range(batch_tick[0]):
        print("session #", session_id)
        time_id = 0
        for time_id in range(batch_tick[1]):
            if not alive[session_id, time_id]:
                print("\n")
                break
            action = actions[session_id, time_id]
            ref = (f"(ref = {reference[session_id, time_id]})" if reference is not None
                   else "")
            print(pattern.format(action=action_names[action],
                                q_values_predicted=policy[session_id, time_id, action],
                                reward=rewards[session_id, time_id], q_values_reference=ref),
                  end=" ")
        else:
            print("reached max session length")
        if plt is not None:
            _plot_session(plt, policy[session_id], actions[session_id], time_id, action_names,
                          None if hidden is None else hidden[session_id], legend, qv_line_width)


def _pyplot() -> Any:
    try:  # imported here: agentnet itself does not need matplotlib
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError("print_sessions: plot_policy=True (the original's default) needs "
                          "matplotlib: pip install 'agentnet-torch[plot]', or pass "
                          "plot_policy=False") from error
    return plt


def _plot_session(plt: Any, policy: np.ndarray, actions: np.ndarray, session_len: int,
                  action_names: Any, hidden: np.ndarray | None, legend: bool,
                  qv_line_width: Callable[[int], float]) -> None:
    """The original's figure of one session: policy ``[T, A]``, actions ``[T]``, hidden
    ``[T, units]``; ``session_len`` the tick its loop stopped at."""
    plt.figure(figsize=[16, 8])
    plt.xlim(0, max(session_len * 1.1, 2))
    plt.xticks(np.arange(session_len))
    plt.grid()
    q_values = policy.T
    for action in range(q_values.shape[0]):
        plt.plot(q_values[action], label=action_names[action], linewidth=qv_line_width(action))
    if hidden is not None:
        for i, hh in enumerate(hidden.T):
            plt.plot(hh, "--", label="hidden #" + str(i))
    session_actions = actions[:session_len]
    action_range = np.arange(len(session_actions))
    plt.scatter(action_range, q_values[session_actions, action_range])
    if legend:
        plt.legend()
    plt.plot(np.repeat(session_len - 1, 2), plt.ylim(), c="blue")  # the session's end
    plt.show()
