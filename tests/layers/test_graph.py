"""Evaluating and walking graphs of layers: get_output, overrides, flags, parameters."""
from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from agentnet import layers as L
from agentnet.layers import (
    BatchNormLayer,
    ConcatLayer,
    DenseLayer,
    DropoutLayer,
    ElemwiseSumLayer,
    InputLayer,
    ItemLayer,
    Layer,
    ModuleLayer,
    SharedValue,
    count_params,
    get_all_layers,
    get_all_param_values,
    get_all_params,
    get_output,
    set_all_param_values,
)


def test_every_public_name_is_importable():
    for name in L.__all__:
        assert getattr(L, name) is not None, name


# --- evaluation against hand computations ---------------------------------------------
def _two_dense():
    x = InputLayer((None, 2), name="x")
    h = DenseLayer(x, 3, W=[[1., 0.], [0., 1.], [1., 1.]], b=[0., -5., 1.], name="h")
    out = DenseLayer(h, 1, nonlinearity=None, W=[[1., 1., 1.]], b=[0.5], name="out")
    return x, h, out


def test_dense_dense_matches_hand_computation():
    x, h, out = _two_dense()
    # h = relu([1, 2, 3] + [0, -5, 1]) = [1, 0, 4]; out = 1 + 0 + 4 + 0.5
    h_val, out_val = get_output([h, out], {x: torch.tensor([[1., 2.]])})
    torch.testing.assert_close(h_val, torch.tensor([[1., 0., 4.]]))
    torch.testing.assert_close(out_val, torch.tensor([[5.5]]))


def test_get_output_of_one_layer_is_a_tensor_and_of_a_list_is_a_list():
    x, h, out = _two_dense()
    single = get_output(out, {x: torch.zeros(4, 2)})
    several = get_output([out], {x: torch.zeros(4, 2)})
    assert isinstance(single, torch.Tensor) and single.shape == (4, 1)
    assert isinstance(several, list) and len(several) == 1


def test_concat_and_elemwise_sum_with_coeffs():
    a, b = InputLayer((None, 2), name="a"), InputLayer((None, 2), name="b")
    cat = ConcatLayer([a, b], name="cat")
    weighted = ElemwiseSumLayer([a, b], coeffs=[2., -1.], name="sum")
    plain = ElemwiseSumLayer([a, b, a], name="plain")
    values = {a: torch.tensor([[1., 2.]]), b: torch.tensor([[3., 5.]])}
    cat_val, weighted_val, plain_val = get_output([cat, weighted, plain], values)
    torch.testing.assert_close(cat_val, torch.tensor([[1., 2., 3., 5.]]))
    torch.testing.assert_close(weighted_val, torch.tensor([[-1., -1.]]))
    torch.testing.assert_close(plain_val, torch.tensor([[5., 9.]]))
    assert cat.output_shape == (None, 4)


def test_non_tensor_values_are_converted_with_the_layer_dtype():
    ids = InputLayer((None, 2), dtype="int64", name="ids")
    emb = L.EmbeddingLayer(ids, 5, 3, name="emb")
    out = get_output(emb, {ids: [[0, 4]]})
    torch.testing.assert_close(out, emb.weight.detach()[[0, 4]].unsqueeze(0))


# --- overriding any layer ---------------------------------------------------------------
def test_overriding_an_intermediate_layer_cuts_off_everything_below():
    x, h, out = _two_dense()
    forced = torch.tensor([[1., 2., 3.], [0., 0., 0.]])
    # no value for x is needed: h is given
    result = get_output(out, {h: forced})
    torch.testing.assert_close(result, torch.tensor([[6.5], [0.5]]))
    # and a value for x, if given, does not matter
    with_x = get_output(out, {h: forced, x: torch.randn(2, 2)})
    torch.testing.assert_close(with_x, result)


def test_overriding_a_layer_still_evaluates_other_branches_from_inputs():
    x = InputLayer((None, 2), name="x")
    left = DenseLayer(x, 2, nonlinearity=None, W=torch.eye(2), b=None, name="left")
    right = DenseLayer(x, 2, nonlinearity=None, W=2 * torch.eye(2), b=None, name="right")
    total = ElemwiseSumLayer([left, right], name="total")
    result = get_output(total, {x: torch.tensor([[1., 1.]]), left: torch.tensor([[10., 20.]])})
    torch.testing.assert_close(result, torch.tensor([[12., 22.]]))


def test_missing_input_value_names_the_input_layer():
    x, h, out = _two_dense()
    with pytest.raises(ValueError, match=r"InputLayer 'x' \(None, 2\) has no value"):
        get_output(out)
    other = InputLayer((None, 7), name="unrelated")
    with pytest.raises(ValueError, match="InputLayer 'x'"):
        get_output(out, {other: torch.zeros(1, 7)})


@pytest.mark.parametrize("bad", [torch.zeros(3, 5), torch.zeros(3), torch.zeros(3, 2, 1)])
def test_value_of_the_wrong_shape_names_the_layer_and_shapes(bad):
    x, h, out = _two_dense()
    expected = re.escape(f"InputLayer 'x' has shape {L.base.format_shape(tuple(bad.shape))}, "
                         f"expected (None, 2)")
    with pytest.raises(ValueError, match=expected):
        get_output(out, {x: bad})
    with pytest.raises(ValueError, match=re.escape("DenseLayer 'h'")):
        get_output(out, {h: torch.zeros(3, 4)})


# --- flags ------------------------------------------------------------------------------
def test_dropout_is_identity_when_deterministic_and_drops_otherwise():
    torch.manual_seed(0)
    x = InputLayer((None, 50), name="x")
    drop = DropoutLayer(x, p=0.25, name="drop")
    # the flag must reach a layer below the one asked for
    out = DenseLayer(drop, 50, nonlinearity=None, W=torch.eye(50), b=None, name="out")
    value = torch.rand(400, 50) + 1.0
    torch.testing.assert_close(get_output(out, {x: value}, deterministic=True), value)
    dropped = get_output(out, {x: value})
    zeros = dropped == 0
    assert 0.2 < zeros.float().mean().item() < 0.3
    torch.testing.assert_close(dropped[~zeros], value[~zeros] / 0.75)


def test_dropout_without_rescale_and_invalid_p():
    torch.manual_seed(1)
    x = InputLayer((None, 10), name="x")
    drop = DropoutLayer(x, p=0.5, rescale=False)
    value = torch.ones(100, 10)
    out = get_output(drop, {x: value})
    assert set(out.unique().tolist()) == {0.0, 1.0}
    with pytest.raises(ValueError, match=r"DropoutLayer 'd'.*p must be in \[0, 1\)"):
        DropoutLayer(x, p=1.0, name="d")


def test_batch_norm_uses_running_stats_when_deterministic_and_batch_stats_otherwise():
    torch.manual_seed(0)
    x = InputLayer((None, 3), name="x")
    hidden = DenseLayer(x, 3, nonlinearity=None, W=torch.eye(3), b=None, name="hidden")
    bn = BatchNormLayer(hidden, momentum=0.1, name="bn")
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([1., 2., 3.]))
        bn.running_var.copy_(torch.tensor([4., 1., 0.25]))
        bn.weight.copy_(torch.tensor([1., 2., 1.]))
        bn.bias.copy_(torch.tensor([0., 0., 1.]))
    value = torch.randn(64, 3) * 3 + 5

    out = get_output(bn, {x: value}, deterministic=True)
    expected = (value - bn.running_mean) / torch.sqrt(bn.running_var + 1e-5) * bn.weight + bn.bias
    torch.testing.assert_close(out, expected.detach())
    torch.testing.assert_close(bn.running_mean, torch.tensor([1., 2., 3.]))  # untouched

    reference = nn.BatchNorm1d(3, momentum=0.1)
    with torch.no_grad():
        reference.running_mean.copy_(bn.running_mean)
        reference.running_var.copy_(bn.running_var)
        reference.weight.copy_(bn.weight)
        reference.bias.copy_(bn.bias)
    reference.train()
    out = get_output(bn, {x: value})
    torch.testing.assert_close(out, reference(value))
    torch.testing.assert_close(bn.running_mean, reference.running_mean)
    torch.testing.assert_close(bn.running_var, reference.running_var)
    assert not torch.allclose(bn.running_mean, torch.tensor([1., 2., 3.]))


def test_misspelled_flag_warns_with_a_suggestion():
    x = InputLayer((None, 4), name="x")
    drop = DropoutLayer(x, p=0.5)
    with pytest.warns(UserWarning, match="did you mean 'deterministic'"):
        get_output(drop, {x: torch.ones(2, 4)}, determinstic=True)


def test_known_flag_does_not_warn():
    x = InputLayer((None, 4), name="x")
    drop = DropoutLayer(x, p=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        get_output(drop, {x: torch.ones(2, 4)}, deterministic=True)


# --- walking the graph ------------------------------------------------------------------
def _assert_topological(order: list[Layer]) -> None:
    position = {id(layer): i for i, layer in enumerate(order)}
    assert len(position) == len(order), "a layer appears twice"
    for layer in order:
        for parent in layer.input_layers:
            assert position[id(parent)] < position[id(layer)], (parent, layer)


def test_get_all_layers_diamond_each_once_inputs_first():
    x = InputLayer((None, 3), name="x")
    a = DenseLayer(x, 2, name="a")
    b = DenseLayer(x, 2, name="b")
    shared = ElemwiseSumLayer([a, b], name="shared")
    c = ConcatLayer([shared, a, x], name="c")
    order = get_all_layers(c)
    assert [layer.name for layer in order] == ["x", "a", "b", "shared", "c"]
    _assert_topological(order)
    # several outputs: union, each once
    order = get_all_layers([b, c, a])
    assert sorted(layer.name for layer in order) == ["a", "b", "c", "shared", "x"]
    _assert_topological(order)


def test_get_all_layers_treat_as_input_stops_there():
    x = InputLayer((None, 3), name="x")
    a = DenseLayer(x, 2, name="a")
    b = DenseLayer(a, 2, name="b")
    assert [layer.name for layer in get_all_layers(b, treat_as_input=[a])] == ["a", "b"]


def _net():
    x = InputLayer((None, 4), name="x")
    h = DenseLayer(x, 3, name="h")
    bn = BatchNormLayer(h, name="bn")
    out = DenseLayer(bn, 2, name="out")
    return x, h, bn, out


def test_get_all_params_and_tags():
    x, h, bn, out = _net()
    assert get_all_params(out) == [h.weight, h.bias, bn.weight, bn.bias, out.weight, out.bias]
    assert get_all_params(out, regularizable=True) == [h.weight, out.weight]
    assert get_all_params(out, regularizable=False) == [h.bias, bn.weight, bn.bias, out.bias]
    h.weight.requires_grad_(False)
    trainable = get_all_params(out, trainable=True)
    assert not any(p is h.weight for p in trainable)
    assert len(trainable) == 5
    assert get_all_params(out, trainable=False) == [h.weight]
    assert get_all_params(out, trainable=True, regularizable=True) == [out.weight]
    with pytest.raises(ValueError, match="unknown parameter tags"):
        get_all_params(out, trainabel=True)


def test_count_params():
    x, h, bn, out = _net()
    assert count_params(out) == (4 * 3 + 3) + (3 + 3) + (3 * 2 + 2)
    assert count_params(out, regularizable=True) == 4 * 3 + 3 * 2
    assert count_params(h) == 15


def test_shared_params_are_counted_once():
    x = InputLayer((None, 3), name="x")
    linear = nn.Linear(3, 3)
    first = ModuleLayer(x, linear, name="first")
    second = ModuleLayer(first, linear, name="second")  # the same module twice
    dense = DenseLayer(second, 3, name="dense")
    dense2 = DenseLayer(dense, 3, name="dense2")
    dense2.weight = dense.weight  # shared by assignment
    params = get_all_params(dense2)
    assert len(params) == 2 + 2 + 1
    assert count_params(dense2) == 12 + 12 + 3
    value = torch.randn(2, 3)
    expected = F.linear(torch.relu(F.linear(linear(linear(value)), dense.weight, dense.bias)),
                        dense.weight, dense2.bias)
    torch.testing.assert_close(get_output(dense2, {x: value}), torch.relu(expected))


def test_passing_a_parameter_as_W_shares_it():
    x = InputLayer((None, 3), name="x")
    first = DenseLayer(x, 3, name="first")
    second = DenseLayer(first, 3, W=first.weight, name="second")
    assert second.weight is first.weight


# --- parameter values -------------------------------------------------------------------
def _params_snapshot(layer: Layer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in get_all_params(layer)]


def test_param_values_round_trip():
    torch.manual_seed(0)
    x, h, bn, out = _net()
    saved = get_all_param_values(out)
    assert [v.shape for v in saved] == [p.shape for p in get_all_params(out)]
    set_all_param_values(out, [np.full(tuple(v.shape), 7.0) for v in saved])
    assert all(bool((p == 7).all()) for p in get_all_params(out))
    assert not all(torch.equal(v, torch.full_like(v, 7.0)) for v in saved)  # copies, not views
    set_all_param_values(out, saved)
    for param, value in zip(get_all_params(out), saved):
        assert torch.equal(param.detach(), value)


def test_param_values_with_tags():
    x, h, bn, out = _net()
    weights = get_all_param_values(out, regularizable=True)
    assert [tuple(w.shape) for w in weights] == [(3, 4), (2, 3)]
    set_all_param_values(out, [torch.zeros(3, 4), torch.ones(2, 3)], regularizable=True)
    assert bool((h.weight == 0).all()) and bool((out.weight == 1).all())


def test_set_param_values_wrong_count_changes_nothing():
    torch.manual_seed(0)
    x, h, bn, out = _net()
    before = _params_snapshot(out)
    with pytest.raises(ValueError, match="got 5 values for 6 parameters"):
        set_all_param_values(out, [torch.zeros_like(v) for v in before[:5]])
    for param, value in zip(get_all_params(out), before):
        assert torch.equal(param.detach(), value)


def test_set_param_values_wrong_shape_names_it_and_changes_nothing():
    torch.manual_seed(0)
    x, h, bn, out = _net()
    before = _params_snapshot(out)
    values: list[Any] = [torch.zeros_like(v) for v in before]
    values[-1] = torch.zeros(5)  # out.bias is (2,)
    expected = re.escape("value #5 has shape (5,), parameter #5 has (2,)")
    with pytest.raises(ValueError, match=expected):
        set_all_param_values(out, values)
    for param, value in zip(get_all_params(out), before):
        assert torch.equal(param.detach(), value)


# --- SharedValue ------------------------------------------------------------------------
def test_shared_value_get_set_state_dict_and_dtype():
    value = SharedValue(0.25)
    assert value.get_value() == 0.25 and float(value) == 0.25
    value.set_value(0.75)
    assert value.get_value() == 0.75
    state = value.state_dict()
    assert list(state) == ["value"] and float(state["value"]) == 0.75
    other = SharedValue(0.0)
    other.load_state_dict(state)
    assert other.get_value() == 0.75
    value.to(torch.float64)
    assert value.value.dtype == torch.float64
    value.set_value(0.1)
    assert value.get_value() == 0.1  # exact in float64
    assert list(value.parameters()) == []  # a buffer: never trained


# --- layers with several outputs --------------------------------------------------------
class _SumAndArgmax(Layer):
    """Two outputs: float [B, F] doubled and int64 [B] argmax."""

    def get_output_for(self, x: torch.Tensor, **flags: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return x * 2, x.argmax(dim=-1)


def test_item_layer_picks_one_output():
    x = InputLayer((None, 3), name="x")
    two = _SumAndArgmax(x, name="two")
    assert two.has_multiple_outputs
    assert two.output_shape == ((None, 3), (None,))
    assert two.output_dtype == (torch.float32, torch.int64)
    doubled, best = ItemLayer(two, 0, name="doubled"), ItemLayer(two, 1, name="best")
    assert doubled.output_shape == (None, 3) and doubled.output_dtype == torch.float32
    assert best.output_shape == (None,) and best.output_dtype == torch.int64
    after = DenseLayer(doubled, 1, nonlinearity=None, W=[[1., 1., 1.]], b=None)
    value = torch.tensor([[1., 5., 2.], [3., 0., 0.]])
    d, b, a = get_output([doubled, best, after], {x: value})
    torch.testing.assert_close(d, value * 2)
    assert b.tolist() == [1, 0]
    torch.testing.assert_close(a, torch.tensor([[16.], [6.]]))


def test_reading_a_multi_output_layer_directly_raises():
    x = InputLayer((None, 3), name="x")
    two = _SumAndArgmax(x, name="two")
    with pytest.raises(TypeError, match=r"_SumAndArgmax 'two' has several outputs"):
        DenseLayer(two, 2, name="dense")


def test_indexing_a_multi_output_layer_gives_an_item_layer():
    x = InputLayer((None, 3), name="x")
    two = _SumAndArgmax(x, name="two")
    first, last = two[0], two[-1]
    assert isinstance(last, ItemLayer) and last.output_dtype == torch.int64
    assert first.output_shape == (None, 3)
    value = torch.tensor([[0., 1., 7.]])
    a, b = get_output([first, last], {x: value})
    torch.testing.assert_close(a, value * 2)
    assert b.tolist() == [2]


def test_item_layer_errors():
    x = InputLayer((None, 3), name="x")
    two = _SumAndArgmax(x, name="two")
    with pytest.raises(IndexError, match=r"ItemLayer 'third'.*'two' has 2 outputs, no output 2"):
        ItemLayer(two, 2, name="third")
    with pytest.raises(TypeError, match="ItemLayer 'item'.*several outputs"):
        ItemLayer(x, 0, name="item")
