"""The tensor-native environment contract, unrolled inside ``Agent.get_sessions``."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["BaseEnvironment"]

Shape = tuple[int, ...]


class BaseEnvironment(ABC):
    """A batch of independent sessions whose state lives in tensors.

    An environment describes its state, observations and actions by their per-session
    shapes (without the batch axis) and dtypes, and implements four batched functions:

    - ``reset(batch_size, device)`` -> ``(states, observations)``: initial values, lists of
      tensors ``[B, *shape]``.
    - ``get_action_results(last_states, actions)`` -> ``(new_states, observations)``: one step.
    - ``get_rewards(last_states, actions, new_states)`` -> float ``[B]``: what the actions earned.
    - ``get_is_alive(states)`` -> bool ``[B]``: whether each session is still running in
      ``states``.
    - ``get_is_truncated(states)`` -> bool ``[B]``: whether ``states`` ends an episode by a time
      limit rather than by termination (all False by default).

    Episode ends (the contract every objective relies on): the tick after an episode's last
    action holds the state the episode ended in, and is not alive. If the episode was
    truncated, that state's value is the bootstrap target; if it terminated, nothing follows.
    A session that stops either stays stopped (``autoreset = False``: later ticks are dead
    too) or, with ``autoreset = True``, ignores the action on that dead tick and starts a new
    episode on the next one (its first tick is alive; the agent's memory restarts there).

    ``states``, ``observations`` and ``actions`` are always lists, one tensor per entry of
    ``state_shapes``, ``observation_shapes`` and ``action_shapes``. Everything stays on the
    device of the tensors it is given: no host round trip inside a step.
    """

    #: per-session shapes (no batch axis) and dtypes, one entry per tensor
    state_shapes: Sequence[Shape] = ()
    state_dtypes: Sequence[torch.dtype] = ()
    observation_shapes: Sequence[Shape] = ()
    observation_dtypes: Sequence[torch.dtype] = ()
    action_shapes: Sequence[Shape] = ((),)
    action_dtypes: Sequence[torch.dtype] = (torch.int64,)
    #: whether a stopped session starts a new episode by itself (after one dead tick)
    autoreset: bool = False

    @abstractmethod
    def reset(self, batch_size: int | None, device: Any = None
              ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Initial ``(states, observations)`` of ``batch_size`` sessions on ``device``
        (``batch_size`` None: the environment's default, as ``Agent.get_sessions`` asks
        when given none)."""

    @abstractmethod
    def get_action_results(self, last_states: list[torch.Tensor], actions: list[torch.Tensor]
                           ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """``(new_states, observations)`` after the agent's ``actions`` in ``last_states``."""

    @abstractmethod
    def get_rewards(self, last_states: list[torch.Tensor], actions: list[torch.Tensor],
                    new_states: list[torch.Tensor]) -> torch.Tensor:
        """float32 ``[B]``: the reward for taking ``actions`` in ``last_states``."""

    def get_is_alive(self, states: list[torch.Tensor]) -> torch.Tensor:
        """bool ``[B]``: True where the session goes on from ``states``; always True by default."""
        return torch.ones(states[0].shape[0], dtype=torch.bool, device=states[0].device)

    def get_is_truncated(self, states: list[torch.Tensor]) -> torch.Tensor:
        """bool ``[B]``: True where ``states`` ends an episode by a time limit (not a terminal
        state: its value is worth bootstrapping from). Never, by default.

        ``Agent.get_sessions`` calls it once per rollout on all ticks at once, with states
        flattened to ``[B * T, ...]``, so it must be elementwise over the batch axis."""
        return torch.zeros(states[0].shape[0], dtype=torch.bool, device=states[0].device)
