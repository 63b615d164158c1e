"""The original AgentNet's tests/test_learning.py, call for call, with
``from agentnet import layers`` for Lasagne and torch for Theano."""
from __future__ import annotations

import torch


def test_space_invaders(game_title='SpaceInvaders-v0',
                        n_parallel_games=3,
                        replay_seq_len=2,
                        ):
    """Translates test_learning.py::test_space_invaders: Q-learning, SARSA, n-step
    Q-learning and A2C objectives over an Atari agent's replayed sessions."""
    import gymnasium as gym

    from agentnet.agent import Agent
    from agentnet.environment import EnvPool, SessionPoolEnvironment
    from agentnet.layers import (
        DenseLayer,
        DimshuffleLayer,
        ExpressionLayer,
        InputLayer,
        get_all_params,
    )
    from agentnet.learning import a2c, qlearning, sarsa
    from agentnet.memory import WindowAugmentation
    from agentnet.resolver import ProbabilisticResolver

    atari = gym.make(game_title)
    atari.reset()
    n_actions = atari.action_space.n
    observation_shape = (None,) + atari.observation_space.shape
    del atari

    observation_layer = InputLayer(observation_shape, name="images input")
    observation_reshape = DimshuffleLayer(observation_layer, (0, 3, 1, 2))
    window_size = 3
    prev_window = InputLayer((None, window_size) + tuple(observation_reshape.output_shape[1:]),
                             name="previous window state")
    window = WindowAugmentation(observation_reshape, prev_window, name="new window state")
    memory_dict = {window: prev_window}
    window_max = ExpressionLayer(window, lambda a: a.amax(dim=1),
                                 output_shape=(None,) + window.output_shape[2:])
    nn = DenseLayer(window_max, num_units=50, name='dense0')
    q_eval = DenseLayer(nn, num_units=n_actions, nonlinearity=None, name="QEvaluator")
    policy_eval = DenseLayer(nn, num_units=n_actions,
                             nonlinearity=lambda x: torch.softmax(x, dim=-1),
                             name="a2c action probas")
    state_value_eval = DenseLayer(nn, num_units=1, nonlinearity=None, name="a2c state values")
    resolver = ProbabilisticResolver(policy_eval, name="resolver")
    agent = Agent(observation_layer, memory_dict, (q_eval, policy_eval, state_value_eval),
                  resolver)
    weights = get_all_params(resolver, trainable=True)

    pool = EnvPool(agent, game_title, n_parallel_games)
    observation_log, action_log, reward_log, _, _, _ = pool.interact(50)

    env = SessionPoolEnvironment(observations=observation_layer, actions=resolver,
                                 agent_memories=agent.agent_states)

    def update_pool(env, pool, n_steps=100):
        preceding_memory_states = list(pool.prev_memory_states)
        observation_tensor, action_tensor, reward_tensor, _, is_alive_tensor, _ = \
            pool.interact(n_steps=n_steps)
        env.load_sessions(observation_tensor, action_tensor, reward_tensor, is_alive_tensor,
                          preceding_memory_states)

    update_pool(env, pool, replay_seq_len)
    optimizer = torch.optim.Adadelta(weights, lr=0.01)

    def loss_fn():
        _env_states, _observations, _memories, _imagined_actions, estimators = \
            agent.get_sessions(env, session_length=replay_seq_len, batch_size=env.batch_size,
                               experience_replay=True)
        (q_values_sequence, policy_sequence, value_sequence) = estimators
        scaled_reward_seq = env.rewards
        elwise_mse_loss = 0.
        for algo in qlearning, sarsa:
            elwise_mse_loss += algo.get_elementwise_objective(q_values_sequence, env.actions[0],
                                                              scaled_reward_seq, env.is_alive,
                                                              gamma_or_gammas=0.99)
        for n in (1, 3, replay_seq_len - 1, replay_seq_len, replay_seq_len + 1, None):
            elwise_mse_loss += qlearning.get_elementwise_objective(
                q_values_sequence, env.actions[0], scaled_reward_seq, env.is_alive,
                gamma_or_gammas=0.99, n_steps=n)
        elwise_mse_loss += a2c.get_elementwise_objective(
            policy_sequence, value_sequence[:, :, 0], env.actions[0], scaled_reward_seq,
            env.is_alive, gamma_or_gammas=0.99, n_steps=3)
        mse_loss = elwise_mse_loss.sum() / env.is_alive.sum()
        reg_l2 = sum((w ** 2).sum() for w in weights) * 10 ** -4
        return mse_loss + reg_l2

    for _epoch_counter in range(10):
        update_pool(env, pool, replay_seq_len)
        loss = loss_fn()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert torch.isfinite(loss)
