"""Measuring episodes: the returns and lengths of episodes that finish in sessions.

(Playing an agent for a measure, ``play_episodes``, drives an agent: it is in
:mod:`agentnet.driving`.)"""
from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["EpisodeTracker", "EpisodeStats"]


class EpisodeStats(NamedTuple):
    """Per-episode ``returns`` and ``lengths``, float ``[n]`` tensors."""

    returns: torch.Tensor
    lengths: torch.Tensor


class EpisodeTracker:
    """Follows the rows of consecutive sessions (``get_sessions(..., continue_from=...)``)
    and collects the return and length of every episode that finishes.

    >>> tracker = EpisodeTracker()
    >>> alive = torch.tensor([[True, True, False, True]])
    >>> tracker.update(torch.tensor([[1., 2., 0., 5.]]), alive).returns
    tensor([3.])
    """

    def __init__(self) -> None:
        self._running: torch.Tensor | None = None
        self._length: torch.Tensor | None = None
        self._alive: torch.Tensor | None = None

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The running returns and lengths of unfinished episodes (for checkpoints)."""
        if self._running is None or self._length is None or self._alive is None:
            return {}  # all three are set together
        return {"running": self._running, "length": self._length, "alive": self._alive}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Go on from :meth:`state_dict`: ``{}`` or float ``running``, ``length`` and bool
        ``alive``, each ``[B]``. Another form raises ValueError and changes nothing."""
        if not isinstance(state, dict) or (state and set(state) != {"running", "length",
                                                                     "alive"}):
            raise ValueError("EpisodeTracker.load_state_dict: expected {} or running, length "
                             "and alive")
        if state:
            running, length, alive = state["running"], state["length"], state["alive"]
            if not all(isinstance(t, torch.Tensor) and t.dim() == 1
                       and t.shape == running.shape for t in (running, length, alive)):
                raise ValueError("EpisodeTracker.load_state_dict: running, length and alive "
                                 "must be tensors of one shape [B]")
            if not (running.is_floating_point() and length.is_floating_point()
                    and alive.dtype == torch.bool):
                raise ValueError("EpisodeTracker.load_state_dict: running and length must be "
                                 "float, alive bool")
            self._running, self._length, self._alive = running, length, alive

    def update(self, rewards: torch.Tensor, is_alive: torch.Tensor) -> EpisodeStats:
        """Take the next sessions' rewards and aliveness ``[B, T]``; return the episodes that
        ended in them (an alive tick followed by a dead one)."""
        rewards, alive = rewards.detach(), is_alive.detach().bool()
        if self._running is None or self._running.shape[0] != rewards.shape[0]:
            self._running = torch.zeros_like(rewards[:, 0])
            self._length = torch.zeros_like(rewards[:, 0])
            self._alive = alive[:, 0]
        assert self._length is not None and self._alive is not None  # set with _running
        returns, lengths = [], []
        for t in range(rewards.shape[1]):
            ended = self._alive & ~alive[:, t]
            returns.append(self._running[ended])
            lengths.append(self._length[ended])
            self._running = torch.where(ended, torch.zeros_like(self._running), self._running)
            self._length = torch.where(ended, torch.zeros_like(self._length), self._length)
            self._running = self._running + torch.where(alive[:, t], rewards[:, t], 0.0)
            self._length = self._length + alive[:, t]
            self._alive = alive[:, t]
        return EpisodeStats(torch.cat(returns), torch.cat(lengths))

