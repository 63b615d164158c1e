"""The original's attention helpers: ``multihead_attention`` and ``self_attention``.

Both build a small graph of agentnet layers around an attention layer (``attn_class``,
:class:`DotAttentionLayer` by default): per-head dense projections, the heads folded into
the batch axis, the attention, and the heads unfolded again. They keep the original's
arguments (``num_heads``, ``key_size``, ``value_size``, ``attn_class``, and any argument of
``attn_class`` such as ``scale`` or ``use_dense_layer``) and its output layouts.
For attention with torch's parameters and fused kernel, see
:class:`~agentnet.memory.MultiHeadAttentionLayer` and
:class:`~agentnet.memory.SelfAttentionLayer`.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from agentnet.layers.base import Layer, format_shape
from agentnet.layers.dense import DenseLayer
from agentnet.layers.shape import SliceLayer

from .attention import DotAttentionLayer

__all__ = ["multihead_attention", "self_attention"]


# --- reshapes (module-level functions, so that the layers pickle) ----------------------
def _fold_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``[B, (T,) size * heads]`` (unit ``s * heads + h``) to ``[B * heads, (T,) size]``."""
    x = x.reshape(*x.shape[:-1], -1, heads)  # [B, (T,) size, heads]
    x = x.movedim(-1, 1)                      # [B, heads, (T,) size]
    return x.reshape(-1, *x.shape[2:])


def _repeat_rows(x: torch.Tensor, times: int) -> torch.Tensor:
    """``[B, ...]`` to ``[B * times, ...]``, each row repeated ``times`` times in a row."""
    return x.repeat_interleave(times, dim=0)


def _unfold_response(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``[B * heads, V]`` to ``[B, V * heads]`` (unit ``v * heads + h``, the original's)."""
    return x.reshape(-1, heads, x.shape[-1]).transpose(1, 2).reshape(-1, x.shape[-1] * heads)


def _unfold_probs(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``[B * heads, T]`` to ``[B, heads, T]``."""
    return x.reshape(-1, heads, x.shape[-1])


def _each_query(x: torch.Tensor) -> torch.Tensor:
    """``[B, T, size]`` to ``[B * T, size]``: one row per query."""
    return x.reshape(-1, x.shape[-1])


def _for_each_query(x: torch.Tensor) -> torch.Tensor:
    """``[B, T, ...]`` to ``[B * T, T, ...]``: the whole sequence for every query."""
    return x.repeat_interleave(x.shape[1], dim=0)


def _per_tick(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``[B * T, ...]`` back to ``[B, T, ...]``, B and T taken from ``like [B, T, ...]``."""
    return x.reshape(like.shape[0], like.shape[1], *x.shape[1:])


class _Reshaped(Layer):
    """``function(*inputs)`` with a declared output shape: the folds above move sizes
    between the batch axis and others, which inference from placeholder batches cannot do."""

    def __init__(self, incoming: Layer | list[Layer], function: Callable[..., torch.Tensor],
                 shape: tuple[int | None, ...], name: str | None = None):
        super().__init__(incoming, name)
        self.function, self._shape = function, shape

    def _set_output_spec(self) -> None:
        self.output_shape, self.output_dtype = self._shape, self.input_layers[0].output_dtype

    def get_output_for(self, *inputs: torch.Tensor, **flags: Any) -> torch.Tensor:
        return self.function(*inputs)


def _rank(owner: str, what: str, layer: Layer | None, rank: int, expected: str) -> None:
    if layer is not None and (not isinstance(layer, Layer) or layer.has_multiple_outputs
                              or len(layer.output_shape) != rank):
        shape = format_shape(layer.output_shape) if isinstance(layer, Layer) else repr(layer)
        raise ValueError(f"{owner}: {what} has shape {shape}, expected {expected}")


def multihead_attention(input_sequence: Layer, query: Layer, key_sequence: Layer | None = None,
                        mask_input: Layer | None = None, num_heads: int = 1,
                        key_size: int | None = None, value_size: int | None = None,
                        attn_class: Callable[..., Any] = DotAttentionLayer,
                        name: str = "multihead_attn", **kwargs: Any) -> dict[str, Layer]:
    """``num_heads`` attentions in parallel, each on its own projections (Vaswani et al., 2017).

    Every head projects the query to ``key_size``, the keys to ``key_size`` and the values
    to ``value_size`` units (dense layers with biases, no nonlinearity) and runs
    ``attn_class(values_h, query_h, key_sequence=keys_h, mask_input=mask, name=name,
    **kwargs)`` on them; the heads share one such layer, applied to all heads at once.

    Args:
        input_sequence: the values, float ``[B, T, V]``.
        query: float ``[B, Q]``, one tick.
        key_sequence: None to use the values as keys, or float ``[B, T, K]``.
        mask_input: None, or ``[B, T]`` (bool or numeric): the visible positions.
        num_heads: the number of heads.
        key_size: the units of each head's query and keys; K by default.
        value_size: the units of each head's values; V by default.
        attn_class: the attention of one head: :class:`DotAttentionLayer` (default),
            :class:`AttentionLayer` (then pass ``num_units=``) or any callable with their
            arguments whose result has ``["attn"]`` and ``["probs"]``.
        name: the prefix of the layers' names.
        **kwargs: passed to ``attn_class`` (e.g. ``scale=True``, ``use_dense_layer=True``).

    Returns:
        ``{"attn": layer float [B, value_size * num_heads], "probs": layer float
        [B, num_heads, T]}``; the response's unit ``v * num_heads + h`` is head h's v-th.

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> seq, q = InputLayer((None, 7, 12), name="seq"), InputLayer((None, 15), name="q")
    >>> heads = multihead_attention(seq, q, num_heads=3, key_size=8)
    >>> heads["attn"].output_shape, heads["probs"].output_shape
    ((None, 36), (None, 3, 7))
    >>> get_output(heads["probs"], {seq: torch.randn(2, 7, 12), q: torch.randn(2, 15)}).shape
    torch.Size([2, 3, 7])
    """
    owner = f"multihead_attention {name!r}"
    _rank(owner, "input_sequence", input_sequence, 3, "(B, T, V)")
    _rank(owner, "query", query, 2, "(B, Q): one tick")
    _rank(owner, "key_sequence", key_sequence, 3, "(B, T, K) or None")
    _rank(owner, "mask_input", mask_input, 2, "(B, T) or None")
    if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1:
        raise ValueError(f"{owner}: num_heads must be a positive int, got {num_heads!r}")
    keys = input_sequence if key_sequence is None else key_sequence
    key_size = key_size or keys.output_shape[-1]
    value_size = value_size or input_sequence.output_shape[-1]

    def heads_of(layer: Layer, size: int, what: str) -> Layer:
        rank = len(layer.output_shape)
        projected = DenseLayer(layer, size * num_heads, nonlinearity=None,
                               num_leading_axes=rank - 1, name=f"{name}.{what}_projection")
        return _Reshaped(projected, functools.partial(_fold_heads, heads=num_heads),
                         (None, *layer.output_shape[1:-1], size), name=f"{name}.{what}_heads")

    query_heads = heads_of(query, key_size, "query")
    value_heads = heads_of(input_sequence, value_size, "value")
    key_heads = heads_of(keys, key_size, "key")
    mask_heads = None if mask_input is None else _Reshaped(
        mask_input, functools.partial(_repeat_rows, times=num_heads),
        tuple(mask_input.output_shape), name=f"{name}.mask_heads")
    attention = attn_class(value_heads, query_heads, key_sequence=key_heads,
                           mask_input=mask_heads, name=name, **kwargs)
    response, probs = attention["attn"], attention["probs"]
    return {"attn": _Reshaped(response, functools.partial(_unfold_response, heads=num_heads),
                              (None, response.output_shape[-1] * num_heads),
                              name=f"{name}.attn"),
            "probs": _Reshaped(probs, functools.partial(_unfold_probs, heads=num_heads),
                               (None, num_heads, probs.output_shape[-1]),
                               name=f"{name}.probs")}


def self_attention(incoming: Layer, key_size: int | None = None, value_size: int | None = None,
                   mask_input: Layer | None = None, name: str = "attn",
                   attn_class: Callable[..., Any] = DotAttentionLayer,
                   **kwargs: Any) -> Layer:
    """Every position of a sequence attends over the whole sequence::

        queries, keys, values = split(incoming @ W_qkv.T + b_qkv)   # key, key, value units
        response_t = attn_class(values, queries_t, key_sequence=keys)["attn"]

    Args:
        incoming: float ``[B, T, U]``.
        key_size: the units of queries and keys; U by default.
        value_size: the units of values; U by default.
        mask_input: None, or ``[B, T]`` (bool or numeric): the positions that may be seen.
        name: the prefix of the layers' names.
        attn_class: :class:`DotAttentionLayer` (default), :class:`AttentionLayer`,
            :func:`multihead_attention` (then the response has ``value_size * num_heads``
            units) or a callable with their arguments.
        **kwargs: passed to ``attn_class`` (e.g. ``num_heads=``, ``scale=True``).

    Returns:
        a layer float ``[B, T, value_size]`` (times ``num_heads`` for multi-head).

    Every query sees the whole sequence (no causal mask), as in the original; the
    sequence is repeated once per query, so memory grows as ``B * T * T``.

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> seq = InputLayer((None, 5, 8), name="seq")
    >>> mixed = self_attention(seq, key_size=4, value_size=6)
    >>> mixed.output_shape
    (None, 5, 6)
    >>> get_output(mixed, {seq: torch.randn(2, 5, 8)}).shape
    torch.Size([2, 5, 6])
    """
    owner = f"self_attention {name!r}"
    _rank(owner, "incoming", incoming, 3, "(B, T, U)")
    _rank(owner, "mask_input", mask_input, 2, "(B, T) or None")
    key_size = key_size or incoming.output_shape[-1]
    value_size = value_size or incoming.output_shape[-1]
    qkv = DenseLayer(incoming, 2 * key_size + value_size, nonlinearity=None,
                     num_leading_axes=2, name=f"{name}.qkv")
    queries = SliceLayer(qkv, slice(0, key_size), axis=-1, name=f"{name}.queries")
    keys = SliceLayer(qkv, slice(key_size, 2 * key_size), axis=-1, name=f"{name}.keys")
    values = SliceLayer(qkv, slice(2 * key_size, None), axis=-1, name=f"{name}.values")
    length = incoming.output_shape[1]
    each_query = _Reshaped(queries, _each_query, (None, key_size), name=f"{name}.each_query")
    keys_each = _Reshaped(keys, _for_each_query, (None, length, key_size),
                          name=f"{name}.keys_for_each_query")
    values_each = _Reshaped(values, _for_each_query, (None, length, value_size),
                            name=f"{name}.values_for_each_query")
    mask_each = None if mask_input is None else _Reshaped(
        mask_input, _for_each_query, (None, length), name=f"{name}.mask_for_each_query")
    response = attn_class(values_each, each_query, key_sequence=keys_each,
                          mask_input=mask_each, name=name, **kwargs)["attn"]
    return _Reshaped([response, incoming], _per_tick,
                     (incoming.output_shape[0], length, *response.output_shape[1:]),
                     name=f"{name}.response")

