"""Action pickers: layers that turn a policy ``[B, A]`` into int64 action ids ``[B]``, and, for
continuous actions, a Gaussian (or tanh-squashed Gaussian) mean ``[B, D]`` into float actions
``[B, D]`` with their log-probabilities."""
from .base import BaseResolver, GreedyResolver
from .epsilon_greedy import EpsilonGreedyResolver
from .gaussian import GaussianResolver, TanhGaussianResolver
from .probabilistic import BoltzmannResolver, ProbabilisticResolver

__all__ = ["BaseResolver", "GreedyResolver", "EpsilonGreedyResolver", "ProbabilisticResolver",
           "BoltzmannResolver", "GaussianResolver", "TanhGaussianResolver"]
