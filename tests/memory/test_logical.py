"""CounterLayer counts (modulo k), SwitchLayer selects per row."""
from __future__ import annotations

import pytest
import torch

from agentnet import Agent
from agentnet.environment import CartPole
from agentnet.layers import DenseLayer, InputLayer, LambdaLayer, get_output
from agentnet.memory import CounterLayer, SwitchLayer
from agentnet.resolver import GreedyResolver


@pytest.mark.parametrize("k, expected", [(None, [1, 2, 3, 4, 5, 6, 7]),
                                         (3, [1, 2, 0, 1, 2, 0, 1]),
                                         (1, [0] * 7)])
def test_counter_counts(k, expected):
    prev = InputLayer((None,), dtype=torch.int64, name="prev")
    counter = CounterLayer(prev, k=k, name="counter")
    assert counter.output_shape == (None,) and counter.output_dtype == torch.int64
    count, seen = torch.zeros(2, dtype=torch.int64), []
    for _ in range(7):
        count = get_output(counter, {prev: count})
        seen.append(count[0].item())
    assert seen == expected


def test_float_counter_keeps_shape_and_dtype():
    prev = InputLayer((None, 1), name="prev")
    counter = CounterLayer(prev, k=4)
    assert counter.output_dtype == torch.float32
    out = get_output(counter, {prev: torch.tensor([[0.0], [3.0], [2.5]])})
    assert out.flatten().tolist() == [1.0, 0.0, 3.5]


@pytest.mark.parametrize("k", [None, 4])
def test_counter_agent_on_cartpole(k):
    obs = InputLayer((None, 4), name="obs")
    prev = InputLayer((None,), dtype=torch.int64, name="prev_count")
    counter = CounterLayer(prev, k=k, name="counter")
    q = DenseLayer(obs, 2, nonlinearity=None, name="q")
    agent = Agent(obs, agent_states={counter: prev}, policy_estimators=q,
                  action_layers=GreedyResolver(q))
    s = agent.get_sessions(CartPole(seed=0), session_length=9, batch_size=2)
    ticks = torch.arange(1, 10).expand(2, 9)
    assert torch.equal(s.agent_states[counter], ticks if k is None else ticks % k)


@pytest.mark.parametrize("k", [0, -2, 2.5, True, "3"])
def test_counter_bad_k(k):
    prev = InputLayer((None,), dtype=torch.int64, name="prev")
    with pytest.raises((ValueError, TypeError), match=r"CounterLayer 'c'.*k"):
        CounterLayer(prev, k=k, name="c")


def test_counter_bool_refused():
    prev = InputLayer((None,), dtype=torch.bool, name="flags")
    with pytest.raises(TypeError, match=r"CounterLayer 'c'.*flags.*bool"):
        CounterLayer(prev, name="c")


def test_switch_selects_per_row_and_broadcasts():
    cond = InputLayer((None,), dtype=torch.bool, name="cond")
    a, b = InputLayer((None, 3), name="a"), InputLayer((None, 3), name="b")
    switch = SwitchLayer(cond, a, b, name="switch")
    assert switch.output_shape == (None, 3)
    x, y = torch.randn(4, 3), torch.randn(4, 3)
    c = torch.tensor([True, False, False, True])
    out = get_output(switch, {cond: c, a: x, b: y})
    for i in range(4):
        assert torch.equal(out[i], x[i] if c[i] else y[i])


def test_switch_numeric_and_elementwise_conditions():
    cond = InputLayer((None, 2), dtype=torch.int64, name="cond")
    a = InputLayer((None, 2), dtype=torch.int64, name="a")
    b = InputLayer((None, 2), dtype=torch.int64, name="b")
    out = get_output(SwitchLayer(cond, a, b), {cond: torch.tensor([[2, 0], [0, -1]]),
                                               a: torch.ones(2, 2, dtype=torch.int64),
                                               b: torch.zeros(2, 2, dtype=torch.int64)})
    assert out.tolist() == [[1, 0], [0, 1]]


def test_switch_gradients_reach_the_chosen_branch_only():
    cond = InputLayer((None,), dtype=torch.bool, name="cond")
    a, b = InputLayer((None, 2), name="a"), InputLayer((None, 2), name="b")
    x, y = torch.randn(2, 2, requires_grad=True), torch.randn(2, 2, requires_grad=True)
    get_output(SwitchLayer(cond, a, b), {cond: torch.tensor([True, False]), a: x, b: y}
               ).sum().backward()
    assert x.grad.tolist() == [[1, 1], [0, 0]]
    assert y.grad.tolist() == [[0, 0], [1, 1]]


def test_switch_as_memory_latch_on_cartpole():
    """Keeps the first observation: a memory that switches to the new value only once."""
    obs = InputLayer((None, 4), name="obs")
    prev_count = InputLayer((None,), dtype=torch.int64, name="prev_count")
    prev_kept = InputLayer((None, 4), name="prev_kept")
    count = CounterLayer(prev_count, name="count")
    is_first = LambdaLayer(prev_count, lambda c: c == 0, name="is_first")
    kept = SwitchLayer(is_first, obs, prev_kept, name="kept")
    q = DenseLayer(obs, 2, nonlinearity=None, name="q")
    agent = Agent(obs, agent_states={count: prev_count, kept: prev_kept}, policy_estimators=q,
                  action_layers=GreedyResolver(q))
    s = agent.get_sessions(CartPole(seed=1), session_length=5, batch_size=2)
    assert torch.equal(s.agent_states[kept], s.observations[:, :1].expand(2, 5, 4))


def test_switch_errors():
    cond = InputLayer((None,), dtype=torch.bool, name="cond")
    a, b = InputLayer((None, 3), name="a3"), InputLayer((None, 2), name="b2")
    with pytest.raises(ValueError, match=r"SwitchLayer 's'.*a3.*\(None, 3\).*b2.*\(None, 2\)"):
        SwitchLayer(cond, a, b, name="s")
    b64 = InputLayer((None, 3), dtype=torch.float64, name="b64")
    with pytest.raises(ValueError, match=r"SwitchLayer 's'.*float32.*b64.*float64"):
        SwitchLayer(cond, a, b64, name="s")
    with pytest.raises(ValueError, match=r"SwitchLayer 's'.*wide.*\(None, 5\)"):
        SwitchLayer(InputLayer((None, 5), name="wide"), a, a, name="s")
