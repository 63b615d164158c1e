"""Recurrent cells: torch's references with copied weights, hand computations, errors."""
from __future__ import annotations

import itertools
import math
import re

import pytest
import torch
from torch import nn

import agentnet.memory
from agentnet.layers import DenseLayer, InputLayer, get_all_params, get_output
from agentnet.memory import GRUCell, LSTMCell, RNNCell

PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def copy_params(source: nn.Module, target: nn.Module, names=PARAM_NAMES) -> None:
    with torch.no_grad():
        for name in names:
            getattr(target, name).copy_(getattr(source, name))


def set_params(layer: nn.Module, **values) -> None:
    with torch.no_grad():
        for name, value in values.items():
            getattr(layer, name).copy_(torch.tensor(value, dtype=torch.float32))


def test_public_api():
    assert {"GRUCell", "LSTMCell", "RNNCell"} <= set(agentnet.memory.__all__)
    for name in agentnet.memory.rnn.__all__:
        assert getattr(agentnet.memory, name) is getattr(agentnet.memory.rnn, name)


# --- against torch.nn cells ------------------------------------------------------------
@pytest.mark.parametrize("nonlinearity, torch_name", [(torch.tanh, "tanh"), (torch.relu, "relu")])
def test_rnn_matches_torch(nonlinearity, torch_name):
    torch.manual_seed(0)
    prev, x = InputLayer((None, 6), name="prev"), InputLayer((None, 4), name="x")
    cell = RNNCell(prev, x, nonlinearity=nonlinearity, name="rnn")
    ref = nn.RNNCell(4, 6, nonlinearity=torch_name)
    copy_params(ref, cell)
    h, inp = torch.randn(5, 6), torch.randn(5, 4)
    out = get_output(cell, {prev: h, x: inp})
    torch.testing.assert_close(out, ref(inp, h), atol=1e-6, rtol=0)


def test_gru_matches_torch():
    torch.manual_seed(1)
    prev, x = InputLayer((None, 7), name="prev"), InputLayer((None, 3), name="x")
    cell = GRUCell(prev, x, name="gru")
    ref = nn.GRUCell(3, 7)
    copy_params(ref, cell)
    h, inp = torch.randn(4, 7), torch.randn(4, 3)
    torch.testing.assert_close(get_output(cell, {prev: h, x: inp}), ref(inp, h),
                               atol=1e-6, rtol=0)


def test_lstm_matches_torch():
    torch.manual_seed(2)
    prev_cell, prev_out = InputLayer((None, 5), name="c"), InputLayer((None, 5), name="h")
    x = InputLayer((None, 3), name="x")
    new_cell, new_out = LSTMCell(prev_cell, prev_out, x, peepholes=False, name="lstm")
    step = new_cell.input_layers[0]
    assert new_out.input_layers[0] is step
    ref = nn.LSTMCell(3, 5)
    copy_params(ref, step)
    c, h, inp = torch.randn(4, 5), torch.randn(4, 5), torch.randn(4, 3)
    got_c, got_h = get_output([new_cell, new_out], {prev_cell: c, prev_out: h, x: inp})
    ref_h, ref_c = ref(inp, (h, c))
    torch.testing.assert_close(got_c, ref_c, atol=1e-6, rtol=0)
    torch.testing.assert_close(got_h, ref_h, atol=1e-6, rtol=0)


def test_parameters_have_torch_layout():
    prev, x = InputLayer((None, 4), name="prev"), InputLayer((None, 3), name="x")
    for gates, cell in [(1, RNNCell(prev, x)), (3, GRUCell(prev, x)),
                        (4, LSTMCell(prev, prev, x, peepholes=False)[0].input_layers[0])]:
        shapes = {name: tuple(p.shape) for name, p in cell.named_parameters()}
        assert shapes == {"weight_ih": (4 * gates, 3), "weight_hh": (4 * gates, 4),
                          "bias_ih": (4 * gates,), "bias_hh": (4 * gates,)}
        bound = 1 / math.sqrt(4)
        assert all(p.abs().max() <= bound for p in cell.parameters())


# --- several inputs ----------------------------------------------------------------
def _build(kind, prev, inputs):
    if kind == "lstm":
        new_cell, new_out = LSTMCell(prev, prev, inputs, peepholes=False)
        return new_cell.input_layers[0], [new_cell, new_out]
    cell = RNNCell(prev, inputs) if kind == "rnn" else GRUCell(prev, inputs)
    return cell, [cell]


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_several_inputs_equal_their_concatenation(kind):
    torch.manual_seed(3)
    prev = InputLayer((None, 4), name="prev")
    a, b = InputLayer((None, 2), name="a"), InputLayer((None, 3, 2), name="b")
    joined = InputLayer((None, 8), name="joined")
    split_cell, split_outs = _build(kind, prev, [a, b])
    joined_cell, joined_outs = _build(kind, prev, joined)
    assert split_cell.weight_ih.shape == joined_cell.weight_ih.shape
    copy_params(joined_cell, split_cell)
    h, xa, xb = torch.randn(5, 4), torch.randn(5, 2), torch.randn(5, 3, 2)
    got = get_output(split_outs, {prev: h, a: xa, b: xb})
    expected = get_output(joined_outs, {prev: h, joined: torch.cat([xa, xb.flatten(1)], 1)})
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, atol=1e-6, rtol=0)


# --- hand computations -------------------------------------------------------------
def test_rnn_relu_by_hand():
    prev, x = InputLayer((None, 2), name="prev"), InputLayer((None, 1), name="x")
    cell = RNNCell(prev, x, nonlinearity=torch.relu, name="relu_rnn")
    set_params(cell, weight_ih=[[1.0], [-1.0]], weight_hh=[[0.5, 0.0], [1.0, 1.0]],
               bias_ih=[0.25, 0.0], bias_hh=[0.0, -1.0])
    out = get_output(cell, {prev: torch.tensor([[1.0, 2.0]]), x: torch.tensor([[3.0]])})
    # unit 0: 3 + 0.25 + 0.5 * 1 = 3.75; unit 1: relu(-3 + (1 + 2) - 1) = relu(-1) = 0
    torch.testing.assert_close(out, torch.tensor([[3.75, 0.0]]))


def test_rnn_without_inputs_by_hand():
    prev = InputLayer((None, 2), name="prev")
    cell = RNNCell(prev, name="free_rnn")
    assert cell.weight_ih is None
    assert [name for name, _ in cell.named_parameters()] == ["weight_hh", "bias_ih", "bias_hh"]
    set_params(cell, weight_hh=[[0.0, 1.0], [-1.0, 0.0]], bias_ih=[0.5, 0.0],
               bias_hh=[0.0, 0.25])
    out = get_output(cell, {prev: torch.tensor([[1.0, 2.0]])})
    expected = [[math.tanh(2.0 + 0.5), math.tanh(-1.0 + 0.25)]]
    torch.testing.assert_close(out, torch.tensor(expected))


def test_gru_without_inputs_by_hand():
    prev = InputLayer((None, 1), name="prev")
    cell = GRUCell(prev, name="free_gru")
    assert cell.weight_ih is None
    # gates r, z, n
    set_params(cell, weight_hh=[[1.0], [-2.0], [0.5]], bias_ih=[0.1, 0.2, 0.3],
               bias_hh=[0.0, 0.0, 1.0])
    h = 2.0
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    r = sig(0.1 + 1.0 * h)
    z = sig(0.2 - 2.0 * h)
    n = math.tanh(0.3 + r * (0.5 * h + 1.0))
    out = get_output(cell, {prev: torch.tensor([[h]])})
    torch.testing.assert_close(out, torch.tensor([[(1 - z) * n + z * h]]))


def test_lstm_without_inputs_by_hand():
    prev_cell, prev_out = InputLayer((None, 1), name="c"), InputLayer((None, 1), name="h")
    new_cell, new_out = LSTMCell(prev_cell, prev_out, peepholes=False, name="free_lstm")
    step = new_cell.input_layers[0]
    assert step.weight_ih is None
    # gates i, f, g, o
    set_params(step, weight_hh=[[1.0], [0.5], [-1.0], [2.0]], bias_ih=[0.0, 1.0, 0.0, 0.0],
               bias_hh=[0.5, 0.0, 0.25, -1.0])
    c, h = 0.5, -1.0
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    i, f = sig(1.0 * h + 0.5), sig(0.5 * h + 1.0)
    g, o = math.tanh(-1.0 * h + 0.25), sig(2.0 * h - 1.0)
    c_new = f * c + i * g
    got_c, got_h = get_output([new_cell, new_out],
                              {prev_cell: torch.tensor([[c]]), prev_out: torch.tensor([[h]])})
    torch.testing.assert_close(got_c, torch.tensor([[c_new]]))
    torch.testing.assert_close(got_h, torch.tensor([[o * math.tanh(c_new)]]))


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_without_inputs_is_torch_with_zero_input(kind):
    """No inputs behaves as torch's cell fed zeros: the input bias still counts."""
    torch.manual_seed(4)
    prev = InputLayer((None, 3), name="prev")
    cell, outs = _build(kind, prev, [])
    ref = nn.GRUCell(2, 3) if kind == "gru" else nn.LSTMCell(2, 3)
    copy_params(ref, cell, names=PARAM_NAMES[1:])
    state, zero = torch.randn(4, 3), torch.zeros(4, 2)
    got = get_output(outs, {prev: state})
    if kind == "gru":
        expected = [ref(zero, state)]
    else:  # the same tensor feeds prev_cell and prev_out here
        h, c = ref(zero, (state, state))
        expected = [c, h]
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, atol=1e-6, rtol=0)


@pytest.mark.parametrize("make", [lambda p: RNNCell(p), lambda p: GRUCell(p)])
def test_state_evolves_without_inputs(make):
    torch.manual_seed(5)
    prev = InputLayer((None, 4), name="prev")
    cell = make(prev)
    states = [torch.randn(2, 4)]
    for _ in range(3):
        states.append(get_output(cell, {prev: states[-1]}))
    assert all(not torch.allclose(a, b) for a, b in itertools.pairwise(states))
    assert all(s.shape == (2, 4) for s in states)


# --- gradients ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("with_inputs", [True, False])
def test_gradients_reach_every_parameter(kind, with_inputs):
    torch.manual_seed(6)
    prev, x = InputLayer((None, 4), name="prev"), InputLayer((None, 3), name="x")
    cell, outs = _build(kind, prev, [x] if with_inputs else [])
    out = outs[-1]  # the LSTM's new_out alone depends on every parameter
    params = get_all_params(out)
    assert len(params) == (4 if with_inputs else 3)
    given = {prev: torch.randn(5, 4)}
    if with_inputs:
        given[x] = torch.randn(5, 3)
    get_output(out, given).pow(2).sum().backward()
    for name, param in cell.named_parameters():
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, name


def test_gradients_flow_through_inputs_to_upstream_layers():
    torch.manual_seed(7)
    prev, obs = InputLayer((None, 4), name="prev"), InputLayer((None, 3), name="obs")
    dense = DenseLayer(obs, 5, name="dense")
    cell = GRUCell(prev, dense, name="gru")
    get_output(cell, {prev: torch.randn(2, 4), obs: torch.randn(2, 3)}).sum().backward()
    assert dense.weight.grad is not None and dense.weight.grad.abs().sum() > 0


# --- shapes and errors --------------------------------------------------------------
def test_output_shapes_and_names():
    prev, x = InputLayer((None, 6), name="prev"), InputLayer((None, 2, 3), name="x")
    assert RNNCell(prev, x).output_shape == (None, 6)
    assert GRUCell(prev).output_shape == (None, 6)
    new_cell, new_out = LSTMCell(prev, prev, x, name="mem")
    assert (new_cell.output_shape, new_out.output_shape) == ((None, 6), (None, 6))
    assert (new_cell.name, new_out.name) == ("mem.cell", "mem.out")
    assert new_cell.input_layers[0].name == "mem"
    unnamed = LSTMCell(prev, prev)
    assert (unnamed[0].name, unnamed[1].name) == (None, None)
    assert not new_cell.has_multiple_outputs
    assert new_cell.input_layers[0].has_multiple_outputs


@pytest.mark.parametrize("shape", [(None, None), (None, 4, 2), (None,)])
@pytest.mark.parametrize("make", [
    lambda prev: RNNCell(prev, name="my_cell"),
    lambda prev: GRUCell(prev, name="my_cell"),
    lambda prev: LSTMCell(prev, prev, name="my_cell"),
])
def test_bad_state_shape(make, shape):
    from agentnet.layers.base import format_shape

    prev = InputLayer(shape, name="bad_state")
    with pytest.raises(ValueError, match=r"my_cell.*bad_state") as info:
        make(prev)
    assert format_shape(shape) in str(info.value)


def test_lstm_mismatched_cell_and_out():
    c, h = InputLayer((None, 4), name="the_cell"), InputLayer((None, 5), name="the_out")
    with pytest.raises(ValueError, match=r"'lstm'.*the_cell.*\(None, 4\).*the_out.*\(None, 5\)"):
        LSTMCell(c, h, name="lstm")


def test_input_with_unknown_feature_size():
    prev, x = InputLayer((None, 4), name="prev"), InputLayer((None, None), name="ragged")
    with pytest.raises(ValueError, match=re.escape("GRUCell 'g': input InputLayer 'ragged'")):
        GRUCell(prev, x, name="g")


def test_batch_size_mismatch_names_the_cell():
    prev, x = InputLayer((5, 4), name="prev"), InputLayer((7, 3), name="x7")
    with pytest.raises(ValueError, match=r"RNNCell 'r'.*x7"):
        RNNCell(prev, x, name="r")
    # an unknown batch meets a known one
    assert RNNCell(InputLayer((None, 4)), x, name="r").output_shape == (7, 4)


def test_non_layer_input():
    prev = InputLayer((None, 4), name="prev")
    with pytest.raises(TypeError, match=r"RNNCell 'r'.*Tensor"):
        RNNCell(prev, [torch.zeros(2, 3)], name="r")
