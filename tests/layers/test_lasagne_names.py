"""Lasagne's names in agentnet.layers (DimshuffleLayer, ExpressionLayer, the lowercase
builders, get_output_shape, .W/.b/.input_layer, EmbeddingLayer over a float input) and the
original AgentNet's agentnet.utils.layers helpers."""
from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from agentnet import layers as L
from agentnet.utils import layers as UL


def test_dimshuffle():
    x = L.InputLayer((None, 4, 5, 3))
    shuffled = L.DimshuffleLayer(x, (0, 3, 1, 2))
    value = torch.randn(2, 4, 5, 3)
    assert_close(L.get_output(shuffled, {x: value}), value.permute(0, 3, 1, 2))
    squeezed = L.dimshuffle(L.InputLayer((None, 1, 5)), (0, "x", 2, "x"))
    assert squeezed.output_shape == (None, 1, 5, 1)
    with pytest.raises(ValueError, match=r"drops axes \[1\]"):
        L.DimshuffleLayer(x, (0, 2, 3))


def test_expression_layer():
    x = L.InputLayer((None, 3, 5))
    out = L.ExpressionLayer(x, lambda a: a.amax(dim=1), output_shape=(None, 5))
    value = torch.randn(2, 3, 5)
    assert_close(L.get_output(out, {x: value}), value.amax(dim=1))
    assert L.ExpressionLayer(x, lambda a: a * 2).output_shape == (None, 3, 5)
    assert L.ExpressionLayer(x, lambda a: a[:, 0], output_shape=lambda s: (s[0], s[2])
                             ).output_shape == (None, 5)
    with pytest.raises(ValueError, match=r"output_shape=\(None, 4\) but the function gives"):
        L.ExpressionLayer(x, lambda a: a.amax(dim=1), output_shape=(None, 4))


def test_lowercase_builders():
    x = L.InputLayer((None, 2, 3))
    assert L.reshape(x, ([0], -1)).output_shape == (None, 6)
    assert L.flatten(x).output_shape == (None, 6)
    assert L.concat([x, x], axis=2).output_shape == (None, 2, 6)
    assert isinstance(L.dropout(x, p=0.3), L.DropoutLayer)


def test_batch_norm_moves_the_nonlinearity_and_drops_the_bias():
    x = L.InputLayer((None, 3))
    dense = L.DenseLayer(x, 4, nonlinearity=torch.relu, name="h")
    out = L.batch_norm(dense)
    assert dense.b is None and "bias" not in dict(dense.named_parameters())
    assert isinstance(out, L.NonlinearityLayer) and out.nonlinearity is torch.relu
    bn = out.input_layer
    assert isinstance(bn, L.BatchNormLayer) and bn.input_layer is dense
    value = torch.randn(8, 3)
    expected = torch.relu(torch.nn.functional.batch_norm(value @ dense.W.T, None, None,
                                                         training=True, eps=bn.epsilon))
    assert_close(L.get_output(out, {x: value}), expected)
    assert_close(bn.inv_std, (bn.running_var + bn.epsilon).rsqrt())
    assert bn.gamma is bn.weight and bn.beta is bn.bias and bn.mean is bn.running_mean


def test_get_output_shape():
    x = L.InputLayer((None, 3))
    h = L.DenseLayer(x, 2)
    assert L.get_output_shape(h) == (None, 2)
    assert L.get_output_shape([x, h], {x: (5, 3)}) == [(5, 3), (5, 2)]
    assert h.output_shape == (None, 2)  # the graph itself is untouched
    with pytest.raises(ValueError, match="cannot take its inputs"):
        L.get_output_shape(h, {x: (5, 4)})


def test_W_b_and_input_layer():
    x = L.InputLayer((None, 1, 6, 6))
    conv = L.Conv2DLayer(x, 2, 3)
    dense = L.DenseLayer(conv, 3)
    emb = L.EmbeddingLayer(L.InputLayer((None,), dtype=torch.int64), 4, 2)
    assert conv.W is conv.weight and conv.b is conv.bias
    assert dense.W is dense.weight and dense.b is dense.bias
    assert emb.W is emb.weight
    assert dense.input_layer is conv and conv.input_layer is x
    with pytest.raises(AttributeError, match="input_layer"):
        _ = L.ConcatLayer([x, x]).input_layer


def test_embedding_over_a_float_input():
    ids = L.InputLayer((None,))
    emb = L.EmbeddingLayer(ids, 3, 2)
    assert emb.output_shape == (None, 2)
    out = L.get_output(emb, {ids: torch.tensor([2.0, 0.0])})
    assert_close(out, emb.W[torch.tensor([2, 0])])
    with pytest.raises(ValueError, match="whole numbers"):
        L.get_output(emb, {ids: torch.tensor([0.5])})


def test_mul_add_and_dtype():
    a, b = L.InputLayer((None, 2), name="a"), L.InputLayer((None, 2), name="b")
    va, vb = torch.randn(3, 2), torch.randn(3, 2)
    assert_close(L.get_output(UL.mul(a, b), {a: va, b: vb}), va * vb)
    assert_close(L.get_output(UL.add(a, b, a), {a: va, b: vb}), 2 * va + vb)
    assert UL.get_layer_dtype(a) == torch.float32
    assert UL.get_layer_dtype(L.InputLayer((None,), dtype="int64")) == torch.int64
    assert UL.reapply is not None


def test_clip_grads():
    x = L.InputLayer((None, 3))
    value = torch.zeros(1, 3, requires_grad=True)
    out = L.get_output(UL.clip_grads(x, -0.1), {x: value})
    assert_close(out, value)
    (out * torch.tensor([[1.0, -1.0, 0.05]])).sum().backward()
    assert_close(value.grad, torch.tensor([[0.1, -0.1, 0.05]]))


def test_broadcast_unbroadcast_upcast():
    seq = L.InputLayer((None, None, 5))
    flat = UL.BroadcastLayer(seq, (0, 1))
    dense = L.DenseLayer(flat, 3, nonlinearity=None)
    back = UL.UnbroadcastLayer(dense, flat)
    assert back.output_shape == (None, None, 3)
    value = torch.randn(2, 4, 5)
    assert_close(L.get_output(back, {seq: value}), value @ dense.W.T + dense.b)
    per_sample = L.InputLayer((None, 7))
    up = UL.UpcastLayer(per_sample, flat)
    sample_value = torch.randn(2, 7)
    out = L.get_output(up, {seq: value, per_sample: sample_value})
    assert_close(out, sample_value.repeat_interleave(4, dim=0))
    time_major = UL.BroadcastLayer(seq, 1, force_broadcastable_batch=False)
    assert time_major.output_shape == (None, None, 5)
    with pytest.raises(ValueError, match="leaves out the batch axis 0"):
        UL.BroadcastLayer(seq, 1)
