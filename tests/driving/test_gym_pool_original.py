"""EnvPool the original AgentNet's way: ``n_games=``/``make_env=``/``max_size=``,
``interact`` unpacking into the six numpy logs, ``prev_memory_states``, and ``update`` filling
the pool's own ``experience_replay`` with ``append=``, ``max_size=``, ``preprocess=``."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from agentnet import Agent
from agentnet import layers as L
from agentnet.driving import EnvPool
from agentnet.environment import SessionPoolEnvironment
from agentnet.resolver import EpsilonGreedyResolver


def make_agent():
    torch.manual_seed(0)
    observation = L.InputLayer((None, 4), name="observation")
    prev = L.InputLayer((None, 3), name="prev memory")
    memory = L.DenseLayer(L.ConcatLayer([observation, prev]), num_units=3, name="memory")
    q = L.DenseLayer(memory, num_units=2, nonlinearity=None, name="q")
    return Agent(observation, {memory: prev}, q, EpsilonGreedyResolver(q))


@pytest.fixture
def pool():
    with EnvPool(make_agent(), make_env="CartPole-v1", n_games=3, max_size=5, seed=0) as pool:
        yield pool


def test_interact_unpacks_into_the_original_logs(pool):
    assert pool.n_envs == 3
    observation_log, action_log, reward_log, memories_log, is_alive_log, info_log = \
        pool.interact(6)
    assert observation_log.shape == (3, 6, 4) and isinstance(observation_log, np.ndarray)
    assert action_log.shape == reward_log.shape == is_alive_log.shape == (3, 6)
    assert is_alive_log.dtype == np.uint8
    assert [m.shape for m in memories_log] == [(3, 6, 3)]
    assert len(info_log) == 6 and len(info_log[0]) == 3
    sessions = pool.interact(2)       # and read by name as ever
    assert sessions.observations.shape == (3, 2, 4)
    assert [m.shape for m in pool.prev_memory_states] == [(3, 3)]


def test_update_replaces_or_appends_up_to_max_size(pool):
    pool.update(4)                                         # append=False: replaced
    pool.update(4)
    assert len(pool.experience_replay) == 3
    pool.update(4, append=True)                            # 6, cut to the pool's max_size 5
    assert len(pool.experience_replay) == 5
    pool.update(4, append=True, max_size=4)
    assert len(pool.experience_replay) == 4
    assert pool.experience_replay.preceding_memories[0].shape == (4, 3)
    replayed = pool.agent.get_sessions(pool.experience_replay.sample_session_batch(2),
                                       experience_replay=True)
    assert replayed.policy.shape == (2, 4, 2)


def test_update_preprocess_gets_and_returns_numpy(pool):
    seen = []

    def clip_rewards(observations, actions, rewards, is_alive, memories):
        seen.append((type(observations), rewards.dtype, is_alive.dtype, len(memories)))
        return observations, actions, np.clip(rewards, 0, 0.5), is_alive, memories

    pool.update(3, preprocess=clip_rewards)
    assert seen == [(np.ndarray, np.float32, np.uint8, 1)]
    assert float(pool.experience_replay.rewards.max()) == 0.5


def test_update_into_a_given_session_pool_refuses_the_original_keywords(pool):
    replay = SessionPoolEnvironment(10, 3, agent=pool.agent)
    pool.update(3, replay)
    assert len(replay) == 3
    with pytest.raises(ValueError, match="for the pool's own experience_replay"):
        pool.update(3, replay, append=True)
    with pytest.raises(ValueError, match="add_last_observation=False is not supported"):
        pool.update(3, add_last_observation=False)


def test_both_names_at_once_are_refused():
    with pytest.raises(TypeError, match="give n_envs or the original's name for it"):
        EnvPool(make_agent(), "CartPole-v1", n_envs=2, n_games=2)
