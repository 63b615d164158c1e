"""DQN on ViZDoom's Basic scenario: the screen the agent sees, a short run whose pieces fit, a
saved run that `agentnet evaluate` plays, and learning (random play scores about -160 to -220
per episode, the learned policy about +75)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

pytest.importorskip("vizdoom", reason="doom_basic needs ViZDoom: pip install -e '.[doom]'")

from agentnet.__main__ import main as cli  # noqa: E402
from agentnet.examples import doom_basic  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_agent_sees_a_small_grayscale_band_of_the_screen_and_has_four_actions():
    config = doom_basic.Config()
    env = doom_basic.make_gymnasium_env(config)
    observation, _ = env.reset(seed=0)
    assert observation.shape == (1, 10, 40) == env.observation_space.shape
    assert observation.dtype == np.float32 and 0 <= observation.min() < observation.max() <= 1
    assert env.action_space.n == 4          # nothing, attack, move right, move left
    env.close()
    agent = doom_basic.build_agent(config)
    (window,), (prev_window,) = agent.state_layers, agent.prev_state_layers
    assert tuple(window.output_shape) == (None, config.frames, 1, 10, 40)
    assert tuple(prev_window.output_shape) == tuple(window.output_shape)
    assert agent.policy_layers[0].output_shape == (None, 4)


def test_a_short_run_learns_from_replay_and_returns_its_results(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # ViZDoom writes nothing into the working directory
    torch.manual_seed(0)
    untrained = doom_basic.build_agent(doom_basic.Config())
    # 4 collections of 8 games x 10 ticks; learning from the 2nd (step 160) on
    result = doom_basic.main(total_steps=320, learning_starts=160, updates_per_collection=2,
                             batch_sessions=4, eval_episodes=2, verbose=False)
    assert set(result) == {"eval_mean_return", "log", "agent", "updates"}
    assert result["updates"] == 3 * 2
    assert np.isfinite(result["log"].metrics["loss"].last)
    assert math.isfinite(result["eval_mean_return"])
    agent = result["agent"]
    assert not torch.equal(untrained.layers["conv1"].weight, agent.layers["conv1"].weight)
    assert list(tmp_path.iterdir()) == []


def test_the_cli_trains_and_evaluates_on_vizdoom(tmp_path, capsys):
    run = tmp_path / "run"
    cli(["train", "doom_basic", "--steps", "160", "--out", str(run)])
    assert (run / "checkpoint.safetensors").is_file()
    capsys.readouterr()
    cli(["evaluate", str(run), "--episodes", "1", "--max-steps", "10"])
    assert "VizdoomBasic-v1: " in capsys.readouterr().out


def test_it_learns_to_shoot_the_monster_in_10k_steps():
    """A fixed-seed run of 10k steps with a constant step size (about 40 s on an idle CPU
    thread): the greedy agent scores well above random play (-160 to -220) and doing
    nothing (-300). Seeds 0, 1, 2 scored 75, 78, 75 over 20 games."""
    result = doom_basic.main(total_steps=10_000, learning_rate_end=2e-3, seed=0,
                             eval_episodes=10, verbose=False)
    assert result["eval_mean_return"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_default_run_learns_a_good_policy(seed):
    """The defaults (20k steps, 70 to 80 s per seed on one CPU thread; seeds 0, 1, 2 scored
    79, 79, 78)."""
    assert doom_basic.main(seed=seed, verbose=False)["eval_mean_return"] >= 70
