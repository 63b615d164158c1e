"""Named containers for what an agent did: one tick (:class:`Reaction`) or whole sessions."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

import torch

__all__ = ["Sessions", "Reaction"]


class Reaction(NamedTuple):
    """One tick of an agent: what it did and what it now remembers.

    ``actions`` and ``policy`` are single tensors ``[B, ...]`` for an agent built with single
    layers, lists otherwise; ``new_states`` is a list ``[B, ...]`` in ``agent_states`` order.
    """

    actions: Any
    new_states: list[Any]
    policy: Any


def _map(value: Any, fn: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map(v, fn) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_map(v, fn) for v in value)
    return value


@dataclass
class Sessions:
    """Batched sessions of interaction, every tensor ``[batch, time, ...]``.

    Time alignment: ``env_states[:, t]`` was observed as ``observations[:, t]``, from which
    the agent computed ``policy[:, t]`` and ``actions[:, t]`` and moved its memory from
    ``agent_states[:, t-1]`` to ``agent_states[:, t]``; ``rewards[:, t]`` is what
    ``actions[:, t]`` earned; ``is_alive[:, t]`` says the session still runs at ``t``.

    Episode ends (decided here, once; every objective in ``agentnet.learning`` follows it):

    - an episode's last tick ``t`` is alive and tick ``t + 1`` is not: tick ``t + 1`` holds the
      state the episode ended in (its ``policy`` is the agent's estimate there);
    - ``is_truncated[:, t]`` is True when that end was a time limit: the value at ``t + 1`` is
      the bootstrap target. Otherwise the episode terminated and nothing is bootstrapped;
    - a dead tick followed by an alive one starts a new episode (environments with
      ``autoreset``, Gymnasium pools): no return crosses it, and memory restarts at zeros;
    - the last tick of a row may be alive: the episode goes on past the row (see
      ``crop_last`` in the objectives).

    Attributes:
        env_states: the environment's states, a list (one tensor per state) or one tensor.
        observations: ``[B, T, ...]``, a list for an agent with several observation inputs.
        agent_states: ``{new_state_layer: [B, T, ...]}``, the memory after each tick.
        actions: int64 ``[B, T]`` for discrete actions, a list for several action layers.
        policy: ``[B, T, ...]`` (e.g. Q-values ``[B, T, A]``), a list for several estimators.
        rewards: float32 ``[B, T]``.
        is_alive: bool ``[B, T]``.
        is_truncated: bool ``[B, T]``, True on the last tick of an episode cut by a time limit.
        next_env_states, next_observations: lists of ``[B, ...]``, where the environment was
            left after the last tick: ``get_sessions(env, continue_from=sessions)`` goes on
            from there.
        additional_outputs: ``[B, T, ...]`` per layer given to ``get_sessions`` as
            ``additional_outputs`` (e.g. a target network's Q-values).
        initial_agent_states: ``[B, ...]`` per memory, what entered tick 0 (after a restart
            at tick 0, if any): what a replay of these sessions starts from.
    """

    env_states: Any
    observations: Any
    agent_states: dict[Any, torch.Tensor]
    actions: Any
    policy: Any
    rewards: torch.Tensor
    is_alive: torch.Tensor
    is_truncated: torch.Tensor
    next_env_states: list[torch.Tensor]
    next_observations: list[torch.Tensor]
    additional_outputs: list[torch.Tensor] = field(default_factory=list)
    initial_agent_states: list[torch.Tensor] = field(default_factory=list)

    @property
    def batch_size(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def length(self) -> int:
        """The number of ticks ``T``."""
        return int(self.rewards.shape[1])

    def continuation(self) -> dict[str, list[torch.Tensor]]:
        """What ``get_sessions(continue_from=...)`` needs to go on from these sessions, as
        plain tensors (detached), e.g. to keep in a training checkpoint."""
        return {"next_env_states": [s.detach() for s in self.next_env_states],
                "next_observations": [o.detach() for o in self.next_observations],
                "last_agent_states": [m[:, -1].detach() for m in self.agent_states.values()],
                "last_is_alive": [self.is_alive[:, -1]]}

    def to(self, device: Any) -> Sessions:
        """A copy with every tensor on ``device``."""
        return Sessions(**{f.name: _map(getattr(self, f.name), lambda t: t.to(device))
                           for f in fields(self)})

    def detach(self) -> Sessions:
        """A copy cut from the autograd graph (e.g. to store it)."""
        return Sessions(**{f.name: _map(getattr(self, f.name), torch.Tensor.detach)
                           for f in fields(self)})
