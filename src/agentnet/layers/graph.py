"""Walking and evaluating a graph of layers.

:class:`GraphPlan` resolves a graph once into a straight list of calls; :func:`get_output`
is the free function that evaluates any layers, where ``inputs`` may replace the output of
any layer of the graph (an input, or an intermediate one such as the action picker).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .base import InputLayer, Layer, check_flags, fits_shape, format_shape

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

    Raises:
        ValueError: the layers read from each other in a cycle (some layer's
            ``input_layers`` reassigned to a layer above it); the message names the layers of
            the cycle in order, each feeding the next and the last the first again (the walk
            from the given layers entered the cycle at that last one). A cycle through a
            layer of ``treat_as_input`` is cut there and is not one.

    >>> from agentnet.layers import InputLayer, DenseLayer
    >>> x = InputLayer((None, 3), name="x")
    >>> h = DenseLayer(x, 2, name="h")
    >>> [layer.name for layer in get_all_layers(h)]
    ['x', 'h']
    >>> a = DenseLayer(h, 2, name="a")
    >>> h.input_layers = (a,)  # h now reads from a, which reads from h
    >>> get_all_layers(a)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: cycle in the layer graph: DenseLayer 'h' -> DenseLayer 'a' -> DenseLayer 'h' ...
    """
    stop = {id(layer) for layer in treat_as_input}
    order: list[Layer] = []
    done: set[int] = set()
    # iterative depth-first post-order (deep graphs must not hit the recursion limit); the
    # layers being expanded form a path (each an input of the one before), and meeting one
    # of them again is a cycle
    path: list[Layer] = []
    on_path: dict[int, int] = {}  # id -> index in path
    pending: list[Iterator[Layer]] = []  # the inputs of path[i] left to visit
    for root in as_layer_list(layer_or_layers):
        if id(root) in done:
            continue
        path.append(root)
        on_path[id(root)] = 0
        pending.append(iter(() if id(root) in stop else root.input_layers))
        while path:
            for parent in pending[-1]:
                if id(parent) in done:
                    continue
                if id(parent) in on_path:
                    raise _cycle_error(path[on_path[id(parent)]:])
                on_path[id(parent)] = len(path)
                path.append(parent)
                pending.append(iter(() if id(parent) in stop else parent.input_layers))
                break
            else:  # every input is done: so is this layer
                layer = path.pop()
                pending.pop()
                del on_path[id(layer)]
                done.add(id(layer))
                order.append(layer)
    return order


def _cycle_error(cycle: list[Layer]) -> ValueError:
    """The error for layers each reading the next and the last reading the first, named in
    the order data flows (each feeding the next), back to the first."""
    flow = cycle[::-1]
    names = " -> ".join(layer.describe() for layer in [*flow, flow[0]])
    return ValueError(f"cycle in the layer graph: {names} (each layer feeds the next)")


class GraphPlan:
    """A graph resolved once into an ordered list of layer calls.

    Args:
        outputs: the layers whose values the plan returns, in order.
        given: the layers whose values are supplied at each call, in order; any layer may be
            given, which overrides its output and cuts off what lies below it.

    Calling the plan with one tensor per ``given`` layer returns a list with one value per
    output. Building the plan raises if an InputLayer that the outputs need is not given, or
    if the layers between the given ones and the outputs read from each other in a cycle
    (see :func:`get_all_layers`).
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
    if not fits_shape(shape, expected):
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
