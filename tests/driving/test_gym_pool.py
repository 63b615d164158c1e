"""EnvPool against a counting environment whose episodes are known tick by tick (``CountingEnv``
and its ``reference``, shared with other tests in ``fake_envs``)."""
from __future__ import annotations

import multiprocessing
import warnings

import pytest
import torch
from fake_envs import (
    CountingEnv,
    DictCountingEnv,
    check_against_reference,
    counting_agent,
    reference,
)

from agentnet import Agent
from agentnet import layers as L
from agentnet.driving import EnvPool, GamePool
from agentnet.environment import EpisodeStats, SessionPoolEnvironment
from agentnet.memory import GRUCell
from agentnet.resolver import EpsilonGreedyResolver, GreedyResolver

# env tag 0, tick by tick: (t observed, episode, reward, is_alive, is_truncated); actions are t % 2
HAND_MADE = [
    (0, 0, 1.0, True, False), (1, 0, 2.5, True, False), (2, 0, 3.0, True, False),
    (3, 0, 0.0, False, False),                                # terminated: the final state
    (0, 1, 11.0, True, False), (1, 1, 12.5, True, True),      # truncated ...
    (2, 1, 0.0, False, False),                                # ... bootstrap from here
    (0, 2, 21.0, True, False), (1, 2, 22.5, True, False), (2, 2, 23.0, True, False),
    (3, 2, 24.5, True, False),                                # terminated and truncated
    (4, 2, 0.0, False, False),
    (0, 3, 31.0, True, False), (1, 3, 0.0, False, False),
    (0, 4, 41.0, True, False), (1, 4, 42.5, True, False),
]


def assert_no_children():
    assert multiprocessing.active_children() == []
    psutil = pytest.importorskip("psutil")
    assert psutil.Process().children(recursive=True) == []


def test_the_reference_is_the_hand_made_table():
    assert reference(0, 16) == HAND_MADE


@pytest.mark.parametrize("vectorization,mode", [
    ("sync", "NextStep"), ("sync", "SameStep"), ("sync", "Disabled"),
    ("async", "NextStep"), ("async", "SameStep")])
def test_sessions_equal_the_hand_made_reference(vectorization, mode):
    agent, count, total = counting_agent()
    with EnvPool(agent, CountingEnv, n_envs=3, vectorization=vectorization,
                 autoreset_mode=mode, seed=0) as pool:
        s = pool.interact(16)
        assert pool.restarts == 0 and pool.ticks == 16
    # exact equality also says no reset step was recorded: after each dead tick comes t = 0
    check_against_reference(s, count, total, tags=[0, 1, 2], n_steps=16)
    assert s.observations.dtype == torch.float32 and s.actions.dtype == torch.int64
    assert s.rewards.dtype == torch.float32 and s.is_alive.dtype == torch.bool
    assert s.policy.shape == (3, 16, 2)
    assert all(torch.equal(m, torch.zeros(3, 1)) for m in s.initial_agent_states)
    assert torch.equal(s.next_observations[0][0], torch.tensor([2., 4, 0, 1]))  # tick 16
    assert s.env_states == [] and s.next_env_states == [] and s.additional_outputs == []
    assert_no_children()


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_sessions_carry_on_across_calls(mode):
    agent, count, total = counting_agent()
    with EnvPool(agent, CountingEnv, n_envs=3, autoreset_mode=mode, seed=0) as pool:
        whole = pool.interact(16)
    with EnvPool(agent, CountingEnv, n_envs=3, autoreset_mode=mode, seed=0) as pool:
        parts = [pool.interact(n) for n in (4, 5, 7)]   # tag 0: tick 4 starts an episode
    for field in ("observations", "actions", "rewards", "is_alive", "is_truncated", "policy"):
        joined = torch.cat([getattr(p, field) for p in parts], dim=1)
        assert torch.equal(joined, getattr(whole, field)), field
    for layer in (count, total):
        joined = torch.cat([p.agent_states[layer] for p in parts], dim=1)
        assert torch.equal(joined, whole.agent_states[layer])
    # the memory entering each call: zeros after a restart there, else the last tick's
    for before, after, start in ((parts[0], parts[1], 4), (parts[1], parts[2], 9)):
        for memory, layer in zip(after.initial_agent_states, (count, total)):
            first = ~whole.is_alive[:, start - 1] & whole.is_alive[:, start]
            expected = torch.where(first[:, None], 0.0, before.agent_states[layer][:, -1])
            assert torch.equal(memory, expected)
    assert torch.equal(parts[0].initial_agent_states[0], torch.zeros(3, 1))
    assert torch.equal(parts[1].initial_agent_states[0][0], torch.zeros(1))    # tag 0 restarts


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_a_poisoned_episode_leaves_the_next_ones_unchanged(mode):
    agent, count, total = counting_agent()
    runs = []
    for poison in (False, True):
        with EnvPool(agent, lambda poison=poison: CountingEnv(poison), n_envs=4,
                     autoreset_mode=mode, seed=0) as pool:
            runs.append(pool.interact(20))
    clean, poisoned = runs
    later = clean.observations[..., 1] >= 1                      # episodes after the first
    assert (poisoned.agent_states[total][~later] > 1e29).all()  # the poison was there
    for layer in (count, total):
        assert torch.equal(poisoned.agent_states[layer][later], clean.agent_states[layer][later])
    assert torch.equal(poisoned.policy[later], clean.policy[later])
    assert torch.equal(poisoned.actions, clean.actions)


def gru_agent(epsilon=0.5):
    torch.manual_seed(0)
    obs = L.InputLayer((None, 4), name="observation")
    prev = L.InputLayer((None, 8), name="prev_gru")
    scaled = L.LambdaLayer(obs, lambda o: o / 10, name="scaled")
    gru = GRUCell(prev, scaled, name="gru")
    q = L.DenseLayer(gru, num_units=2, nonlinearity=None, name="q")
    return Agent(obs, {gru: prev}, q, EpsilonGreedyResolver(q, epsilon=epsilon)), gru


def test_update_fills_a_pool_whose_replay_reproduces_the_live_policy():
    agent, gru = gru_agent()
    store = SessionPoolEnvironment(capacity=6, session_length=8, agent=agent)
    with GamePool(agent, CountingEnv, n_envs=3, seed=0) as pool:
        live = [pool.update(8, store) for _ in range(2)]
        with pytest.raises(ValueError, match="sessions of 8 ticks, got n_steps=5"):
            pool.update(5, store)
    assert len(store) == 6
    replay = agent.get_sessions(store, experience_replay=True)
    assert not live[0].is_alive.all()                          # episode ends were recorded
    torch.testing.assert_close(replay.policy, torch.cat([s.policy for s in live]))
    torch.testing.assert_close(replay.agent_states[gru],
                               torch.cat([s.agent_states[gru] for s in live]))
    for field in ("actions", "rewards", "is_alive", "is_truncated"):
        assert torch.equal(getattr(replay, field), torch.cat([getattr(s, field) for s in live]))


def test_evaluate_plays_whole_episodes_without_disturbing_the_pool():
    agent, _, _ = counting_agent()
    with EnvPool(agent, CountingEnv, n_envs=2, seed=0) as pool:
        first = pool.interact(5)
        stats = pool.evaluate(n_games=3, seed=0)          # games reset with seeds 0, 1, 2
        second = pool.interact(5)
        short = pool.evaluate(n_games=1, seed=2, max_steps=2)
    assert isinstance(stats, EpisodeStats)
    torch.testing.assert_close(stats.lengths, torch.tensor([3., 2., 4.]))
    torch.testing.assert_close(stats.returns, torch.tensor([6.5, 3.5, 11.0]))
    torch.testing.assert_close(short.lengths, torch.tensor([2.]))
    with EnvPool(agent, CountingEnv, n_envs=2, seed=0) as pool:
        undisturbed = pool.interact(10)
    assert torch.equal(torch.cat([first.observations, second.observations], 1),
                       undisturbed.observations)


def test_a_gymnasium_id_works_end_to_end():
    agent, gru = gru_agent(epsilon=0.1)
    with EnvPool(agent, "CartPole-v1", n_envs=2, seed=0) as pool:
        s = pool.interact(30)
        stats = pool.evaluate(2, seed=0)
    assert s.observations.shape == (2, 30, 4) and s.agent_states[gru].shape == (2, 30, 8)
    assert ((stats.lengths >= 1) & (stats.lengths <= 500)).all()
    assert "CartPole-v1" in repr(pool)


def test_evaluate_records_video(tmp_path):
    pytest.importorskip("moviepy")
    agent, _, _ = counting_agent()
    with EnvPool(agent, lambda: CountingEnv(render_mode="rgb_array"), n_envs=2, seed=0) as pool:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # moviepy / imageio chatter
            stats = pool.evaluate(2, record_video=str(tmp_path), seed=0)
    assert len(stats.returns) == 2
    assert len(list(tmp_path.glob("*.mp4"))) == 2


def test_mistakes_raise_at_construction():
    agent, _, _ = counting_agent()
    with pytest.raises(ValueError, match="step_timeout needs vectorization='async'"):
        EnvPool(agent, CountingEnv, n_envs=1, step_timeout=1.0)
    with pytest.raises(ValueError, match="'sync' or 'async'"):
        EnvPool(agent, CountingEnv, vectorization="threads")
    with pytest.raises(ValueError, match=r"observations have shape \(None, 4\).*\(None, 3\)"):
        obs = L.InputLayer((None, 3), name="observation")
        q = L.DenseLayer(obs, num_units=2, name="q")
        EnvPool(Agent(obs, policy_estimators=q, action_layers=GreedyResolver(q)), CountingEnv)
    with pytest.raises(TypeError, match="Gymnasium id or a zero-argument factory"):
        EnvPool(agent, 42)


def test_dict_observations_go_to_the_observation_layers_of_the_same_name():
    position = L.InputLayer((None, 2), name="position")
    signal = L.InputLayer((None, 2), name="signal")
    q = L.LambdaLayer([position, signal], lambda p, s: torch.cat(
        [1 - p[:, :1] % 2, p[:, :1] % 2], 1) + 0 * s[:, :1], name="q")
    agent = Agent([position, signal], policy_estimators=q, action_layers=GreedyResolver(q))
    with EnvPool(agent, DictCountingEnv, n_envs=2, autoreset_mode="SameStep", seed=0) as pool:
        s = pool.interact(16)
    expected = reference(0, 16)
    assert s.observations[0][0].tolist() == [[row[0], row[1]] for row in expected]
    assert s.observations[1][1, :, 0].tolist() == [1.0] * 16
    assert s.rewards[0].tolist() == [row[2] for row in expected]
    with pytest.raises(RuntimeError, match="closed pool"):
        pool.interact(1)
