"""The compiled rollout path gives the eager path's sessions."""
import copy
import gc
import pickle
import weakref

import pytest
import torch
from torch._dynamo.utils import counters

from agentnet import Agent
from agentnet import layers as L
from agentnet.agent import compiled as compiled_module
from agentnet.agent import rollout
from agentnet.environment import CartPole
from agentnet.memory import GRUCell
from agentnet.resolver import EpsilonGreedyResolver

FIELDS = ["env_states", "observations", "agent_states", "actions", "policy", "rewards",
          "is_alive", "is_truncated", "next_env_states", "next_observations",
          "additional_outputs", "initial_agent_states"]


def gru_agent(epsilon: float = 0.3) -> tuple[Agent, GRUCell]:
    torch.manual_seed(0)
    obs = L.InputLayer((None, 4), name="observation")
    prev = L.InputLayer((None, 16), name="prev_gru")
    gru = GRUCell(prev, obs, name="gru")
    q = L.DenseLayer(gru, 2, nonlinearity=None, name="q")
    return Agent(obs, {gru: prev}, q, EpsilonGreedyResolver(q, epsilon=epsilon)), gru


def mlp_agent(epsilon: float = 0.3) -> Agent:
    torch.manual_seed(0)
    obs = L.InputLayer((None, 4), name="observation")
    h = L.DenseLayer(obs, 32, name="h")
    q = L.DenseLayer(h, 2, nonlinearity=None, name="q")
    return Agent(obs, policy_estimators=q, action_layers=EpsilonGreedyResolver(q, epsilon))


def assert_same(eager, compiled, where: str = "") -> None:
    """Equal sessions: the same values, dtypes and shapes (floats within float rounding:
    a compiled sin/cos or a fused GRU may differ from ATen's in the last bit)."""
    if isinstance(eager, dict):
        assert list(eager) == list(compiled), where
        for key in eager:
            assert_same(eager[key], compiled[key], f"{where}[{key.name}]")
    elif isinstance(eager, (list, tuple)):
        assert len(eager) == len(compiled), where
        for i, (e, c) in enumerate(zip(eager, compiled)):
            assert_same(e, c, f"{where}[{i}]")
    else:
        assert eager.dtype == compiled.dtype and eager.shape == compiled.shape, where
        if eager.dtype.is_floating_point:
            torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-6, msg=where)
        else:
            assert torch.equal(eager, compiled), where


def assert_same_sessions(eager, compiled) -> None:
    for field in FIELDS:
        assert_same(getattr(eager, field), getattr(compiled, field), field)


def test_compiled_sessions_equal_eager_ones_and_train():
    agent, gru = gru_agent()
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


def play(agent: Agent, env: CartPole, length: int, compiled: bool, **kwargs):
    """Sessions from a fresh reset of ``env`` (its own seed and torch's, both 1): then the
    random draws (exploration, autoreset's new episodes) are the same in both paths."""
    env.seed(1)
    torch.manual_seed(1)
    first = agent.get_sessions(env, length, compiled=compiled, **kwargs)
    return first, agent.get_sessions(env, length, compiled=compiled, continue_from=first,
                                     **kwargs)


@pytest.mark.parametrize("length, static", [(1, True), (2, True), (9, True), (9, False)])
def test_compiled_rollout_without_grad_equals_eager_with_exploration_and_autoreset(
        length, static, monkeypatch):
    # epsilon-greedy and autoreset draw random numbers: the compiled ticks draw them from the
    # same generators in the same order; a short time limit ends episodes by truncation too;
    # the first call plays its first tick eagerly, then 4-tick graphs, and ticks left over
    # eagerly; continue_from goes on; static: the graph made for this session length, else
    # the one for any length
    if not static:
        monkeypatch.setattr(compiled_module, "STATIC_LENGTHS", 0)
    agent, _ = gru_agent()
    env = CartPole(batch_size=16, max_steps=9, autoreset=True)
    with torch.no_grad():
        eager = play(agent, env, length, compiled=False)
        compiled = play(agent, env, length, compiled=True)
    for e, c in zip(eager, compiled):
        assert_same_sessions(e, c)
        assert all(t.is_contiguous() for t in [*c.env_states, c.observations, c.actions,
                                               c.policy, c.rewards, c.is_alive])
    if length == 9:  # the 18 ticks saw episode ends of both kinds, and restarts
        assert any(s.env_states[2].any() for s in eager)  # terminated
        assert any(s.is_truncated.any() for s in eager)


def test_compiled_rollout_with_grad_equals_eager_with_exploration():
    agent = mlp_agent()
    env = CartPole(batch_size=16, max_steps=8, autoreset=True)
    eager = play(agent, env, 12, compiled=False)
    compiled = play(agent, env, 12, compiled=True)
    for e, c in zip(eager, compiled):
        assert_same_sessions(e, c)
    compiled[1].policy.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in agent.parameters())


def test_compiled_rollouts_compile_once_per_length_then_once_for_all():
    agent = mlp_agent(epsilon=0.1)
    env = CartPole(batch_size=64, seed=0, autoreset=True)

    def graphs_made_by(*lengths: int) -> int:
        graphs = counters["stats"]["unique_graphs"]
        for length in lengths:
            agent.get_sessions(env, length, compiled=True)
        return counters["stats"]["unique_graphs"] - graphs

    with torch.no_grad():
        assert graphs_made_by(10) == 2  # 4 ticks per graph, and 1 for the 2 left over
        assert graphs_made_by(10, 10, 3, 2) == 0  # the same length again; < 4: 1 by 1
        assert graphs_made_by(11, 11) == 1  # a second length: its own graph
        assert graphs_made_by(30, 7, 12, 10, 11) == 1  # others share one (dynamic) graph


def test_a_compiled_rollout_leaves_the_agent_picklable_and_keeps_nothing_alive():
    # the compiled graphs are kept outside the agent, per agent and environment, and go
    # with either: the agent pickles and deep-copies (what RayEnvPool sends its collectors)
    agent = mlp_agent()
    env = CartPole(batch_size=8, seed=0)
    with torch.no_grad():
        agent.get_sessions(env, 2, compiled=True)  # tick 0 eager, tick 1 compiled
    key = (id(agent), id(env))
    assert key in rollout._CACHE
    for other in (pickle.loads(pickle.dumps(agent)), copy.deepcopy(agent)):
        assert all(torch.equal(a, b) for a, b in zip(agent.state_dict().values(),
                                                      other.state_dict().values()))
        played = [a.get_sessions(CartPole(batch_size=4, seed=1), 5, greedy=True)
                  for a in (agent, other)]
        assert torch.equal(played[0].actions, played[1].actions)
    env_alive, agent_alive = weakref.ref(env), weakref.ref(agent)
    del agent, env, other, played
    gc.collect()
    assert env_alive() is None and agent_alive() is None
    assert key not in rollout._CACHE
