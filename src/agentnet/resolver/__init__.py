"""Action pickers: layers that turn a policy ``[B, A]`` into int64 action ids ``[B]``."""
from .base import BaseResolver, GreedyResolver
from .epsilon_greedy import EpsilonGreedyResolver
from .probabilistic import BoltzmannResolver, ProbabilisticResolver

__all__ = ["BaseResolver", "GreedyResolver", "EpsilonGreedyResolver", "ProbabilisticResolver",
           "BoltzmannResolver"]
