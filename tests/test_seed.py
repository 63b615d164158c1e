"""The seed's (whats_what.txt) snippets, with ``import lasagne`` replaced by agentnet's layers."""
import torch

import agentnet
from agentnet import layers
from agentnet.environment import CartPole
from agentnet.resolver import EpsilonGreedyResolver

n_observations, n_actions = 4, 2


def test_minimal_q_learning_agent_from_the_seed():
    # where current observation arrives
    observation_layer = layers.InputLayer([None, n_observations], name="observation_input")
    # q_values layer (estimated using linear model)
    q_values = layers.DenseLayer(observation_layer, num_units=n_actions, nonlinearity=None)
    # a layer that picks action in an epsilon-greedy manner (epsilon = 0 -> greedy manner)
    action_resolver = agentnet.resolver.EpsilonGreedyResolver(q_values, epsilon=0,
                                                              name="resolver")
    # packing this into agent
    agent = agentnet.agent.Agent(observation_layer,
                                 policy_estimators=q_values,
                                 action_layers=action_resolver)

    sessions = agent.get_sessions(CartPole(batch_size=3), session_length=7)
    assert sessions.actions.shape == (3, 7) and sessions.policy.shape == (3, 7, 2)
    torch.testing.assert_close(sessions.actions, sessions.policy.argmax(-1))  # epsilon 0

    # One can change the "epsilon" like this
    action_resolver.epsilon.set_value(0.5)
    assert agent.state_dict()["layers.resolver.epsilon.value"] == 0.5
    react = agent.get_react_function()
    assert react(torch.zeros(5, 4)).actions.shape == (5,)


def test_rnn_memory_snippet_from_the_seed():
    n_hidden_neurons = 32
    observation_size = (None, n_observations)
    # layer where current observation goes
    observation_layer = layers.InputLayer(observation_size, name="observation_input")
    # layer for previous memory state (first dot)
    prev_state_layer = layers.InputLayer([None, n_hidden_neurons], name="prev_state_input")
    # new memory state (second dot)
    rnn = agentnet.memory.RNNCell(prev_state_layer, observation_layer, name="rnn0")
    q_values = layers.DenseLayer(rnn, num_units=n_actions, nonlinearity=None)
    action_resolver = EpsilonGreedyResolver(q_values, name="action-picker")
    # packing this into agent
    agent = agentnet.agent.Agent(observation_layer,
                                 policy_estimators=q_values,
                                 action_layers=action_resolver,
                                 agent_states={rnn: prev_state_layer})

    sessions = agent.get_sessions(CartPole(batch_size=2), session_length=4)
    memory = sessions.agent_states[rnn]
    assert memory.shape == (2, 4, n_hidden_neurons)
    # memory moves: tick 1 starts from tick 0's state
    step = agent.get_agent_reaction([memory[:, 0]], sessions.observations[:, 1])
    torch.testing.assert_close(step.new_states[0], memory[:, 1])
