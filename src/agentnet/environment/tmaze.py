"""A T-maze: a memory task where a cue seen at the start decides the rewarded final action."""
from __future__ import annotations

from typing import Any

import torch

from ._native import _check_discrete_actions
from .base import BaseEnvironment

__all__ = ["TMaze"]


class TMaze(BaseEnvironment):
    """The agent sees a cue (left or right) on its first tick, then walks a corridor of
    ``corridor_length`` ticks that all look the same, and at the junction must turn to the
    side the cue showed: +1 if it does, -1 otherwise, and the episode ends. Only an agent
    that remembers the cue beats chance.

    Observations: float32 ``[B, 3]``: (cue says left, cue says right, at the junction), the
    cue only on the first tick. Actions: int64 ``[B]``, 0 left, 1 right; they matter only at
    the junction; another value or a float tensor is refused (a ``ValueError`` eagerly on CPU;
    under ``torch.compile`` or on another device, an asynchronous assert's ``RuntimeError``).
    States: the cue int64 ``[B]``, the position int64 ``[B]`` and a done flag bool ``[B]``. An
    episode has ``corridor_length + 1`` ticks.

    >>> env = TMaze(batch_size=2, corridor_length=1, seed=0)
    >>> states, (obs,) = env.reset()
    >>> states, (obs,) = env.get_action_results(states, [torch.tensor([0, 0])])
    >>> obs
    tensor([[0., 0., 1.],
            [0., 0., 1.]])
    """

    action_shapes = [()]
    action_dtypes = [torch.int64]
    n_actions = 2
    state_shapes = [(), (), ()]
    state_dtypes = [torch.int64, torch.int64, torch.bool]
    observation_shapes = [(3,)]
    observation_dtypes = [torch.float32]

    def __init__(self, batch_size: int = 1, corridor_length: int = 4, seed: int | None = None,
                 autoreset: bool = False):
        if corridor_length < 1:
            raise ValueError(f"TMaze: corridor_length must be positive, got {corridor_length}")
        self.batch_size, self.corridor_length = batch_size, corridor_length
        self.autoreset = autoreset
        if seed is None:
            seed = int(torch.randint(0, 2**62, ()).item())
        self._generator = torch.Generator().manual_seed(seed)

    def observe(self, cue: torch.Tensor, position: torch.Tensor) -> list[torch.Tensor]:
        start = position == 0
        return [torch.stack([start & (cue == 0), start & (cue == 1),
                             position == self.corridor_length], dim=1).to(torch.float32)]

    def reset(self, batch_size: int | None = None, device: Any = None
              ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        batch = batch_size or self.batch_size
        cue = torch.randint(2, (batch,), generator=self._generator).to(device)
        position = torch.zeros_like(cue)
        states = [cue, position, torch.zeros_like(cue, dtype=torch.bool)]
        return states, self.observe(cue, position)

    def get_action_results(self, last_states: list[torch.Tensor], actions: list[torch.Tensor]
                           ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        cue, position, done = last_states
        _check_discrete_actions("TMaze", actions[0], self.n_actions)
        done = done | (position == self.corridor_length)
        position = torch.where(done, position, position + 1)
        if self.autoreset:  # the dead tick after an episode is followed by a new episode
            stopped = last_states[2]
            cue = torch.where(stopped, torch.randint_like(cue, 2), cue)
            position = position.masked_fill(stopped, 0)
            done = done & ~stopped
        return [cue, position, done], self.observe(cue, position)

    def get_rewards(self, last_states: list[torch.Tensor], actions: list[torch.Tensor],
                    new_states: list[torch.Tensor]) -> torch.Tensor:
        cue, position, done = last_states
        at_junction = (position == self.corridor_length) & ~done
        correct = (actions[0] == cue).to(torch.float32) * 2 - 1
        return torch.where(at_junction, correct, torch.zeros_like(correct))

    def get_is_alive(self, states: list[torch.Tensor]) -> torch.Tensor:
        return ~states[2]
