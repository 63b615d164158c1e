"""What every action picker shares: a policy ``[B, A]`` in, int64 action ids ``[B]`` out."""
from __future__ import annotations

from typing import Any

import torch

from ..layers.base import Layer, format_shape

__all__ = ["BaseResolver", "GreedyResolver"]


class BaseResolver(Layer):
    """A layer that picks one discrete action per session from a policy.

    Input: float ``[B, A]`` (Q-values, probabilities or logits, as the subclass reads them).
    Output: int64 ``[B]``, action ids in ``[0, A)``. Every resolver picks ``argmax`` when
    evaluated with the flag ``greedy=True`` (e.g. ``agent.get_sessions(env, greedy=True)``).
    Subclasses implement ``pick(policy)``.
    """

    accepted_flags = frozenset({"greedy"})

    def __init__(self, incoming: Layer, name: str | None = None):
        super().__init__(incoming, name)
        shape = self.input_shape
        if len(shape) != 2 or shape[1] is None:
            raise ValueError(f"{self.describe()}: expects a policy [batch, n_actions] with a "
                             f"known number of actions, got {format_shape(shape)} from "
                             f"{self.input_layers[0].describe()}")
        self.n_actions: int = shape[1]

    def get_output_for(self, policy: torch.Tensor, greedy: bool = False,
                       **flags: Any) -> torch.Tensor:
        if greedy:
            return policy.argmax(dim=-1)
        return self.pick(policy)

    def pick(self, policy: torch.Tensor) -> torch.Tensor:
        """int64 ``[B]``: the actions picked from float ``[B, A]``; the greedy pick by default."""
        return policy.argmax(dim=-1)


class GreedyResolver(BaseResolver):
    """Always the action of highest value: ``argmax(policy, -1)``.

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> q = InputLayer((None, 3))
    >>> get_output(GreedyResolver(q), {q: torch.tensor([[0., 2., 1.]])})
    tensor([1])
    """
