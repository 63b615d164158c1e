"""GRUMemoryLayer: torch's GRUCell over several steps, the original's signature, clipping."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from agentnet import Agent, Recurrence
from agentnet.environment import CartPole
from agentnet.layers import DenseLayer, InputLayer, get_all_params, get_output
from agentnet.memory import GRUCell, GRUMemoryLayer
from agentnet.resolver import GreedyResolver

NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def copy_from(source: nn.Module, target: nn.Module) -> None:
    with torch.no_grad():
        for name in NAMES:
            getattr(target, name).copy_(getattr(source, name))


def test_unrolled_matches_torch_gru_cell_over_several_steps():
    torch.manual_seed(0)
    obs, prev = InputLayer((None, 3), name="obs"), InputLayer((None, 6), name="prev")
    gru = GRUMemoryLayer(6, obs, prev, name="gru")
    ref = nn.GRUCell(3, 6)
    copy_from(ref, gru)
    xs = InputLayer((None, 7, 3), name="xs")
    h0 = InputLayer((None, 6), name="h0")
    rec = Recurrence(input_sequences={obs: xs}, state_variables={gru: prev},
                     state_init={gru: h0})
    sequence, start = torch.randn(4, 7, 3), torch.randn(4, 6)
    got = get_output(rec[gru], {xs: sequence, h0: start})
    h, expected = start, []
    for t in range(7):
        h = ref(sequence[:, t], h)
        expected.append(h)
    torch.testing.assert_close(got, torch.stack(expected, 1), atol=1e-6, rtol=0)


def test_manual_loop_and_several_observations():
    torch.manual_seed(1)
    a, b = InputLayer((None, 2), name="a"), InputLayer((None, 2, 2), name="b")
    prev = InputLayer((None, 4), name="prev")
    gru = GRUMemoryLayer(4, [a, b], prev, name="gru")
    assert isinstance(gru, GRUCell) and gru.num_units == 4
    assert tuple(gru.weight_ih.shape) == (12, 6)
    ref = nn.GRUCell(6, 4)
    copy_from(ref, gru)
    h = h_ref = torch.zeros(3, 4)
    for _ in range(4):
        xa, xb = torch.randn(3, 2), torch.randn(3, 2, 2)
        h = get_output(gru, {a: xa, b: xb, prev: h})
        h_ref = ref(torch.cat([xa, xb.flatten(1)], 1), h_ref)
    torch.testing.assert_close(h, h_ref, atol=1e-6, rtol=0)


def test_grad_clipping_keeps_values_and_bounds_input_gradients():
    torch.manual_seed(2)
    obs, prev = InputLayer((None, 3), name="obs"), InputLayer((None, 5), name="prev")
    exact = GRUMemoryLayer(5, obs, prev, grad_clipping=None, name="exact")
    clipped = GRUMemoryLayer(5, obs, prev, grad_clipping=0.01, name="clipped")
    loose = GRUMemoryLayer(5, obs, prev, grad_clipping=1e9, name="loose")
    clipped.load_state_dict(exact.state_dict())
    loose.load_state_dict(exact.state_dict())
    x, h = torch.randn(4, 3), torch.randn(4, 5)
    grads = {}
    for layer in (exact, clipped, loose):
        x_ = x.clone().requires_grad_()
        out = get_output(layer, {obs: x_, prev: h})
        torch.testing.assert_close(out, get_output(exact, {obs: x, prev: h}))
        (100 * out).sum().backward()
        grads[layer.name] = x_.grad
    torch.testing.assert_close(grads["loose"], grads["exact"])
    assert grads["exact"].abs().max() > 0.01
    assert grads["clipped"].abs().max() <= 0.01 + 1e-7


def test_gradients_reach_parameters_and_upstream_layers():
    obs, prev = InputLayer((None, 3), name="obs"), InputLayer((None, 5), name="prev")
    dense = DenseLayer(obs, 4, name="dense")
    gru = GRUMemoryLayer(5, dense, prev, grad_clipping=5.0, name="gru")
    get_output(gru, {obs: torch.randn(2, 3), prev: torch.randn(2, 5)}).pow(2).sum().backward()
    for param in get_all_params(gru):
        assert param.grad is not None and param.grad.abs().sum() > 0


def test_gru_memory_agent_on_cartpole():
    torch.manual_seed(3)
    obs, prev = InputLayer((None, 4), name="obs"), InputLayer((None, 8), name="prev")
    gru = GRUMemoryLayer(8, obs, prev, name="gru")
    q = DenseLayer(gru, 2, nonlinearity=None, name="q")
    agent = Agent(obs, agent_states={gru: prev}, policy_estimators=q,
                  action_layers=GreedyResolver(q))
    s = agent.get_sessions(CartPole(seed=0), session_length=5, batch_size=3)
    ref = nn.GRUCell(4, 8)
    ref.load_state_dict(gru.state_dict())
    h = torch.zeros(3, 8)
    for t in range(5):
        h = ref(s.observations[:, t], h)
        torch.testing.assert_close(s.agent_states[gru][:, t], h)
    s.policy.sum().backward()
    assert gru.weight_ih.grad is not None and gru.weight_ih.grad.abs().sum() > 0


def test_errors():
    obs, prev = InputLayer((None, 3), name="obs"), InputLayer((None, 5), name="prev5")
    with pytest.raises(ValueError, match=r"GRUMemoryLayer 'g'.*num_units=4.*prev5.*\(None, 5\)"):
        GRUMemoryLayer(4, obs, prev, name="g")
    with pytest.raises(ValueError, match=r"GRUMemoryLayer 'g'.*grad_clipping"):
        GRUMemoryLayer(5, obs, prev, grad_clipping=-1, name="g")
    with pytest.raises(TypeError, match=r"GRUMemoryLayer 'g'.*Tensor"):
        GRUMemoryLayer(5, torch.zeros(2, 3), prev, name="g")
    with pytest.raises(ValueError, match=r"GRUMemoryLayer 'g'.*bad.*\(None, 5, 2\)"):
        GRUMemoryLayer(5, obs, InputLayer((None, 5, 2), name="bad"), name="g")
