"""Epsilon-greedy action picking over Q-values."""
from __future__ import annotations

import torch

from ..layers.base import Layer
from ..layers.shared import SharedValue
from .base import BaseResolver

__all__ = ["EpsilonGreedyResolver"]


class EpsilonGreedyResolver(BaseResolver):
    """With probability ``epsilon`` a uniformly random action, otherwise ``argmax(qvalues)``.

    Input: float ``[B, A]`` Q-values. Output: int64 ``[B]``. ``epsilon`` is a
    :class:`~agentnet.layers.SharedValue`: change it at run time with
    ``resolver.epsilon.set_value(0.5)``; it is saved in the agent's ``state_dict``. The
    default, 0.1, is the original AgentNet's: it explores even when the agent is evaluated or
    deployed. Pass ``epsilon`` explicitly (usually a schedule, starting high), and use the
    flag ``greedy=True`` (or ``epsilon=0``) to act greedily.
    (A random pick may coincide with the greedy one: the greedy action is taken with
    probability ``1 - epsilon + epsilon / A``.)

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> q = InputLayer((None, 2))
    >>> resolver = EpsilonGreedyResolver(q, epsilon=0.0)
    >>> get_output(resolver, {q: torch.tensor([[1., 3.], [5., 0.]])})
    tensor([1, 0])
    >>> resolver.epsilon.set_value(0.5)
    """

    def __init__(self, incoming: Layer, epsilon: float = 0.1, name: str | None = None):
        super().__init__(incoming, name)
        self.epsilon = SharedValue(epsilon, check=self._check_epsilon)

    def _check_epsilon(self, epsilon: float) -> None:
        if not 0 <= epsilon <= 1:
            raise ValueError(f"{self.describe()}: epsilon must be in [0, 1], got {epsilon}")

    def pick(self, qvalues: torch.Tensor) -> torch.Tensor:
        batch, device = qvalues.shape[0], qvalues.device
        explore = torch.rand(batch, device=device) < self.epsilon.value
        random_actions = torch.randint(self.n_actions, (batch,), device=device)
        return torch.where(explore, random_actions, qvalues.argmax(dim=-1))
