"""``get_sessions`` plays live or replays: an argument of the other mode raises, naming it; a
value that only repeats what the mode implies is accepted (ported code passes it)."""
import pytest
import torch

from agentnet import Agent
from agentnet import layers as L
from agentnet.environment import CartPole, SessionPoolEnvironment
from agentnet.memory import GRUCell
from agentnet.resolver import EpsilonGreedyResolver


@pytest.fixture
def agent():
    torch.manual_seed(0)
    obs = L.InputLayer((None, 4), name="observation")
    prev = L.InputLayer((None, 8), name="prev_gru")
    gru = GRUCell(prev, obs, name="gru")
    q = L.DenseLayer(gru, 2, nonlinearity=None, name="q")
    return Agent(obs, {gru: prev}, q, EpsilonGreedyResolver(q, epsilon=0.5, name="eps"))


@pytest.fixture
def recorded(agent):
    """Live sessions of 6 ticks in 4 rows, and a pool holding them."""
    sessions = agent.get_sessions(CartPole(batch_size=4, seed=0), 6)
    pool = SessionPoolEnvironment(capacity=4, session_length=6, agent=agent)
    pool.append_sessions(sessions)
    return sessions, pool


def test_burn_in_does_not_apply_to_a_live_rollout(agent):
    with pytest.raises(ValueError, match=r"burn_in=3 does not apply to a live rollout"):
        agent.get_sessions(CartPole(batch_size=2), 5, burn_in=3)
    assert agent.get_sessions(CartPole(batch_size=2), 5, burn_in=0).length == 5


@pytest.mark.parametrize("name", ["initial_env_states", "initial_observations",
                                  "continue_from", "compiled"])
def test_live_only_arguments_do_not_apply_to_a_replay(agent, recorded, name):
    sessions, pool = recorded
    value = {"initial_env_states": sessions.next_env_states,
             "initial_observations": sessions.next_observations,
             "continue_from": sessions, "compiled": True}[name]
    with pytest.raises(ValueError, match=rf"{name}.* does not apply to experience replay"):
        agent.get_sessions(pool, experience_replay=True, **{name: value})


def test_a_replay_plays_the_recorded_sessions_whole(agent, recorded):
    sessions, pool = recorded
    with pytest.raises(ValueError, match=r"session_length=99, but the replayed sessions are 6 "
                                         r"ticks"):
        agent.get_sessions(pool, session_length=99, experience_replay=True)
    with pytest.raises(ValueError, match=r"batch_size=2, but the replayed sessions are 4"):
        agent.get_sessions(pool, batch_size=2, experience_replay=True)
    # the example: every argument of the other mode, or a length it cannot play
    with pytest.raises(ValueError, match="does not apply to experience replay"):
        agent.get_sessions(pool, session_length=99, compiled=True, continue_from=sessions,
                           experience_replay=True)
    # what the mode implies anyway is accepted: the recorded length and batch, no compiling
    plain = agent.get_sessions(pool, experience_replay=True)
    same = agent.get_sessions(pool, 6, batch_size=4, compiled=False, experience_replay=True,
                              burn_in=0)
    assert torch.equal(plain.policy, same.policy) and plain.length == 6


def test_a_live_start_is_given_once(agent, recorded):
    sessions, _ = recorded
    env = CartPole(batch_size=4, seed=1)
    with pytest.raises(ValueError, match="continue_from replaces"):
        agent.get_sessions(env, 3, continue_from=sessions,
                           initial_observations=sessions.next_observations)
    with pytest.raises(ValueError, match=r"batch_size=7, but the sessions start from 4 given"):
        agent.get_sessions(env, 3, continue_from=sessions, batch_size=7)
    assert agent.get_sessions(env, 3, continue_from=sessions, batch_size=4).batch_size == 4
    assert agent.get_sessions(env).length == 10  # the default length of a live rollout
