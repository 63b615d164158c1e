"""The compiled rollout path gives the eager path's sessions."""
import torch

from agentnet import Agent
from agentnet import layers as L
from agentnet.environment import CartPole
from agentnet.memory import GRUCell
from agentnet.resolver import EpsilonGreedyResolver


def test_compiled_sessions_equal_eager_ones_and_train():
    torch.manual_seed(0)
    obs = L.InputLayer((None, 4), name="observation")
    prev = L.InputLayer((None, 16), name="prev_gru")
    gru = GRUCell(prev, obs, name="gru")
    q = L.DenseLayer(gru, 2, nonlinearity=None, name="q")
    agent = Agent(obs, {gru: prev}, q, EpsilonGreedyResolver(q, epsilon=0.3))
    # greedy: no random draws, whose streams differ between eager and compiled kernels
    eager = agent.get_sessions(CartPole(batch_size=32, seed=0), 25, greedy=True)
    compiled = agent.get_sessions(CartPole(batch_size=32, seed=0), 25, greedy=True,
                                  compiled=True)
    assert torch.equal(eager.actions, compiled.actions)
    assert torch.equal(eager.observations, compiled.observations)
    torch.testing.assert_close(eager.policy, compiled.policy)
    torch.testing.assert_close(eager.agent_states[gru], compiled.agent_states[gru])
    compiled.policy.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in agent.parameters())
