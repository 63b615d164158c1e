"""agentnet.distributed without a Ray runtime: agents pickle, a collector runs in-process,
sessions survive packing, and Ray stays optional."""
from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("gymnasium")

from agentnet import Agent  # noqa: E402
from agentnet import layers as L  # noqa: E402
from agentnet.distributed import Collector  # noqa: E402
from agentnet.distributed.collector import (  # noqa: E402
    CollectorSpec,
    concat_sessions,
    cpu_state_dict,
    pack_sessions,
    unpack_sessions,
)
from agentnet.environment import SessionPoolEnvironment  # noqa: E402
from agentnet.examples.gym_cartpole_dqn import Config, build_agent  # noqa: E402
from agentnet.memory import GRUCell  # noqa: E402
from agentnet.resolver import EpsilonGreedyResolver  # noqa: E402


def gru_agent(epsilon: float = 0.5) -> Agent:
    obs = L.InputLayer((None, 4), name="observation")
    prev = L.InputLayer((None, 16), name="prev_gru")
    gru = GRUCell(prev, obs, name="gru")
    q = L.DenseLayer(gru, 2, nonlinearity=None, name="q")
    return Agent(obs, agent_states={gru: prev}, policy_estimators=q,
                 action_layers=EpsilonGreedyResolver(q, epsilon=epsilon, name="resolver"))


@pytest.mark.parametrize("make", [lambda: build_agent(Config(hidden1=32, hidden2=32)), gru_agent])
def test_agents_pickle_with_their_weights_and_behaviour(make):
    torch.manual_seed(0)
    agent = make()
    copy = pickle.loads(pickle.dumps(agent))
    assert type(copy) is type(agent)
    original, copied = agent.state_dict(), copy.state_dict()
    assert list(original) == list(copied)
    assert all(torch.equal(original[k], copied[k]) for k in original)
    observations = torch.randn(5, 4)
    memory = [torch.randn(5, *layer.output_shape[1:]) for layer in agent.prev_state_layers]
    a = agent.get_agent_reaction(memory, observations, greedy=True)
    b = copy.get_agent_reaction(memory, observations, greedy=True)
    assert torch.equal(a.policy, b.policy) and torch.equal(a.actions, b.actions)
    for x, y in zip(a.new_states, b.new_states):
        assert torch.equal(x, y)
    # the copy is independent: its epsilon (a buffer, sent with the weights) is its own
    copy.action_layers[0].epsilon.set_value(0.0)
    assert agent.action_layers[0].epsilon.get_value() != 0.0


def test_collector_plays_batches_and_loads_new_weights_in_process():
    torch.manual_seed(0)
    learner = gru_agent()
    collector = Collector(3, CollectorSpec(gru_agent, "CartPole-v1", n_envs=2, seed=0,
                                           num_threads=None))
    collector._load(0, [cpu_state_dict(learner)])
    first = collector.collect(6, seq=0, weight_version=0)
    assert first.info[:6] == (3, 0, collector.incarnation, 0, 2, 6)
    assert first.info.env_steps == 12 and first.info.staleness == -1
    fields = {k: [torch.as_tensor(a) for a in v] for k, v in first.fields.items()}
    assert fields["observations"][0].shape == (2, 6, 4)
    assert fields["agent_states"][0].shape == (2, 6, 16)
    assert fields["initial_agent_states"][0].shape == (2, 16)
    assert all(isinstance(a, np.ndarray) for arrays in first.fields.values() for a in arrays)
    # the memory entering a batch is the memory the previous batch left (or zeros after a
    # new episode's start), so that the replay of each batch starts where it really started
    second_noload = collector.collect(6, seq=1, weight_version=0)
    second = {k: [torch.as_tensor(a) for a in v] for k, v in second_noload.fields.items()}
    last = fields["agent_states"][0][:, -1]
    alive_next = second["is_alive"][0][:, 0] & fields["is_alive"][0][:, -1]
    assert torch.equal(second["initial_agent_states"][0][alive_next], last[alive_next])
    # a new version is loaded before the next batch; the same version is not loaded again
    with torch.no_grad():
        for p in learner.parameters():
            p.add_(1.0)
    batch = collector.collect(4, seq=2, weight_version=7, weights=[cpu_state_dict(learner)])
    assert batch.info.weight_version == 7 and collector.weight_version == 7
    for name, value in learner.state_dict().items():
        assert torch.equal(collector.agent.state_dict()[name], value)
    collector.collect(4, seq=3, weight_version=7, weights=[{"not": torch.zeros(1)}])  # unused
    collector.close()


def test_a_collector_without_setup_sets_itself_up_from_the_request_like_a_restarted_actor():
    spec = CollectorSpec(gru_agent, "CartPole-v1", n_envs=2, seed=0, num_threads=None)
    collector = Collector(0)
    learner = gru_agent(epsilon=0.0)
    batch = collector.collect(3, seq=5, weight_version=2, weights=[cpu_state_dict(learner)],
                              spec=[spec])
    assert collector.restarted and batch.info.weight_version == 2 and batch.info.seq == 5
    assert collector.agent.action_layers[0].epsilon.get_value() == 0.0
    collector.close()
    with pytest.raises(RuntimeError, match="collect before setup"):
        Collector(1).collect(3, seq=0, weight_version=0)


def test_unpacked_sessions_are_shaped_for_the_learner_and_fill_a_replay():
    learner = gru_agent()
    collector = Collector(0, CollectorSpec(gru_agent, "CartPole-v1", n_envs=3, seed=1,
                                           num_threads=None))
    packed = pack_sessions(collector.pool.interact(5))
    sessions = unpack_sessions(packed, learner)
    assert sessions.observations.shape == (3, 5, 4) and sessions.actions.dtype == torch.int64
    assert list(sessions.agent_states) == learner.state_layers  # keyed by the learner's layers
    assert sessions.policy.shape == (3, 5, 2)
    replay = SessionPoolEnvironment(10, 5, agent=learner)
    replay.append_sessions(sessions)
    assert len(replay) == 3
    assert torch.equal(replay.preceding_memories[0],
                       torch.as_tensor(packed["initial_agent_states"][0]))
    assert concat_sessions([packed, packed])["rewards"][0].shape == (6, 5)
    with pytest.raises(ValueError, match="agent states"):
        unpack_sessions(packed, build_agent(Config(hidden1=8, hidden2=8)))
    collector.close()


def test_importing_agentnet_and_agentnet_distributed_does_not_import_ray():
    code = ("import sys, agentnet, agentnet.distributed; "
            "assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_ray_the_error_says_how_to_install_it(monkeypatch):
    from agentnet.distributed import RayEnvPool, init_local, require_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    for call in (require_ray, init_local, lambda: RayEnvPool(gru_agent(), "CartPole-v1")):
        with pytest.raises(ImportError, match=r"pip install 'agentnet-torch\[ray\]'"):
            call()


@pytest.mark.slow
def test_a_pool_starts_and_stops_its_own_loopback_ray_when_none_runs():
    ray = pytest.importorskip("ray")
    from agentnet.distributed import RayEnvPool

    if ray.is_initialized():
        pytest.skip("Ray already runs in this process")
    torch.set_num_threads(1)
    with RayEnvPool(gru_agent(), "CartPole-v1", n_collectors=1, n_envs=2) as envs:
        assert ray.is_initialized() and ray.util.get_node_ip_address() == "127.0.0.1"
        assert envs.interact(3).rewards.shape == (2, 3)
    assert not ray.is_initialized()
