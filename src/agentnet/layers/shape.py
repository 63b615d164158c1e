"""Layers that rearrange or combine tensors: flatten, reshape, concatenate, sum, slice."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .base import Layer, format_shape

__all__ = ["FlattenLayer", "ReshapeLayer", "ConcatLayer", "ElemwiseSumLayer", "SliceLayer"]


class FlattenLayer(Layer):
    """Keeps the first ``outdim - 1`` axes and flattens the rest: ``[B, C, H, W] -> [B, C*H*W]``."""

    def __init__(self, incoming: Layer, outdim: int = 2, name: str | None = None):
        super().__init__(incoming, name)
        if not 1 <= outdim <= len(self.input_shape):
            raise ValueError(f"{self.describe()}: outdim={outdim} for a "
                             f"{len(self.input_shape)}-dimensional input")
        self.outdim = outdim

    def get_output_for(self, x: torch.Tensor, **flags: Any) -> torch.Tensor:
        return x.flatten(self.outdim - 1)


class ReshapeLayer(Layer):
    """Reshapes to ``shape``, where ``[i]`` means "the size of input axis i" and -1 "the rest".

    >>> from agentnet.layers import InputLayer
    >>> ReshapeLayer(InputLayer((None, 12)), ([0], 3, -1)).output_shape
    (None, 3, 4)
    """

    def __init__(self, incoming: Layer, shape: Sequence[int | list[int]], name: str | None = None):
        super().__init__(incoming, name)
        for d in shape:
            if isinstance(d, list) and (len(d) != 1 or not 0 <= d[0] < len(self.input_shape)):
                raise ValueError(f"{self.describe()}: {d} in shape {list(shape)} does not name "
                                 f"an axis of the input {format_shape(self.input_shape)}")
        self.shape = list(shape)

    def get_output_for(self, x: torch.Tensor, **flags: Any) -> torch.Tensor:
        return x.reshape([x.shape[d[0]] if isinstance(d, list) else d for d in self.shape])


class ConcatLayer(Layer):
    """Concatenates the incoming layers' outputs along ``axis`` (1: features)."""

    def __init__(self, incomings: Sequence[Layer], axis: int = 1, name: str | None = None):
        super().__init__(incomings, name)
        self.axis = axis

    def get_output_for(self, *inputs: torch.Tensor, **flags: Any) -> torch.Tensor:
        return torch.cat(inputs, dim=self.axis)


class ElemwiseSumLayer(Layer):
    """``sum(coeff_i * input_i)`` over incoming layers of one shape (coefficients 1 by default)."""

    def __init__(self, incomings: Sequence[Layer], coeffs: float | Sequence[float] = 1.0,
                 name: str | None = None):
        super().__init__(incomings, name)
        if isinstance(coeffs, (int, float)):
            coeffs = [float(coeffs)] * len(self.input_layers)
        if len(coeffs) != len(self.input_layers):
            raise ValueError(f"{self.describe()}: {len(coeffs)} coefficients for "
                             f"{len(self.input_layers)} incoming layers")
        shapes = self.input_shapes
        if any(len(s) != len(shapes[0]) or any(a is not None and b is not None and a != b
                                                for a, b in zip(s, shapes[0])) for s in shapes):
            names = ", ".join(f"{layer.describe()} {format_shape(layer.output_shape)}"
                              for layer in self.input_layers)
            raise ValueError(f"{self.describe()}: incoming shapes differ: {names}")
        self.coeffs = [float(c) for c in coeffs]

    def get_output_for(self, *inputs: torch.Tensor, **flags: Any) -> torch.Tensor:
        total = inputs[0] if self.coeffs[0] == 1 else inputs[0] * self.coeffs[0]
        for coeff, x in zip(self.coeffs[1:], inputs[1:]):
            total = total + x if coeff == 1 else total + coeff * x
        return total


class SliceLayer(Layer):
    """Takes ``indices`` (an int, or a slice) along ``axis``; an int drops that axis."""

    def __init__(self, incoming: Layer, indices: int | slice, axis: int = -1,
                 name: str | None = None):
        super().__init__(incoming, name)
        self.indices, self.axis = indices, axis

    def get_output_for(self, x: torch.Tensor, **flags: Any) -> torch.Tensor:
        index: list[Any] = [slice(None)] * x.dim()
        index[self.axis] = self.indices
        return x[tuple(index)]
