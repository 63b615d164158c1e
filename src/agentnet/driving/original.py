"""The original AgentNet's ``EnvPool`` protocol on top of agentnet's: ``interact`` results
that unpack into its six numpy logs, and ``update`` filling the pool's own replay
(``pool.experience_replay``) with ``append=``, ``max_size=`` and ``preprocess=``."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from ..environment.session_pool import SessionPoolEnvironment
from ..records import Sessions, as_list

__all__ = ["PoolSessions", "original_logs", "update_experience_replay"]


def _numpy(value: torch.Tensor) -> np.ndarray:
    return value.detach().cpu().numpy()


def original_logs(sessions: Sessions) -> tuple[Any, ...]:
    """``observation_log, action_log, reward_log, memories_log, is_alive_log, info_log``: the
    original ``EnvPool.interact``'s return, numpy ``[batch, time, ...]`` (an observation or
    action log is a list for an agent of several such layers; ``memories_log`` a list, the
    memory after each tick; ``is_alive_log`` uint8). Infos are not recorded: ``info_log`` is
    ``[time][batch]`` of None."""
    observations = [_numpy(o) for o in sessions.observation_list]
    actions = [_numpy(a) for a in sessions.action_list]
    batch, length = sessions.rewards.shape[:2]
    return (observations[0] if len(observations) == 1 else observations,
            actions[0] if len(actions) == 1 else actions,
            _numpy(sessions.rewards),
            [_numpy(m) for m in sessions.agent_states.values()],
            _numpy(sessions.is_alive).astype(np.uint8),
            [[None] * batch for _ in range(length)])


class PoolSessions(Sessions):
    """What :meth:`EnvPool.interact <agentnet.driving.EnvPool.interact>` returns:
    :class:`~agentnet.agent.Sessions` (read its fields by name) that unpack, as the original
    ``EnvPool.interact``'s return did, into its six logs (:func:`original_logs`):
    ``observation_log, action_log, reward_log, memories_log, is_alive_log, info_log =
    pool.interact(50)``."""

    def __iter__(self) -> Iterator[Any]:
        return iter(original_logs(self))


def as_pool_sessions(sessions: Sessions) -> PoolSessions:
    """The same sessions (no copy) as :class:`PoolSessions`."""
    return PoolSessions(**{f.name: getattr(sessions, f.name)
                           for f in dataclasses.fields(sessions)})


Preprocess = Callable[[Any, Any, Any, Any, list[Any]], tuple[Any, Any, Any, Any, Any]]


def update_experience_replay(replay: SessionPoolEnvironment, sessions: Sessions, append: bool,
                             max_size: int | None, preprocess: Preprocess | None) -> None:
    """The original ``EnvPool.update``'s second half: ``sessions`` loaded into ``replay`` (a
    pool made the original way), replacing it or (``append``) appended to it keeping the
    newest ``max_size``. ``preprocess(observations, actions, rewards, is_alive,
    preceding_memories)`` gets and returns them as the original's did: numpy arrays (and a
    list of them for the memories)."""
    fields: tuple[Any, ...]
    if preprocess is None:
        fields = (sessions.observation_list, sessions.action_list, sessions.rewards,
                  sessions.is_alive, list(sessions.initial_agent_states))
    else:
        observations, actions, rewards, _, is_alive, _ = original_logs(sessions)
        memories = [_numpy(m) for m in sessions.initial_agent_states]
        fields = tuple(preprocess(observations, actions, rewards, is_alive, memories))
        if len(fields) != 5:
            raise ValueError(f"EnvPool.update: preprocess must return (observations, actions, "
                             f"rewards, is_alive, preceding_memories), got {len(fields)} values")
        fields = (*fields[:4], None if fields[4] is None else as_list(fields[4]))
    if append:
        replay.append_sessions(*fields, max_pool_size=max_size)
    else:
        replay.load_sessions(*fields)
