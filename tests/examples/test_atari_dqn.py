"""The Atari DQN example on a CPU: a few hundred steps that learn from replay, a saved run that
`agentnet evaluate` plays, and a replay that rebuilds the frame windows the agent saw."""
from __future__ import annotations

import dataclasses

import pytest
import torch

pytest.importorskip("ale_py")
pytest.importorskip("cv2")

from agentnet.__main__ import main as cli  # noqa: E402
from agentnet.environment import SessionPoolEnvironment  # noqa: E402
from agentnet.examples import atari_dqn, gym_cartpole_dqn  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


SHORT = dict(total_steps=320, learning_starts=192, eval_episodes=1, eval_max_steps=30,
             verbose=False)


def test_a_short_cpu_run_learns_from_replay_and_keeps_its_frame_window():
    torch.manual_seed(0)
    untrained = atari_dqn.build_agent(atari_dqn.Config())
    result = atari_dqn.main(**SHORT)
    agent = result["agent"]
    assert agent.device.type == "cpu"
    # learning started after 192 steps: 3 collections of 64 steps, 16 updates each
    assert result["updates"] == 3 * 16
    losses = result["log"].metrics["loss"]
    assert torch.isfinite(torch.tensor(losses.values[-1]))
    assert not torch.equal(untrained.layers["conv1"].weight, agent.layers["conv1"].weight)
    (window,), (prev_window,) = agent.state_layers, agent.prev_state_layers
    assert tuple(prev_window.output_shape) == (None, 4, 84, 84)
    assert window.output_dtype == torch.uint8


def test_the_loss_learns_from_reward_signs_only_when_asked():
    agent = atari_dqn.build_agent(atari_dqn.Config())
    assert atari_dqn.Config().clip_rewards and not gym_cartpole_dqn.Config().clip_rewards
    frames = torch.randint(0, 255, (2, 5, 84, 84), dtype=torch.uint8)
    store = SessionPoolEnvironment(2, 5, agent=agent)
    rewards = torch.tensor([[0.0, 4.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, -7.0, 0.0]])
    store.append_sessions(frames, torch.zeros(2, 5, dtype=torch.int64), rewards,
                          torch.ones(2, 5, dtype=torch.bool))
    sessions = agent.get_sessions(store, experience_replay=True,
                                  additional_outputs=agent.policy_layers)
    clipped = atari_dqn.Config(n_steps=1)
    unclipped = atari_dqn.Config(n_steps=1, clip_rewards=False)
    signs = dataclasses.replace(sessions, rewards=rewards.sign())
    assert gym_cartpole_dqn.dqn_loss(sessions, clipped) == gym_cartpole_dqn.dqn_loss(
        signs, unclipped)
    assert gym_cartpole_dqn.dqn_loss(sessions, clipped) != gym_cartpole_dqn.dqn_loss(
        sessions, unclipped)


def test_the_cli_trains_and_evaluates_breakout(tmp_path, capsys):
    cli(["train", "atari_dqn", "--steps", "128", "--out", str(tmp_path)])
    assert (tmp_path / "checkpoint.safetensors").is_file()
    capsys.readouterr()
    cli(["evaluate", str(tmp_path), "--episodes", "1", "--max-steps", "20"])
    assert "ALE/Breakout-v5: " in capsys.readouterr().out
