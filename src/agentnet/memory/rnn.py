"""Recurrent cells as one-tick memory: the previous state comes in, the new state goes out.

Each cell is a :class:`~agentnet.layers.Layer` whose first incoming layer(s) are the previous
state and the rest are inputs. Parameters carry torch's names and layouts (``weight_ih``,
``weight_hh``, ``bias_ih``, ``bias_hh``, gates in torch's order), so weights copy to and from
``torch.nn.RNNCell`` / ``GRUCell`` / ``LSTMCell`` unchanged.

Several inputs are flattened after the batch axis and concatenated along features. A cell
with no inputs evolves its state from its previous value alone, as if its input had zero
width: the input weight is absent and the input bias still counts.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from agentnet.layers.base import ItemLayer, Layer, ParamDict, format_shape

__all__ = ["RNNCell", "GRUCell", "LSTMCell"]


# --- helpers shared by the cells -----------------------------------------------------
def _as_inputs(cell: str, input_or_inputs: Layer | Sequence[Layer]) -> list[Layer]:
    inputs = [input_or_inputs] if isinstance(input_or_inputs, Layer) else list(input_or_inputs)
    for i, layer in enumerate(inputs):
        if not isinstance(layer, Layer):
            raise TypeError(f"{cell}: input #{i} must be an agentnet Layer, "
                            f"got {type(layer).__name__}")
    return inputs


def _state_size(cell: str, what: str, layer: Layer) -> int:
    """H of a state layer that must be ``[B, H]`` with H known."""
    shape = layer.output_shape
    if layer.has_multiple_outputs or len(shape) != 2 or shape[1] is None:
        raise ValueError(f"{cell}: {what} {layer.describe()} has shape {format_shape(shape)}, "
                         f"expected (None, H) with a known size H")
    return int(shape[1])


def _input_size(cell: str, inputs: Sequence[Layer]) -> int:
    """Total features of the inputs once each is flattened after its batch axis."""
    total = 0
    for layer in inputs:
        shape = layer.output_shape
        if layer.has_multiple_outputs or len(shape) < 1 or any(d is None for d in shape[1:]):
            raise ValueError(f"{cell}: input {layer.describe()} has shape "
                             f"{format_shape(shape)}, expected (None, ...) with known sizes "
                             f"after the batch axis")
        total += int(np.prod(shape[1:]))
    return total


def _concat(inputs: Sequence[torch.Tensor]) -> torch.Tensor:
    """``[B, total_inputs]`` from tensors ``[B, ...]``."""
    if len(inputs) == 1 and inputs[0].dim() == 2:  # the common case, on the per-tick path
        return inputs[0]
    flat = [x.reshape(x.shape[0], -1) for x in inputs]
    return flat[0] if len(flat) == 1 else torch.cat(flat, dim=1)


def _make_params(layer: _Cell, gates: int, hidden: int, num_inputs: int) -> None:
    """torch's parameters for ``gates`` stacked gates, uniform(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(hidden)

    def uniform(*shape: int) -> nn.Parameter:
        return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))

    layer.weight_ih = uniform(gates * hidden, num_inputs) if num_inputs else None
    layer.weight_hh = uniform(gates * hidden, hidden)
    layer.bias_ih = uniform(gates * hidden)
    layer.bias_hh = uniform(gates * hidden)


class _Cell(Layer):
    """What the cells share: incomings ``[*states, *inputs]``, sizes and parameters."""

    weight_ih: nn.Parameter | None
    weight_hh: nn.Parameter
    bias_ih: nn.Parameter
    bias_hh: nn.Parameter

    def _setup(self, states: Sequence[Layer], input_or_inputs: Layer | Sequence[Layer],
               what: Sequence[str], gates: int) -> None:
        inputs = _as_inputs(self.describe(), input_or_inputs)
        sizes = [_state_size(self.describe(), w, s) for w, s in zip(what, states, strict=True)]
        self.hidden_size = sizes[0]
        self.input_size = _input_size(self.describe(), inputs)
        self.num_states = len(states)
        _make_params(self, gates, self.hidden_size, self.input_size)

    def _gates(self, h: torch.Tensor, inputs: Sequence[torch.Tensor]
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x @ weight_ih.T + bias_ih, h @ weight_hh.T + bias_hh)``, x of zero width if none."""
        gh = nn.functional.linear(h, self.weight_hh, self.bias_hh)
        if inputs:  # inputs of nonzero width: weight_ih is set
            weight_ih = cast(torch.Tensor, self.weight_ih)
            gi = nn.functional.linear(_concat(inputs), weight_ih, self.bias_ih)
        else:
            gi = self.bias_ih.expand_as(gh)
        return gi, gh


# --- the cells -----------------------------------------------------------------------
class RNNCell(_Cell):
    """A vanilla recurrent cell, torch's math::

        new = nonlinearity(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)

    Args:
        prev_state: the previous state, float ``[B, H]`` with H known.
        input_or_inputs: a layer or a list of layers, float ``[B, ...]``; each is flattened
            after the batch axis and all are concatenated into ``x: [B, total_inputs]``.
            Empty: the state evolves from its previous value alone.
        nonlinearity: a function of a tensor; ``torch.tanh`` (default) uses torch's fused cell.
        name: the layer's name.

    Parameters: ``weight_ih [H, total_inputs]`` (None without inputs), ``weight_hh [H, H]``,
    ``bias_ih [H]``, ``bias_hh [H]``. Output: the new state, float ``[B, H]``.

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> prev, obs = InputLayer((None, 8), name="prev"), InputLayer((None, 3), name="obs")
    >>> new = RNNCell(prev, obs, name="rnn")
    >>> new.output_shape, tuple(new.weight_ih.shape)
    ((None, 8), (8, 3))
    >>> get_output(new, {prev: torch.zeros(2, 8), obs: torch.ones(2, 3)}).shape
    torch.Size([2, 8])
    """

    def __init__(self, prev_state: Layer, input_or_inputs: Layer | Sequence[Layer] = (),
                 nonlinearity: Callable[[torch.Tensor], torch.Tensor] = torch.tanh,
                 name: str | None = None):
        inputs = _as_inputs(f"RNNCell {name!r}", input_or_inputs)
        super().__init__([prev_state, *inputs], name)
        self._setup([prev_state], inputs, ["prev_state"], gates=1)
        self.nonlinearity = nonlinearity

    def get_output_for(self, h: torch.Tensor, *inputs: torch.Tensor,
                       **flags: Any) -> torch.Tensor:
        if inputs and self.nonlinearity is torch.tanh:
            # see DenseLayer: the dict is faster than attributes
            p = cast(ParamDict, self._parameters)
            return torch.rnn_tanh_cell(_concat(inputs), h, p["weight_ih"], p["weight_hh"],
                                       p["bias_ih"], p["bias_hh"])
        gi, gh = self._gates(h, inputs)
        return self.nonlinearity(gi + gh)


class GRUCell(_Cell):
    """A gated recurrent unit, torch's math and gate order (r, z, n)::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        new = (1 - z) * n + z * h

    Args:
        prev_state: the previous state, float ``[B, H]`` with H known.
        input_or_inputs: a layer or a list of layers, float ``[B, ...]``, flattened and
            concatenated into ``x: [B, total_inputs]``; empty: ``W_i* x`` is zero.
        name: the layer's name.

    Parameters: ``weight_ih [3H, total_inputs]`` (None without inputs), ``weight_hh [3H, H]``,
    ``bias_ih [3H]``, ``bias_hh [3H]``. Output: the new state, float ``[B, H]``.

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> prev, obs = InputLayer((None, 5), name="prev"), InputLayer((None, 2, 2), name="obs")
    >>> new = GRUCell(prev, obs, name="gru")
    >>> tuple(new.weight_ih.shape), tuple(new.weight_hh.shape)
    ((15, 4), (15, 5))
    >>> get_output(new, {prev: torch.zeros(3, 5), obs: torch.ones(3, 2, 2)}).shape
    torch.Size([3, 5])
    """

    def __init__(self, prev_state: Layer, input_or_inputs: Layer | Sequence[Layer] = (),
                 name: str | None = None):
        inputs = _as_inputs(f"GRUCell {name!r}", input_or_inputs)
        super().__init__([prev_state, *inputs], name)
        self._setup([prev_state], inputs, ["prev_state"], gates=3)

    def get_output_for(self, h: torch.Tensor, *inputs: torch.Tensor,
                       **flags: Any) -> torch.Tensor:
        if inputs:
            # see DenseLayer: the dict is faster than attributes
            p = cast(ParamDict, self._parameters)
            return torch.gru_cell(_concat(inputs), h, p["weight_ih"], p["weight_hh"],
                                  p["bias_ih"], p["bias_hh"])
        gi, gh = self._gates(h, inputs)
        i_r, i_z, i_n = gi.chunk(3, dim=1)
        h_r, h_z, h_n = gh.chunk(3, dim=1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        return (1 - z) * n + z * h


class _LSTMStep(_Cell):
    """One LSTM step with two outputs ``(new_cell, new_out)``; see :func:`LSTMCell`."""

    def __init__(self, prev_cell: Layer, prev_out: Layer,
                 input_or_inputs: Layer | Sequence[Layer] = (), name: str | None = None):
        inputs = _as_inputs(f"LSTMCell {name!r}", input_or_inputs)
        super().__init__([prev_cell, prev_out, *inputs], name)
        self._setup([prev_cell, prev_out], inputs, ["prev_cell", "prev_out"], gates=4)
        if tuple(prev_cell.output_shape) != tuple(prev_out.output_shape):
            raise ValueError(
                f"{self.describe()}: prev_cell {prev_cell.describe()} "
                f"{format_shape(prev_cell.output_shape)} and prev_out {prev_out.describe()} "
                f"{format_shape(prev_out.output_shape)} must have the same shape")

    def describe(self) -> str:
        return f"LSTMCell {self.name!r}" if self.name else "LSTMCell"

    def get_output_for(self, c: torch.Tensor, h: torch.Tensor, *inputs: torch.Tensor,
                       **flags: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if inputs:
            # see DenseLayer: the dict is faster than attributes
            p = cast(ParamDict, self._parameters)
            h_new, c_new = torch.lstm_cell(_concat(inputs), (h, c), p["weight_ih"],
                                           p["weight_hh"], p["bias_ih"], p["bias_hh"])
            return c_new, h_new
        gi, gh = self._gates(h, inputs)
        i, f, g, o = (gi + gh).chunk(4, dim=1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return c_new, torch.sigmoid(o) * torch.tanh(c_new)


def LSTMCell(prev_cell: Layer, prev_out: Layer, input_or_inputs: Layer | Sequence[Layer] = (),
             name: str | None = None) -> tuple[ItemLayer, ItemLayer]:
    """A long short-term memory step, torch's math and gate order (i, f, g, o)::

        i, f, g, o = (x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh).chunk(4)
        i, f, g, o = sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
        new_cell = f * cell + i * g
        new_out = o * tanh(new_cell)

    Args:
        prev_cell: the previous cell state, float ``[B, H]`` with H known.
        prev_out: the previous output (torch's ``h``), float ``[B, H]``, same shape.
        input_or_inputs: a layer or a list of layers, float ``[B, ...]``, flattened and
            concatenated into ``x: [B, total_inputs]``; empty: ``x @ weight_ih.T`` is zero.
        name: the step's name; the returned layers are ``name + ".cell"`` and ``name + ".out"``.

    Returns:
        ``(new_cell, new_out)``, two layers of float ``[B, H]`` (AgentNet's order), each
        usable as an agent state. Both read one step layer (``new_cell.input_layers[0]``)
        that holds ``weight_ih [4H, total_inputs]`` (None without inputs), ``weight_hh
        [4H, H]``, ``bias_ih [4H]`` and ``bias_hh [4H]``.

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> cell, out = InputLayer((None, 6), name="cell"), InputLayer((None, 6), name="out")
    >>> obs = InputLayer((None, 3), name="obs")
    >>> new_cell, new_out = LSTMCell(cell, out, obs, name="lstm")
    >>> new_cell.name, new_out.name, new_out.output_shape
    ('lstm.cell', 'lstm.out', (None, 6))
    >>> c, h = get_output([new_cell, new_out], {cell: torch.zeros(2, 6),
    ...                   out: torch.zeros(2, 6), obs: torch.ones(2, 3)})
    >>> c.shape, h.shape
    (torch.Size([2, 6]), torch.Size([2, 6]))
    """
    step = _LSTMStep(prev_cell, prev_out, input_or_inputs, name=name)
    return (ItemLayer(step, 0, name=None if name is None else name + ".cell"),
            ItemLayer(step, 1, name=None if name is None else name + ".out"))
