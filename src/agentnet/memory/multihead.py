"""Multi-head attention as layers, on ``scaled_dot_product_attention``, with torch's parameters.

:class:`MultiHeadAttentionLayer` attends from a query (one tick ``[B, E]`` or a sequence
``[B, Tq, E]``) over a sequence; :class:`SelfAttentionLayer` attends from a sequence over
itself. Their parameters have ``torch.nn.MultiheadAttention``'s names and layouts
(``in_proj_weight``/``in_proj_bias`` or ``q_proj_weight``/``k_proj_weight``/
``v_proj_weight``, and ``out_proj.weight``/``out_proj.bias``): ``layer.load_state_dict(
mha.state_dict())`` copies a torch module's weights, and the outputs agree with
``mha(query, key, value, need_weights=False)`` built with ``batch_first=True``.

Masks here say what is *visible* (True or nonzero), the convention of the other attention
layers and of ``scaled_dot_product_attention``; torch's ``key_padding_mask`` is the opposite.
A query that sees no position gets a zero attention output (torch's module gives NaN).
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from agentnet.layers.base import Layer, format_shape

from ._shapes import expect_rank, first_known, fits, sequence_shapes, single_output

__all__ = ["MultiHeadAttentionLayer", "SelfAttentionLayer"]


class MultiHeadAttentionLayer(Layer):
    """Multi-head scaled dot-product attention (Vaswani et al., 2017), torch's math::

        q, k, v = query @ W_q.T + b_q, keys @ W_k.T + b_k, values @ W_v.T + b_v
        head_h  = softmax(q_h @ k_h.T / sqrt(E / num_heads) + mask) @ v_h
        output  = concat(heads) @ out_proj.weight.T + out_proj.bias

    Args:
        input_sequence: the values (and keys, unless ``key_sequence`` is given), float
            ``[B, T, V]``.
        query: float ``[B, E]`` (one tick: e.g. the agent's state attending over a window of
            observations) or ``[B, Tq, E]``; E is the embedding size and must divide into
            ``num_heads`` heads.
        num_heads: the number of heads.
        mask_input: None, or ``[B, T]`` bool (or numeric): the visible positions.
        key_sequence: None, or float ``[B, T, K]``.
        causal: for a query sequence, position i sees positions ``j <= i`` only.
        bias: learn the input and output projection biases (True, as torch's default).
        dropout: attention dropout probability while training; no dropout when evaluated
            with ``deterministic=True``.
        name: the layer's name.

    Parameters (torch's): ``in_proj_weight [3E, E]`` when ``K == V == E``, else
    ``q_proj_weight [E, E]``, ``k_proj_weight [E, K]``, ``v_proj_weight [E, V]``;
    ``in_proj_bias [3E]``; ``out_proj`` an ``nn.Linear(E, E)``. Initialized as torch does.

    Output: float ``[B, E]`` for a one-tick query, ``[B, Tq, E]`` for a query sequence (no
    attention weights: the fused kernel does not form them; see :class:`DotAttentionLayer`).

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> window = InputLayer((None, 4, 8), name="window")
    >>> state = InputLayer((None, 8), name="state")
    >>> read = MultiHeadAttentionLayer(window, state, num_heads=2, name="read")
    >>> read.output_shape, tuple(read.in_proj_weight.shape)
    ((None, 8), (24, 8))
    >>> mha = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    >>> read.load_state_dict(mha.state_dict())
    <All keys matched successfully>
    >>> w, s = torch.randn(3, 4, 8), torch.randn(3, 8)
    >>> expected = mha(s[:, None], w, w, need_weights=False)[0][:, 0]
    >>> torch.allclose(get_output(read, {window: w, state: s}), expected, atol=1e-6)
    True
    """

    accepted_flags: ClassVar[frozenset[str]] = frozenset({"deterministic"})
    # torch's parameters: in_proj_weight when packed, else q/k/v_proj_weight (others None)
    in_proj_weight: nn.Parameter
    q_proj_weight: nn.Parameter
    k_proj_weight: nn.Parameter
    v_proj_weight: nn.Parameter
    in_proj_bias: nn.Parameter | None

    def __init__(self, input_sequence: Layer, query: Layer, num_heads: int,
                 mask_input: Layer | None = None, key_sequence: Layer | None = None,
                 causal: bool = False, bias: bool = True, dropout: float = 0.0,
                 name: str | None = None):
        incomings = [input_sequence, *([key_sequence] if key_sequence is not None else []),
                     query, *([mask_input] if mask_input is not None else [])]
        super().__init__(incomings, name)
        owner = self.describe()
        values, keys = sequence_shapes(owner, input_sequence, key_sequence)
        q = single_output(owner, "query", query)
        if len(q) not in (2, 3) or q[-1] is None:
            raise ValueError(f"{owner}: query {query.describe()} has shape {format_shape(q)}, "
                             f"expected (B, E) or (B, Tq, E) with E known")
        self._init_attention(values, keys, q, mask_input, num_heads, causal, bias, dropout,
                             has_keys=key_sequence is not None)
        _check_float(owner, input_sequence=input_sequence, key_sequence=key_sequence,
                     query=query)

    def _init_attention(self, values: tuple[int | None, ...], keys: tuple[int | None, ...],
                        query: tuple[int | None, ...], mask_input: Layer | None,
                        num_heads: int, causal: bool, bias: bool, dropout: float,
                        has_keys: bool) -> None:
        owner = self.describe()
        embed_dim = int(query[-1])  # type: ignore[arg-type]
        if isinstance(num_heads, bool) or int(num_heads) != num_heads or num_heads < 1 or (
                embed_dim % num_heads):
            raise ValueError(f"{owner}: num_heads={num_heads!r} must be a positive int that "
                             f"divides the query's width {embed_dim}")
        mask: tuple[int | None, ...] = (None, None)
        if mask_input is not None:
            mask = expect_rank(owner, "mask_input", mask_input, 2, "(B, T)", known_from=2)
            if not fits(mask, values[:2]):
                raise ValueError(f"{owner}: mask_input {mask_input.describe()} has shape "
                                 f"{format_shape(mask)}, expected {format_shape(values[:2])}")
        if causal and len(query) != 3:
            raise ValueError(f"{owner}: causal=True needs a query sequence (B, Tq, E), got "
                             f"{format_shape(query)}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{owner}: dropout must be in [0, 1), got {dropout}")
        self.embed_dim, self.num_heads = embed_dim, int(num_heads)
        self.kdim, self.vdim = int(keys[2]), int(values[2])  # type: ignore[arg-type]
        self.causal, self.dropout = bool(causal), float(dropout)
        self.has_keys, self.has_mask = has_keys, mask_input is not None
        self.one_tick = len(query) == 2
        e = embed_dim
        self.packed = self.kdim == e and self.vdim == e
        # torch's names and layouts; the absent ones are None, as in torch
        for param_name, shape in [("in_proj_weight", (3 * e, e)), ("q_proj_weight", (e, e)),
                                  ("k_proj_weight", (e, self.kdim)),
                                  ("v_proj_weight", (e, self.vdim))]:
            wanted = self.packed == (param_name == "in_proj_weight")
            self.register_parameter(param_name, nn.Parameter(
                nn.init.xavier_uniform_(torch.empty(shape))) if wanted else None)
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * e)) if bias else None
        self.out_proj = nn.Linear(e, e, bias=bias)
        if bias:
            nn.init.zeros_(self.out_proj.bias)
        batch = first_known(query[0], keys[0], values[0], mask[0])
        self._spec = (batch, e) if self.one_tick else (batch, query[1], e)

    def _set_output_spec(self) -> None:
        # known from the checks above; the generic inference on meta tensors would give an
        # unknown T of the mask the query's width (see agentnet.layers.base)
        self.output_shape, self.output_dtype = self._spec, self.out_proj.weight.dtype

    def _unpack(self, inputs: tuple[torch.Tensor, ...]) -> tuple[Any, ...]:
        values, rest = inputs[0], list(inputs[1:])
        keys = rest.pop(0) if self.has_keys else values
        query = rest.pop(0)
        return query, keys, values, (rest[0] if self.has_mask else None)

    def get_output_for(self, *inputs: torch.Tensor, deterministic: bool = False,
                       **flags: Any) -> torch.Tensor:
        query, keys, values, mask = self._unpack(inputs)
        return self._attention(query, keys, values, mask, deterministic)

    def _attention(self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                   mask: torch.Tensor | None, deterministic: bool) -> torch.Tensor:
        e, heads = self.embed_dim, self.num_heads
        b_q = b_k = b_v = None
        if self.in_proj_bias is not None:
            b_q, b_k, b_v = self.in_proj_bias.chunk(3)
        if self.packed:
            w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        else:
            w_q, w_k, w_v = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        if self.one_tick:
            query = query.unsqueeze(1)
        batch, t_q, t_k = query.shape[0], query.shape[1], keys.shape[1]

        def heads_of(x: torch.Tensor) -> torch.Tensor:  # [B, T, E] -> [B, heads, T, E/heads]
            return x.reshape(batch, x.shape[1], heads, e // heads).transpose(1, 2)

        q = heads_of(F.linear(query, w_q, b_q))
        k = heads_of(F.linear(keys, w_k, b_k))
        v = heads_of(F.linear(values, w_v, b_v))
        visible = None  # [B, 1, Tq or 1, Tk] bool
        if mask is not None:
            visible = (mask if mask.dtype == torch.bool else mask != 0)[:, None, None, :]
        if self.causal:
            tril = torch.ones(t_q, t_k, dtype=torch.bool, device=q.device).tril()
            visible = tril if visible is None else visible & tril
        sees_something = None
        if visible is not None:  # a query that sees nothing attends everywhere, then is zeroed
            sees_something = visible.any(dim=-1, keepdim=True)
            visible = visible | ~sees_something
        dropout = 0.0 if deterministic or query.device.type == "meta" else self.dropout
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=visible, dropout_p=dropout)
        if sees_something is not None:
            out = out.masked_fill(~sees_something, 0.0)
        out = self.out_proj(out.transpose(1, 2).reshape(batch, t_q, e))
        return out.squeeze(1) if self.one_tick else out


class SelfAttentionLayer(MultiHeadAttentionLayer):
    """Multi-head self-attention: every position of a sequence attends over the sequence.

    ``MultiHeadAttentionLayer(sequence, sequence, num_heads, ...)`` with one incoming layer:
    torch's ``mha(x, x, x, key_padding_mask=~mask, is_causal=causal)``, same parameters.

    Args:
        sequence: float ``[B, T, E]``, E divisible by ``num_heads``.
        num_heads: the number of heads.
        mask_input: None, or ``[B, T]`` bool (or numeric): the visible positions.
        causal: position i sees positions ``j <= i`` only.
        bias, dropout, name: as in :class:`MultiHeadAttentionLayer`.

    Parameters: ``in_proj_weight [3E, E]``, ``in_proj_bias [3E]``, ``out_proj`` (torch's).
    Output: float ``[B, T, E]``.

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> frames = InputLayer((None, 4, 6), name="frames")
    >>> mixed = SelfAttentionLayer(frames, num_heads=3, causal=True, name="mixed")
    >>> mixed.output_shape
    (None, 4, 6)
    >>> get_output(mixed, {frames: torch.randn(2, 4, 6)}).shape
    torch.Size([2, 4, 6])
    """

    def __init__(self, sequence: Layer, num_heads: int, mask_input: Layer | None = None,
                 causal: bool = False, bias: bool = True, dropout: float = 0.0,
                 name: str | None = None):
        Layer.__init__(self, [sequence, *([mask_input] if mask_input is not None else [])],
                       name)
        shape = expect_rank(self.describe(), "sequence", sequence, 3,
                            "(B, T, features) with features known", known_from=2)
        _check_float(self.describe(), sequence=sequence)
        self._init_attention(shape, shape, shape, mask_input, num_heads, causal, bias,
                             dropout, has_keys=False)

    def get_output_for(self, *inputs: torch.Tensor, deterministic: bool = False,
                       **flags: Any) -> torch.Tensor:
        mask = inputs[1] if self.has_mask else None
        return self._attention(inputs[0], inputs[0], inputs[0], mask, deterministic)


def _check_float(owner: str, **layers: Layer | None) -> None:
    for what, layer in layers.items():
        if layer is not None and not layer.output_dtype.is_floating_point:
            raise TypeError(f"{owner}: {what} {layer.describe()} must be float, got "
                            f"{layer.output_dtype}")
