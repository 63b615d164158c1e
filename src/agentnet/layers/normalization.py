"""Dropout and normalization layers; ``deterministic=True`` selects their inference behaviour."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .base import Layer, format_shape
from .shared import SharedValue

__all__ = ["DropoutLayer", "GaussianNoiseLayer", "BatchNormLayer", "LayerNormLayer"]


class DropoutLayer(Layer):
    """Zeroes each value with probability ``p`` (scaling the rest by ``1/(1-p)`` if
    ``rescale``); the identity when evaluated with ``deterministic=True``."""

    accepted_flags = frozenset({"deterministic"})

    def __init__(self, incoming: Layer, p: float = 0.5, rescale: bool = True,
                 name: str | None = None):
        super().__init__(incoming, name)
        if not 0 <= p < 1:
            raise ValueError(f"{self.describe()}: p must be in [0, 1), got {p}")
        self.p, self.rescale = float(p), rescale

    def get_output_for(self, x: torch.Tensor, deterministic: bool = False,
                       **flags: Any) -> torch.Tensor:
        if deterministic or self.p == 0:
            return x
        keep = (torch.rand_like(x) >= self.p).to(x.dtype)
        return x * keep / (1 - self.p) if self.rescale else x * keep


class GaussianNoiseLayer(Layer):
    """Adds ``N(0, sigma^2)`` noise (e.g. exploration for continuous actions); the identity
    with ``deterministic=True``. ``sigma`` is a :class:`SharedValue`, settable at run time."""

    accepted_flags = frozenset({"deterministic"})

    def __init__(self, incoming: Layer, sigma: float = 0.1, name: str | None = None):
        super().__init__(incoming, name)
        self.sigma = SharedValue(sigma, check=self._check_sigma)

    def _check_sigma(self, sigma: float) -> None:
        if sigma < 0:
            raise ValueError(f"{self.describe()}: sigma must be non-negative, got {sigma}")

    def get_output_for(self, x: torch.Tensor, deterministic: bool = False,
                       **flags: Any) -> torch.Tensor:
        if deterministic:
            return x
        return x + torch.randn_like(x) * self.sigma.value


class BatchNormLayer(Layer):
    """Batch normalization over axis 1 (features or channels) of ``[B, C, ...]``.

    Normalizes with the batch's statistics and updates running averages, or with the running
    averages when evaluated with ``deterministic=True``. Parameters and buffers keep torch's
    names (``weight``, ``bias``, ``running_mean``, ``running_var``).
    """

    running_mean: torch.Tensor
    running_var: torch.Tensor

    accepted_flags = frozenset({"deterministic"})

    def __init__(self, incoming: Layer, momentum: float = 0.1, epsilon: float = 1e-5,
                 name: str | None = None):
        super().__init__(incoming, name)
        channels = self.input_shape[1] if len(self.input_shape) > 1 else None
        if channels is None:
            raise ValueError(f"{self.describe()}: axis 1 of the input "
                             f"{format_shape(self.input_shape)} must have a known size")
        self.momentum, self.epsilon = momentum, epsilon
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    # Lasagne's names: beta and gamma are the shift and scale, mean and inv_std the running
    # statistics (agentnet keeps the variance; inv_std is computed from it)
    @property
    def beta(self) -> nn.Parameter:
        return self.bias

    @property
    def gamma(self) -> nn.Parameter:
        return self.weight

    @property
    def mean(self) -> torch.Tensor:
        return self.running_mean

    @property
    def inv_std(self) -> torch.Tensor:
        return (self.running_var + self.epsilon).rsqrt()

    def get_output_for(self, x: torch.Tensor, deterministic: bool = False,
                       **flags: Any) -> torch.Tensor:
        training = not deterministic and x.device.type != "meta"
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training, self.momentum, self.epsilon)


class LayerNormLayer(Layer):
    """Layer normalization over the last axis, with learned ``weight`` and ``bias``."""

    def __init__(self, incoming: Layer, epsilon: float = 1e-5, name: str | None = None):
        super().__init__(incoming, name)
        size = self.input_shape[-1]
        if size is None:
            raise ValueError(f"{self.describe()}: the last axis of "
                             f"{format_shape(self.input_shape)} must have a known size")
        self.epsilon = epsilon
        self.weight = nn.Parameter(torch.ones(size))
        self.bias = nn.Parameter(torch.zeros(size))

    def get_output_for(self, x: torch.Tensor, **flags: Any) -> torch.Tensor:
        return F.layer_norm(x, (x.shape[-1],), self.weight, self.bias, self.epsilon)
