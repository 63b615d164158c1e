"""Tracking more layers in sessions: a recurrent agent's target network."""
import torch

from agentnet import Agent
from agentnet import layers as L
from agentnet.environment import CartPole
from agentnet.memory import GRUCell
from agentnet.resolver import GreedyResolver
from agentnet.target_network import TargetNetwork


def recurrent_agent():
    obs = L.InputLayer((None, 4), name="observation")
    prev = L.InputLayer((None, 8), name="prev_gru")
    gru = GRUCell(prev, obs, name="gru")
    q = L.DenseLayer(gru, 2, nonlinearity=None, name="q")
    return Agent(obs, {gru: prev}, q, GreedyResolver(q)), q


def test_target_network_of_a_recurrent_agent_is_tracked_alongside():
    torch.manual_seed(0)
    agent, q = recurrent_agent()
    target = TargetNetwork(q)
    s = agent.get_sessions(CartPole(batch_size=3, seed=0), 6,
                           additional_outputs=[target.output_layers])
    (target_q,) = s.additional_outputs
    assert target_q.shape == s.policy.shape == (3, 6, 2)
    torch.testing.assert_close(target_q, s.policy)   # a fresh target equals the agent
    with torch.no_grad():
        for p in agent.parameters():
            p.add_(0.1 * torch.randn_like(p))
    s = agent.get_sessions(CartPole(batch_size=3, seed=0), 6,
                           additional_outputs=[target.output_layers])
    assert not torch.allclose(s.additional_outputs[0], s.policy)
    # the target reads the agent's memory: tick t from the agent's memory after t-1
    gru = agent.state_layers[0]
    prev = agent.prev_state_layers[0]
    obs = agent.observation_layers[0]
    expected = L.get_output(target.output_layers, {obs: s.observations[:, 3],
                                                   prev: s.agent_states[gru][:, 2]})
    torch.testing.assert_close(s.additional_outputs[0][:, 3], expected)
    s.additional_outputs[0].sum().backward()
    assert all(p.grad is None for p in target.parameters())


def test_without_additional_outputs_the_list_is_empty():
    agent, _ = recurrent_agent()
    assert agent.get_sessions(CartPole(batch_size=2), 3).additional_outputs == []


def test_target_network_is_tracked_in_replay_too():
    from agentnet.environment import SessionPoolEnvironment

    torch.manual_seed(1)
    agent, q = recurrent_agent()
    target = TargetNetwork(q)
    env = CartPole(batch_size=4, seed=0, autoreset=True, max_steps=5)
    live = agent.get_sessions(env, 9, additional_outputs=[target.output_layers])
    pool = SessionPoolEnvironment(capacity=4, session_length=9, agent=agent)
    pool.append_sessions(live)
    replayed = agent.get_sessions(pool, experience_replay=True,
                                  additional_outputs=[target.output_layers])
    torch.testing.assert_close(replayed.additional_outputs[0], live.additional_outputs[0])
    with torch.no_grad():
        for p in agent.parameters():
            p.add_(0.1)
    target.load_weights(0.5)   # halfway to the new weights: the replayed target moves too
    moved = agent.get_sessions(pool, experience_replay=True,
                               additional_outputs=[target.output_layers])
    assert not torch.allclose(moved.additional_outputs[0], live.additional_outputs[0])
    assert not torch.allclose(moved.additional_outputs[0], moved.policy)
