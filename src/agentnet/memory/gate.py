"""GateLayer: several gates computed at once from the same controllers, one per channel."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agentnet.layers.base import ItemLayer, Layer, format_shape
from agentnet.layers.dense import ParamSpec, init_param

from ._params import normal_001 as _normal_001
from ._params import per_channel as _per_channel
from ._shapes import single_output

__all__ = ["GateLayer"]

Nonlinearity = Callable[[torch.Tensor], torch.Tensor] | None

class GateLayer(Layer):
    """Gates for several channels, computed together from the same controllers.

    For every channel ``c``, a gate of the channel's width is computed from all the
    controllers ``x_i`` (each flattened after the batch axis)::

        gate_c = nonlinearity_c(sum_i x_i @ W_ic.T + b_c)

    and the output for that channel is ``gate_c * channel`` when the channel is a layer (a
    gated value) or ``gate_c`` itself when the channel is an int (a gate of that many units).
    All channels share one matrix product per controller (the weights are stacked), which is
    how an LSTM's or a GRU's gates are computed; use it to build your own gated memory.

    Args:
        gate_controllers: a layer or a list of layers, float ``[B, ...]``, that the gates
            depend on (for most memories: the input and the previous state).
        channels: a layer, an int, or a list of them. A layer ``[B, ...]`` (float) is
            multiplied by its gate (of the same shape); an int n gives a gate ``[B, n]``.
        gate_nonlinearities: a function, or one per channel; None for linear.
            ``torch.sigmoid`` by default.
        bias_init: the bias of each channel's gate ``b_c [units_c]`` (see
            :func:`~agentnet.layers.dense.init_param`), or one per channel; None for no bias.
            Zeros by default.
        weight_init: the weights ``W_ic [units_c, controller_units_i]`` (torch's layout): one
            spec, one per channel, or one list per channel with one spec per controller.
            Normal with std 0.01 (the original's) by default.
        channel_names: None, or one name per channel: the keys of the outputs
            (``gate["forget"]``). By default a layer channel is named after its layer and
            an int channel ``"gate<i>"``, as in the original.
        name: the layer's name.

    Parameters: ``weights``, one stacked ``[total_units, controller_units_i]`` per controller
    (channels in order along the first axis), and ``bias [total_units]`` (None when no
    channel has a bias; when only some do, the buffer ``bias_mask`` keeps the others at zero).
    Initial values are copied into the stacked parameters: a shared ``nn.Parameter`` given as
    a spec is not shared.

    Output: one output per channel, in order (pick with ``gate[i]`` or by name,
    ``gate["forget"]``; ``gate.keys()`` and ``gate.values()`` as with the original's dict
    layer; or unpack ``a, b = gate``): ``gate_c * channel_c`` (the channel's shape) or
    ``gate_c`` float ``[B, n]``. The original's keys, the layer's name followed by the
    channel's (``"gates" + "forget"``), are accepted too.

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> x, h = InputLayer((None, 3), name="x"), InputLayer((None, 4), name="h")
    >>> forget, extra = GateLayer([x, h], [h, 2], name="gates")
    >>> forget.output_shape, extra.output_shape
    ((None, 4), (None, 2))
    >>> [tuple(w.shape) for w in forget.input_layers[0].weights]
    [(6, 3), (6, 4)]
    >>> f, e = get_output([forget, extra], {x: torch.ones(5, 3), h: torch.ones(5, 4)})
    >>> f.shape, e.shape
    (torch.Size([5, 4]), torch.Size([5, 2]))
    >>> named = GateLayer([x, h], [4, 4], channel_names=["forget", "update"])
    >>> named.keys(), named["update"].output_shape
    (('forget', 'update'), (None, 4))
    """

    def __init__(self, gate_controllers: Layer | Sequence[Layer],
                 channels: Layer | int | Sequence[Layer | int],
                 gate_nonlinearities: Nonlinearity | Sequence[Nonlinearity] = torch.sigmoid,
                 bias_init: ParamSpec | Sequence[ParamSpec] = nn.init.zeros_,
                 weight_init: Any = _normal_001, channel_names: Sequence[str] | None = None,
                 name: str | None = None):
        controllers = ([gate_controllers] if isinstance(gate_controllers, Layer)
                       else list(gate_controllers))
        chans = [channels] if isinstance(channels, (Layer, int)) else list(channels)
        owner = f"GateLayer {name!r}"
        if not controllers:
            raise ValueError(f"{owner}: needs at least one gate controller")
        if not chans:
            raise ValueError(f"{owner}: needs at least one channel")
        for i, channel in enumerate(chans):
            if isinstance(channel, bool) or not isinstance(channel, (Layer, int)) or (
                    isinstance(channel, int) and channel < 1):
                raise TypeError(f"{owner}: channel #{i} must be a layer or a positive int, "
                                f"got {channel!r}")
        channel_layers = [c for c in chans if isinstance(c, Layer)]
        super().__init__([*channel_layers, *controllers], name)
        owner = self.describe()
        self.num_channel_layers = len(channel_layers)
        self.channel_shapes: list[tuple[int, ...] | None] = []  # None: an int channel
        self.channel_units: list[int] = []
        for i, channel in enumerate(chans):
            if isinstance(channel, int):
                self.channel_shapes.append(None)
                self.channel_units.append(channel)
                continue
            shape = single_output(owner, f"channel #{i}", channel)
            if len(shape) < 2 or any(d is None for d in shape[1:]):
                raise ValueError(f"{owner}: channel #{i} {channel.describe()} has shape "
                                 f"{format_shape(shape)}, expected (B, ...) with known sizes "
                                 f"after the batch axis")
            self.channel_shapes.append(tuple(int(d) for d in shape[1:]))  # type: ignore[arg-type]
            self.channel_units.append(int(np.prod(shape[1:])))  # type: ignore[arg-type]
        controller_units = []
        for i, layer in enumerate(controllers):
            shape = single_output(owner, f"gate controller #{i}", layer)
            if len(shape) < 2 or any(d is None for d in shape[1:]):
                raise ValueError(f"{owner}: gate controller #{i} {layer.describe()} has shape "
                                 f"{format_shape(shape)}, expected (B, ...) with known sizes "
                                 f"after the batch axis")
            controller_units.append(int(np.prod(shape[1:])))  # type: ignore[arg-type]

        n = len(chans)
        given = [None] * n if channel_names is None else channel_names
        if not isinstance(given, (list, tuple)) or len(given) != n or not all(
                c is None or isinstance(c, str) for c in given):
            raise ValueError(f"{owner}: channel_names must be a list of {n} names (one per "
                             f"channel), got {channel_names!r}")
        names = [c or getattr(channel, "name", None) or f"gate{i}"
                 for i, (c, channel) in enumerate(zip(given, chans))]
        if len(set(names)) != n:
            raise ValueError(f"{owner}: channel names must differ, got {names}")
        self.output_keys: tuple[str, ...] = tuple(names)
        nonlinearities = _per_channel(owner, "gate_nonlinearities", gate_nonlinearities, n)
        self.gate_nonlinearities = [f or _identity for f in nonlinearities]
        biases = _per_channel(owner, "bias_init", bias_init, n)
        weights = _per_channel(owner, "weight_init", weight_init, n)
        weights = [_per_channel(owner, f"weight_init for channel #{c}", w, len(controllers))
                   for c, w in enumerate(weights)]
        self.weights = nn.ParameterList([
            nn.Parameter(torch.cat([
                self._weight(weights[c][i], (units, controller_units[i]), c, i)
                for c, units in enumerate(self.channel_units)]))
            for i in range(len(controllers))])
        pieces = [init_param(self, spec, (units,), f"bias_init[{c}]")
                  for c, (spec, units) in enumerate(zip(biases, self.channel_units))]
        self.register_buffer("bias_mask", None, persistent=False)
        self.bias: nn.Parameter | None = None
        if any(p is not None for p in pieces):
            self.bias = nn.Parameter(torch.cat([
                torch.zeros(units) if p is None else p.detach()
                for p, units in zip(pieces, self.channel_units)]))
            if any(p is None for p in pieces):  # some channels have none: keep those at zero
                self.bias_mask = torch.cat([torch.full((units,), p is not None)
                                            for p, units in zip(pieces, self.channel_units)])

    def __getitem__(self, key: int | str) -> ItemLayer:
        """The output of a channel, by index or by name (see ``keys()``)."""
        if isinstance(key, str):
            original = {(self.name or "") + k: i for i, k in enumerate(self.output_keys)}
            if key in self.output_keys:
                key = self.output_keys.index(key)
            elif key in original:
                key = original[key]
            else:
                raise KeyError(f"{self.describe()} has no channel {key!r}; its channels are "
                               f"{list(self.output_keys)}")
        return ItemLayer(self, key)

    def keys(self) -> tuple[str, ...]:
        """The channels' names, in output order."""
        return self.output_keys

    def values(self) -> list[ItemLayer]:
        """The channels' outputs as layers, in order."""
        return [self[i] for i in range(len(self.output_keys))]

    def _weight(self, spec: ParamSpec, shape: tuple[int, int], channel: int,
                controller: int) -> torch.Tensor:
        what = f"weight_init[{channel}][{controller}]"
        value = init_param(self, spec, shape, what)
        if value is None:
            raise ValueError(f"{self.describe()}: {what} is None; every gate needs weights")
        return value.detach()

    def get_output_for(self, *inputs: torch.Tensor, **flags: Any) -> tuple[torch.Tensor, ...]:
        given, controllers = inputs[:self.num_channel_layers], inputs[self.num_channel_layers:]
        bias: torch.Tensor | None = self.bias
        if bias is not None and self.bias_mask is not None:
            bias = bias * self.bias_mask
        flat = [x.reshape(x.shape[0], -1) for x in controllers]
        total = F.linear(flat[0], self.weights[0], bias)
        for x, weight in zip(flat[1:], self.weights[1:]):
            total = total + F.linear(x, weight)
        sums = total.split(self.channel_units, dim=1)
        outputs = []
        channel_values = iter(given)
        for gate_sum, nonlinearity, shape in zip(sums, self.gate_nonlinearities,
                                                 self.channel_shapes):
            gate = nonlinearity(gate_sum)
            if shape is None:
                outputs.append(gate)
            else:
                value = next(channel_values)
                outputs.append(gate.reshape(value.shape) * value)
        return tuple(outputs)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x
