"""WindowAugmentation: newest first, shifts by one each tick, works as an agent state."""
from __future__ import annotations

import pytest
import torch

from agentnet import Agent, Recurrence
from agentnet.environment import CartPole
from agentnet.layers import DenseLayer, InputLayer, get_output
from agentnet.memory import WindowAugmentation
from agentnet.resolver import GreedyResolver


def test_order_and_shift_over_several_steps():
    value, prev = InputLayer((None,), name="value"), InputLayer((None, 3), name="prev")
    window = WindowAugmentation(value, prev, name="window")
    assert window.output_shape == (None, 3) and window.window_size == 3
    state = torch.zeros(2, 3)
    seen = []
    for t in range(1, 6):
        state = get_output(window, {value: torch.tensor([t, -t]), prev: state})
        seen.append(state[0].tolist())
    assert seen == [[1, 0, 0], [2, 1, 0], [3, 2, 1], [4, 3, 2], [5, 4, 3]]
    assert state[1].tolist() == [-5, -4, -3]


def test_items_of_any_shape_and_dtype():
    frame = InputLayer((None, 2, 2), dtype=torch.uint8, name="frame")
    prev = InputLayer((None, 4, 2, 2), dtype=torch.uint8, name="prev")
    window = WindowAugmentation(frame, prev)
    assert window.output_shape == (None, 4, 2, 2) and window.output_dtype == torch.uint8
    old = torch.arange(32, dtype=torch.uint8).reshape(2, 4, 2, 2)
    new = torch.full((2, 2, 2), 99, dtype=torch.uint8)
    out = get_output(window, {frame: new, prev: old})
    assert torch.equal(out[:, 0], new) and torch.equal(out[:, 1:], old[:, :3])


def test_window_of_one_holds_the_last_value():
    value, prev = InputLayer((None, 2), name="value"), InputLayer((None, 1, 2), name="prev")
    out = get_output(WindowAugmentation(value, prev),
                     {value: torch.ones(3, 2), prev: torch.zeros(3, 1, 2)})
    assert torch.equal(out, torch.ones(3, 1, 2))


def test_recurrence_window_holds_the_last_k_inputs():
    x_t, prev = InputLayer((None, 1), name="x_t"), InputLayer((None, 3, 1), name="prev")
    window = WindowAugmentation(x_t, prev, name="window")
    xs = InputLayer((None, 6, 1), name="xs")
    rec = Recurrence(input_sequences={x_t: xs}, state_variables={window: prev})
    sequence = torch.arange(1.0, 7.0).reshape(1, 6, 1)
    out = get_output(rec[window], {xs: sequence})[0, :, :, 0]  # [T, k]
    for t in range(6):
        expected = [t + 1 - i if t - i >= 0 else 0 for i in range(3)]
        assert out[t].tolist() == expected


def test_frame_buffer_agent_on_cartpole():
    torch.manual_seed(0)
    obs = InputLayer((None, 4), name="obs")
    prev = InputLayer((None, 4, 4), name="prev_window")
    window = WindowAugmentation(obs, prev, name="window")
    q = DenseLayer(window, 2, nonlinearity=None, name="q")
    agent = Agent(obs, agent_states={window: prev}, policy_estimators=q,
                  action_layers=GreedyResolver(q))
    s = agent.get_sessions(CartPole(seed=0), session_length=6, batch_size=3)
    windows = s.agent_states[window]
    assert windows.shape == (3, 6, 4, 4)
    for t in range(6):
        for i in range(4):
            expected = s.observations[:, t - i] if t - i >= 0 else torch.zeros(3, 4)
            assert torch.equal(windows[:, t, i], expected)
    s.policy.sum().backward()
    assert q.weight.grad is not None and q.weight.grad.abs().sum() > 0


def test_gradients_flow_to_the_new_value_and_the_kept_part_of_the_window():
    value, prev = InputLayer((None, 2), name="value"), InputLayer((None, 3, 2), name="prev")
    window = WindowAugmentation(value, prev)
    v, p = torch.randn(2, 2, requires_grad=True), torch.randn(2, 3, 2, requires_grad=True)
    get_output(window, {value: v, prev: p}).sum().backward()
    assert torch.equal(v.grad, torch.ones(2, 2))
    assert torch.equal(p.grad[:, :2], torch.ones(2, 2, 2))
    assert torch.equal(p.grad[:, 2], torch.zeros(2, 2))  # the oldest leaves the window


@pytest.mark.parametrize("value_shape, window_shape", [
    ((None, 3), (None, 4, 2)),   # item sizes differ
    ((None, 3), (None, 3)),      # no window axis
    ((None, 3), (None, None, 3)),  # unknown k
    ((None, 3), (None, 0, 3)),   # empty window
])
def test_bad_shapes(value_shape, window_shape):
    from agentnet.layers.base import format_shape

    value = InputLayer(value_shape, name="val")
    prev = InputLayer(window_shape, name="win")
    with pytest.raises(ValueError, match=r"WindowAugmentation 'w'.*win.*val") as info:
        WindowAugmentation(value, prev, name="w")
    assert format_shape(window_shape) in str(info.value)


def test_dtype_mismatch():
    value = InputLayer((None, 3), name="val")
    prev = InputLayer((None, 2, 3), dtype=torch.uint8, name="win")
    with pytest.raises(TypeError, match=r"WindowAugmentation 'w'.*val.*float32.*win.*uint8"):
        WindowAugmentation(value, prev, name="w")
