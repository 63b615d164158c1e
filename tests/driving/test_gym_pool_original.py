"""EnvPool the original AgentNet's way: ``n_games=``/``make_env=``/``max_size=``,
``interact`` unpacking into the six numpy logs, ``prev_memory_states``, and ``update`` filling
the pool's own ``experience_replay`` with ``append=``, ``max_size=``, ``preprocess=``."""
from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
import torch

from agentnet import Agent
from agentnet import layers as L
from agentnet.driving import EnvPool
from agentnet.environment import EpisodeStats, SessionPoolEnvironment
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


# --- evaluate, the original's way ---------------------------------------------------------
class Steps(gymnasium.Env):
    """Games of 3 steps (``2 + seed % 3`` when reset with a seed) earning 1, 1.5, 2, ...;
    renders a black 8x8 frame."""

    observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (4,), dtype=np.float32)
    action_space = gymnasium.spaces.Discrete(2)
    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, render_mode=None):
        self.render_mode = render_mode
        self.t, self.length = 0, 3

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.length = 0, 3 if seed is None else 2 + seed % 3
        return np.zeros(4, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        reward = 1.0 + 0.5 * (self.t - 1)
        return np.full(4, self.t, dtype=np.float32), reward, self.t >= self.length, False, {}

    def render(self):
        return np.zeros((8, 8, 3), dtype=np.uint8)


@pytest.fixture
def steps_pool():
    from agentnet.experiments.openai_gym.pool import EnvPool as OriginalEnvPool

    with OriginalEnvPool(make_agent(), make_env=Steps, n_games=2) as pool:
        yield pool


def test_evaluate_returns_the_total_reward_of_each_game(steps_pool):
    rewards = steps_pool.evaluate(n_games=3)
    assert list(rewards) == [4.5, 4.5, 4.5] and len(rewards) == 3 and rewards[-1] == 4.5
    assert np.mean(rewards) == 4.5 and sum(rewards) == 13.5 and 4.5 in rewards
    assert isinstance(rewards, EpisodeStats)                    # and agentnet's fields
    torch.testing.assert_close(rewards.lengths, torch.tensor([3.0, 3.0, 3.0]))
    seeded = steps_pool.evaluate(n_games=3, seed=0)              # lengths 2, 3, 4
    assert list(seeded) == [2.5, 4.5, 7.0]
    assert float(steps_pool.evaluate(record_video=False)) == 4.5  # one game, as a number
    epoch_rewards = np.zeros(2)
    epoch_rewards[0] = steps_pool.evaluate(record_video=False)    # the original notebooks' line
    assert epoch_rewards[0] == 4.5


def test_game_rewards_keep_their_fields_through_copies():
    import copy
    import pickle

    from agentnet.driving.evaluation import GameRewards

    rewards = GameRewards(torch.tensor([1.0, 2.5]), torch.tensor([3.0, 4.0]))
    for clone in (pickle.loads(pickle.dumps(rewards)), copy.deepcopy(rewards),
                  rewards._replace()):
        assert isinstance(clone, GameRewards) and list(clone) == [1.0, 2.5]
        assert torch.equal(clone.lengths, rewards.lengths)
    assert rewards._asdict().keys() == {"returns", "lengths"}
    assert repr(rewards) == "GameRewards([1.0, 2.5], lengths=[3.0, 4.0])"
    with pytest.raises(TypeError, match="float\\(\\) of the rewards of 2 games"):
        float(rewards)


def test_t_max_caps_a_game_at_t_max_plus_one_steps_as_the_original(steps_pool):
    assert list(steps_pool.evaluate(2, t_max=1, record_video=False)) == [2.5, 2.5]
    assert list(steps_pool.evaluate(t_max=0)) == [1.0]
    assert list(steps_pool.evaluate(max_steps=1)) == [1.0]
    with pytest.raises(TypeError, match="max_steps or the original's t_max"):
        steps_pool.evaluate(t_max=1, max_steps=2)
    with pytest.raises(ValueError, match="t_max must be an int >= 0, got -1"):
        steps_pool.evaluate(t_max=-1)


def test_verbose_prints_each_game_as_the_original(steps_pool, capsys):
    steps_pool.evaluate(n_games=2, verbose=True, t_max=1)
    assert capsys.readouterr().out == 2 * "Episode finished after 2 timesteps with reward=2.5\n"
    steps_pool.evaluate(n_games=2)
    assert capsys.readouterr().out == ""


def test_save_path_records_the_statistics_the_monitor_did(steps_pool, tmp_path):
    import json

    # the original's positional order: n_games, save_path, use_monitor, record_video,
    # verbose, t_max
    rewards = steps_pool.evaluate(2, str(tmp_path), True, False, False, 1)
    assert list(rewards) == [2.5, 2.5]
    assert [p.name for p in tmp_path.iterdir()] == ["evaluation-1.stats.json"]
    stats = json.loads((tmp_path / "evaluation-1.stats.json").read_text())
    assert stats["episode_rewards"] == [2.5, 2.5] and stats["episode_lengths"] == [2, 2]
    assert stats["initial_reset_timestamp"] <= min(stats["timestamps"])
    assert len(stats["timestamps"]) == 2
    # everything off: a save_path alone writes nothing then
    steps_pool.evaluate(save_path=tmp_path / "none", record_video=False, use_monitor=False)
    assert not (tmp_path / "none").exists()


def test_nothing_is_written_unless_asked(steps_pool, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    steps_pool.evaluate(2)
    steps_pool.evaluate(record_video=False, n_games=2, verbose=False)
    steps_pool.evaluate(use_monitor=False)
    assert list(tmp_path.iterdir()) == []
    steps_pool.evaluate(use_monitor=True, record_video=False)   # the original's ./records
    assert [p.name for p in (tmp_path / "records").iterdir()] == ["evaluation-4.stats.json"]


def test_videos_need_the_video_extra(steps_pool, tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "moviepy" else find_spec(name, *a))
    with pytest.raises(ImportError, match=r"moviepy: pip install 'agentnet-torch\[video\]'"):
        steps_pool.evaluate(save_path=str(tmp_path))
    with pytest.raises(ImportError, match="moviepy"):
        steps_pool.evaluate(record_video=str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_recording_mistakes_are_refused(steps_pool, tmp_path):
    with pytest.raises(ValueError, match="cannot video without gym monitor"):
        steps_pool.evaluate(save_path=str(tmp_path), use_monitor=False)
    with pytest.raises(ValueError, match="record_video=.* is a directory and save_path=.* "
                                         "another"):
        steps_pool.evaluate(save_path=str(tmp_path), record_video=str(tmp_path / "videos"))
    with pytest.raises(TypeError, match="record_video must be a bool or a directory, got int"):
        steps_pool.evaluate(record_video=1)


def test_save_path_records_videos_and_statistics(tmp_path):
    pytest.importorskip("moviepy")
    from agentnet.experiments.openai_gym.pool import EnvPool as OriginalEnvPool

    with OriginalEnvPool(make_agent(), make_env=lambda: Steps(render_mode="rgb_array"),
                         n_games=2) as pool:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # moviepy / imageio chatter
            rewards = pool.evaluate(n_games=2, save_path=str(tmp_path), record_video=True)
    assert list(rewards) == [4.5, 4.5]
    assert len(list(tmp_path.glob("*.mp4"))) == 2
    assert (tmp_path / "evaluation-1.stats.json").exists()
