"""Named containers for what an agent did: one tick (:class:`Reaction`) or whole sessions."""
from __future__ import annotations

from dataclasses import dataclass, fields
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

    Attributes:
        env_states: the environment's states, a list (one tensor per state) or one tensor.
        observations: ``[B, T, ...]``, a list for an agent with several observation inputs.
        agent_states: ``{new_state_layer: [B, T, ...]}``, the memory after each tick.
        actions: int64 ``[B, T]`` for discrete actions, a list for several action layers.
        policy: ``[B, T, ...]`` (e.g. Q-values ``[B, T, A]``), a list for several estimators.
        rewards: float32 ``[B, T]``.
        is_alive: bool ``[B, T]``.
    """

    env_states: Any
    observations: Any
    agent_states: dict[Any, torch.Tensor]
    actions: Any
    policy: Any
    rewards: torch.Tensor
    is_alive: torch.Tensor

    @property
    def batch_size(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def length(self) -> int:
        """The number of ticks ``T``."""
        return int(self.rewards.shape[1])

    def to(self, device: Any) -> Sessions:
        """A copy with every tensor on ``device``."""
        return Sessions(**{f.name: _map(getattr(self, f.name), lambda t: t.to(device))
                           for f in fields(self)})

    def detach(self) -> Sessions:
        """A copy cut from the autograd graph (e.g. to store it)."""
        return Sessions(**{f.name: _map(getattr(self, f.name), torch.Tensor.detach)
                           for f in fields(self)})
