"""Convolution and pooling over images ``[B, C, H, W]``."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from .base import Layer, format_shape
from .dense import ParamSpec, _identity, init_param

__all__ = ["Conv2DLayer", "MaxPool2DLayer"]

Size2 = int | tuple[int, int]


def _pair(value: Size2) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


class Conv2DLayer(Layer):
    """A 2D convolution: float ``[B, C, H, W]`` in, ``[B, num_filters, H', W']`` out.

    Args:
        num_filters, filter_size, stride: as in ``torch.nn.Conv2d``.
        pad: an int, a pair, ``"valid"`` (0) or ``"same"`` (output as large as the input).
        nonlinearity: ``torch.relu`` by default, None for linear.
        W: weight ``[num_filters, C, fh, fw]`` (Glorot uniform by default); b: bias or None.
    """

    weight: nn.Parameter

    def __init__(self, incoming: Layer, num_filters: int, filter_size: Size2, stride: Size2 = 1,
                 pad: Size2 | str = 0,
                 nonlinearity: Callable[[torch.Tensor], torch.Tensor] | None = torch.relu,
                 W: ParamSpec = nn.init.xavier_uniform_, b: ParamSpec = nn.init.zeros_,
                 name: str | None = None):
        super().__init__(incoming, name)
        shape = self.input_shape
        if len(shape) != 4 or shape[1] is None:
            raise ValueError(f"{self.describe()}: expects input [B, C, H, W] with known C, "
                             f"got {format_shape(shape)}")
        self.stride = _pair(stride)
        self.pad: Any = 0 if pad == "valid" else pad if isinstance(pad, str) else _pair(pad)
        if self.pad == "same" and self.stride != (1, 1):
            raise ValueError(f"{self.describe()}: pad='same' needs stride 1, got {stride}")
        kernel = _pair(filter_size)
        self.nonlinearity = nonlinearity or _identity
        # a weight is required (W=None is not supported): typed as set
        self.weight = cast(nn.Parameter,
                           init_param(self, W, (int(num_filters), shape[1], *kernel), "W"))
        self.bias = init_param(self, b, (int(num_filters),), "b")

    @property
    def W(self) -> nn.Parameter:  # noqa: N802 - Lasagne's name
        """``weight`` under Lasagne's name ``[num_filters, channels, height, width]``."""
        return self.weight

    @property
    def b(self) -> nn.Parameter | None:
        """``bias`` under Lasagne's name (None without a bias)."""
        return cast("nn.Parameter | None", self.bias)

    def get_output_for(self, x: torch.Tensor, **flags: Any) -> torch.Tensor:
        return self.nonlinearity(F.conv2d(x, self.weight, self.bias, self.stride, self.pad))


class MaxPool2DLayer(Layer):
    """Max pooling over ``[B, C, H, W]``; ``stride`` defaults to ``pool_size``."""

    def __init__(self, incoming: Layer, pool_size: Size2, stride: Size2 | None = None,
                 pad: Size2 = 0, name: str | None = None):
        super().__init__(incoming, name)
        self.pool_size = _pair(pool_size)
        self.stride = self.pool_size if stride is None else _pair(stride)
        self.pad = _pair(pad)

    def get_output_for(self, x: torch.Tensor, **flags: Any) -> torch.Tensor:
        return F.max_pool2d(x, self.pool_size, self.stride, self.pad)
