"""Lasagne's names beside agentnet's: the lowercase builders (``reshape``, ``dimshuffle``,
``flatten``, ``concat``, ``dropout``, ``batch_norm``), ``DimshuffleLayer``,
``ExpressionLayer`` and ``get_output_shape``, so that ``from agentnet import layers`` can
stand in for ``import lasagne.layers`` in ported code."""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch

from .base import InputLayer, Layer, format_shape
from .dense import LambdaLayer, NonlinearityLayer, _identity
from .graph import as_layer_list, get_all_layers
from .normalization import BatchNormLayer, DropoutLayer
from .shape import ConcatLayer, FlattenLayer, ReshapeLayer

__all__ = ["DimshuffleLayer", "ExpressionLayer", "get_output_shape", "reshape", "dimshuffle",
           "flatten", "concat", "dropout", "batch_norm"]


class DimshuffleLayer(Layer):
    """Reorders axes as Theano's ``dimshuffle``: ``pattern`` lists input axes in their new
    order, ``"x"`` inserts an axis of size 1, and an input axis left out (which must have
    size 1) is dropped.

    >>> DimshuffleLayer(InputLayer((None, 84, 84, 3)), (0, 3, 1, 2)).output_shape
    (None, 3, 84, 84)
    >>> DimshuffleLayer(InputLayer((None, 1, 5)), (0, "x", 2)).output_shape
    (None, 1, 5)
    """

    def __init__(self, incoming: Layer, pattern: Sequence[int | str], name: str | None = None):
        super().__init__(incoming, name)
        shape = self.input_shape
        axes = [d for d in pattern if isinstance(d, int)]
        if (any(d != "x" and not isinstance(d, int) for d in pattern)
                or len(set(axes)) != len(axes)
                or any(not 0 <= d < len(shape) for d in axes)):
            raise ValueError(f"{self.describe()}: pattern {tuple(pattern)} must list distinct "
                             f"axes of the input {format_shape(shape)} and 'x'")
        dropped = [d for d in range(len(shape)) if d not in axes]
        if any(shape[d] != 1 for d in dropped):
            raise ValueError(f"{self.describe()}: pattern {tuple(pattern)} drops axes "
                             f"{dropped} of the input {format_shape(shape)}; only axes of "
                             f"size 1 can be dropped")
        self.pattern = tuple(pattern)
        self._dropped = dropped
        self._order = [sorted(axes).index(d) for d in axes]

    def get_output_for(self, x: torch.Tensor, **flags: Any) -> torch.Tensor:
        for axis in reversed(self._dropped):
            x = x.squeeze(axis)
        x = x.permute(self._order)
        for position, d in enumerate(self.pattern):
            if d == "x":
                x = x.unsqueeze(position)
        return x


class ExpressionLayer(LambdaLayer):
    """Lasagne's ExpressionLayer: ``function(x)`` of one incoming layer.

    ``output_shape`` as in Lasagne: None (the input's shape) or ``"auto"`` (inferred), a
    tuple, or a function of the input shape. agentnet infers the shape in any case, and a
    given one must agree with it on every known size (None stays None).

    >>> ExpressionLayer(InputLayer((None, 3, 5)), lambda a: a.amax(dim=1)).output_shape
    (None, 5)
    """

    def __init__(self, incoming: Layer, function: Callable[[torch.Tensor], torch.Tensor],
                 output_shape: Any = None, name: str | None = None):
        super().__init__(incoming, function, name)
        self._declared_shape = output_shape

    def _set_output_spec(self) -> None:
        super()._set_output_spec()
        declared = self._declared_shape
        if declared is None or declared == "auto":
            return  # Lasagne's None meant "the input's shape": the inferred one is right
        if callable(declared):
            declared = declared(self.input_shape)
        declared = tuple(declared)
        inferred = self.output_shape
        if len(declared) != len(inferred) or any(
                a is not None and b is not None and a != b for a, b in zip(declared, inferred)):
            raise ValueError(f"{self.describe()}: output_shape={format_shape(declared)} but "
                             f"the function gives {format_shape(inferred)}")
        self.output_shape = declared


def get_output_shape(layer_or_layers: Layer | Iterable[Layer],
                     input_shapes: Mapping[Layer, Sequence[int | None]] | None = None) -> Any:
    """The output shape of a layer (or a list of them), as Lasagne's function: with
    ``input_shapes={input_layer: shape}``, the shapes the graph would have for inputs of
    those shapes (inferred on a copy of the graph; nothing is computed).

    >>> from agentnet.layers import DenseLayer
    >>> x = InputLayer((None, 3))
    >>> get_output_shape(DenseLayer(x, 2)), get_output_shape([x], {x: (7, 3)})
    ((None, 2), [(7, 3)])
    """
    layers = as_layer_list(layer_or_layers)
    if input_shapes:
        # a deep copy whose given layers are new InputLayers, its shapes inferred again
        memo: dict[int, Any] = {id(layer): InputLayer(shape, dtype=layer.output_dtype)
                                for layer, shape in input_shapes.items()}
        layers = copy.deepcopy(layers, memo)
        for layer in get_all_layers(layers):
            if not isinstance(layer, InputLayer):
                layer._set_output_spec()
    shapes = [layer.output_shape for layer in layers]
    return shapes[0] if isinstance(layer_or_layers, Layer) else shapes


#: Lasagne's lowercase builders: the same layers under their helper names
reshape = ReshapeLayer
dimshuffle = DimshuffleLayer
flatten = FlattenLayer
concat = ConcatLayer
dropout = DropoutLayer


def batch_norm(layer: Layer, **kwargs: Any) -> Layer:
    """Lasagne's ``batch_norm``: normalize ``layer``'s output before its nonlinearity.

    The layer's bias is removed (the normalization's shift replaces it) and its
    nonlinearity moved after a :class:`BatchNormLayer` (built with ``kwargs``), as Lasagne
    did; returns the last new layer.

    >>> from agentnet.layers import DenseLayer
    >>> out = batch_norm(DenseLayer(InputLayer((None, 3)), 4, name="h"))
    >>> type(out).__name__, out.name, out.input_layers[0].name
    ('NonlinearityLayer', 'h_bn_nonlin', 'h_bn')
    """
    nonlinearity = getattr(layer, "nonlinearity", None)
    if nonlinearity is not None and nonlinearity is not _identity:
        setattr(layer, "nonlinearity", _identity)  # noqa: B010 - any layer that has one
    else:
        nonlinearity = None
    if getattr(layer, "bias", None) is not None:
        setattr(layer, "bias", None)  # noqa: B010 - nn.Module keeps the slot, empty
    if "name" not in kwargs and layer.name:
        kwargs["name"] = f"{layer.name}_bn"
    normalized: Layer = BatchNormLayer(layer, **kwargs)
    if nonlinearity is not None:
        name = f"{layer.name}_bn_nonlin" if layer.name else None
        normalized = NonlinearityLayer(normalized, nonlinearity, name=name)
    return normalized
