"""The episode-end contract: final-state ticks, truncation flags, restarts, continuation."""
import torch

from agentnet import Agent
from agentnet import layers as L
from agentnet.environment import CartPole
from agentnet.resolver import GreedyResolver


def counting_agent():
    """Always pushes right; its memory counts the ticks of the current episode."""
    obs = L.InputLayer((None, 4), name="observation")
    prev = L.InputLayer((None, 1), name="prev_count")
    count = L.LambdaLayer(prev, lambda c: c + 1, name="count")
    q = L.LambdaLayer(obs, lambda o: torch.stack([o[:, 0] * 0, o[:, 0] * 0 + 1], 1), name="q")
    return Agent(obs, {count: prev}, q, GreedyResolver(q)), count


def test_time_limit_is_a_truncation_then_a_dead_final_tick_then_a_new_episode():
    torch.manual_seed(0)
    agent, count = counting_agent()
    env = CartPole(batch_size=2, max_steps=4, autoreset=True)
    s = agent.get_sessions(env, session_length=11)
    alive = torch.tensor([True] * 4 + [False] + [True] * 4 + [False, True])
    assert torch.equal(s.is_alive, alive.expand(2, 11))
    truncated = torch.zeros(11, dtype=torch.bool)
    truncated[[3, 8]] = True
    assert torch.equal(s.is_truncated, truncated.expand(2, 11))
    # the dead tick holds the state the episode ended in: 4 steps taken
    assert torch.equal(s.env_states[1][0], torch.tensor([0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0]))
    assert torch.equal(s.rewards[0], alive.float())
    # memory restarts at each episode's first tick (and runs on through the dead tick)
    expected_count = torch.tensor([1., 2, 3, 4, 5, 1, 2, 3, 4, 5, 1])
    torch.testing.assert_close(s.agent_states[count][0, :, 0], expected_count)
    # new episodes start near the origin
    assert s.observations[:, [5, 10]].abs().max() <= 0.05


def test_termination_is_not_a_truncation_and_stays_dead_without_autoreset():
    agent, _ = counting_agent()                      # always pushing right: the pole falls
    s = agent.get_sessions(CartPole(batch_size=3), session_length=60)
    lengths = s.is_alive.sum(1)
    assert (lengths < 60).all() and not s.is_truncated.any()
    for row, length in enumerate(lengths.tolist()):
        assert s.is_alive[row, :length].all() and not s.is_alive[row, length:].any()


def test_continue_from_equals_one_long_rollout():
    agent, count = counting_agent()
    torch.manual_seed(3)
    whole = agent.get_sessions(CartPole(batch_size=4, max_steps=6, seed=1, autoreset=True), 20)
    torch.manual_seed(3)
    env = CartPole(batch_size=4, max_steps=6, seed=1, autoreset=True)
    first = agent.get_sessions(env, 7)
    second = agent.get_sessions(env, 13, continue_from=first)
    for field in ("observations", "actions", "rewards", "is_alive", "is_truncated"):
        joined = torch.cat([getattr(first, field), getattr(second, field)], dim=1)
        assert torch.equal(joined, getattr(whole, field)), field
    joined_count = torch.cat([first.agent_states[count], second.agent_states[count]], 1)
    assert torch.equal(joined_count, whole.agent_states[count])
    assert torch.equal(second.next_observations[0], whole.next_observations[0])
