"""The original AgentNet's ``agentnet.utils.layers`` helpers that still mean something in
torch: elementwise ``mul`` and ``add`` of layers, ``clip_grads``, ``get_layer_dtype``,
``reapply`` and ``ReapplyLayer``, and merging axes into the batch axis and back (``BroadcastLayer``,
``UnbroadcastLayer``, ``UpcastLayer``)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from functools import reduce
from typing import Any

import torch

from ..layers.base import InputLayer, ItemLayer, Layer, format_shape
from ..layers.dense import LambdaLayer, NonlinearityLayer
from ..layers.graph import GraphPlan, as_layer_list, get_all_layers, register_layers
from .clone import reapply

__all__ = ["mul", "add", "clip_grads", "get_layer_dtype", "reapply", "ReapplyLayer",
           "BroadcastLayer", "UnbroadcastLayer", "UpcastLayer"]


def _names(layers: Sequence[Layer]) -> str:
    return ", ".join(layer.name or f"layer{i}" for i, layer in enumerate(layers))


def mul(*layers: Layer, name: str | None = None) -> Layer:
    """The elementwise product of layers' outputs (broadcasting as torch does).

    >>> from agentnet.layers import InputLayer
    >>> mul(InputLayer((None, 3), name="a"), InputLayer((None, 3), name="b")).name
    'mul(a, b)'
    """
    return LambdaLayer(list(layers), lambda *xs: reduce(torch.mul, xs),
                       name=name or f"mul({_names(layers)})")


def add(*layers: Layer, name: str | None = None) -> Layer:
    """The elementwise sum of layers' outputs (broadcasting as torch does)."""
    return LambdaLayer(list(layers), lambda *xs: reduce(torch.add, xs),
                       name=name or f"add({_names(layers)})")


class _ClipGradient(torch.autograd.Function):
    """Identity forward; the gradient clipped to ``[-bound, bound]`` backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, bound: float) -> torch.Tensor:
        ctx.bound = bound
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad.clamp(-ctx.bound, ctx.bound), None


def clip_grads(layer: Layer, clipping_bound: float) -> Layer:
    """A layer passing ``layer``'s output through unchanged whose gradient, flowing back
    through it, is clipped elementwise to ``[-|clipping_bound|, |clipping_bound|]``.

    >>> from agentnet.layers import InputLayer, get_output
    >>> x = InputLayer((None, 2), name="x")
    >>> value = torch.ones(1, 2, requires_grad=True)
    >>> (get_output(clip_grads(x, 0.5), {x: value}) * 10).sum().backward()
    >>> value.grad
    tensor([[0.5000, 0.5000]])
    """
    bound = abs(float(clipping_bound))
    return NonlinearityLayer(layer, lambda x: _ClipGradient.apply(x, bound),
                             name=f"{layer.name or 'clipping_layer'}.grad_clip")


def get_layer_dtype(layer: Layer, default: torch.dtype | None = None) -> Any:
    """The layer's ``output_dtype``; ``default`` (or torch's default float dtype) when it
    has none."""
    dtype = getattr(layer, "output_dtype", None)
    return dtype if dtype is not None else default or torch.get_default_dtype()


class ReapplyLayer(Layer):
    """Part of a graph applied to other inputs, as one layer with several outputs (the
    original's ``ReapplyLayer``; :func:`reapply` gives separate layers instead).

    Args:
        layers: the layers to compute: a list (or one layer), or a dict ``{key: layer}``.
        replacements: ``{layer_of_the_graph: new_layer}``: the given layers are computed
            with ``new_layer``'s output wherever ``layer_of_the_graph``'s was read (the
            graph's InputLayers not replaced are read as they are).
        output_shapes, output_dtypes: the outputs' shapes and dtypes (a list or a dict like
            ``layers``); by default the layers' own.
        name: the layer's name.

    ``layer[key]`` (a key of the dict, or an index) is one output as a layer. The parameters
    are the original layers' (shared, not copied).

    >>> import torch
    >>> from agentnet import layers as L
    >>> x = L.InputLayer((None, 3), name="x")
    >>> h = L.DenseLayer(x, 2, name="h")
    >>> y = L.InputLayer((None, 3), name="y")
    >>> again = ReapplyLayer({"h": h}, {x: y})
    >>> value = torch.randn(4, 3)
    >>> torch.equal(L.get_output(again["h"], {y: value}), L.get_output(h, {x: value}))
    True
    """

    def __init__(self, layers: Layer | Sequence[Layer] | dict[Any, Layer],
                 replacements: dict[Layer, Layer], output_shapes: Any = None,
                 output_dtypes: Any = None, name: str | None = None):
        if not isinstance(replacements, dict) or not replacements:
            raise TypeError(f"ReapplyLayer {name!r}: replacements must be a non-empty dict "
                            f"{{layer_of_the_graph: new_layer}}")
        as_dict = dict(layers) if isinstance(layers, dict) else dict(
            enumerate(as_layer_list(layers, f"ReapplyLayer {name!r} layers")))
        self.keys_ = list(as_dict)
        self.reapplied = as_layer_list(list(as_dict.values()), f"ReapplyLayer {name!r} layers")
        self.replaced = as_layer_list(list(replacements), "replacements keys")
        shapes, dtypes = (self._per_output(given, attribute) for given, attribute in
                          ((output_shapes, "output_shape"), (output_dtypes, "output_dtype")))
        self._shapes, self._dtypes = shapes, dtypes
        replaced = set(map(id, self.replaced))
        inside = get_all_layers(self.reapplied, self.replaced)
        # inputs of the graph that are not replaced are read from where they are
        kept: list[Layer] = [layer for layer in inside
                if isinstance(layer, InputLayer) and id(layer) not in replaced]
        super().__init__(list(replacements.values()) + kept, name)
        self._plan = GraphPlan(self.reapplied, self.replaced + kept)
        self.inner_layers = register_layers(
            [layer for layer in inside if id(layer) not in replaced
             and not isinstance(layer, InputLayer)])

    def _per_output(self, given: Any, attribute: str) -> tuple[Any, ...]:
        if given is None:
            return tuple(getattr(layer, attribute) for layer in self.reapplied)
        if isinstance(given, dict):
            return tuple(given[key] for key in self.keys_)
        return tuple(given)

    def _set_output_spec(self) -> None:
        self.output_shape = self._shapes
        self.output_dtype = self._dtypes

    def __getitem__(self, key: Any) -> ItemLayer:
        """The output of the layer given under ``key`` (its index, for a list)."""
        if key not in self.keys_:
            raise KeyError(f"{self.describe()}: no output {key!r} (outputs: {self.keys_})")
        return ItemLayer(self, self.keys_.index(key))

    def keys(self) -> list[Any]:
        return list(self.keys_)

    def get_output_for(self, *inputs: torch.Tensor, **flags: Any) -> tuple[torch.Tensor, ...]:
        return tuple(self._plan(list(inputs), flags))


class BroadcastLayer(Layer):
    """Merges ``broadcasted_axes`` into the first axis, so that layers made for ``[batch,
    ...]`` apply to each of them: ``[B, T, F]`` with axes ``(0, 1)`` becomes ``[B*T, F]``.
    :class:`UnbroadcastLayer` undoes it.

    Args:
        incoming: the layer to reshape.
        broadcasted_axes: an axis or axes (negative ones count from the end).
        force_broadcastable_batch: require axis 0 among them (True by default).

    >>> from agentnet.layers import InputLayer, DenseLayer
    >>> seq = InputLayer((None, None, 5), name="sequence")
    >>> flat = BroadcastLayer(seq, (0, 1))
    >>> flat.output_shape, UnbroadcastLayer(DenseLayer(flat, 3), flat).output_shape
    ((None, 5), (None, None, 3))
    """

    def __init__(self, incoming: Layer, broadcasted_axes: int | Sequence[int],
                 force_broadcastable_batch: bool = True, name: str | None = None):
        super().__init__(incoming, name)
        ndim = len(self.input_shape)
        axes = [broadcasted_axes] if isinstance(broadcasted_axes, int) else broadcasted_axes
        if not axes or any(not -ndim <= ax < ndim for ax in axes):
            raise ValueError(f"{self.describe()}: broadcasted_axes={broadcasted_axes} for a "
                             f"{ndim}-dimensional input {format_shape(self.input_shape)}")
        self.broadcasted_axes = sorted({ax % ndim for ax in axes})
        if force_broadcastable_batch and 0 not in self.broadcasted_axes:
            raise ValueError(f"{self.describe()}: broadcasted_axes={broadcasted_axes} leaves "
                             f"out the batch axis 0; add it, or pass "
                             f"force_broadcastable_batch=False")
        self.non_broadcasted_axes = [ax for ax in range(ndim)
                                     if ax not in self.broadcasted_axes]

    def get_output_for(self, x: torch.Tensor, **flags: Any) -> torch.Tensor:
        x = x.permute(self.broadcasted_axes + self.non_broadcasted_axes)
        return x.reshape((-1, *x.shape[len(self.broadcasted_axes):]))


class UnbroadcastLayer(Layer):
    """Undoes a :class:`BroadcastLayer`: splits the first axis of ``incoming`` back into
    the broadcast axes (their sizes read from the broadcast layer's input) and restores the
    axis order; the other axes keep ``incoming``'s sizes."""

    broadcast_layer: BroadcastLayer

    def __init__(self, incoming: Layer, broadcast_layer: BroadcastLayer,
                 name: str | None = None):
        if not isinstance(broadcast_layer, BroadcastLayer):
            raise TypeError(f"UnbroadcastLayer {name!r}: broadcast_layer must be a "
                            f"BroadcastLayer, got {type(broadcast_layer).__name__}")
        if len(incoming.output_shape) != len(broadcast_layer.output_shape):
            raise ValueError(f"UnbroadcastLayer {name!r}: {incoming.describe()} "
                             f"{format_shape(incoming.output_shape)} must have as many axes "
                             f"as {broadcast_layer.describe()} "
                             f"{format_shape(broadcast_layer.output_shape)}")
        super().__init__([incoming, broadcast_layer.input_layer], name)
        _keep_reference(self, broadcast_layer)

    def _set_output_spec(self) -> None:
        shape = list(self.broadcast_layer.input_shape)
        for ax, size in zip(self.broadcast_layer.non_broadcasted_axes,
                            self.input_layers[0].output_shape[1:]):
            shape[ax] = size
        self.output_shape = tuple(shape)
        self.output_dtype = self.input_layers[0].output_dtype

    def get_output_for(self, x: torch.Tensor, original: torch.Tensor,
                       **flags: Any) -> torch.Tensor:
        broadcast = self.broadcast_layer
        sizes = [original.shape[ax] for ax in broadcast.broadcasted_axes]
        x = x.reshape(*sizes, *x.shape[1:])
        order = broadcast.broadcasted_axes + broadcast.non_broadcasted_axes
        return x.permute([order.index(ax) for ax in range(len(order))])


class UpcastLayer(Layer):
    """Repeats ``incoming`` ``[B, ...]`` along its first axis to match a
    :class:`BroadcastLayer` over the batch and other axes: each sample repeated once per
    element of the other broadcast axes, so that it meets the broadcast layer's rows."""

    broadcast_layer: BroadcastLayer

    def __init__(self, incoming: Layer, broadcast_layer: BroadcastLayer,
                 name: str | None = None):
        if 0 not in broadcast_layer.broadcasted_axes:
            raise ValueError(f"UpcastLayer {name!r}: {broadcast_layer.describe()} must "
                             f"broadcast over the batch axis 0 too")
        super().__init__([incoming, broadcast_layer.input_layer], name)
        _keep_reference(self, broadcast_layer)

    def _set_output_spec(self) -> None:
        original = self.broadcast_layer.input_shape
        other = [original[ax] for ax in self.broadcast_layer.broadcasted_axes if ax != 0]
        shape = self.input_layers[0].output_shape
        batch = None if shape[0] is None or None in other else shape[0] * math.prod(other)
        self.output_shape = (batch, *shape[1:])
        self.output_dtype = self.input_layers[0].output_dtype

    def get_output_for(self, x: torch.Tensor, original: torch.Tensor,
                       **flags: Any) -> torch.Tensor:
        repeats = math.prod(original.shape[ax] for ax in self.broadcast_layer.broadcasted_axes
                            if ax != 0)
        return x.repeat_interleave(repeats, dim=0)


def _keep_reference(layer: Layer, broadcast_layer: BroadcastLayer) -> None:
    # a plain attribute, not a submodule: the broadcast layer belongs to the graph (read
    # through input_layers), not to this layer's parameters and state
    layer.__dict__["broadcast_layer"] = broadcast_layer
