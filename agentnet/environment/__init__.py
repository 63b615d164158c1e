"""Environments: the tensor-native contract and the native environments built on it."""
from .base import BaseEnvironment
from .cartpole import CartPole
from .episodes import EpisodeStats, EpisodeTracker, play_episodes

__all__ = ["BaseEnvironment", "CartPole", "EpisodeTracker", "EpisodeStats", "play_episodes"]
