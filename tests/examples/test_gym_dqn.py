"""The Gymnasium CartPole DQN example: it runs, stops when asked, and learns."""
from __future__ import annotations

import pytest

from agentnet.examples import gym_cartpole_dqn

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_short_run_returns_its_results():
    result = gym_cartpole_dqn.main(total_steps=2_000, verbose=False, eval_episodes=2,
                                   learning_starts=500)
    assert set(result) >= {"eval_mean_return", "log", "agent"}
    assert result["eval_mean_return"] > 0
    assert result["log"].metrics["loss"].steps[-1] >= 2_000


def test_on_progress_sees_every_collection_and_can_stop_training():
    steps = []

    def on_progress(step, agent):
        steps.append(step)
        return len(steps) == 3

    gym_cartpole_dqn.main(total_steps=10_000, verbose=False, eval_episodes=1,
                          on_progress=on_progress)
    per_collection = gym_cartpole_dqn.Config().n_envs * gym_cartpole_dqn.Config().session_length
    assert steps == [per_collection, 2 * per_collection, 3 * per_collection]


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow),
                                  pytest.param(2, marks=pytest.mark.slow)])
def test_solves_gymnasium_cartpole(seed):
    """The default settings solve CartPole-v1 (greedy mean of 20 episodes >= 475) in 40k
    steps: about 10 s per seed on an idle CPU thread, up to 30 s on a busy machine
    (seeds 1 and 2 run with ``pytest -m slow``)."""
    result = gym_cartpole_dqn.main(verbose=False, seed=seed)
    assert result["eval_mean_return"] >= 475


def test_a_run_saves_each_time_it_passes_a_multiple_of_save_every_and_at_the_end(
        tmp_path, monkeypatch):
    from agentnet.utils import RunDirectory

    saved = []
    original = RunDirectory.save
    monkeypatch.setattr(RunDirectory, "save",
                        lambda self, step, *args: saved.append(step) or original(self, step,
                                                                                 *args))
    gym_cartpole_dqn.main(total_steps=1_000, verbose=False, eval_episodes=1,
                          learning_starts=500, save_every=300, out_dir=str(tmp_path))
    assert saved == [320, 640, 960, 1024]          # collections of 64 steps
    assert {p.name for p in tmp_path.iterdir()} >= {"config.json", "metrics.csv",
                                                    "checkpoint.safetensors"}
