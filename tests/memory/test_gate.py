"""GateLayer: stacked gates for several channels against hand computations."""
from __future__ import annotations

import math

import pytest
import torch

from agentnet.layers import InputLayer, get_all_params, get_output
from agentnet.memory import GateLayer


def sig(v):
    return 1 / (1 + math.exp(-v))


def test_gates_by_hand():
    x, h = InputLayer((None, 2), name="x"), InputLayer((None, 1), name="h")
    # channel 0: the layer h, gated; channel 1: a gate of 2 units
    gated_h, gate2 = GateLayer(
        [x, h], [h, 2],
        gate_nonlinearities=[torch.sigmoid, None],
        bias_init=[0.5, [1.0, -1.0]],
        weight_init=[[[[1.0, 2.0]], [[3.0]]],                 # W_x0 [1, 2], W_h0 [1, 1]
                     [[[1.0, 0.0], [0.0, 1.0]], [[0.0], [2.0]]]],  # W_x1 [2, 2], W_h1 [2, 1]
        name="gates")
    gate = gated_h.input_layers[0]
    assert [tuple(w.shape) for w in gate.weights] == [(3, 2), (3, 1)]
    xv, hv = [0.5, -1.0], 2.0
    out_h, out_2 = get_output([gated_h, gate2], {x: torch.tensor([xv]), h: torch.tensor([[hv]])})
    g0 = sig(1.0 * xv[0] + 2.0 * xv[1] + 3.0 * hv + 0.5)
    torch.testing.assert_close(out_h, torch.tensor([[g0 * hv]]))
    torch.testing.assert_close(out_2, torch.tensor([[xv[0] + 1.0, xv[1] + 2.0 * hv - 1.0]]))


def test_channels_of_any_shape_and_flattened_controllers():
    torch.manual_seed(0)
    ctrl = InputLayer((None, 2, 3), name="ctrl")
    value = InputLayer((None, 2, 2), name="value")
    (gated,) = GateLayer(ctrl, value, weight_init=torch.nn.init.normal_, name="g")
    assert gated.output_shape == (None, 2, 2)
    c, v = torch.randn(5, 2, 3), torch.randn(5, 2, 2)
    w, b = gated.input_layers[0].weights[0], gated.input_layers[0].bias
    expected = torch.sigmoid(c.flatten(1) @ w.T + b).reshape(5, 2, 2) * v
    torch.testing.assert_close(get_output(gated, {ctrl: c, value: v}), expected)


def test_single_int_channel_and_no_bias():
    x = InputLayer((None, 3), name="x")
    gate_layer = GateLayer(x, 4, bias_init=None, weight_init=1.0)
    assert gate_layer.bias is None and len(get_all_params(gate_layer[0])) == 1
    out = get_output(gate_layer[0], {x: torch.tensor([[1.0, -1.0, 0.0]])})
    torch.testing.assert_close(out, torch.full((1, 4), 0.5))


def test_channels_without_bias_stay_at_zero():
    x, h = InputLayer((None, 2), name="x"), InputLayer((None, 3), name="h")
    first, second = GateLayer([x, h], [3, 2], bias_init=[None, 0.25], name="g")
    layer = first.input_layers[0]
    get_output([first, second], {x: torch.randn(4, 2), h: torch.randn(4, 3)}
               )[0].sum().backward()
    assert layer.bias.grad is not None
    assert torch.equal(layer.bias.grad[:3], torch.zeros(3))
    out = get_output(second, {x: torch.zeros(1, 2), h: torch.zeros(1, 3)})
    torch.testing.assert_close(out, torch.full((1, 2), sig(0.25)))


def test_gradients_reach_weights_bias_channels_and_controllers():
    x, h = InputLayer((None, 2), name="x"), InputLayer((None, 3), name="h")
    gated, extra = GateLayer([x, h], [h, 2], name="g")
    xv = torch.randn(4, 2, requires_grad=True)
    hv = torch.randn(4, 3, requires_grad=True)
    a, b = get_output([gated, extra], {x: xv, h: hv})
    (a.sum() + b.sum()).backward()
    for tensor in (xv, hv, *gated.input_layers[0].parameters()):
        assert tensor.grad is not None and tensor.grad.abs().sum() > 0


def test_errors():
    x, h = InputLayer((None, 2), name="x"), InputLayer((None, 3), name="h")
    with pytest.raises(ValueError, match=r"GateLayer 'g'.*gate_nonlinearities.*3 entries.*2"):
        GateLayer(x, [h, 2], gate_nonlinearities=[None] * 3, name="g")
    with pytest.raises(TypeError, match=r"GateLayer 'g'.*channel #1.*-2"):
        GateLayer(x, [h, -2], name="g")
    with pytest.raises(ValueError, match=r"GateLayer 'g'.*controller"):
        GateLayer([], [h], name="g")
    with pytest.raises(ValueError, match=r"GateLayer 'g'.*ragged.*\(None, None\)"):
        GateLayer(x, InputLayer((None, None), name="ragged"), name="g")
    with pytest.raises(ValueError, match=r"GateLayer 'g'.*weight_init\[0\]\[1\].*\(3, 3\)"):
        GateLayer([x, h], h, weight_init=[[0.0, torch.zeros(2, 2)]], name="g")
    with pytest.raises(ValueError, match=r"GateLayer 'g'.*weight_init\[0\]\[0\] is None"):
        GateLayer(x, h, weight_init=None, name="g")
