"""Attention over a sequence from a one-tick query: additive (Bahdanau) and dot-product.

Both layers have two outputs, picked by the original's keys ``layer["attn"]`` and
``layer["probs"]``, by index ``layer[0]`` and ``layer[1]``, or unpacked
(``response, weights = layer``):

- ``layer["attn"]`` (``layer[0]``), the response: float ``[B, V]``, the weighted mean of the
  values;
- ``layer["probs"]`` (``layer[1]``), the attention weights: float ``[B, T]``, summing to one
  over the positions a mask leaves visible, exactly zero on masked positions (a row with no
  visible position gets all-zero weights and a zero response).

Each is a layer usable anywhere in a graph (e.g. ``GRUCell(prev, attention["attn"])``).
Evaluated with the flag ``hard_attention=True`` the weights are one-hot at the best visible
position (argmax of the logits), as in the original.

A sequence that is not ``[B, T, features]`` (a conv map ``[B, C, H, W]``, say) is brought
there first with ``ReshapeLayer``/``LambdaLayer``: ``[B, H*W, C]``.
"""
from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agentnet.layers.base import ItemLayer, Layer, format_shape
from agentnet.layers.dense import ParamSpec, init_param

from ._shapes import expect_rank, first_known, fits, sequence_shapes

__all__ = ["AttentionLayer", "DotAttentionLayer"]


def softmax(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis: the default ``probs_nonlinearity``."""
    return torch.softmax(logits, dim=-1)


def _attend(logits: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None,
           probs_nonlinearity: Callable[[torch.Tensor], torch.Tensor] = softmax,
           hard: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(response [B, V], weights [B, T])`` from ``logits [B, T]`` and ``values [B, T, V]``.

    Masked positions (``mask`` false or zero) get logit ``-inf`` and weight exactly zero. A row
    with no visible position is computed as if all were visible, then zeroed, so that no NaN
    appears, forward or backward.
    """
    visible = None
    if mask is not None:
        visible = mask if mask.dtype == torch.bool else mask != 0
        any_visible = visible.any(dim=1, keepdim=True)
        logits = logits.masked_fill(~(visible | ~any_visible), float("-inf"))
    if hard:
        weights = F.one_hot(logits.argmax(dim=1), logits.shape[1]).to(values.dtype)
    else:
        weights = probs_nonlinearity(logits)
    if visible is not None:
        weights = weights.masked_fill(~visible, 0.0)
    response = torch.bmm(weights.unsqueeze(1).to(values.dtype), values).squeeze(1)
    return response, weights


class _Attention(Layer):
    """What both layers share: incomings ``[values, keys?, query, mask?]`` and their checks."""

    accepted_flags: ClassVar[frozenset[str]] = frozenset({"hard_attention"})
    #: the original's dict keys, in output order
    output_keys: ClassVar[tuple[str, str]] = ("attn", "probs")

    def __getitem__(self, key: int | str) -> ItemLayer:
        """``layer["attn"]`` (or ``layer[0]``), the response; ``layer["probs"]`` (or
        ``layer[1]``), the weights: each a layer of its own."""
        if isinstance(key, str):
            if key not in self.output_keys:
                raise KeyError(f"{self.describe()} has the outputs 'attn' (the response) and "
                               f"'probs' (the weights), not {key!r}")
            key = self.output_keys.index(key)
        return ItemLayer(self, key)

    def keys(self) -> tuple[str, str]:
        """``("attn", "probs")``, as the original's dict layer."""
        return self.output_keys

    def values(self) -> list[ItemLayer]:
        """``[layer["attn"], layer["probs"]]``."""
        return [self[key] for key in self.output_keys]

    def _setup(self, input_sequence: Layer, query: Layer, mask_input: Layer | None,
               key_sequence: Layer | None,
               probs_nonlinearity: Callable[[torch.Tensor], torch.Tensor]) -> None:
        owner = self.describe()
        values, keys = sequence_shapes(owner, input_sequence, key_sequence)
        q = expect_rank(owner, "query", query, 2, "(B, features) with features known")
        if mask_input is not None:
            mask = expect_rank(owner, "mask_input", mask_input, 2, "(B, T)", known_from=2)
            if not fits(mask, values[:2]):
                raise ValueError(f"{owner}: mask_input {mask_input.describe()} has shape "
                                 f"{format_shape(mask)}, expected {format_shape(values[:2])} "
                                 f"to match input_sequence {input_sequence.describe()}")
        for what, layer in [("input_sequence", input_sequence), ("key_sequence", key_sequence),
                            ("query", query)]:
            if layer is not None and not layer.output_dtype.is_floating_point:
                raise TypeError(f"{owner}: {what} {layer.describe()} must be float, got "
                                f"{layer.output_dtype}")
        self.has_keys = key_sequence is not None
        self.has_mask = mask_input is not None
        self.value_units, self.key_units = int(values[2]), int(keys[2])  # type: ignore[arg-type]
        self.query_units = int(q[1])  # type: ignore[arg-type]
        self.probs_nonlinearity = probs_nonlinearity
        mask = mask_input.output_shape if mask_input is not None else (None, None)
        batch = first_known(values[0], keys[0], q[0], mask[0])
        length = first_known(values[1], keys[1], mask[1])
        self._spec = (((batch, self.value_units), (batch, length)),
                      (input_sequence.output_dtype, input_sequence.output_dtype))

    def _set_output_spec(self) -> None:
        # the shapes are known from the checks above; the generic inference on meta tensors
        # would give an unknown T of the mask the query's width (see agentnet.layers.base)
        self.output_shape, self.output_dtype = self._spec

    def _unpack(self, inputs: tuple[torch.Tensor, ...]) -> tuple[Any, ...]:
        """``(values, keys, query, mask or None)`` from the incoming values."""
        values, rest = inputs[0], list(inputs[1:])
        keys = rest.pop(0) if self.has_keys else values
        query = rest.pop(0)
        return values, keys, query, (rest[0] if self.has_mask else None)


def _weight(layer: Layer, spec: ParamSpec, shape: tuple[int, ...], what: str) -> nn.Parameter:
    """A parameter that must exist (a bias may be None, a weight may not)."""
    value = init_param(layer, spec, shape, what)
    if value is None:
        raise ValueError(f"{layer.describe()}: {what} cannot be None")
    return value


def _incomings(input_sequence: Layer, query: Layer, mask_input: Layer | None,
               key_sequence: Layer | None) -> list[Layer]:
    return [input_sequence, *([key_sequence] if key_sequence is not None else []), query,
            *([mask_input] if mask_input is not None else [])]


class AttentionLayer(_Attention):
    """Additive (Bahdanau) attention from a one-tick query over a sequence::

        hid_t     = nonlinearity(key_t @ weight_enc.T + query @ weight_dec.T + bias)  # [U]
        logit_t   = hid_t @ weight_out.T                                              # scalar
        weights   = probs_nonlinearity(logits)        # softmax over t, masked: see module
        response  = sum_t weights_t * value_t

    Args:
        input_sequence: the values, float ``[B, T, V]`` (e.g. an encoder's states).
        query: float ``[B, Q]``, usually the decoder's or the agent's state this tick.
        num_units: U, the width of the hidden layer.
        mask_input: None, or ``[B, T]`` bool (or numeric, nonzero = visible): the positions
            that may be attended.
        key_sequence: None to use the values as keys, or float ``[B, T, K]``.
        nonlinearity: of the hidden layer, ``torch.tanh`` by default.
        probs_nonlinearity: logits ``[B, T]`` to weights, softmax over the last axis by
            default; it must map a ``-inf`` logit to a zero weight.
        W_enc, W_dec, W_out: initial ``weight_enc [U, K]``, ``weight_dec [U, Q]`` and
            ``weight_out [1, U]`` (torch's layout; see
            :func:`~agentnet.layers.dense.init_param`), Glorot uniform by default.
        b: the hidden bias ``[U]``, None by default (the original had none).
        name: the layer's name.

    Outputs: ``layer["attn"]`` (``layer[0]``) the response float ``[B, V]``;
    ``layer["probs"]`` (``layer[1]``) the weights float ``[B, T]``.

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> seq, q = InputLayer((None, 5, 4), name="seq"), InputLayer((None, 3), name="q")
    >>> attention = AttentionLayer(seq, q, num_units=8, name="attention")
    >>> response, weights = attention["attn"], attention["probs"]
    >>> response.output_shape, weights.output_shape
    ((None, 4), (None, 5))
    >>> r, w = get_output([response, weights], {seq: torch.randn(2, 5, 4), q: torch.randn(2, 3)})
    >>> torch.allclose(w.sum(1), torch.ones(2))
    True
    """

    weight_enc: nn.Parameter
    weight_dec: nn.Parameter
    weight_out: nn.Parameter

    def __init__(self, input_sequence: Layer, query: Layer, num_units: int,
                 mask_input: Layer | None = None, key_sequence: Layer | None = None,
                 nonlinearity: Callable[[torch.Tensor], torch.Tensor] = torch.tanh,
                 probs_nonlinearity: Callable[[torch.Tensor], torch.Tensor] = softmax,
                 W_enc: ParamSpec = nn.init.xavier_uniform_,
                 W_dec: ParamSpec = nn.init.xavier_uniform_,
                 W_out: ParamSpec = nn.init.xavier_uniform_, b: ParamSpec = None,
                 name: str | None = None):
        super().__init__(_incomings(input_sequence, query, mask_input, key_sequence), name)
        self._setup(input_sequence, query, mask_input, key_sequence, probs_nonlinearity)
        if isinstance(num_units, bool) or int(num_units) != num_units or num_units < 1:
            raise ValueError(f"{self.describe()}: num_units must be a positive int, "
                             f"got {num_units!r}")
        self.num_units = int(num_units)
        self.nonlinearity = nonlinearity
        self.weight_enc = _weight(self, W_enc, (self.num_units, self.key_units), "W_enc")
        self.weight_dec = _weight(self, W_dec, (self.num_units, self.query_units), "W_dec")
        self.weight_out = _weight(self, W_out, (1, self.num_units), "W_out")
        self.bias = init_param(self, b, (self.num_units,), "b")

    def get_output_for(self, *inputs: torch.Tensor, hard_attention: bool = False,
                       **flags: Any) -> tuple[torch.Tensor, torch.Tensor]:
        values, keys, query, mask = self._unpack(inputs)
        hid = self.nonlinearity(F.linear(keys, self.weight_enc)
                                + F.linear(query, self.weight_dec, self.bias).unsqueeze(1))
        logits = F.linear(hid, self.weight_out).squeeze(-1)
        return _attend(logits, values, mask, self.probs_nonlinearity, hard_attention)


class DotAttentionLayer(_Attention):
    """Dot-product (multiplicative) attention from a one-tick query over a sequence::

        logit_t  = scale * (key_t . query)      # query projected first if use_dense_layer
        weights  = probs_nonlinearity(logits)   # softmax over t, masked: see module
        response = sum_t weights_t * value_t

    Args:
        input_sequence: the values, float ``[B, T, V]``.
        query: float ``[B, Q]``; used as is when Q is the keys' width K, else projected.
        key_sequence: None to use the values as keys, or float ``[B, T, K]``.
        mask_input: None, or ``[B, T]`` bool (or numeric, nonzero = visible).
        scale: the original's bool: False (default, the original's) for the plain dot
            product, True for ``1 / sqrt(K)`` (Vaswani et al., 2017; keeps the logits'
            variance at one, usually the better setting); or a positive number, the factor.
        use_dense_layer: project the query to K features first with its own ``weight_query
            [K, Q]`` and ``bias_query [K]``. When Q differs from K the query is projected
            anyway, with a warning, as in the original (pass True to silence it).
        probs_nonlinearity: logits ``[B, T]`` to weights, softmax by default; it must map a
            ``-inf`` logit to a zero weight.
        W, b: initial ``weight_query`` (Glorot uniform) and ``bias_query`` (zeros; None for
            none), used with ``use_dense_layer`` only.
        name: the layer's name.

    Outputs: ``layer["attn"]`` (``layer[0]``) the response float ``[B, V]``;
    ``layer["probs"]`` (``layer[1]``) the weights float ``[B, T]``.

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> seq, q = InputLayer((None, 3, 2), name="seq"), InputLayer((None, 2), name="q")
    >>> mask = InputLayer((None, 3), dtype=torch.bool, name="mask")
    >>> attention = DotAttentionLayer(seq, q, mask_input=mask)
    >>> values = torch.tensor([[[1., 0.], [0., 1.], [5., 5.]]])
    >>> r, w = get_output([attention["attn"], attention["probs"]], {
    ...     seq: values, q: torch.tensor([[1., 0.]]), mask: torch.tensor([[True, True, False]])})
    >>> w  # softmax of logits (1, 0); the third position is masked
    tensor([[0.7311, 0.2689, 0.0000]])
    """

    weight_query: nn.Parameter

    def __init__(self, input_sequence: Layer, query: Layer, key_sequence: Layer | None = None,
                 mask_input: Layer | None = None, scale: bool | float = False,
                 use_dense_layer: bool = False,
                 probs_nonlinearity: Callable[[torch.Tensor], torch.Tensor] = softmax,
                 W: ParamSpec = nn.init.xavier_uniform_, b: ParamSpec = nn.init.zeros_,
                 name: str | None = None):
        super().__init__(_incomings(input_sequence, query, mask_input, key_sequence), name)
        self._setup(input_sequence, query, mask_input, key_sequence, probs_nonlinearity)
        if self.query_units != self.key_units and not use_dense_layer:
            keys = key_sequence if key_sequence is not None else input_sequence
            warnings.warn(f"{self.describe()}: query {query.describe()} "
                          f"{format_shape(query.output_shape)} and keys {keys.describe()} "
                          f"{format_shape(keys.output_shape)} have different widths; the query "
                          f"is projected by a dense layer (pass use_dense_layer=True to say "
                          f"so and silence this warning)", stacklevel=3)
            use_dense_layer = True
        self.use_dense_layer = bool(use_dense_layer)
        self.scale = _scale_factor(self.describe(), scale, self.key_units)
        if use_dense_layer:
            self.weight_query = _weight(self, W, (self.key_units, self.query_units), "W")
            self.bias_query = init_param(self, b, (self.key_units,), "b")

    def get_output_for(self, *inputs: torch.Tensor, hard_attention: bool = False,
                       **flags: Any) -> tuple[torch.Tensor, torch.Tensor]:
        values, keys, query, mask = self._unpack(inputs)
        if self.use_dense_layer:
            query = F.linear(query, self.weight_query, self.bias_query)
        logits = torch.bmm(keys, query.unsqueeze(2)).squeeze(2)
        if self.scale != 1.0:
            logits = logits * self.scale
        return _attend(logits, values, mask, self.probs_nonlinearity, hard_attention)


def _scale_factor(owner: str, scale: Any, key_units: int) -> float:
    """The logits' factor from the original's bool or a positive number."""
    if isinstance(scale, (bool, np.bool_)):
        return float(key_units ** -0.5) if scale else 1.0
    if isinstance(scale, numbers.Real) and math.isfinite(float(scale)) and float(scale) > 0:
        return float(scale)
    raise ValueError(f"{owner}: scale must be True (1/sqrt(K) = {key_units ** -0.5:.4g}), False "
                     f"(no scaling, the original's default) or a positive number, got {scale!r}")


# the original's path: ``from agentnet.memory.attention import multihead_attention``
from .heads import multihead_attention, self_attention  # noqa: E402, F401
