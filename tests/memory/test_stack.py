"""StackAugmentation: exact discrete stack on one-hot controls, convex mix otherwise."""
from __future__ import annotations

import random

import pytest
import torch

from agentnet import Agent
from agentnet.environment import CartPole
from agentnet.layers import DenseLayer, InputLayer, get_output
from agentnet.memory import StackAugmentation
from agentnet.resolver import GreedyResolver

PUSH, POP, NOOP = torch.eye(3)


def make_stack(depth=4, size=2):
    item = InputLayer((None, size), name="item")
    prev = InputLayer((None, depth, size), name="prev_stack")
    controls = InputLayer((None, 3), name="controls")
    return StackAugmentation(item, prev, controls, name="stack"), item, prev, controls


def step(stack, item, prev, controls, x, s, c):
    return get_output(stack, {item: x, prev: s, controls: c})


def test_push_pop_noop_by_hand():
    stack, item, prev, controls = make_stack(depth=3, size=1)
    s = torch.tensor([[[1.0], [2.0], [3.0]]])
    x = torch.tensor([[9.0]])
    assert step(stack, item, prev, controls, x, s, PUSH[None]).flatten().tolist() == [9, 1, 2]
    assert step(stack, item, prev, controls, x, s, POP[None]).flatten().tolist() == [2, 3, 0]
    assert step(stack, item, prev, controls, x, s, NOOP[None]).flatten().tolist() == [1, 2, 3]


def test_one_hot_controls_give_a_discrete_stack():
    rng = random.Random(0)
    depth, size, batch = 4, 2, 3
    stack, item, prev, controls = make_stack(depth, size)
    state = torch.zeros(batch, depth, size)
    lists: list[list[list[float]]] = [[] for _ in range(batch)]  # top first
    for _ in range(30):
        ops = [rng.randrange(3) for _ in range(batch)]
        x = torch.randn(batch, size)
        state = step(stack, item, prev, controls, x, state, torch.eye(3)[ops])
        for b, op in enumerate(ops):
            if op == 0:
                lists[b] = [x[b].tolist(), *lists[b]][:depth]
            elif op == 1:
                lists[b] = lists[b][1:]
        for b in range(batch):
            padded = lists[b] + [[0.0] * size] * (depth - len(lists[b]))
            torch.testing.assert_close(state[b], torch.tensor(padded), atol=0, rtol=0)


def test_mixed_controls_give_the_convex_combination():
    torch.manual_seed(1)
    stack, item, prev, controls = make_stack(depth=5, size=3)
    s, x = torch.randn(4, 5, 3), torch.randn(4, 3)
    c = torch.softmax(torch.randn(4, 3), dim=1)
    by_op = [step(stack, item, prev, controls, x, s, op.expand(4, 3)) for op in (PUSH, POP, NOOP)]
    expected = sum(c[:, i, None, None] * by_op[i] for i in range(3))
    torch.testing.assert_close(step(stack, item, prev, controls, x, s, c), expected)


def test_gradients_reach_item_controls_and_previous_stack():
    stack, item, prev, controls = make_stack(depth=3, size=2)
    x = torch.randn(2, 2, requires_grad=True)
    s = torch.randn(2, 3, 2, requires_grad=True)
    c = torch.full((2, 3), 1 / 3, requires_grad=True)
    step(stack, item, prev, controls, x, s, c).pow(2).sum().backward()
    for tensor in (x, s, c):
        assert tensor.grad is not None and tensor.grad.abs().sum() > 0


def test_stack_agent_on_cartpole():
    torch.manual_seed(2)
    obs = InputLayer((None, 4), name="obs")
    prev = InputLayer((None, 5, 2), name="prev_stack")
    controls = DenseLayer(obs, 3, nonlinearity=lambda v: torch.softmax(v, -1), name="controls")
    item = DenseLayer(obs, 2, nonlinearity=torch.tanh, name="item")
    stack = StackAugmentation(item, prev, controls, name="stack")
    q = DenseLayer(stack, 2, nonlinearity=None, name="q")
    agent = Agent(obs, agent_states={stack: prev}, policy_estimators=[q, controls, item],
                  action_layers=GreedyResolver(q))
    s = agent.get_sessions(CartPole(seed=0), session_length=5, batch_size=3)
    stacks = s.agent_states[stack]
    _, c, x = s.policy
    previous = torch.zeros(3, 5, 2)
    for t in range(5):
        pushed = torch.cat([x[:, t, None], previous[:, :-1]], 1)
        popped = torch.cat([previous[:, 1:], torch.zeros(3, 1, 2)], 1)
        expected = (c[:, t, 0, None, None] * pushed + c[:, t, 1, None, None] * popped
                    + c[:, t, 2, None, None] * previous)
        torch.testing.assert_close(stacks[:, t], expected)
        previous = stacks[:, t]
    s.policy[0].sum().backward()
    for layer in (controls, item, q):
        assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("item_shape, stack_shape, controls_shape, pattern", [
    ((None, 3), (None, 4, 2), (None, 3), r"prev_stack.*\(None, 4, 2\).*item.*\(None, 3\)"),
    ((None, 2), (None, 2), (None, 3), r"prev_stack.*\(None, 2\)"),
    ((None, 2), (None, None, 2), (None, 3), r"depth"),
    ((None, 2), (None, 4, 2), (None, 2), r"controls.*\(None, 2\).*push, pop and no-op"),
])
def test_bad_shapes(item_shape, stack_shape, controls_shape, pattern):
    with pytest.raises(ValueError, match=r"StackAugmentation 's'.*" + pattern):
        StackAugmentation(InputLayer(item_shape, name="item"),
                          InputLayer(stack_shape, name="prev_stack"),
                          InputLayer(controls_shape, name="controls"), name="s")


def test_integer_stack_is_refused():
    with pytest.raises(TypeError, match=r"StackAugmentation 's'.*prev_stack.*int64"):
        StackAugmentation(InputLayer((None, 2), name="item"),
                          InputLayer((None, 3, 2), dtype=torch.int64, name="prev_stack"),
                          InputLayer((None, 3), name="controls"), name="s")
