"""GRUMemoryLayer: the original AgentNet's GRU memory, with its argument order."""
from __future__ import annotations

import functools
from collections.abc import Sequence

from torch import nn

from agentnet.layers.base import Layer

from ._compat import original_names
from .rnn import GRUCell, _as_inputs

__all__ = ["GRUMemoryLayer"]

#: Lasagne's ``Gate()`` default weights, the original GRUMemoryLayer's: normal, std 0.1
_normal_01 = functools.partial(nn.init.normal_, std=0.1)


class GRUMemoryLayer(GRUCell):
    """A GRU memory with the original AgentNet's signature: ``(num_units, observations, prev)``.

    The math, parameters and gate order (r, z, n) are :class:`GRUCell`'s, which are torch's,
    so weights copy to and from ``torch.nn.GRUCell`` unchanged::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        new = (1 - z) * n + z * h

    (The original, Lasagne's GRU, wrote ``new = (1 - u) * h + u * n``: its update gate ``u``
    is ``1 - z``; the two are the same family of functions.)

    Args:
        num_units: H, the size of the state; must equal the previous state's size (it is
            there for the original's signature and as a check).
        observation_layer_or_layers: a layer or a list of layers, float ``[B, ...]``, each
            flattened after the batch axis and all concatenated into ``x: [B, total_inputs]``
            (the original's keyword ``observation_input=`` is accepted too).
        prev_state_layer: the previous state, float ``[B, H]`` (or ``prev_state_input=``).
        grad_clipping: 5.0 by default (the original's): the gradients that flow through the
            inputs, ``W_h* h + b_h*`` and the candidate's pre-activation are clamped to
            ``[-grad_clipping, grad_clipping]`` (values are unchanged). 0 or None for exact
            gradients, usually the better choice with a global ``clip_grad_norm_``.
        weight_init, bias_init: as in :class:`GRUCell`; normal with std 0.1 and zeros by
            default (Lasagne's ``Gate()``, the original's).
        name: the layer's name.

    The original's ``resetgate=``/``updategate=``/``hidden_update=`` Lasagne ``Gate``
    objects are not supported: pass the initialisers and the nonlinearities of
    :class:`GRUCell` instead.

    Parameters: ``weight_ih [3H, total_inputs]``, ``weight_hh [3H, H]``, ``bias_ih [3H]``,
    ``bias_hh [3H]``. Output: the new state, float ``[B, H]``.

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> obs, prev = InputLayer((None, 3), name="obs"), InputLayer((None, 8), name="prev")
    >>> gru = GRUMemoryLayer(8, obs, prev, name="gru")
    >>> gru.output_shape, tuple(gru.weight_hh.shape), gru.grad_clipping
    ((None, 8), (24, 8), 5.0)
    >>> get_output(gru, {obs: torch.ones(2, 3), prev: torch.zeros(2, 8)}).shape
    torch.Size([2, 8])
    """

    @original_names(observation_input="observation_layer_or_layers",
                    prev_state_input="prev_state_layer")
    def __init__(self, num_units: int, observation_layer_or_layers: Layer | Sequence[Layer],
                 prev_state_layer: Layer, grad_clipping: float | None = 5.0,
                 weight_init: object = _normal_01, bias_init: object = nn.init.zeros_,
                 name: str | None = None):
        inputs = _as_inputs(f"GRUMemoryLayer {name!r}", observation_layer_or_layers)
        if not isinstance(prev_state_layer, Layer):
            raise TypeError(f"GRUMemoryLayer {name!r}: prev_state_layer must be an agentnet "
                            f"Layer, got {type(prev_state_layer).__name__}")
        super().__init__(prev_state_layer, inputs, num_units=num_units, weight_init=weight_init,
                         bias_init=bias_init, name=name, grad_clipping=grad_clipping)

    def describe(self) -> str:
        return f"GRUMemoryLayer {self.name!r}" if self.name else "GRUMemoryLayer"
