"""Environments: the tensor-native contract and the native environments built on it."""
from .base import BaseEnvironment
from .cartpole import CartPole
from .episodes import EpisodeStats, EpisodeTracker, play_episodes
from .session_pool import SessionBatchEnvironment, SessionPoolEnvironment
from .sum_tree import SumTree
from .tmaze import TMaze

__all__ = ["BaseEnvironment", "CartPole", "EpisodeTracker", "EpisodeStats", "play_episodes",
           "SessionPoolEnvironment", "SessionBatchEnvironment", "SumTree", "TMaze"]
