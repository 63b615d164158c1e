"""Walking and evaluating a graph of layers.

:class:`GraphPlan` resolves a graph once into a straight list of calls; :func:`get_output`
is the free function that evaluates any layers, where ``inputs`` may replace the output of
any layer of the graph (an input, or an intermediate one such as the action picker).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .base import InputLayer, Layer, check_flags, format_shape

__all__ = [
    "GraphPlan", "get_output", "get_all_layers", "get_all_params",
    "get_all_param_values", "set_all_param_values", "count_params", "register_layers",
]


def as_layer_list(layer_or_layers: Layer | Iterable[Layer], what: str = "layers") -> list[Layer]:
    """A list of layers from one layer or several; raises naming ``what`` otherwise."""
    layers = [layer_or_layers] if isinstance(layer_or_layers, Layer) else list(layer_or_layers)
    for layer in layers:
        if not isinstance(layer, Layer):
            raise TypeError(f"{what}: expected agentnet Layers, got {type(layer).__name__}")
    return layers


def get_all_layers(layer_or_layers: Layer | Iterable[Layer],
                   treat_as_input: Iterable[Layer] = ()) -> list[Layer]:
    """Every layer the given ones depend on, each once, inputs before the layers that read them.

    Layers in ``treat_as_input`` are included but their own inputs are not followed.

    >>> from agentnet.layers import InputLayer, DenseLayer
    >>> x = InputLayer((None, 3), name="x")
    >>> [layer.name for layer in get_all_layers(DenseLayer(x, 2, name="h"))]
    ['x', 'h']
    """
    stop = {id(layer) for layer in treat_as_input}
    order: list[Layer] = []
    seen: set[int] = set()
    # iterative depth-first post-order: deep graphs must not hit the recursion limit
    stack: list[tuple[Layer, bool]] = [(layer, False) for layer in
                                       reversed(as_layer_list(layer_or_layers))]
    while stack:
        layer, expanded = stack.pop()
        if id(layer) in seen:
            continue
        if expanded or id(layer) in stop or not layer.input_layers:
            seen.add(id(layer))
            order.append(layer)
            continue
        stack.append((layer, True))
        stack.extend((parent, False) for parent in reversed(layer.input_layers)
                     if id(parent) not in seen)
    return order


class GraphPlan:
    """A graph resolved once into an ordered list of layer calls.

    Args:
        outputs: the layers whose values the plan returns, in order.
        given: the layers whose values are supplied at each call, in order; any layer may be
            given, which overrides its output and cuts off what lies below it.

    Calling the plan with one tensor per ``given`` layer returns a list with one value per
    output. Building the plan raises if an InputLayer that the outputs need is not given.
    """

    def __init__(self, outputs: Sequence[Layer], given: Sequence[Layer]):
        outputs = as_layer_list(outputs, "outputs")
        given = as_layer_list(given, "given layers")
        slots = {id(layer): i for i, layer in enumerate(given)}
        if len(slots) != len(given):
            raise ValueError("the same layer is given twice: " +
                             ", ".join(layer.describe() for layer in given))
        steps: list[tuple[Callable[..., Any], tuple[int, ...], int]] = []
        self.layers: list[Layer] = []
        for layer in get_all_layers(outputs, treat_as_input=given):
            if id(layer) in slots:
                continue
            if isinstance(layer, InputLayer):
                needed_by = [o.describe() for o in outputs if layer in get_all_layers(o, given)]
                raise ValueError(
                    f"{layer.describe()} {format_shape(layer.output_shape)} has no value: "
                    f"{', '.join(needed_by)} depend(s) on it but it is not among the given "
                    f"layers [{', '.join(g.describe() for g in given)}]")
            slots[id(layer)] = len(slots)
            steps.append((layer.get_output_for,
                          tuple(slots[id(parent)] for parent in layer.input_layers),
                          slots[id(layer)]))
            self.layers.append(layer)
        self.given = given
        self.outputs = outputs
        self._steps = steps
        self._n_slots = len(slots)
        self._n_given = len(given)
        self._output_slots = [slots[id(layer)] for layer in outputs]

    def __call__(self, given_values: Sequence[Any], flags: Mapping[str, Any]) -> list[Any]:
        values: list[Any] = list(given_values)
        values.extend([None] * (self._n_slots - self._n_given))
        for call, sources, target in self._steps:
            if len(sources) == 1:  # most layers: skip building an argument list
                values[target] = call(values[sources[0]], **flags)
            else:
                values[target] = call(*[values[i] for i in sources], **flags)
        return [values[i] for i in self._output_slots]


def get_output(layer_or_layers: Layer | Sequence[Layer],
               inputs: Mapping[Layer, Any] | None = None, **flags: Any) -> Any:
    """Evaluate layers.

    Args:
        layer_or_layers: a layer, or a list of layers.
        inputs: ``{layer: tensor}``; the tensor replaces that layer's output. Input layers
            need one; any other layer may be given one (e.g. forcing recorded actions).
        **flags: passed to every layer, e.g. ``deterministic=True`` turns dropout off.

    Returns:
        the layer's output tensor, or a list of them for a list of layers.

    >>> import torch
    >>> from agentnet.layers import InputLayer, DenseLayer
    >>> x = InputLayer((None, 3), name="x")
    >>> h = DenseLayer(x, 5, name="h")
    >>> get_output(h, {x: torch.zeros(2, 3)}).shape
    torch.Size([2, 5])
    """
    inputs = dict(inputs or {})
    for layer, value in inputs.items():
        if not isinstance(layer, Layer):
            raise TypeError(f"inputs keys must be Layers, got {type(layer).__name__}")
        _check_value(layer, value)
    if isinstance(layer_or_layers, Layer):
        single, targets = True, [layer_or_layers]
    else:
        single, targets = False, list(layer_or_layers)
    plan = GraphPlan(targets, list(inputs))
    if flags:
        check_flags(flags, plan.layers, "get_output")
    values = [v if isinstance(v, torch.Tensor) else torch.as_tensor(v, dtype=layer.output_dtype)
              for layer, v in inputs.items()]
    outputs = plan(values, flags)
    return outputs[0] if single else outputs


def _check_value(layer: Layer, value: Any) -> None:
    if layer.has_multiple_outputs:
        return
    shape = tuple(np.shape(value))
    expected = layer.output_shape
    if len(shape) != len(expected) or any(e is not None and e != s
                                          for e, s in zip(expected, shape)):
        raise ValueError(f"value for {layer.describe()} has shape {format_shape(shape)}, "
                         f"expected {format_shape(expected)}")


def _params_with_tags(layers: Iterable[Layer], tags: Mapping[str, bool]) -> list[nn.Parameter]:
    unknown = set(tags) - {"trainable", "regularizable"}
    if unknown:
        raise ValueError(f"unknown parameter tags {sorted(unknown)}; "
                         f"known: 'trainable', 'regularizable'")
    found: dict[int, nn.Parameter] = {}
    for layer in layers:
        for param in layer.parameters():
            has = {"trainable": param.requires_grad, "regularizable": param.dim() > 1}
            if all(has[tag] == wanted for tag, wanted in tags.items()):
                found.setdefault(id(param), param)
    return list(found.values())


def get_all_params(layer_or_layers: Layer | Iterable[Layer], **tags: bool) -> list[nn.Parameter]:
    """The parameters of every layer below (and including) the given ones, each once.

    Tags select: ``trainable=True`` keeps parameters with ``requires_grad``;
    ``regularizable=True`` keeps weights (parameters of 2 or more dimensions), not biases.
    """
    return _params_with_tags(get_all_layers(layer_or_layers), tags)


def count_params(layer_or_layers: Layer | Iterable[Layer], **tags: bool) -> int:
    """The number of scalars in :func:`get_all_params`."""
    return sum(p.numel() for p in get_all_params(layer_or_layers, **tags))


def get_all_param_values(layer_or_layers: Layer | Iterable[Layer],
                         **tags: bool) -> list[torch.Tensor]:
    """Detached copies of :func:`get_all_params`, in the same order."""
    return [p.detach().clone() for p in get_all_params(layer_or_layers, **tags)]


def set_all_param_values(layer_or_layers: Layer | Iterable[Layer], values: Sequence[Any],
                         **tags: bool) -> None:
    """Copy ``values`` (tensors or arrays, in :func:`get_all_params` order) into the parameters.

    Checks every count and shape before changing anything.
    """
    params = get_all_params(layer_or_layers, **tags)
    if len(values) != len(params):
        raise ValueError(f"got {len(values)} values for {len(params)} parameters")
    tensors = [torch.as_tensor(v) for v in values]
    for i, (param, value) in enumerate(zip(params, tensors)):
        if tuple(param.shape) != tuple(value.shape):
            raise ValueError(f"value #{i} has shape {format_shape(tuple(value.shape))}, "
                             f"parameter #{i} has {format_shape(tuple(param.shape))}")
    with torch.no_grad():
        for param, value in zip(params, tensors):
            param.copy_(value)


def register_layers(layers: Sequence[Layer]) -> nn.ModuleDict:
    """An ``nn.ModuleDict`` of ``layers`` keyed by their names (made unique and dot-free): the
    owner that stores it gets their parameters in ``parameters()``, ``state_dict()`` (keys such
    as ``layers.q.weight``) and ``.to()``."""
    keys: dict[str, Layer] = {}
    for i, layer in enumerate(layers):
        base = (layer.name or f"{type(layer).__name__}{i}").replace(".", "_") or f"layer{i}"
        key, n = base, 1
        while key in keys:
            n += 1
            key = f"{base}_{n}"
        keys[key] = layer
    return nn.ModuleDict(keys)
