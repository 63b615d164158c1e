"""End to end: a recurrent agent trained only from replayed sessions solves a memory task.

In a T-maze the cue is shown on the first tick and decides the rewarded turn several ticks
later. A GRU agent trained by n-step Q-learning on sessions sampled from a pool remembers it;
the same agent without memory cannot do better than chance.
"""
import pytest
import torch

from agentnet import Agent
from agentnet import layers as L
from agentnet.environment import SessionPoolEnvironment, TMaze, play_episodes
from agentnet.learning import generic, qlearning
from agentnet.memory import GRUCell
from agentnet.resolver import EpsilonGreedyResolver

CORRIDOR = 4
LENGTH = CORRIDOR + 2  # the episode's ticks and the dead tick that ends it


def build(memory: bool) -> Agent:
    obs = L.InputLayer((None, 3), name="observation")
    if memory:
        prev = L.InputLayer((None, 32), name="prev_gru")
        hidden = GRUCell(prev, obs, name="gru")
        states = {hidden: prev}
    else:
        hidden, states = L.DenseLayer(obs, 32, name="hidden"), {}
    q = L.DenseLayer(hidden, 2, nonlinearity=None, name="q")
    return Agent(obs, states, q, EpsilonGreedyResolver(q, epsilon=0.3, name="eps"))


def train_from_replay(agent: Agent, iterations: int = 600, seed: int = 0) -> float:
    torch.manual_seed(seed)
    env = TMaze(batch_size=16, corridor_length=CORRIDOR, seed=seed)
    pool = SessionPoolEnvironment(capacity=2000, session_length=LENGTH, agent=agent)
    optimizer = torch.optim.Adam(agent.parameters(), lr=3e-3)
    for _ in range(iterations):
        with torch.no_grad():                       # play: only to fill the pool
            pool.append_sessions(agent.get_sessions(env, LENGTH))
        batch = pool.sample_session_batch(64)       # learn: only from replayed sessions
        s = agent.get_sessions(batch, experience_replay=True)
        elementwise = qlearning.get_elementwise_objective(
            s.policy, s.actions, s.rewards, s.is_alive, n_steps=LENGTH, gamma_or_gammas=0.99,
            crop_last=False)
        loss = generic.masked_mean(elementwise, s.is_alive)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    episodes = play_episodes(agent, TMaze(batch_size=1000, corridor_length=CORRIDOR,
                                          seed=seed + 1), 1000, LENGTH, greedy=True)
    return (episodes.returns > 0).float().mean().item()


pytestmark = pytest.mark.usefixtures("one_thread")


def test_gru_agent_trained_from_replay_remembers_the_cue():
    assert train_from_replay(build(memory=True)) >= 0.95


def test_memoryless_agent_stays_near_chance():
    assert 0.35 <= train_from_replay(build(memory=False)) <= 0.65
