"""Hiding part of what an environment shows: a partially observed version of any environment."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .base import BaseEnvironment, as_shapes

__all__ = ["MaskedObservations"]


class MaskedObservations(BaseEnvironment):
    """``env`` with its observations restricted to the components ``keep`` (of the last axis).

    Everything else is ``env``'s: states, actions, rewards, aliveness, truncation, ``autoreset``
    and any other attribute or method (``get_is_terminated``, ``batch_size``...). Hiding
    CartPole's velocities, ``MaskedObservations(CartPole(), keep=(0, 2))`` shows only the
    cart's position and the pole's angle, so an agent must remember earlier ticks to balance.

    Args:
        env: an environment with one observation ``[B, n]``.
        keep: indices into the ``n`` components, distinct, in the order they are shown.

    >>> from agentnet.environment import CartPole
    >>> env = MaskedObservations(CartPole(batch_size=3, seed=0), keep=(0, 2))
    >>> env.observation_shapes
    [(2,)]
    >>> states, (obs,) = env.reset()
    >>> bool(torch.equal(obs, states[0][:, [0, 2]].float()))
    True
    """

    def __init__(self, env: BaseEnvironment, keep: Sequence[int] = (0, 2)) -> None:
        shapes = list(as_shapes(env.observation_shapes))
        if len(shapes) != 1 or len(shapes[0]) != 1:
            raise ValueError(f"MaskedObservations: {type(env).__name__} must give one "
                             f"observation [B, n], it gives shapes {shapes}")
        size = shapes[0][0]
        keep = tuple(keep)
        if (not keep or len(set(keep)) != len(keep)
                or any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < size
                       for i in keep)):
            raise ValueError(f"MaskedObservations: keep must hold distinct indices in "
                             f"[0, {size}) for observations of shape {tuple(shapes[0])}, "
                             f"got {keep}")
        self.env, self.keep = env, keep
        self.observation_shapes = [(len(keep),)]
        self.observation_dtypes = list(env.observation_dtypes)
        self.state_shapes, self.state_dtypes = env.state_shapes, env.state_dtypes
        self.action_shapes, self.action_dtypes = env.action_shapes, env.action_dtypes
        self._index: dict[torch.device, torch.Tensor] = {}  # ``keep`` on each device, made once

    @property
    def autoreset(self) -> bool:
        """The wrapped environment's: a stopped session restarts by itself."""
        return self.env.autoreset

    def __getattr__(self, name: str) -> Any:
        # only called for what this wrapper does not have itself: ask the environment
        if name.startswith("__") or "env" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.env, name)

    def __repr__(self) -> str:
        return f"MaskedObservations({self.env!r}, keep={self.keep})"

    def mask(self, observations: list[torch.Tensor]) -> list[torch.Tensor]:
        """The kept components of ``[observations [B, n]]``: ``[observations [B, len(keep)]]``."""
        (observation,) = observations
        index = self._index.get(observation.device)
        if index is None:
            index = self._index[observation.device] = torch.tensor(
                self.keep, dtype=torch.int64, device=observation.device)
        return [observation.index_select(-1, index)]

    def reset(self, batch_size: Any = None, device: Any = None
              ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The wrapped environment's reset (``batch_size`` None: its default), masked."""
        states, observations = self.env.reset(batch_size, device)
        return states, self.mask(observations)

    def get_action_results(self, last_states: list[torch.Tensor], actions: list[torch.Tensor]
                           ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        new_states, observations = self.env.get_action_results(last_states, actions)
        return new_states, self.mask(observations)

    def get_rewards(self, last_states: list[torch.Tensor], actions: list[torch.Tensor],
                    new_states: list[torch.Tensor]) -> torch.Tensor:
        return self.env.get_rewards(last_states, actions, new_states)

    def get_is_alive(self, states: list[torch.Tensor]) -> torch.Tensor:
        return self.env.get_is_alive(states)

    def get_is_truncated(self, states: list[torch.Tensor]) -> torch.Tensor:
        return self.env.get_is_truncated(states)
