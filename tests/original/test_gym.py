"""The original AgentNet's tests/test_gym.py, call for call, with ``from agentnet import
layers`` for Lasagne, torch for Theano and Gymnasium's ``ALE/SpaceInvaders-v5`` (ROMs shipped
by ale-py) for gym's ``SpaceInvaders-v0``."""
from __future__ import annotations

import pytest
import torch

gym = pytest.importorskip("gymnasium")
ale_py = pytest.importorskip("ale_py")
gym.register_envs(ale_py)


@pytest.mark.slow
def test_space_invaders(game_title='ALE/SpaceInvaders-v5',
                        n_parallel_games=3,
                        replay_seq_len=2,
                        ):
    """Translates test_gym.py::test_space_invaders: an Atari agent with a window memory,
    an EnvPool, a SessionPoolEnvironment replay and Q-learning on it."""
    from agentnet.agent import Agent
    from agentnet.environment import SessionPoolEnvironment
    from agentnet.experiments.openai_gym.pool import EnvPool
    from agentnet.layers import (
        DenseLayer,
        DimshuffleLayer,
        ExpressionLayer,
        InputLayer,
        get_all_params,
    )
    from agentnet.learning import qlearning
    from agentnet.memory import WindowAugmentation
    from agentnet.resolver import EpsilonGreedyResolver

    atari = gym.make(game_title)
    atari.reset()

    # Game Parameters
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
    resolver = EpsilonGreedyResolver(q_eval, epsilon=0.1, name="resolver")
    agent = Agent(observation_layer, memory_dict, q_eval, resolver)
    weights = get_all_params(resolver, trainable=True)

    pool = EnvPool(agent, game_title, n_parallel_games)

    observation_log, action_log, reward_log, _, _, _ = pool.interact(50)

    env = SessionPoolEnvironment(observations=observation_layer,
                                 actions=resolver,
                                 agent_memories=agent.agent_states)

    def update_pool(env, pool, n_steps=100):
        """ a function that creates new sessions and ads them into the pool
        throwing the old ones away entirely for simplicity"""
        preceding_memory_states = list(pool.prev_memory_states)
        observation_tensor, action_tensor, reward_tensor, _, is_alive_tensor, _ = \
            pool.interact(n_steps=n_steps)
        env.load_sessions(observation_tensor, action_tensor, reward_tensor, is_alive_tensor,
                          preceding_memory_states)

    update_pool(env, pool, replay_seq_len)
    optimizer = torch.optim.Adadelta(weights, lr=0.01)

    def losses():
        _env_states, _observations, _memories, _imagined_actions, q_values_sequence = \
            agent.get_sessions(env, session_length=replay_seq_len, batch_size=env.batch_size,
                               experience_replay=True)
        scaled_reward_seq = env.rewards
        elwise_mse_loss = qlearning.get_elementwise_objective(q_values_sequence,
                                                              env.actions[0],
                                                              scaled_reward_seq,
                                                              env.is_alive,
                                                              gamma_or_gammas=0.99, )
        mse_loss = elwise_mse_loss.sum() / env.is_alive.sum()
        reg_l2 = sum((w ** 2).sum() for w in weights) * 10 ** -4
        return mse_loss + reg_l2, mse_loss, reg_l2, env.rewards.sum(dim=1).mean()

    for epoch_counter in range(10):
        update_pool(env, pool, replay_seq_len)
        loss, *_ = losses()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            full_loss, q_loss, l2_penalty, avg_reward_current = losses()
        print(f"epoch {epoch_counter},loss {full_loss:.5f}, rewards: {avg_reward_current:.5f} ")
        print(f"rec {q_loss:.3f} reg {l2_penalty:.3f}")
        assert torch.isfinite(full_loss)
    pool.close()
