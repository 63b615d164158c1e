"""Measuring an agent on a tensor-native environment: one episode per row, without gradient."""
from __future__ import annotations

from typing import Any

import torch

from ..agent import Agent
from ..environment.base import BaseEnvironment
from ..environment.episodes import EpisodeStats

__all__ = ["play_episodes"]


def play_episodes(agent: Agent, environment: BaseEnvironment, n_episodes: int,
                  max_steps: int, **flags: Any) -> EpisodeStats:
    """Play one episode in each of ``n_episodes`` rows, without gradient, and measure them.

    Args:
        agent: an :class:`agentnet.Agent`.
        environment: an environment without ``autoreset`` (each row plays one episode).
        n_episodes: rows to play. max_steps: ticks to play (at least the episodes' limit).
        **flags: e.g. ``greedy=True`` for a greedy evaluation.
    """
    if environment.autoreset:
        raise ValueError(f"play_episodes needs {type(environment).__name__} without autoreset: "
                         f"each row must play exactly one episode")
    with torch.no_grad():
        sessions = agent.get_sessions(environment, session_length=max_steps,
                                      batch_size=n_episodes, **flags)
    alive = sessions.is_alive
    return EpisodeStats((sessions.rewards * alive).sum(dim=1).float(), alive.sum(dim=1).float())
