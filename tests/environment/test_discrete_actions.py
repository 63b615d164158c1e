"""Every discrete environment refuses, on every step, actions out of ``0 .. n_actions - 1`` or
of a float dtype: a ValueError naming the environment, the range and the values (not a bare
IndexError from a table lookup, nor a step computed from a meaningless action)."""
import pytest
import torch

from agentnet import Agent
from agentnet import layers as L
from agentnet.environment import Acrobot, BooleanReasoning, CartPole, MountainCar, TMaze
from agentnet.resolver import EpsilonGreedyResolver

ENVS = {  # name: (make, n_actions)
    "CartPole": (lambda: CartPole(batch_size=4, seed=0), 2),
    "Acrobot": (lambda: Acrobot(batch_size=4, seed=0), 3),
    "MountainCar": (lambda: MountainCar(batch_size=4, seed=0), 3),
    "TMaze": (lambda: TMaze(batch_size=4, corridor_length=2, seed=0), 2),
    "BooleanReasoning": (lambda: BooleanReasoning(batch_size=4, seed=0), 5),
}


@pytest.mark.parametrize("name", ENVS)
def test_actions_out_of_range_are_refused_on_every_step(name):
    make, n = ENVS[name]
    env = make()
    states, _ = env.reset()
    states, _ = env.get_action_results(states, [torch.tensor([0, n - 1, 0, n - 1])])
    before = [s.clone() for s in states]
    for actions, values in (([0, n, 1, 0], rf"\[{n}\]"), ([-1, 0, n + 5, -1],
                                                          rf"\[-1, {n + 5}\]")):
        with pytest.raises(ValueError, match=rf"^{name}: actions must be in 0\.\.{n - 1}, "
                                             rf"got values {values}$"):
            env.get_action_results(states, [torch.tensor(actions)])
        assert all(torch.equal(a, b) for a, b in zip(before, states, strict=True))
    with pytest.raises(ValueError, match=rf"^{name}: .*got torch.float32"):
        env.get_action_results(states, [torch.zeros(4)])
    env.get_action_results(states, [torch.tensor([n - 1, 0, n - 1, 0])])   # still fine


def test_an_agent_with_too_many_actions_is_stopped_at_its_first_bad_one():
    torch.manual_seed(0)
    obs = L.InputLayer((None, 4), name="observation")
    q = L.DenseLayer(obs, 3, nonlinearity=None, name="q")         # CartPole has 2 actions
    with torch.no_grad():
        q.bias.copy_(torch.tensor([0.0, 0.0, 100.0]))              # greedy picks action 2
    agent = Agent(obs, policy_estimators=q, action_layers=EpsilonGreedyResolver(q, 0.0))
    with pytest.raises(ValueError, match=r"^CartPole: actions must be in 0\.\.1, got values "
                                         r"\[2\]$"):
        agent.get_sessions(CartPole(batch_size=3, seed=0), 5)


@pytest.mark.parametrize("name", ["CartPole", "TMaze"])
def test_under_torch_compile_the_check_is_an_assert_in_the_graph(name):
    """No graph break (``fullgraph``): inside a compiled tick the check cannot read its
    answer on the host, it is ``torch._assert_async``, whose error names the range."""
    make, n = ENVS[name]
    env = make()
    states, _ = env.reset()
    step = torch.compile(env.get_action_results, backend="eager", fullgraph=True)
    good = torch.tensor([0, n - 1, 0, n - 1])
    compiled_states, _ = step(states, [good])
    eager_states, _ = env.get_action_results(states, [good])
    assert all(torch.equal(a, b) for a, b in zip(compiled_states, eager_states, strict=True))
    with pytest.raises(RuntimeError, match=rf"{name}: actions must be in 0\.\.{n - 1}"):
        step(states, [torch.tensor([0, n, 0, 0])])
