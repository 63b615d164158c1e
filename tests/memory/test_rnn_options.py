"""The original's cell options: num_units, grad_clipping, initialisers, nonlinearities,
dropout, LSTM peepholes; and the original's names elsewhere in memory."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from agentnet.layers import InputLayer, get_output
from agentnet.memory import (
    GateLayer,
    GRUCell,
    GRUMemoryLayer,
    LSTMCell,
    RNNCell,
    StackAugmentation,
    SwitchLayer,
    WindowAugmentation,
)


def _cells(prev, x, **options):
    return {"rnn": RNNCell(prev, x, **options), "gru": GRUCell(prev, x, **options),
            "lstm": LSTMCell(prev, prev, x, **options)[1]}


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_grad_clipping_clips_and_keeps_values(kind):
    torch.manual_seed(0)
    prev, x = InputLayer((None, 4), name="prev"), InputLayer((None, 3), name="x")
    exact = _cells(prev, x)[kind]
    clipped = _cells(prev, x, grad_clipping=1e-4)[kind]
    clipped_step, exact_step = clipped.input_layers[0], exact.input_layers[0]
    target = clipped_step if kind == "lstm" else clipped
    target.load_state_dict((exact_step if kind == "lstm" else exact).state_dict())
    h, inp = torch.randn(5, 4), torch.randn(5, 3)
    grads, values = [], []
    for layer in (exact, clipped):
        x_ = inp.clone().requires_grad_()
        out = get_output(layer, {prev: h, x: x_})
        (1000 * out).sum().backward()
        grads.append(x_.grad)
        values.append(out)
    torch.testing.assert_close(values[0], values[1])
    assert grads[0].abs().max() > 1e-2
    assert grads[1].abs().max() < grads[0].abs().max() / 10


def test_grad_clipping_bounds_the_rnn_input_gradient_exactly():
    prev, x = InputLayer((None, 2), name="prev"), InputLayer((None, 2), name="x")
    cell = RNNCell(prev, x, grad_clipping=0.5, Winp=torch.eye(2) * 10, nonlinearity=None)
    x_ = torch.ones(1, 2, requires_grad=True)
    get_output(cell, {prev: torch.zeros(1, 2), x: x_}).sum().backward()
    torch.testing.assert_close(x_.grad, torch.full((1, 2), 0.5))  # 10 unclipped


def test_initialisers_are_applied():
    prev, a, b = InputLayer((None, 2)), InputLayer((None, 1)), InputLayer((None, 3))
    rnn = RNNCell(prev, [a, b], Whid=nn.init.ones_, Winp=[2.0, lambda w: w.fill_(3.0)], b=0.5)
    assert rnn.weight_hh.eq(1).all() and rnn.bias_ih.eq(0.5).all() and rnn.bias_hh.eq(0).all()
    assert rnn.weight_ih[:, :1].eq(2).all() and rnn.weight_ih[:, 1:].eq(3).all()
    gru = GRUCell(prev, a, weight_init=[1.0, [4.0, 5.0, 6.0]], bias_init=[0.0, 1.0, 2.0])
    assert gru.weight_hh.eq(1).all()
    assert gru.weight_ih.flatten().tolist() == [4.0, 4.0, 5.0, 5.0, 6.0, 6.0]
    assert gru.bias_ih.tolist() == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]
    step = LSTMCell(prev, prev, a, weight_init=[[1.0, 2.0]] * 4, peepholes_W_init=[7.0, 8.0, 9.0],
                    bias_init=None)[0].input_layers[0]
    assert step.weight_hh.eq(1).all() and step.weight_ih.eq(2).all() and step.bias_ih is None
    assert (step.weight_ci.tolist(), step.weight_co.tolist()) == ([7.0, 7.0], [9.0, 9.0])
    default = GRUCell(InputLayer((None, 200)), InputLayer((None, 200)))
    assert abs(default.weight_hh.std().item() - 0.01) < 1e-3  # Lasagne's Normal(0.01)


def test_num_units_is_checked():
    prev = InputLayer((None, 4), name="p4")
    assert RNNCell(prev, num_units=4).num_units == 4
    with pytest.raises(ValueError, match=r"GRUCell 'g'.*num_units=5.*p4.*\(None, 4\)"):
        GRUCell(prev, num_units=5, name="g")


def test_gate_nonlinearities_match_a_hand_formula():
    prev, x = InputLayer((None, 1)), InputLayer((None, 1))
    relu6 = nn.functional.relu6
    gru = GRUCell(prev, x, weight_init=0.5, bias_init=0.0, forgetgate_nonlinearity=relu6,
                  updategate_nonlinearity=torch.sigmoid, hidden_update_nonlinearity=torch.relu)
    h, xv = 2.0, 1.0
    r = min(max(0.5 * xv + 0.5 * h, 0), 6)
    u = 1 / (1 + math.exp(-(0.5 * xv + 0.5 * h)))
    n = max(0.5 * xv + r * 0.5 * h, 0)
    got = get_output(gru, {prev: torch.tensor([[h]]), x: torch.tensor([[xv]])})
    torch.testing.assert_close(got, torch.tensor([[u * h + (1 - u) * n]]))
    # a custom update gate weights the candidate, as in the original: (1 - u) h + u n
    custom = GRUCell(prev, x, weight_init=0.5, bias_init=0.0, updategate_nonlinearity=relu6)
    a = 0.5 * xv + 0.5 * h
    u = min(max(-a, 0), 6)  # torch's z = 1 - u(-a): u sees the original's negated weights
    r = 1 / (1 + math.exp(-a))
    n = math.tanh(0.5 * xv + r * 0.5 * h)
    got = get_output(custom, {prev: torch.tensor([[h]]), x: torch.tensor([[xv]])})
    torch.testing.assert_close(got, torch.tensor([[(1 - u) * h + u * n]]))


@pytest.mark.parametrize("make", [
    lambda p, x: GRUCell(p, x, dropout=0.5),
    lambda p, x: LSTMCell(p, p, x, dropout=0.5)[1]])
def test_dropout_only_while_training(make):
    torch.manual_seed(1)
    prev, x = InputLayer((None, 64)), InputLayer((None, 3))
    layer = make(prev, x)
    given = {prev: torch.randn(8, 64), x: torch.randn(8, 3)}
    a = get_output(layer, given, deterministic=True)
    torch.testing.assert_close(a, get_output(layer, given, deterministic=True))
    assert not torch.allclose(get_output(layer, given), get_output(layer, given))


def test_peepholes_change_the_output_and_match_the_formula():
    torch.manual_seed(2)
    c_in, h_in, x = InputLayer((None, 3)), InputLayer((None, 3)), InputLayer((None, 2))
    new_c, new_h = LSTMCell(c_in, h_in, x, peepholes_W_init=nn.init.normal_)
    plain_c, plain_h = LSTMCell(c_in, h_in, x, peepholes=False)
    step, plain = new_c.input_layers[0], plain_c.input_layers[0]
    plain.load_state_dict(step.state_dict(), strict=False)
    c, h, xv = torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 2)
    got_c, got_h = get_output([new_c, new_h], {c_in: c, h_in: h, x: xv})
    assert not torch.allclose(got_h, get_output(plain_h, {c_in: c, h_in: h, x: xv}))
    a = xv @ step.weight_ih.T + step.bias_ih + h @ step.weight_hh.T + step.bias_hh
    a_i, a_f, a_g, a_o = a.chunk(4, 1)
    ref_c = (torch.sigmoid(a_f + step.weight_cf * c) * c
             + torch.sigmoid(a_i + step.weight_ci * c) * torch.tanh(a_g))
    ref_h = torch.sigmoid(a_o + step.weight_co * ref_c) * torch.tanh(ref_c)
    torch.testing.assert_close(got_c, ref_c)
    torch.testing.assert_close(got_h, ref_h)


def test_gru_memory_layer_clips_by_default_and_takes_original_names():
    obs, prev = InputLayer((None, 3)), InputLayer((None, 4))
    layer = GRUMemoryLayer(4, observation_input=obs, prev_state_input=prev)
    assert layer.grad_clipping == 5.0
    with pytest.raises(TypeError, match="both observation_input="):
        GRUMemoryLayer(4, observation_layer_or_layers=obs, observation_input=obs,
                       prev_state_layer=prev)


def test_original_keyword_names():
    cond = InputLayer((None,), dtype=torch.bool)
    a, b = InputLayer((None, 2)), InputLayer((None, 2))
    switch = SwitchLayer(cond, than_branch=a, else_branch=b)
    got = get_output(switch, {cond: torch.tensor([True, False]), a: torch.ones(2, 2),
                              b: torch.zeros(2, 2)})
    assert got[:, 0].tolist() == [1.0, 0.0]
    window = WindowAugmentation(new_value_input=a, prev_state_input=InputLayer((None, 3, 2)))
    assert window.output_shape == (None, 3, 2)
    stack = StackAugmentation(observation_input=a, prev_state_input=InputLayer((None, 4, 2)),
                              controls_layer=InputLayer((None, 3)))
    assert stack.output_shape == (None, 4, 2)


def test_gate_layer_channel_names():
    x, h = InputLayer((None, 3)), InputLayer((None, 4), name="h")
    gate = GateLayer([x, h], [h, 2], channel_names=["forget", None], name="g")
    assert gate.keys() == ("forget", "gate1")
    assert gate["forget"].output_shape == (None, 4) and gate["gforget"].output_shape == (None, 4)
    assert [v.output_shape for v in gate.values()] == [(None, 4), (None, 2)]
    assert GateLayer(x, [h, 2]).keys() == ("h", "gate1")
    with pytest.raises(KeyError, match="no channel 'reset'"):
        gate["reset"]
    with pytest.raises(ValueError, match="channel_names must be a list of 2"):
        GateLayer(x, [h, 2], channel_names=["one"])
