"""The original AgentNet's tests/test_memory.py, translated call for call where it concerns
memory: the window, stack, RNN, GRU, GRUMemoryLayer and LSTM (with and without peepholes)
states of one agent, built with the original's calls, then Q-learning on its sessions.

The original played Atari SpaceInvaders through gym and ``EnvPool``; gym's Atari games are
not a dependency here, so an agentnet ``SessionPoolEnvironment`` filled with random
image-shaped sessions takes their place (the replay half of the original test).
"""
from collections import OrderedDict

import torch

from agentnet.agent import Agent
from agentnet.environment import SessionPoolEnvironment
from agentnet.layers import (
    ConcatLayer,
    DenseLayer,
    FlattenLayer,
    InputLayer,
    LambdaLayer,
    SliceLayer,
    get_all_params,
    get_output,
)
from agentnet.learning import qlearning
from agentnet.memory import (
    GRUCell,
    GRUMemoryLayer,
    LSTMCell,
    RNNCell,
    StackAugmentation,
    WindowAugmentation,
)
from agentnet.resolver import EpsilonGreedyResolver

n_actions, observation_shape = 6, (None, 12, 10, 3)  # a small "Atari frame"


def _original_agent_graph():
    """The original ``test_memory``'s one-tick graph, call for call."""
    observation_layer = InputLayer(observation_shape, name="images input")
    observation_reshape = LambdaLayer(observation_layer, lambda x: x.permute(0, 3, 1, 2))
    memory_dict = OrderedDict([])

    # window
    window_size = 3
    prev_window = InputLayer((None, window_size) + tuple(observation_reshape.output_shape[1:]),
                             name="previous window state")
    window = WindowAugmentation(observation_reshape, prev_window, name="new window state")
    window_max = LambdaLayer(window, lambda a: a.max(dim=1).values)
    memory_dict[window] = prev_window

    # stack
    stack_w, stack_h = 4, 5
    stack_inputs = DenseLayer(observation_reshape, stack_w, name="prev_stack")
    stack_controls = DenseLayer(observation_reshape, 3,
                                nonlinearity=lambda x: torch.softmax(x, -1), name="prev_stack")
    prev_stack = InputLayer((None, stack_h, stack_w), name="previous stack state")
    stack = StackAugmentation(stack_inputs, prev_stack, stack_controls)
    memory_dict[stack] = prev_stack
    stack_top = SliceLayer(stack, 0, 1)

    # RNN, GRU, GRUMemoryLayer
    prev_rnn = InputLayer((None, 16), name="previous RNN state")
    new_rnn = RNNCell(prev_rnn, observation_reshape)
    memory_dict[new_rnn] = prev_rnn
    prev_gru = InputLayer((None, 16), name="previous GRUcell state")
    new_gru = GRUCell(prev_gru, observation_reshape)
    memory_dict[new_gru] = prev_gru
    prev_gru1 = InputLayer((None, 15), name="previous GRUcell state")
    new_gru1 = GRUMemoryLayer(15, observation_reshape, prev_gru1)
    memory_dict[new_gru1] = prev_gru1

    # LSTM with and without peepholes
    lstms = []
    for units, peepholes in [(13, True), (14, False)]:
        prev_cell = InputLayer((None, units), name="previous LSTMCell hidden state")
        prev_out = InputLayer((None, units), name="previous LSTMCell output state")
        new_cell, new_out = LSTMCell(prev_cell, prev_out, input_or_inputs=observation_reshape,
                                     peepholes=peepholes, name=f"newLSTM peepholes={peepholes}")
        memory_dict[new_cell] = prev_cell
        memory_dict[new_out] = prev_out
        lstms.append(new_out)

    all_memory = ConcatLayer([FlattenLayer(window_max), stack_top, new_rnn, new_gru, new_gru1,
                              *lstms])
    nn = DenseLayer(all_memory, num_units=50, name="dense0")
    q_eval = DenseLayer(nn, num_units=n_actions, nonlinearity=None, name="QEvaluator")
    resolver = EpsilonGreedyResolver(q_eval, epsilon=0.1, name="resolver")
    return observation_layer, memory_dict, q_eval, resolver


def test_memory_graph():
    """The memory half of the original ``test_memory``: every memory state of its agent,
    one tick from zero memory."""
    torch.manual_seed(0)
    observation_layer, memory_dict, q_eval, resolver = _original_agent_graph()
    given = {prev: torch.zeros(4, *prev.output_shape[1:]) for prev in memory_dict.values()}
    given[observation_layer] = torch.rand(4, *observation_shape[1:])
    *new_states, q = get_output([*memory_dict, q_eval], given)
    for new_state, value in zip(memory_dict, new_states):
        assert tuple(value.shape[1:]) == tuple(new_state.output_shape[1:])
    assert q.shape == (4, n_actions)
    q.sum().backward()
    assert get_all_params(resolver)[0].grad is not None


def test_memory(n_parallel_games=3, replay_seq_len=2):
    """Translates the original ``test_memory`` (its agent; random replay sessions)."""
    torch.manual_seed(0)
    observation_layer, memory_dict, q_eval, resolver = _original_agent_graph()
    agent = Agent(observation_layer, memory_dict, q_eval, resolver)
    weights = get_all_params(resolver)

    env = SessionPoolEnvironment(observations=observation_layer, actions=resolver,
                                 agent_memories=agent.agent_states)

    def update_pool(env, n_steps):
        """Random sessions in place of the original's Atari ones."""
        env.load_sessions(torch.rand(n_parallel_games, n_steps, *observation_shape[1:]),
                          torch.randint(n_actions, (n_parallel_games, n_steps)),
                          torch.randn(n_parallel_games, n_steps),
                          torch.ones(n_parallel_games, n_steps, dtype=torch.bool))

    update_pool(env, replay_seq_len)
    optimizer = torch.optim.Adadelta(weights, lr=0.01)
    for _ in range(3):
        update_pool(env, replay_seq_len)
        sessions = agent.get_sessions(env, session_length=replay_seq_len,
                                      batch_size=env.batch_size, experience_replay=True)
        elwise_mse_loss = qlearning.get_elementwise_objective(
            sessions.policy, env.actions[0], env.rewards, env.is_alive, gamma_or_gammas=0.99)
        mse_loss = elwise_mse_loss.sum() / env.is_alive.sum()
        reg_l2 = sum((w ** 2).sum() for w in weights) * 10 ** -4
        loss = mse_loss + reg_l2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert torch.isfinite(loss)
    for new_state in memory_dict:
        assert sessions.agent_states[new_state].shape[:2] == (n_parallel_games, replay_seq_len)
