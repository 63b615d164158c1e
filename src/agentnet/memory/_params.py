"""Initialisers, stacked gate weights, gradient clipping: shared by the memory layers (private)."""
from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from agentnet.layers.base import Layer, format_shape
from agentnet.layers.dense import init_param

#: Lasagne's ``init.Normal()``: normal with std 0.01 (the original's GRU/LSTM/gate default)
normal_001 = functools.partial(nn.init.normal_, std=0.01)
#: Lasagne's ``init.Uniform()``: uniform on [-0.01, 0.01] (the original's RNNCell default)
uniform_001 = functools.partial(nn.init.uniform_, a=-0.01, b=0.01)


def per_channel(owner: str, what: str, value: Any, n: int) -> list[Any]:
    """One value for each of ``n`` channels from one value or a list of ``n``."""
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(values) == 1:
        values = values * n
    if len(values) != n:
        raise ValueError(f"{owner}: {what} has {len(values)} entries for {n} channels; give "
                         f"one, or one per channel")
    return values


def stacked_weight(layer: Layer, spec: Any, rows: Sequence[int], cols: Sequence[int],
                   what: str) -> nn.Parameter:
    """A ``[sum(rows), sum(cols)]`` weight (torch's layout) built block by block.

    ``spec`` is one initialiser (see :func:`~agentnet.layers.dense.init_param`), a value of
    the whole shape, a list with one entry per row block (a gate), or a list of such lists
    with one entry per column block (an input): the original's ``GateLayer`` convention.
    """
    owner = layer.describe()
    full = (sum(rows), sum(cols))
    if isinstance(spec, (torch.Tensor, np.ndarray)) and tuple(spec.shape) == full:
        value = init_param(layer, spec, full, what)
        assert value is not None  # a tensor spec always gives a value
        return value
    blocks = []
    for g, (units, gate_spec) in enumerate(zip(rows, per_channel(owner, what, spec, len(rows)))):
        pieces = []
        for c, (width, block_spec) in enumerate(
                zip(cols, per_channel(owner, f"{what}[{g}]", gate_spec, len(cols)))):
            value = init_param(layer, block_spec, (units, width), f"{what}[{g}][{c}]")
            if value is None:
                raise ValueError(f"{owner}: {what}[{g}][{c}] is None; every weight needs a value")
            pieces.append(value.detach())
        blocks.append(torch.cat(pieces, dim=1))
    return nn.Parameter(torch.cat(blocks, dim=0))


def stacked_bias(layer: Layer, spec: Any, rows: Sequence[int], what: str
                 ) -> nn.Parameter | None:
    """A ``[sum(rows)]`` bias from one spec, one per row block, or a whole value; None: none."""
    if spec is None:
        return None
    full = (sum(rows),)
    if isinstance(spec, (torch.Tensor, np.ndarray)) and tuple(spec.shape) == full:
        return init_param(layer, spec, full, what)
    pieces = []
    for g, (units, gate_spec) in enumerate(
            zip(rows, per_channel(layer.describe(), what, spec, len(rows)))):
        value = init_param(layer, gate_spec, (units,), f"{what}[{g}]")
        pieces.append(torch.zeros(units) if value is None else value.detach())
    return nn.Parameter(torch.cat(pieces))


class _ClipGradient(torch.autograd.Function):
    """Identity forward; the gradient clamped to ``[-bound, bound]`` backward (Theano's
    ``grad_clip``, which Lasagne's recurrent layers apply)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, bound: float) -> torch.Tensor:
        ctx.bound = bound
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad.clamp(-ctx.bound, ctx.bound), None


def clip_grad(x: torch.Tensor, bound: float) -> torch.Tensor:
    """``x`` unchanged, with the gradient flowing back through it clamped to ``[-bound, bound]``;
    ``bound`` 0 for no clipping."""
    return _ClipGradient.apply(x, bound) if bound else x


def check_grad_clipping(owner: str, grad_clipping: float | None) -> float:
    """The bound as a float, 0.0 for none (the original's 0 or None)."""
    if grad_clipping is None or grad_clipping is False:
        return 0.0
    if isinstance(grad_clipping, bool) or not isinstance(grad_clipping, (int, float)) or (
            grad_clipping < 0):
        raise ValueError(f"{owner}: grad_clipping must be a non-negative number (0 or None for "
                         f"no clipping), got {grad_clipping!r}")
    return float(grad_clipping)


def check_dropout(owner: str, dropout: float) -> float:
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not (
            0 <= dropout < 1):
        raise ValueError(f"{owner}: dropout must be a number in [0, 1), got {dropout!r}")
    return float(dropout)


def check_num_units(owner: str, num_units: int | None, state: Layer, size: int) -> None:
    """The original's ``num_units``: None, or the previous state's size."""
    if num_units is not None and (isinstance(num_units, bool) or num_units != size):
        raise ValueError(f"{owner}: num_units={num_units!r} but the previous state "
                         f"{state.describe()} has shape {format_shape(state.output_shape)}; "
                         f"the state's size is the number of units (or pass num_units=None)")


def dropout(x: torch.Tensor, p: float, deterministic: bool) -> torch.Tensor:
    """Inverted dropout (Lasagne's ``DropoutLayer(p, rescale=True)``); identity if deterministic."""
    if deterministic or not p:
        return x
    return x * (torch.rand_like(x) >= p).to(x.dtype) / (1 - p)
