"""Sampling actions from probabilities or from a Boltzmann (softmax) distribution."""
from __future__ import annotations

import torch

from ..layers.base import Layer
from ..layers.shared import SharedValue
from .base import BaseResolver

__all__ = ["ProbabilisticResolver", "BoltzmannResolver"]


class ProbabilisticResolver(BaseResolver):
    """Samples action ``a`` with probability ``probs[:, a]``.

    Input: float ``[B, A]``, non-negative; rows need not sum to one (``assume_normalized`` is
    kept for the original's signature: the draw is always scaled by the row's sum). Output:
    int64 ``[B]``. Sampling is one uniform draw per session against
    the cumulative probabilities, so ``torch.manual_seed`` makes it reproducible.

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> p = InputLayer((None, 3))
    >>> get_output(ProbabilisticResolver(p), {p: torch.tensor([[0., 0., 1.]])})
    tensor([2])
    """

    def __init__(self, incoming: Layer, assume_normalized: bool = True, name: str | None = None):
        super().__init__(incoming, name)
        self.assume_normalized = assume_normalized

    def pick(self, probs: torch.Tensor) -> torch.Tensor:
        cumulative = probs.cumsum(dim=-1)
        # scaled by the row's total even when normalized: a float32 softmax may sum to
        # 1 - 2**-24, and an unscaled draw that large would pass a trailing zero probability
        threshold = torch.rand(probs.shape[0], 1, device=probs.device, dtype=probs.dtype)
        threshold = threshold * cumulative[:, -1:]
        # the first action whose cumulative probability exceeds the draw
        return (cumulative <= threshold).sum(dim=-1).clamp_(max=self.n_actions - 1)


class BoltzmannResolver(BaseResolver):
    """Samples from ``softmax(logits / temperature)`` (Gumbel-max, one pass).

    Input: float ``[B, A]`` logits or Q-values. Output: int64 ``[B]``. ``temperature`` is a
    :class:`~agentnet.layers.SharedValue` (``resolver.temperature.set_value(0.1)``); near 0
    the pick is greedy, large values approach uniform.
    """

    def __init__(self, incoming: Layer, temperature: float = 1.0, name: str | None = None):
        super().__init__(incoming, name)
        self.temperature = SharedValue(temperature, check=self._check_temperature)

    def _check_temperature(self, temperature: float) -> None:
        if not temperature > 0:
            raise ValueError(f"{self.describe()}: temperature must be positive, "
                             f"got {temperature}")

    def pick(self, logits: torch.Tensor) -> torch.Tensor:
        uniform = torch.rand_like(logits).clamp_(min=torch.finfo(logits.dtype).tiny)
        gumbel = -torch.log(-torch.log(uniform))
        return (logits / self.temperature.value + gumbel).argmax(dim=-1)
