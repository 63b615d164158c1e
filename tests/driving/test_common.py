"""What every driver shares: one ``update`` for any source of sessions (``EnvPool``,
``RayEnvPool``), and ``play_episodes``."""
import pytest
import torch

from agentnet import Agent
from agentnet import layers as L
from agentnet.driving import play_episodes, update
from agentnet.environment import CartPole, SessionPoolEnvironment
from agentnet.resolver import GreedyResolver


def greedy_agent() -> Agent:
    torch.manual_seed(0)
    obs = L.InputLayer((None, 4), name="observation")
    q = L.DenseLayer(obs, 2, nonlinearity=None, name="q")
    return Agent(obs, None, q, GreedyResolver(q))


class NativeSource:
    """A source of sessions that is no Gymnasium pool: native CartPole played on."""

    def __init__(self, agent: Agent):
        self.agent, self.env, self.last = agent, CartPole(batch_size=3, seed=0), None

    def interact(self, n_steps: int = 100):
        self.last = self.agent.get_sessions(self.env, n_steps, continue_from=self.last)
        return self.last


def test_update_feeds_any_source_of_sessions_into_a_replay_pool():
    agent = greedy_agent()
    source = NativeSource(agent)
    pool = SessionPoolEnvironment(capacity=10, session_length=4, agent=agent)
    sessions = update(source, 4, pool)
    assert len(pool) == 3 and torch.equal(pool.observations[0], sessions.observations)
    with pytest.raises(ValueError, match=r"NativeSource.update: the session pool stores "
                                         r"sessions of 4 ticks, got n_steps=5"):
        update(source, 5, pool)
    assert len(pool) == 3


def test_play_episodes_measures_one_episode_per_row():
    stats = play_episodes(greedy_agent(), CartPole(batch_size=1), n_episodes=4, max_steps=600)
    assert stats.returns.shape == (4,) and torch.equal(stats.returns, stats.lengths)
    with pytest.raises(ValueError, match="without autoreset"):
        play_episodes(greedy_agent(), CartPole(autoreset=True), 2, 10)
