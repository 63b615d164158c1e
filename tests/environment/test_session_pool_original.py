"""SessionPoolEnvironment made and filled the original AgentNet's way: fields described by
counts or layers, numpy ``load_sessions``, ``append_sessions(max_pool_size=)``, sampling
without replacement by default."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from agentnet import layers as L
from agentnet.environment import SessionPoolEnvironment


def numpy_sessions(batch, length=3, start=0):
    """Sessions whose observations hold their index (float64, int32 actions, uint8 is_alive,
    as the original's numpy logs were)."""
    ids = np.arange(start, start + batch, dtype=np.float64)
    observations = np.repeat(ids[:, None, None], length, axis=1).repeat(2, axis=2)
    actions = np.ones((batch, length), dtype=np.int32)
    rewards = np.zeros((batch, length))
    is_alive = np.ones((batch, length), dtype=np.uint8)
    return observations, actions, rewards, is_alive


def ids(pool):
    return pool.observations[0][:, 0, 0].tolist()


def test_layers_describe_the_fields_and_numpy_loads_are_cast():
    observation = L.InputLayer((None, 2), name="observation")
    memory = L.InputLayer((None, 5), name="memory")
    pool = SessionPoolEnvironment(observations=observation, actions=1, agent_memories=[memory])
    assert len(pool) == pool.batch_size == 0
    observations, actions, rewards, is_alive = numpy_sessions(4)
    pool.load_sessions(observations, actions, rewards, is_alive, [np.zeros((4, 5))])
    assert (len(pool), pool.sequence_length, pool.pool_size) == (4, 3, 4)
    assert pool.observations[0].dtype == torch.float32
    assert pool.actions[0].dtype == torch.int64 and pool.is_alive.dtype == torch.bool
    assert pool.preceding_agent_memories[0].shape == (4, 5)
    with pytest.raises(ValueError, match=r"observation_sequences has shape \(4, 3, 3\), "
                                         r"expected \(4, 3, 2\)"):
        pool.load_sessions(np.zeros((4, 3, 3)), actions, rewards)
    # a load of another size and length replaces everything
    pool.load_sessions(*numpy_sessions(2, length=7)[:3])
    assert (len(pool), pool.session_length) == (2, 7)
    assert pool.preceding_memories is None   # none given: a replay starts from zeros


def test_positional_original_constructor_and_counts():
    observation = L.InputLayer((None, 2), name="observation")
    pool = SessionPoolEnvironment(observation, 1, 0)
    pool.load_sessions(*numpy_sessions(3))
    assert ids(pool) == [0, 1, 2]
    by_count = SessionPoolEnvironment()   # the original's defaults: one of each, any shape
    by_count.load_sessions(*numpy_sessions(3), prev_memories=[np.ones((3, 8))])
    assert by_count.preceding_memories[0].shape == (3, 8)


def test_append_grows_and_keeps_the_newest_max_pool_size():
    pool = SessionPoolEnvironment(observations=1, actions=1, agent_memories=0)
    pool.append_sessions(*numpy_sessions(3))                     # to an empty pool
    pool.append_sessions(*numpy_sessions(2, start=3))
    assert ids(pool) == [0, 1, 2, 3, 4]
    pool.append_sessions(*numpy_sessions(2, start=5), max_pool_size=4)
    assert ids(pool) == [3, 4, 5, 6]
    with pytest.raises(ValueError, match="sessions of 3 ticks, got 5"):
        pool.append_sessions(*numpy_sessions(1, length=5))


def test_sampling_defaults_to_the_originals_without_replacement():
    pool = SessionPoolEnvironment(observations=1, actions=1, agent_memories=0)
    pool.load_sessions(*numpy_sessions(5))
    batch = pool.sample_session_batch(8)                           # min(8, 5), all distinct
    assert sorted(batch.indices.tolist()) == [0, 1, 2, 3, 4]
    assert len(pool.sample_session_batch(8, replace=True)) == 8
    draws = []
    for _ in range(2):   # rng_seed=1337 by default, as the original's: the same draws
        seeded = SessionPoolEnvironment(observations=1, actions=1, agent_memories=0)
        seeded.load_sessions(*numpy_sessions(5))
        draws.append(seeded.sample_session_batch(3).indices)
    assert torch.equal(*draws)


def test_mixing_the_two_constructors_is_refused():
    observation = L.InputLayer((None, 2), name="observation")
    with pytest.raises(ValueError, match="not both: got capacity, session_length with "
                                         "observations"):
        SessionPoolEnvironment(4, 2, observations=observation)
    with pytest.raises(ValueError, match="give capacity and session_length"):
        SessionPoolEnvironment(4)
    native = SessionPoolEnvironment(4, 2, observation_specs=[((2,), torch.float32)])
    with pytest.raises(ValueError, match="max_pool_size is for pools made the original way"):
        native.append_sessions(torch.zeros(1, 2, 2), torch.zeros(1, 2, dtype=torch.int64),
                               torch.zeros(1, 2), max_pool_size=3)


def test_native_pool_accepts_prev_memories():
    pool = SessionPoolEnvironment(4, 2, observation_specs=[((2,), torch.float32)],
                                  memory_specs=[((3,), torch.float32)])
    pool.append_sessions(torch.zeros(1, 2, 2), torch.zeros(1, 2, dtype=torch.int64),
                         torch.zeros(1, 2), prev_memories=[torch.ones(1, 3)])
    assert torch.equal(pool.preceding_memories[0], torch.ones(1, 3))


def test_replay_of_an_original_pool():
    from agentnet import Agent
    from agentnet.resolver import EpsilonGreedyResolver

    observation = L.InputLayer((None, 2), name="observation")
    q = L.DenseLayer(observation, num_units=2, nonlinearity=None, name="q")
    resolver = EpsilonGreedyResolver(q)
    agent = Agent(observation, policy_estimators=q, action_layers=resolver)
    pool = SessionPoolEnvironment(observations=observation, actions=resolver,
                                  agent_memories=agent.prev_state_layers)
    pool.load_sessions(*numpy_sessions(4)[:3])
    sessions = agent.get_sessions(pool, session_length=3, batch_size=pool.batch_size,
                                  experience_replay=True)
    assert sessions.policy.shape == (4, 3, 2)
    assert pool.sample_session_batch(2).batch_size == 2
