"""Standard layers: shape inference, construction errors, and agreement with torch.nn."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from agentnet.layers import (
    BatchNormLayer,
    ConcatLayer,
    Conv2DLayer,
    DenseLayer,
    ElemwiseSumLayer,
    EmbeddingLayer,
    FlattenLayer,
    InputLayer,
    LambdaLayer,
    LayerNormLayer,
    MaxPool2DLayer,
    ModuleLayer,
    NonlinearityLayer,
    ReshapeLayer,
    SliceLayer,
    get_all_params,
    get_output,
)


# --- construction errors name the layer and the shapes ----------------------------------
def test_concat_of_incompatible_shapes():
    a, b = InputLayer((None, 3), name="a"), InputLayer((None, 4, 2), name="b")
    with pytest.raises(ValueError, match=re.escape(
            "ConcatLayer 'cat' cannot take its inputs [InputLayer 'a' (None, 3), "
            "InputLayer 'b' (None, 4, 2)]")):
        ConcatLayer([a, b], name="cat")
    c = InputLayer((None, 3, 5), name="c")
    d = InputLayer((None, 4, 5), name="d")
    with pytest.raises(ValueError, match="ConcatLayer 'cat2'.*\\(None, 3, 5\\).*\\(None, 4, 5\\)"):
        ConcatLayer([c, d], axis=2, name="cat2")
    assert ConcatLayer([c, d], axis=1).output_shape == (None, 7, 5)


def test_elemwise_sum_of_different_shapes():
    a, b = InputLayer((None, 3), name="a"), InputLayer((None, 4), name="b")
    with pytest.raises(ValueError, match=re.escape(
            "ElemwiseSumLayer 'sum': incoming shapes differ: InputLayer 'a' (None, 3), "
            "InputLayer 'b' (None, 4)")):
        ElemwiseSumLayer([a, b], name="sum")
    with pytest.raises(ValueError, match="ElemwiseSumLayer 'sum': 3 coefficients for 2"):
        ElemwiseSumLayer([a, a], coeffs=[1, 2, 3], name="sum")


def test_none_batch_meets_known_batch():
    a, b = InputLayer((None, 4), name="a"), InputLayer((5, 4), name="b")
    assert ElemwiseSumLayer([a, b], name="sum").output_shape == (5, 4)
    seq_a, seq_b = InputLayer((None, None, 4)), InputLayer((None, 7, 4))
    assert ConcatLayer([seq_a, seq_b], axis=2).output_shape == (None, 7, 8)


def test_dense_on_unknown_feature_size():
    x = InputLayer((None, None), name="x")
    with pytest.raises(ValueError, match=re.escape("DenseLayer 'd': input shape (None, None)")):
        DenseLayer(x, 3, name="d")


@pytest.mark.parametrize("axes", [0, 2, 3])
def test_dense_num_leading_axes_out_of_range(axes):
    x = InputLayer((None, 4), name="x")
    with pytest.raises(ValueError, match=re.escape(
            f"DenseLayer 'd': got num_leading_axes={axes} for a 2-dimensional input (None, 4)")):
        DenseLayer(x, 3, num_leading_axes=axes, name="d")


def test_dense_weight_of_wrong_shape():
    x = InputLayer((None, 4), name="x")
    with pytest.raises(ValueError, match=re.escape("DenseLayer 'd': W has shape (4, 3), "
                                                   "expected (3, 4)")):
        DenseLayer(x, 3, W=torch.zeros(4, 3), name="d")


def test_conv_on_a_2d_input():
    x = InputLayer((None, 4), name="x")
    with pytest.raises(ValueError, match=re.escape("Conv2DLayer 'conv': expects input "
                                                   "[B, C, H, W] with known C, got (None, 4)")):
        Conv2DLayer(x, 8, 3, name="conv")
    images = InputLayer((None, 3, 8, 8), name="images")
    with pytest.raises(ValueError, match="Conv2DLayer 'conv': pad='same' needs stride 1"):
        Conv2DLayer(images, 8, 3, stride=2, pad="same", name="conv")


def test_input_layer_with_an_int_shape():
    with pytest.raises(TypeError, match=re.escape("InputLayer 'obs': shape must be a tuple such "
                                                  "as (None, 4), got 4")):
        InputLayer(4, name="obs")
    with pytest.raises(ValueError, match=re.escape("InputLayer 'obs': negative size in shape "
                                                   "(None, -1)")):
        InputLayer((None, -1), name="obs")


def test_norm_layers_need_known_sizes():
    x = InputLayer((None, None), name="x")
    with pytest.raises(ValueError, match="BatchNormLayer 'bn'.*\\(None, None\\)"):
        BatchNormLayer(x, name="bn")
    with pytest.raises(ValueError, match="LayerNormLayer 'ln'.*\\(None, None\\)"):
        LayerNormLayer(x, name="ln")


def test_non_layer_incoming_is_rejected():
    with pytest.raises(TypeError, match="DenseLayer 'd': incoming #0 must be an agentnet Layer"):
        DenseLayer(torch.zeros(2, 3), 3, name="d")


def test_reshape_and_flatten_bad_arguments():
    x = InputLayer((None, 12), name="x")
    with pytest.raises(ValueError, match=re.escape("ReshapeLayer 'r': [2] in shape")):
        ReshapeLayer(x, ([2], -1), name="r")
    with pytest.raises(ValueError, match="ReshapeLayer 'r2'.*\\(None, 12\\)"):
        ReshapeLayer(x, ([0], 5, -1), name="r2")
    with pytest.raises(ValueError, match="FlattenLayer 'f': outdim=3 for a 2-dimensional"):
        FlattenLayer(x, outdim=3, name="f")


# --- output shape and dtype inference -----------------------------------------------------
def test_batch_axis_none_is_kept_and_known_batch_too():
    assert DenseLayer(InputLayer((None, 4)), 3).output_shape == (None, 3)
    assert DenseLayer(InputLayer((7, 4)), 3).output_shape == (7, 3)
    assert DenseLayer(InputLayer((None, 5, 2, 3)), 4, num_leading_axes=2).output_shape == (
        None, 5, 4)
    assert NonlinearityLayer(InputLayer((None, 6)), torch.tanh).output_shape == (None, 6)


@pytest.mark.parametrize("pad, stride, expected", [
    ("same", 1, (None, 5, 8, 10)),
    ("valid", 1, (None, 5, 6, 8)),
    (0, 1, (None, 5, 6, 8)),
    (1, 2, (None, 5, 4, 5)),
    ((2, 0), 1, (None, 5, 10, 8)),
    (0, (2, 3), (None, 5, 3, 3)),
])
def test_conv_output_shape(pad, stride, expected):
    images = InputLayer((None, 3, 8, 10), name="images")
    conv = Conv2DLayer(images, 5, 3, stride=stride, pad=pad)
    assert conv.output_shape == expected
    real = get_output(conv, {images: torch.randn(2, 3, 8, 10)})
    assert real.shape == (2, *expected[1:])


@pytest.mark.parametrize("pool, stride, pad, expected", [
    (2, None, 0, (None, 3, 4, 4)),
    (2, 1, 0, (None, 3, 8, 8)),
    (3, 2, 1, (None, 3, 5, 5)),
    ((3, 1), None, 0, (None, 3, 3, 9)),
])
def test_max_pool_output_shape(pool, stride, pad, expected):
    images = InputLayer((None, 3, 9, 9), name="images")
    pooled = MaxPool2DLayer(images, pool, stride=stride, pad=pad)
    assert pooled.output_shape == expected
    value = torch.randn(2, 3, 9, 9)
    reference = F.max_pool2d(value, pool, stride if stride is not None else pool, pad)
    torch.testing.assert_close(get_output(pooled, {images: value}), reference)


def test_flatten_reshape_slice_shapes():
    x = InputLayer((None, 3, 4, 5), name="x")
    assert FlattenLayer(x).output_shape == (None, 60)
    assert FlattenLayer(x, outdim=3).output_shape == (None, 3, 20)
    assert FlattenLayer(x, outdim=1).output_shape == (None,)
    assert ReshapeLayer(x, ([0], [2], -1)).output_shape == (None, 4, 15)
    assert ReshapeLayer(x, ([0], 6, 10)).output_shape == (None, 6, 10)
    assert ReshapeLayer(x, (-1, 5)).output_shape == (None, 5)
    assert SliceLayer(x, 1, axis=1).output_shape == (None, 4, 5)
    assert SliceLayer(x, slice(1, 4)).output_shape == (None, 3, 4, 3)
    assert SliceLayer(x, slice(None, None, 2), axis=2).output_shape == (None, 3, 2, 5)
    value = torch.arange(2 * 60.).reshape(2, 3, 4, 5)
    torch.testing.assert_close(get_output(SliceLayer(x, -1, axis=-1), {x: value}),
                               value[..., -1])
    torch.testing.assert_close(get_output(ReshapeLayer(x, ([0], [2], -1)), {x: value}),
                               value.reshape(2, 4, 15))


def test_embedding_takes_int64_and_looks_up_rows():
    ids = InputLayer((None, 5), dtype=torch.int64, name="ids")
    assert ids.output_dtype == torch.int64
    assert InputLayer((None,), dtype="int64").output_dtype == torch.int64
    assert InputLayer((None,), dtype=np.int32).output_dtype == torch.int32
    emb = EmbeddingLayer(ids, 10, 3, name="emb")
    assert emb.output_shape == (None, 5, 3) and emb.output_dtype == torch.float32
    assert emb.weight.shape == (10, 3)
    value = torch.randint(10, (4, 5))
    torch.testing.assert_close(get_output(emb, {ids: value}), emb.weight.detach()[value])


def test_layer_norm_matches_torch():
    x = InputLayer((None, 2, 6), name="x")
    ln = LayerNormLayer(x, name="ln")
    assert ln.output_shape == (None, 2, 6)
    with torch.no_grad():
        ln.weight.copy_(torch.arange(6.))
        ln.bias.fill_(0.5)
    reference = nn.LayerNorm(6)
    reference.load_state_dict({"weight": ln.weight.detach(), "bias": ln.bias.detach()})
    value = torch.randn(3, 2, 6) * 4 + 1
    torch.testing.assert_close(get_output(ln, {x: value}), reference(value))


def test_lambda_layer_with_several_inputs():
    a = InputLayer((None, 3), name="a")
    b = InputLayer((None, 2), name="b")
    ids = InputLayer((None,), dtype=torch.int64, name="ids")
    joined = LambdaLayer([a, b], lambda x, y: torch.cat([x, y * 2], dim=1), name="joined")
    outer = LambdaLayer([a, b], lambda x, y: x[:, :, None] * y[:, None, :], name="outer")
    picked = LambdaLayer([a, ids], lambda x, i: x.gather(1, i[:, None])[:, 0] > 0, name="pos")
    assert joined.output_shape == (None, 5)
    assert outer.output_shape == (None, 3, 2)
    assert picked.output_shape == (None,) and picked.output_dtype == torch.bool
    value_a, value_b = torch.tensor([[1., -2., 3.]]), torch.tensor([[4., 5.]])
    result = get_output([joined, picked], {a: value_a, b: value_b, ids: torch.tensor([1])})
    torch.testing.assert_close(result[0], torch.tensor([[1., -2., 3., 8., 10.]]))
    assert result[1].tolist() == [False]


def test_module_layer_wraps_a_sequential():
    images = InputLayer((None, 3, 8, 8), name="images")
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 5))
    layer = ModuleLayer(images, module, name="net")
    assert layer.output_shape == (None, 5)
    assert len(get_all_params(layer)) == 4
    assert {name for name, _ in layer.named_parameters()} == {
        "module.0.weight", "module.0.bias", "module.3.weight", "module.3.bias"}
    value = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(get_output(layer, {images: value}), module(value))
    with pytest.raises(TypeError, match="ModuleLayer 'bad': module must be an nn.Module"):
        ModuleLayer(images, lambda x: x, name="bad")


# --- agreement with torch.nn ----------------------------------------------------------------
def test_dense_matches_linear():
    torch.manual_seed(0)
    linear = nn.Linear(6, 4)
    x = InputLayer((None, 2, 3), name="x")
    dense = DenseLayer(x, 4, nonlinearity=None, W=linear.weight.detach(),
                       b=linear.bias.detach().numpy())
    value = torch.randn(5, 2, 3)
    torch.testing.assert_close(get_output(dense, {x: value}), linear(value.flatten(1)))
    relu = DenseLayer(x, 4, W=linear.weight.detach(), b=None)
    assert relu.bias is None
    torch.testing.assert_close(get_output(relu, {x: value}),
                               torch.relu(F.linear(value.flatten(1), linear.weight)))


def test_dense_with_two_leading_axes_matches_linear():
    torch.manual_seed(0)
    linear = nn.Linear(4, 3)
    x = InputLayer((None, None, 4), name="x")
    dense = DenseLayer(x, 3, nonlinearity=None, W=linear.weight.detach(),
                       b=linear.bias.detach(), num_leading_axes=2)
    assert dense.output_shape == (None, None, 3)
    value = torch.randn(2, 7, 4)
    torch.testing.assert_close(get_output(dense, {x: value}), linear(value))


@pytest.mark.parametrize("stride, pad", [(1, 0), (2, 1), (1, "same")])
def test_conv_matches_conv2d(stride, pad):
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 5, (3, 1), stride=stride, padding=pad)
    images = InputLayer((None, 3, 9, 7), name="images")
    layer = Conv2DLayer(images, 5, (3, 1), stride=stride, pad=pad, nonlinearity=None,
                        W=conv.weight.detach(), b=conv.bias.detach())
    value = torch.randn(2, 3, 9, 7)
    expected = conv(value)
    assert layer.output_shape == (None, *expected.shape[1:])
    torch.testing.assert_close(get_output(layer, {images: value}), expected)


# --- hypothesis: inferred shapes equal real shapes ------------------------------------------
@st.composite
def _reshape_case(draw):
    trailing = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    total = math.prod(trailing)
    divisors = [d for d in range(1, total + 1) if total % d == 0]
    first = draw(st.sampled_from(divisors))
    target: list = [[0], first, total // first]
    if draw(st.booleans()):
        target[draw(st.sampled_from([1, 2]))] = -1
    if draw(st.booleans()):  # fold the batch into the first axis
        target = [-1, target[2] if target[2] != -1 else total // first]
    return trailing, target


@settings(max_examples=40, deadline=None)
@given(case=_reshape_case(), batch=st.integers(1, 5))
def test_reshape_output_shape_matches_real_shape(case, batch):
    trailing, target = case
    x = InputLayer((None, *trailing), name="x")
    layer = ReshapeLayer(x, target)
    real = get_output(layer, {x: torch.zeros(batch, *trailing)})
    assert layer.output_shape[0] is None
    assert layer.output_shape[1:] == tuple(real.shape[1:])
    assert len(layer.output_shape) == real.dim()


@settings(max_examples=40, deadline=None)
@given(trailing=st.lists(st.integers(1, 4), min_size=0, max_size=3),
       batch=st.integers(1, 5), data=st.data())
def test_flatten_output_shape_matches_real_shape(trailing, batch, data):
    x = InputLayer((None, *trailing), name="x")
    outdim = data.draw(st.integers(1, len(trailing) + 1))
    layer = FlattenLayer(x, outdim=outdim)
    real = get_output(layer, {x: torch.zeros(batch, *trailing)})
    assert real.dim() == outdim == len(layer.output_shape)
    assert layer.output_shape[0] is None
    assert layer.output_shape[1:] == tuple(real.shape[1:])


def test_a_lambda_closing_over_a_real_tensor_infers_its_shape_on_cpu_zeros():
    scale = torch.tensor([1.0, 2.0, 3.0, 4.0])      # not a meta tensor: meta inference fails
    obs = InputLayer((None, 4), name="observation")
    scaled = LambdaLayer(obs, lambda x: x * scale, name="scaled")
    assert scaled.output_shape == (None, 4) and scaled.output_dtype == torch.float32
    x = torch.ones(5, 4)
    assert torch.equal(get_output(scaled, {obs: x}), x * scale)
    with pytest.raises(ValueError, match="LambdaLayer 'bad'.*observation"):
        LambdaLayer(obs, lambda x: x @ scale[:3], name="bad")   # still a clear error
