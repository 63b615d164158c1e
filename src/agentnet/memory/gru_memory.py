"""GRUMemoryLayer: the original AgentNet's GRU memory, with its argument order."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from agentnet.layers.base import Layer, format_shape

from .rnn import GRUCell, _as_inputs, _concat

__all__ = ["GRUMemoryLayer"]


class _ClipGradient(torch.autograd.Function):
    """Identity forward; the gradient clipped to ``[-bound, bound]`` backward (Theano's
    ``grad_clip``)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, bound: float) -> torch.Tensor:
        ctx.bound = bound
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad.clamp(-ctx.bound, ctx.bound), None


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
            flattened after the batch axis and all concatenated into ``x: [B, total_inputs]``.
        prev_state_layer: the previous state, float ``[B, H]``.
        grad_clipping: None (default) for exact gradients; a number clips the gradients that
            flow through the inputs, ``W_h* h`` and the candidate's pre-activation to
            ``[-grad_clipping, grad_clipping]``, as the original's ``grad_clipping=5`` did
            (values are unchanged).
        name: the layer's name.

    Parameters: ``weight_ih [3H, total_inputs]``, ``weight_hh [3H, H]``, ``bias_ih [3H]``,
    ``bias_hh [3H]``. Output: the new state, float ``[B, H]``.

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> obs, prev = InputLayer((None, 3), name="obs"), InputLayer((None, 8), name="prev")
    >>> gru = GRUMemoryLayer(8, obs, prev, name="gru")
    >>> gru.output_shape, tuple(gru.weight_hh.shape)
    ((None, 8), (24, 8))
    >>> get_output(gru, {obs: torch.ones(2, 3), prev: torch.zeros(2, 8)}).shape
    torch.Size([2, 8])
    """

    def __init__(self, num_units: int, observation_layer_or_layers: Layer | Sequence[Layer],
                 prev_state_layer: Layer, grad_clipping: float | None = None,
                 name: str | None = None):
        inputs = _as_inputs(f"GRUMemoryLayer {name!r}", observation_layer_or_layers)
        if not isinstance(prev_state_layer, Layer):
            raise TypeError(f"GRUMemoryLayer {name!r}: prev_state_layer must be an agentnet "
                            f"Layer, got {type(prev_state_layer).__name__}")
        super().__init__(prev_state_layer, inputs, name=name)
        if int(num_units) != self.hidden_size:
            raise ValueError(f"{self.describe()}: num_units={num_units} but the previous state "
                             f"{prev_state_layer.describe()} has shape "
                             f"{format_shape(prev_state_layer.output_shape)}")
        if grad_clipping is not None and not grad_clipping > 0:
            raise ValueError(f"{self.describe()}: grad_clipping must be positive or None, "
                             f"got {grad_clipping}")
        self.num_units = self.hidden_size
        self.grad_clipping = grad_clipping

    def get_output_for(self, h: torch.Tensor, *inputs: torch.Tensor,
                       **flags: Any) -> torch.Tensor:
        bound = self.grad_clipping
        if bound is None:
            return super().get_output_for(h, *inputs, **flags)
        clip = _ClipGradient.apply
        gh = clip(F.linear(h, self.weight_hh, self.bias_hh), bound)
        if inputs:
            gi = F.linear(clip(_concat(inputs), bound), self.weight_ih,  # type: ignore[arg-type]
                          self.bias_ih)
        else:
            gi = self.bias_ih.expand_as(gh)
        i_r, i_z, i_n = gi.chunk(3, dim=1)
        h_r, h_z, h_n = gh.chunk(3, dim=1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(clip(i_n + r * h_n, bound))
        return (1 - z) * n + z * h
