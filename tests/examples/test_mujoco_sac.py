"""SAC on Gymnasium's MuJoCo tasks: the pieces fit, bad tasks and settings are refused, and it
learns InvertedPendulum-v5 (a random policy keeps the pole up for about 5 to 30 steps; the
most an episode earns is 1000)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

pytest.importorskip("mujoco", reason="MuJoCo tasks need it: pip install -e '.[mujoco]'")

from agentnet.examples import mujoco_sac  # noqa: E402
from agentnet.learning import sac  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_short_run_updates_once_per_step_after_learning_starts(monkeypatch):
    calls = {"sample_session_batch": 0, "load_weights": 0}
    pool_class, target_class = mujoco_sac.SessionPoolEnvironment, mujoco_sac.TargetNetwork
    sample, load = pool_class.sample_session_batch, target_class.load_weights

    def counting_sample(self, *args, **kwargs):
        calls["sample_session_batch"] += 1
        return sample(self, *args, **kwargs)

    def counting_load(self, alpha=1):
        calls["load_weights"] += 1
        return load(self, alpha)

    monkeypatch.setattr(pool_class, "sample_session_batch", counting_sample)
    monkeypatch.setattr(target_class, "load_weights", counting_load)
    # 6 collections of 4 environments x 8 ticks; learning from the 3rd (step 96) on, half an
    # update per step: 16 per collection
    result = mujoco_sac.main(total_steps=192, learning_starts=96, updates_per_step=0.5,
                             batch_sessions=4, hidden=16, eval_episodes=2, verbose=False)
    assert set(result) == {"eval_mean_return", "log", "agent", "updates"}
    assert result["updates"] == calls["sample_session_batch"] == calls["load_weights"] == 4 * 16
    assert math.isfinite(result["eval_mean_return"]) and result["eval_mean_return"] >= 1
    assert result["log"].metrics["eval_return"].last == pytest.approx(result["eval_mean_return"])
    assert result["log"].metrics["critic_loss"].steps[-1] == 192
    (action,) = result["agent"].action_layers
    assert action.output_shape == (None, 1) and action.output_dtype == torch.float32


def test_the_actions_stay_in_the_box_and_the_target_entropy_is_measured_on_it():
    torch.manual_seed(0)
    agent = mujoco_sac.build_agent(mujoco_sac.Config(env_id="HalfCheetah-v5", hidden=8))
    (action,) = agent.action_layers
    assert action.action_dim == 6
    react = agent.get_react_function()
    actions = np.asarray(react([np.random.default_rng(0).normal(size=(256, 17)) * 10]).actions)
    assert actions.shape == (256, 6) and np.abs(actions).max() <= 1.0
    # HalfCheetah's Box is [-1, 1]: the target is SB3's -6; InvertedPendulum's [-3, 3] adds log 3
    assert sac.default_target_entropy(6, low=action.low, high=action.high) == pytest.approx(-6)
    pendulum = mujoco_sac.build_agent(mujoco_sac.Config(hidden=8)).action_layers[0]
    assert sac.default_target_entropy(1, low=pendulum.low, high=pendulum.high) == (
        pytest.approx(-1 + math.log(3)))


@pytest.mark.parametrize("env_id, message", [
    ("CartPole-v1", r"CartPole-v1's action space Discrete\(2\) is not a bounded Box"),
    ("FrozenLake-v1", r"FrozenLake-v1's action space Discrete\(4\) is not a bounded Box")])
def test_a_task_without_continuous_actions_is_refused_by_name(env_id, message):
    with pytest.raises(ValueError, match=message):
        mujoco_sac.main(total_steps=64, verbose=False, env_id=env_id)


@pytest.mark.parametrize("setting, value", [("initial_temperature", 0.0),
                                            ("updates_per_step", -1.0)])
def test_settings_that_cannot_work_are_refused(setting, value, tmp_path):
    with pytest.raises(ValueError, match=f"{setting} must be > 0, got {value}"):
        mujoco_sac.main(total_steps=64, verbose=False, out_dir=str(tmp_path / "run"),
                        **{setting: value})
    assert not (tmp_path / "run").exists()  # refused before anything was written


def _learns(seed: int) -> None:
    result = mujoco_sac.main(total_steps=16_000, seed=seed, verbose=False)
    assert result["eval_mean_return"] >= 500, result["eval_mean_return"]
    # the temperature fell from 1 while the policy sharpened
    assert result["log"].metrics["alpha"].last < 0.5


def test_it_learns_inverted_pendulum():
    _learns(0)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_it_learns_inverted_pendulum_on_other_seeds(seed):
    _learns(seed)


def test_a_saved_run_is_evaluated_on_the_task_it_trained_on(tmp_path, capsys):
    from agentnet.__main__ import main as cli

    with pytest.warns(UserWarning, match="below learning_starts=5,000"):
        cli(["train", "mujoco_sac", "--steps", "64", "--out", str(tmp_path / "pendulum")])
    mujoco_sac.main(total_steps=64, verbose=False, env_id="HalfCheetah-v5", hidden=8,
                    eval_episodes=1, out_dir=str(tmp_path / "cheetah"))
    capsys.readouterr()
    cli(["evaluate", str(tmp_path / "pendulum"), "--episodes", "2"])
    assert "InvertedPendulum-v5: " in capsys.readouterr().out
    cli(["evaluate", str(tmp_path / "cheetah"), "--episodes", "1", "--max-steps", "20"])
    assert "HalfCheetah-v5: " in capsys.readouterr().out
