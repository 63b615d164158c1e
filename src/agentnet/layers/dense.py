"""Layers that transform features: dense, embedding, nonlinearity, and any function or module."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import Layer, ParamDict, format_shape

__all__ = ["DenseLayer", "EmbeddingLayer", "NonlinearityLayer", "LambdaLayer", "ModuleLayer",
           "init_param"]

#: a parameter given as an initializer (``torch.nn.init.*``-style, in place), a value, or None
ParamSpec = Callable[[torch.Tensor], Any] | torch.Tensor | np.ndarray | float | None


def init_param(layer: Layer, spec: ParamSpec, shape: tuple[int, ...],
               what: str) -> nn.Parameter | None:
    """A parameter of ``shape`` made from ``spec``: an in-place initializer such as
    ``torch.nn.init.orthogonal_``, a tensor or array of that shape (copied), a number, an
    existing ``nn.Parameter`` (shared, e.g. ``W=other_layer.weight``), or None (no parameter)."""
    if spec is None:
        return None
    if isinstance(spec, nn.Parameter):  # Lasagne's W=other_layer.W: share, do not copy
        if tuple(spec.shape) != shape:
            raise ValueError(f"{layer.describe()}: shared {what} has shape "
                             f"{format_shape(tuple(spec.shape))}, expected {format_shape(shape)}")
        return spec
    if callable(spec):
        value = torch.empty(shape)
        spec(value)
    elif isinstance(spec, (int, float)):
        value = torch.full(shape, float(spec))
    else:
        value = torch.as_tensor(spec, dtype=torch.float32).clone()
        if tuple(value.shape) != shape:
            raise ValueError(f"{layer.describe()}: {what} has shape "
                             f"{format_shape(tuple(value.shape))}, expected {format_shape(shape)}")
    return nn.Parameter(value)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


class DenseLayer(Layer):
    """A fully connected layer: ``nonlinearity(x @ weight.T + bias)``.

    Args:
        incoming: float ``[B, ...]``; the axes after ``num_leading_axes`` are flattened.
        num_units: output features.
        nonlinearity: a function of a tensor, ``torch.relu`` by default, None for linear.
        W: the weight ``[num_units, num_inputs]`` (torch's layout): an initializer
            (Glorot uniform by default, as in Lasagne), a value, or a tensor.
        b: the bias ``[num_units]``: zeros by default, None for no bias.
        num_leading_axes: how many leading axes are kept (1: the batch).

    Output: float ``[B, num_units]`` (``[B, T, num_units]`` with ``num_leading_axes=2``).
    """

    def __init__(self, incoming: Layer, num_units: int,
                 nonlinearity: Callable[[torch.Tensor], torch.Tensor] | None = torch.relu,
                 W: ParamSpec = nn.init.xavier_uniform_, b: ParamSpec = nn.init.zeros_,
                 num_leading_axes: int = 1, name: str | None = None):
        super().__init__(incoming, name)
        shape = self.input_shape
        if not 1 <= num_leading_axes < len(shape):
            raise ValueError(f"{self.describe()}: got num_leading_axes={num_leading_axes} for "
                             f"a {len(shape)}-dimensional input {format_shape(shape)}")
        trailing = shape[num_leading_axes:]
        if any(d is None for d in trailing):
            raise ValueError(f"{self.describe()}: input shape {format_shape(shape)} has unknown "
                             f"sizes after the first {num_leading_axes} axes")
        self.num_units = int(num_units)
        self.num_leading_axes = num_leading_axes
        self.nonlinearity = nonlinearity or _identity
        self.weight = init_param(self, W, (self.num_units, int(np.prod(trailing))), "W")
        self.bias = init_param(self, b, (self.num_units,), "b")

    @property
    def W(self) -> nn.Parameter:  # noqa: N802 - Lasagne's name
        """``weight`` under Lasagne's name (torch's layout ``[num_units, num_inputs]``,
        the transpose of Lasagne's)."""
        return cast(nn.Parameter, self.weight)

    @property
    def b(self) -> nn.Parameter | None:
        """``bias`` under Lasagne's name (None without a bias)."""
        return cast("nn.Parameter | None", self.bias)

    def get_output_for(self, x: torch.Tensor, **flags: Any) -> torch.Tensor:
        if x.dim() > self.num_leading_axes + 1:
            x = x.flatten(self.num_leading_axes)
        # read parameters from the dict: nn.Module.__getattr__ costs ~0.4 us a lookup, a
        # fifth of this layer's time at batch 1 (benchmarks/rollout_throughput.py)
        params = cast(ParamDict, self._parameters)
        return self.nonlinearity(F.linear(x, params["weight"], params.get("bias")))


class EmbeddingLayer(Layer):
    """A lookup table: int64 ids ``[B, ...]`` to float vectors ``[B, ..., output_size]``.

    The table ``weight`` is ``[input_size, output_size]`` (torch's name and layout). Ids may
    come as floats holding whole numbers (a default float ``InputLayer``, as in Lasagne
    graphs): they are cast to int64.

    >>> from agentnet.layers import InputLayer
    >>> EmbeddingLayer(InputLayer((None,)), 3, 5).output_shape
    (None, 5)
    """

    weight: nn.Parameter

    def __init__(self, incoming: Layer, input_size: int, output_size: int,
                 W: ParamSpec = nn.init.normal_, name: str | None = None):
        super().__init__(incoming, name)
        self.input_size, self.output_size = int(input_size), int(output_size)
        # a table is required (W=None is not supported): typed as set
        self.weight = cast(nn.Parameter,
                           init_param(self, W, (self.input_size, self.output_size), "W"))

    @property
    def W(self) -> nn.Parameter:  # noqa: N802 - Lasagne's name
        """The table ``weight`` under Lasagne's name (the same layout)."""
        return self.weight

    def get_output_for(self, ids: torch.Tensor, **flags: Any) -> torch.Tensor:
        if ids.is_floating_point():  # a float input holding ids, as Lasagne took them
            if (ids.device.type != "meta" and not torch.compiler.is_compiling()
                    and bool((ids != ids.round()).any())):
                raise ValueError(f"{self.describe()}: ids must be whole numbers, got a "
                                 f"{ids.dtype} tensor with fractional values")
            ids = ids.long()
        return F.embedding(ids, self.weight)


class NonlinearityLayer(Layer):
    """Applies a function elementwise: ``nonlinearity(x)``, same shape."""

    def __init__(self, incoming: Layer,
                 nonlinearity: Callable[[torch.Tensor], torch.Tensor] = torch.relu,
                 name: str | None = None):
        super().__init__(incoming, name)
        self.nonlinearity = nonlinearity

    def get_output_for(self, x: torch.Tensor, **flags: Any) -> torch.Tensor:
        return self.nonlinearity(x)


class LambdaLayer(Layer):
    """Any function of the incoming layers' outputs: ``function(*inputs)``.

    The function takes one tensor per incoming layer and returns a tensor; it must not hold
    parameters (use :class:`ModuleLayer` for that). Output shape and dtype are inferred.

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> a, b = InputLayer((None, 2), name="a"), InputLayer((None, 2), name="b")
    >>> LambdaLayer([a, b], lambda x, y: x * y, name="product").output_shape
    (None, 2)
    """

    def __init__(self, incoming: Layer | Sequence[Layer],
                 function: Callable[..., torch.Tensor], name: str | None = None):
        super().__init__(incoming, name)
        self.function = function

    def get_output_for(self, *inputs: torch.Tensor, **flags: Any) -> torch.Tensor:
        return self.function(*inputs)


class ModuleLayer(Layer):
    """Any ``nn.Module`` as a layer: ``module(*inputs)``, one input per incoming layer.

    Its parameters become the layer's, so agents, optimizers and persistence see them.

    >>> from torch import nn
    >>> from agentnet.layers import InputLayer
    >>> obs = InputLayer((None, 3, 8, 8), name="frames")
    >>> conv = ModuleLayer(obs, nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()), name="conv")
    >>> conv.output_shape
    (None, 144)
    """

    def __init__(self, incoming: Layer | Sequence[Layer], module: nn.Module,
                 name: str | None = None):
        super().__init__(incoming, name)
        if not isinstance(module, nn.Module):
            raise TypeError(f"{self.describe()}: module must be an nn.Module, "
                            f"got {type(module).__name__}")
        self.module = module

    def get_output_for(self, *inputs: torch.Tensor, **flags: Any) -> torch.Tensor:
        return self.module(*inputs)

