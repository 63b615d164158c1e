"""Recurrent cells as one-tick memory: the previous state comes in, the new state goes out.

Each cell is a :class:`~agentnet.layers.Layer` whose first incoming layer(s) are the previous
state and the rest are inputs. Parameters carry torch's names and layouts (``weight_ih``,
``weight_hh``, ``bias_ih``, ``bias_hh``, gates in torch's order), so weights copy to and from
``torch.nn.RNNCell`` / ``GRUCell`` / ``LSTMCell`` unchanged. The arguments are the original
AgentNet's, in its order and with its defaults (``num_units``, ``grad_clipping``,
initialisers, gate nonlinearities, ``dropout``, LSTM ``peepholes=True``).

Several inputs are flattened after the batch axis and concatenated along features. A cell
with no inputs evolves its state from its previous value alone, as if its input had zero
width: the input weight is absent and the input bias still counts.

Initialisers (``Whid``, ``weight_init``, ...) take what
:func:`~agentnet.layers.dense.init_param` takes (an in-place ``torch.nn.init`` function or
any callable filling a tensor, a tensor or array, a number), in torch's layout ``[out, in]``,
or lists of them: one per gate (in torch's gate order, which is the original's), each
possibly a list with one entry per input. The defaults are the original's (Lasagne's
``Normal(0.01)``, ``Uniform(0.01)``, zero biases); torch's own
``uniform(-1/sqrt(H), 1/sqrt(H))`` often trains faster:
``weight_init=functools.partial(nn.init.uniform_, a=-H**-0.5, b=H**-0.5)``.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, cast

import numpy as np
import torch
from torch import nn

from agentnet.layers.base import ItemLayer, Layer, ParamDict, format_shape
from agentnet.layers.dense import ParamSpec

from ._params import (
    check_dropout,
    check_grad_clipping,
    check_num_units,
    clip_grad,
    normal_001,
    per_channel,
    stacked_bias,
    stacked_weight,
    uniform_001,
)
from ._params import dropout as _dropout

__all__ = ["RNNCell", "GRUCell", "LSTMCell", "torch_init"]

Nonlinearity = Callable[[torch.Tensor], torch.Tensor]


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


def _input_sizes(cell: str, inputs: Sequence[Layer]) -> list[int]:
    """Features of each input once flattened after its batch axis."""
    sizes = []
    for layer in inputs:
        shape = layer.output_shape
        if layer.has_multiple_outputs or len(shape) < 1 or any(d is None for d in shape[1:]):
            raise ValueError(f"{cell}: input {layer.describe()} has shape "
                             f"{format_shape(shape)}, expected (None, ...) with known sizes "
                             f"after the batch axis")
        sizes.append(int(np.prod(shape[1:])))
    return sizes


def _concat(inputs: Sequence[torch.Tensor]) -> torch.Tensor:
    """``[B, total_inputs]`` from tensors ``[B, ...]``."""
    if len(inputs) == 1 and inputs[0].dim() == 2:  # the common case, on the per-tick path
        return inputs[0]
    flat = [x.reshape(x.shape[0], -1) for x in inputs]
    return flat[0] if len(flat) == 1 else torch.cat(flat, dim=1)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x



def torch_init(num_units: int) -> functools.partial[torch.Tensor]:
    """torch's initialiser for recurrent cells of ``num_units`` units (``torch.nn.GRUCell``'s,
    ``LSTMCell``'s, ``RNNCell``'s): uniform on ``[-1/sqrt(num_units), 1/sqrt(num_units)]``.

    The original's defaults (normal with std 0.01, uniform on +-0.01) start the cells almost
    linear and nearly blind to their inputs; for training from scratch pass
    ``weight_init=torch_init(H)`` (what agentnet's examples do).

    >>> import torch
    >>> w = torch_init(16)(torch.empty(48, 16))
    >>> bool(w.abs().max() <= 0.25)
    True
    """
    bound = 1.0 / math.sqrt(num_units)
    return functools.partial(nn.init.uniform_, a=-bound, b=bound)

class _Cell(Layer):
    """What the cells share: incomings ``[*states, *inputs]``, sizes, parameters, options."""

    accepted_flags: ClassVar[frozenset[str]] = frozenset({"deterministic"})
    weight_ih: nn.Parameter | None
    weight_hh: nn.Parameter
    bias_ih: nn.Parameter | None
    bias_hh: nn.Parameter | None

    def _setup(self, states: Sequence[Layer], inputs: Sequence[Layer], what: Sequence[str],
               num_units: int | None, grad_clipping: float | None) -> None:
        owner = self.describe()
        sizes = [_state_size(owner, w, s) for w, s in zip(what, states, strict=True)]
        self.hidden_size = sizes[0]
        check_num_units(owner, num_units, states[0], self.hidden_size)
        self.num_units = self.hidden_size
        self.input_sizes = _input_sizes(owner, inputs)
        self.input_size = sum(self.input_sizes)
        self.num_states = len(states)
        self.grad_clipping = check_grad_clipping(owner, grad_clipping)

    def _set_params(self, gates: int, weight_hh: Any, weight_ih: Any, bias: Any) -> None:
        """``weight_hh``/``weight_ih`` from their specs; ``bias`` fills ``bias_ih`` (the
        original had one bias per gate) and ``bias_hh`` starts at zero; None: no biases."""
        rows = [self.hidden_size] * gates
        self.weight_hh = stacked_weight(self, weight_hh, rows, [self.hidden_size], "weight_hh")
        self.weight_ih = (stacked_weight(self, weight_ih, rows, self.input_sizes, "weight_ih")
                          if self.input_size else None)
        self.bias_ih = stacked_bias(self, bias, rows, "bias")
        self.bias_hh = None if self.bias_ih is None else nn.Parameter(
            torch.zeros(gates * self.hidden_size))

    def _gates(self, h: torch.Tensor, inputs: Sequence[torch.Tensor]
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x @ weight_ih.T + bias_ih, h @ weight_hh.T + bias_hh)``, x of zero width if none."""
        gh = nn.functional.linear(h, self.weight_hh, self.bias_hh)
        if inputs:  # inputs of nonzero width: weight_ih is set
            weight_ih = cast(torch.Tensor, self.weight_ih)
            gi = nn.functional.linear(_concat(inputs), weight_ih, self.bias_ih)
        elif self.bias_ih is not None:
            gi = self.bias_ih.expand_as(gh)
        else:
            gi = torch.zeros_like(gh)
        return gi, gh


def _split_by_controller(spec: Any, gates: int) -> tuple[Any, Any]:
    """The original LSTM's ``weight_init`` (controllers ``[prev_out, *inputs]``) as the
    specs of ``weight_hh`` (controller 0) and ``weight_ih`` (the rest)."""
    if isinstance(spec, (torch.Tensor, np.ndarray)) or not isinstance(spec, (list, tuple)):
        return spec, spec
    per_gate = per_channel("LSTMCell", "weight_init", spec, gates)
    hidden, inputs = [], []
    for gate_spec in per_gate:
        if isinstance(gate_spec, (list, tuple)):
            hidden.append(gate_spec[0])
            inputs.append(list(gate_spec[1:]) if len(gate_spec) > 1 else gate_spec[0])
        else:
            hidden.append(gate_spec)
            inputs.append(gate_spec)
    return hidden, inputs


# --- the cells -----------------------------------------------------------------------
class RNNCell(_Cell):
    """A vanilla recurrent cell, torch's math::

        new = nonlinearity(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)

    Args:
        prev_state: the previous state, float ``[B, H]`` with H known.
        input_or_inputs: a layer or a list of layers, float ``[B, ...]``; each is flattened
            after the batch axis and all are concatenated into ``x: [B, total_inputs]``.
            Empty: the state evolves from its previous value alone.
        nonlinearity: a function of a tensor (None: linear); ``torch.tanh`` (default) uses
            torch's fused cell.
        num_units: None, or H (checked against ``prev_state``; the original's argument).
        name: the layer's name.
        grad_clipping: 0 or None (default): exact gradients; a positive bound clamps the
            gradients flowing back into ``prev_state`` and the inputs to
            ``[-grad_clipping, grad_clipping]`` (Theano's ``grad_clip``; values unchanged).
        Whid: ``weight_hh [H, H]``, uniform on [-0.01, 0.01] by default (the original's).
        Winp: ``weight_ih [H, total_inputs]``: one spec, or a list with one per input;
            uniform on [-0.01, 0.01] by default.
        b: ``bias_ih [H]``, zeros by default; ``bias_hh`` starts at zero. None: no biases.

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
                 nonlinearity: Nonlinearity | None = torch.tanh, num_units: int | None = None,
                 name: str | None = None, grad_clipping: float | None = 0,
                 Whid: Any = uniform_001, Winp: Any = uniform_001,
                 b: ParamSpec = nn.init.zeros_):
        inputs = _as_inputs(f"RNNCell {name!r}", input_or_inputs)
        super().__init__([prev_state, *inputs], name)
        self._setup([prev_state], inputs, ["prev_state"], num_units, grad_clipping)
        # Winp: one spec for the single gate, possibly a list with one per input
        one_gate = Winp if isinstance(Winp, (torch.Tensor, np.ndarray)) else [Winp]
        self._set_params(1, Whid, one_gate, b)
        self.nonlinearity = nonlinearity or _identity

    def get_output_for(self, h: torch.Tensor, *inputs: torch.Tensor,
                       **flags: Any) -> torch.Tensor:
        if self.grad_clipping:
            h = clip_grad(h, self.grad_clipping)
            inputs = tuple(clip_grad(x, self.grad_clipping) for x in inputs)
        if inputs and self.nonlinearity is torch.tanh:
            # see DenseLayer: the dict is faster than attributes
            p = cast(ParamDict, self._parameters)
            return torch.rnn_tanh_cell(_concat(inputs), h, p["weight_ih"], p["weight_hh"],
                                       p["bias_ih"], p["bias_hh"])
        gi, gh = self._gates(h, inputs)
        return self.nonlinearity(gi + gh)


class GRUCell(_Cell):
    """A gated recurrent unit, torch's math and gate order (r, z, n)::

        r = forgetgate_nonlinearity(W_ir x + b_ir + W_hr h + b_hr)       # the reset gate
        u = updategate_nonlinearity(-(W_iz x + b_iz + W_hz h + b_hz))    # z = 1 - u
        n = hidden_update_nonlinearity(W_in x + b_in + r * (W_hn h + b_hn))
        new = (1 - u) * h + u * dropout(n)     # = (1 - z) * n + z * h, torch's, for sigmoid

    The original (Lasagne's GRU) computes the update gate ``u`` with its own weights; torch's
    ``z`` is ``1 - u``, i.e. ``u``'s weights negated: with sigmoid gates the two are the same
    function, and torch's layout is kept so that weights copy to ``torch.nn.GRUCell``.

    Args:
        prev_state: the previous state, float ``[B, H]`` with H known.
        input_or_inputs: a layer or a list of layers, float ``[B, ...]``, flattened and
            concatenated into ``x: [B, total_inputs]``; empty: ``W_i* x`` is zero.
        num_units: None, or H (checked against ``prev_state``).
        weight_init: one spec for every weight, or ``[hidden_spec, input_spec]``: the first
            for ``weight_hh [3H, H]``, the second for ``weight_ih [3H, total_inputs]``; each
            may be a list of 3 (one per gate r, z, n), each of those a list with one per
            input. Normal with std 0.01 by default (the original's).
        bias_init: ``bias_ih [3H]`` (one spec or one per gate), zeros by default;
            ``bias_hh`` starts at zero. None: no biases.
        forgetgate_nonlinearity, updategate_nonlinearity, hidden_update_nonlinearity: the
            reset gate's, the update gate's (``u`` above) and the candidate's; sigmoid,
            sigmoid, tanh by default.
        dropout: the probability of dropping candidate units (Semeniuta et al., 2016,
            arXiv:1603.05118) while training; none with ``deterministic=True``.
        name: the layer's name.
        grad_clipping: 0 or None (default): exact gradients; a positive bound clamps the
            gradients flowing through the inputs, ``W_h* h + b_h*`` and the candidate's
            pre-activation (the original's places).

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
                 num_units: int | None = None, weight_init: Any = normal_001,
                 bias_init: Any = nn.init.zeros_,
                 forgetgate_nonlinearity: Nonlinearity | None = torch.sigmoid,
                 updategate_nonlinearity: Nonlinearity | None = torch.sigmoid,
                 hidden_update_nonlinearity: Nonlinearity | None = torch.tanh,
                 dropout: float = 0, name: str | None = None,
                 grad_clipping: float | None = 0):
        inputs = _as_inputs(f"GRUCell {name!r}", input_or_inputs)
        super().__init__([prev_state, *inputs], name)
        self._setup([prev_state], inputs, ["prev_state"], num_units, grad_clipping)
        if isinstance(weight_init, (list, tuple)) and len(weight_init) == 2:
            hidden_init, input_init = weight_init
        elif isinstance(weight_init, (list, tuple)) and len(weight_init) != 1:
            raise ValueError(f"{self.describe()}: weight_init must be one spec or "
                             f"[hidden_spec, input_spec], got {len(weight_init)} entries")
        else:
            hidden_init = input_init = (weight_init[0] if isinstance(weight_init, (list, tuple))
                                        else weight_init)
        self._set_params(3, hidden_init, input_init, bias_init)
        self.forgetgate_nonlinearity = forgetgate_nonlinearity or _identity
        self.updategate_nonlinearity = updategate_nonlinearity or _identity
        self.hidden_update_nonlinearity = hidden_update_nonlinearity or _identity
        self.dropout = check_dropout(self.describe(), dropout)
        self._fused = (self.forgetgate_nonlinearity is torch.sigmoid
                       and self.updategate_nonlinearity is torch.sigmoid
                       and self.hidden_update_nonlinearity is torch.tanh
                       and not self.grad_clipping)

    def get_output_for(self, h: torch.Tensor, *inputs: torch.Tensor,
                       deterministic: bool = False, **flags: Any) -> torch.Tensor:
        if inputs and self._fused and (deterministic or not self.dropout):
            # see DenseLayer: the dict is faster than attributes
            p = cast(ParamDict, self._parameters)
            return torch.gru_cell(_concat(inputs), h, p["weight_ih"], p["weight_hh"],
                                  p["bias_ih"], p["bias_hh"])
        bound = self.grad_clipping
        inputs = tuple(clip_grad(x, bound) for x in inputs)
        gi, gh = self._gates(h, inputs)
        gh = clip_grad(gh, bound)
        i_r, i_z, i_n = gi.chunk(3, dim=1)
        h_r, h_z, h_n = gh.chunk(3, dim=1)
        r = self.forgetgate_nonlinearity(i_r + h_r)
        if self.updategate_nonlinearity is torch.sigmoid:
            z = torch.sigmoid(i_z + h_z)
        else:
            z = 1 - self.updategate_nonlinearity(-(i_z + h_z))
        n = self.hidden_update_nonlinearity(clip_grad(i_n + r * h_n, bound))
        n = _dropout(n, self.dropout, deterministic)
        return (1 - z) * n + z * h


class _LSTMStep(_Cell):
    """One LSTM step with two outputs ``(new_cell, new_out)``; see :func:`LSTMCell`."""

    weight_ci: nn.Parameter | None
    weight_cf: nn.Parameter | None
    weight_co: nn.Parameter | None

    def __init__(self, prev_cell: Layer, prev_out: Layer, input_or_inputs: Layer | Sequence[Layer],
                 num_units: int | None, peepholes: bool, weight_init: Any, bias_init: Any,
                 peepholes_W_init: Any, nonlinearities: Sequence[Nonlinearity | None],
                 dropout: float, name: str | None, grad_clipping: float | None):
        inputs = _as_inputs(f"LSTMCell {name!r}", input_or_inputs)
        super().__init__([prev_cell, prev_out, *inputs], name)
        self._setup([prev_cell, prev_out], inputs, ["prev_cell", "prev_out"], num_units,
                    grad_clipping)
        if tuple(prev_cell.output_shape) != tuple(prev_out.output_shape):
            raise ValueError(
                f"{self.describe()}: prev_cell {prev_cell.describe()} "
                f"{format_shape(prev_cell.output_shape)} and prev_out {prev_out.describe()} "
                f"{format_shape(prev_out.output_shape)} must have the same shape")
        if not isinstance(peepholes, bool):
            raise TypeError(f"{self.describe()}: peepholes must be True or False, "
                            f"got {peepholes!r}")
        hidden_init, input_init = _split_by_controller(weight_init, 4)
        self._set_params(4, hidden_init, input_init, bias_init)
        self.peepholes = peepholes
        peeps: list[Any] = [None, None, None]
        if peepholes:
            peeps = [stacked_bias(self, spec, [self.hidden_size], f"peepholes_W_init[{k}]")
                     for k, spec in enumerate(per_channel(self.describe(), "peepholes_W_init",
                                                          peepholes_W_init, 3))]
            if any(p is None for p in peeps):
                raise ValueError(f"{self.describe()}: peepholes_W_init cannot be None with "
                                 f"peepholes=True")
        self.weight_ci, self.weight_cf, self.weight_co = peeps
        self.nonlinearities = [f or _identity for f in nonlinearities]
        self.dropout = check_dropout(self.describe(), dropout)
        self._fused = (not peepholes and not self.grad_clipping and self.nonlinearities == [
            torch.sigmoid, torch.sigmoid, torch.sigmoid, torch.tanh, torch.tanh])

    def describe(self) -> str:
        return f"LSTMCell {self.name!r}" if self.name else "LSTMCell"

    def get_output_for(self, c: torch.Tensor, h: torch.Tensor, *inputs: torch.Tensor,
                       deterministic: bool = False, **flags: Any
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        if inputs and self._fused and (deterministic or not self.dropout):
            # see DenseLayer: the dict is faster than attributes
            p = cast(ParamDict, self._parameters)
            h_new, c_new = torch.lstm_cell(_concat(inputs), (h, c), p["weight_ih"],
                                           p["weight_hh"], p["bias_ih"], p["bias_hh"])
            return c_new, h_new
        forget_f, in_f, out_f, cell_f, output_f = self.nonlinearities
        gi, gh = self._gates(h, inputs)
        a_i, a_f, a_g, a_o = clip_grad(gi + gh, self.grad_clipping).chunk(4, dim=1)
        if self.weight_ci is not None and self.weight_cf is not None:
            a_i = a_i + self.weight_ci * c
            a_f = a_f + self.weight_cf * c
        g = _dropout(cell_f(a_g), self.dropout, deterministic)
        c_new = forget_f(a_f) * c + in_f(a_i) * g
        if self.weight_co is not None:
            a_o = a_o + self.weight_co * c_new
        return c_new, out_f(a_o) * output_f(c_new)


def LSTMCell(prev_cell: Layer, prev_out: Layer, input_or_inputs: Layer | Sequence[Layer] = (),
             num_units: int | None = None, peepholes: bool = True,
             weight_init: Any = normal_001, bias_init: Any = nn.init.zeros_,
             peepholes_W_init: Any = normal_001,
             forgetgate_nonlinearity: Nonlinearity | None = torch.sigmoid,
             inputgate_nonlinearity: Nonlinearity | None = torch.sigmoid,
             outputgate_nonlinearity: Nonlinearity | None = torch.sigmoid,
             cell_nonlinearity: Nonlinearity | None = torch.tanh,
             output_nonlinearity: Nonlinearity | None = torch.tanh,
             dropout: float = 0.0, name: str | None = None,
             grad_clipping: float | None = 0.0) -> tuple[ItemLayer, ItemLayer]:
    """A long short-term memory step, torch's gate order (i, f, g, o), peepholes as Lasagne's::

        a_i, a_f, a_g, a_o = (x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh).chunk(4)
        i = inputgate_nonlinearity(a_i + weight_ci * cell)           # peephole terms only
        f = forgetgate_nonlinearity(a_f + weight_cf * cell)          # with peepholes=True
        new_cell = f * cell + i * dropout(cell_nonlinearity(a_g))
        o = outputgate_nonlinearity(a_o + weight_co * new_cell)
        new_out = o * output_nonlinearity(new_cell)

    Without peepholes and with the default nonlinearities this is torch's ``LSTMCell``.

    Args:
        prev_cell: the previous cell state, float ``[B, H]`` with H known.
        prev_out: the previous output (torch's ``h``), float ``[B, H]``, same shape.
        input_or_inputs: a layer or a list of layers, float ``[B, ...]``, flattened and
            concatenated into ``x: [B, total_inputs]``; empty: ``x @ weight_ih.T`` is zero.
        num_units: None, or H (checked against ``prev_cell``).
        peepholes: True (the original's default): the gates also see the cell through
            the diagonal weights ``weight_ci``, ``weight_cf``, ``weight_co`` ``[H]``.
            ``peepholes=False`` is torch's LSTM (fused kernel, faster; loads
            ``torch.nn.LSTMCell`` weights): usually the better choice.
        weight_init: one spec, or one per gate (i, f, g, o), each possibly a list with one
            per controller ``[prev_out, *inputs]``: the first fills ``weight_hh``, the
            others ``weight_ih``. Normal with std 0.01 by default (the original's).
        bias_init: ``bias_ih [4H]`` (one spec or one per gate), zeros by default;
            ``bias_hh`` starts at zero. None: no biases.
        peepholes_W_init: one spec or three (i, f, o) for the peephole weights; Normal
            with std 0.01 by default; ignored without peepholes.
        forgetgate_nonlinearity, inputgate_nonlinearity, outputgate_nonlinearity: the
            gates' (sigmoid); cell_nonlinearity: the candidate's (tanh);
            output_nonlinearity: applied to the new cell for the output (tanh).
        dropout: the probability of dropping candidate units (arXiv:1603.05118) while
            training; none with ``deterministic=True``.
        name: the step's name; the returned layers are ``name + ".cell"`` and ``name + ".out"``.
        grad_clipping: 0 or None (default): exact gradients; a positive bound clamps the
            gradients flowing through the four gates' pre-activations.

    Returns:
        ``(new_cell, new_out)``, two layers of float ``[B, H]`` (AgentNet's order), each
        usable as an agent state. Both read one step layer (``new_cell.input_layers[0]``)
        that holds ``weight_ih [4H, total_inputs]`` (None without inputs), ``weight_hh
        [4H, H]``, ``bias_ih [4H]``, ``bias_hh [4H]`` and, with peepholes, ``weight_ci``,
        ``weight_cf``, ``weight_co`` ``[H]``.

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> cell, out = InputLayer((None, 6), name="cell"), InputLayer((None, 6), name="out")
    >>> obs = InputLayer((None, 3), name="obs")
    >>> new_cell, new_out = LSTMCell(cell, out, obs, name="lstm")
    >>> new_cell.name, new_out.name, new_out.output_shape
    ('lstm.cell', 'lstm.out', (None, 6))
    >>> sorted(name for name, _ in new_cell.input_layers[0].named_parameters())
    ['bias_hh', 'bias_ih', 'weight_cf', 'weight_ci', 'weight_co', 'weight_hh', 'weight_ih']
    >>> c, h = get_output([new_cell, new_out], {cell: torch.zeros(2, 6),
    ...                   out: torch.zeros(2, 6), obs: torch.ones(2, 3)})
    >>> c.shape, h.shape
    (torch.Size([2, 6]), torch.Size([2, 6]))
    """
    step = _LSTMStep(prev_cell, prev_out, input_or_inputs, num_units, peepholes, weight_init,
                     bias_init, peepholes_W_init,
                     [forgetgate_nonlinearity, inputgate_nonlinearity, outputgate_nonlinearity,
                      cell_nonlinearity, output_nonlinearity], dropout, name, grad_clipping)
    return (ItemLayer(step, 0, name=None if name is None else name + ".cell"),
            ItemLayer(step, 1, name=None if name is None else name + ".out"))
