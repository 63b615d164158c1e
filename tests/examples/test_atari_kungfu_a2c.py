"""The Kung-Fu A2C example on a CPU: a short run that updates the agent, a frame window and an
LSTM (or GRU) memory that restart with each episode in play and in replay, a loss that fits
the value to the returns and moves the policy toward rewarded actions on a fixed batch, and a
saved run that `agentnet evaluate` plays."""
from __future__ import annotations

import functools

import gymnasium
import pytest
import torch

pytest.importorskip("ale_py")
pytest.importorskip("cv2")

from agentnet import layers as L  # noqa: E402
from agentnet.__main__ import main as cli  # noqa: E402
from agentnet.driving import EnvPool  # noqa: E402
from agentnet.environment import SessionBatchEnvironment  # noqa: E402
from agentnet.examples import atari_kungfu_a2c as kungfu  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

#: a smaller agent (same convolutions) without dropout: its ticks are deterministic
SMALL = dict(dense=32, memory_units=16, dropout=0.0)


def test_a_short_cpu_run_updates_the_agent():
    torch.manual_seed(0)
    untrained = kungfu.build_agent(kungfu.Config())
    result = kungfu.main(total_steps=64, n_envs=4, session_length=8, eval_episodes=1,
                         eval_max_steps=10, verbose=False)
    agent = result["agent"]
    assert agent.device.type == "cpu" and result["updates"] == 2  # 2 x (4 games x 8 ticks)
    assert torch.isfinite(torch.tensor(result["log"].metrics["loss"].values)).all()
    for name in ("conv0", "dense", "logits", "value"):
        assert not torch.equal(untrained.layers[name].weight, agent.layers[name].weight), name
    window, cell, out = agent.state_layers
    assert [tuple(s.output_shape) for s in agent.prev_state_layers] == [
        (None, 4, 64, 84), (None, 256), (None, 256)]
    assert window.output_dtype == torch.uint8 and cell.name == "lstm.cell"


def _short_episodes(config: kungfu.Config) -> gymnasium.Env:
    return gymnasium.wrappers.TimeLimit(kungfu.make_gymnasium_env(config), max_episode_steps=3)


def _from_zero_memory(agent, frames: torch.Tensor) -> list[torch.Tensor]:
    """The agent's memories after one tick on ``frames`` from zero memory."""
    inputs = {agent.observation_layers[0]: frames}
    inputs.update({prev: torch.zeros(len(frames), *prev.output_shape[1:],
                                     dtype=prev.output_dtype)
                   for prev in agent.prev_state_layers})
    return L.get_output(agent.state_layers, inputs)


@pytest.mark.parametrize("memory", ["lstm", "gru"])
def test_window_and_memory_restart_with_each_episode_in_play_and_in_replay(memory):
    config = kungfu.Config(memory=memory, **SMALL)
    torch.manual_seed(0)
    agent = kungfu.build_agent(config)
    with EnvPool(agent, functools.partial(_short_episodes, config), n_envs=2, seed=0) as envs:
        played = envs.interact(10)
    # episodes of 3 steps: ticks 0-2 alive (2 truncated), 3 dead, 4-6 the next episode...
    alive = torch.tensor([1, 1, 1, 0, 1, 1, 1, 0, 1, 1], dtype=torch.bool)
    assert torch.equal(played.is_alive, alive.expand(2, 10))
    assert played.is_truncated[:, [2, 6]].all() and played.is_truncated.sum() == 4
    frames = played.observations
    assert frames.shape == (2, 10, 64, 84) and frames.dtype == torch.uint8
    states = [played.agent_states[layer] for layer in agent.state_layers]
    windows = states[0]
    assert windows.shape == (2, 10, 4, 64, 84)
    assert [tuple(s.shape) for s in states[1:]] == [(2, 10, 16)] * (2 if memory == "lstm"
                                                                    else 1)
    for start in (0, 4, 8):  # the window holds this episode's last frames, newest first
        for t in range(start, start + 3 if start < 8 else 10):
            for k in range(4):
                expected = frames[:, t - k] if t - k >= start else torch.zeros_like(frames[:, t])
                assert torch.equal(windows[:, t, k], expected), (t, k)
    for start in (4, 8):  # the memory restarts at zeros: the first tick as from scratch
        for state, fresh in zip(states, _from_zero_memory(agent, frames[:, start])):
            torch.testing.assert_close(state[:, start], fresh)
    # the training path replays the sessions from the memory before them, restarting it too
    replayed = agent.get_sessions(kungfu.replayable(played), experience_replay=True)
    for layer, state in zip(agent.state_layers, states):
        torch.testing.assert_close(replayed.agent_states[layer], state)


def _batch(frames: torch.Tensor, actions: torch.Tensor, rewards_per_tick: torch.Tensor
           ) -> SessionBatchEnvironment:
    """Sessions of 8 ticks (one row per entry of ``actions``, int64 ``[B]``) earning
    ``rewards_per_tick [B]`` at every tick of an episode that terminates after tick 5 (ticks 6
    and 7 dead): the references are the discounted returns, nothing bootstrapped."""
    batch = len(actions)
    alive = torch.tensor([1, 1, 1, 1, 1, 1, 0, 0], dtype=torch.bool).repeat(batch, 1)
    return SessionBatchEnvironment(frames, actions[:, None].repeat(1, 8),
                                   torch.where(alive, rewards_per_tick[:, None], 0.0), alive)


def _returns(rewards: torch.Tensor, gamma: float) -> torch.Tensor:
    """Discounted returns ``[B, T]`` of rewards ``[B, T]``, by a loop."""
    returns, running = torch.zeros_like(rewards), torch.zeros(rewards.shape[0])
    for t in reversed(range(rewards.shape[1])):
        running = rewards[:, t] + gamma * running
        returns[:, t] = running
    return returns


def _train(agent, batch: SessionBatchEnvironment, config: kungfu.Config, steps: int) -> None:
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate)
    for _ in range(steps):
        loss = kungfu.a2c_loss(agent.get_sessions(batch, experience_replay=True), config)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def _replayed_policy(agent, batch: SessionBatchEnvironment) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        logits, values = agent.get_sessions(batch, experience_replay=True).policy
    return logits[:, :6], values[:, :6, 0]  # the alive ticks


def test_the_loss_fits_the_values_to_the_observed_returns():
    config = kungfu.Config(learning_rate=1e-3, **SMALL)
    torch.manual_seed(0)
    agent = kungfu.build_agent(config)
    # four different games (random frames), each earning its own reward at every tick
    frames = torch.randint(0, 256, (4, 8, 64, 84), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    batch = _batch(frames, torch.zeros(4, dtype=torch.int64),
                   torch.tensor([0.0, 20.0, 40.0, 60.0]))
    targets = _returns(batch.rewards * config.reward_scale, config.gamma)[:, :6]
    error_before = (_replayed_policy(agent, batch)[1] - targets).pow(2).mean().item()
    _train(agent, batch, config, 40)
    error_after = (_replayed_policy(agent, batch)[1] - targets).pow(2).mean().item()
    # measured: 1.88 before, 0.007 after (40 steps)
    assert error_before > 1.0 and error_after < 0.05 * error_before, (error_before, error_after)


def test_the_loss_favours_the_rewarded_action():
    config = kungfu.Config(learning_rate=1e-3, **SMALL)
    torch.manual_seed(0)
    agent = kungfu.build_agent(config)
    # the same frames in every row: only the action (2 or 5) tells the rows apart
    frames = torch.randint(0, 256, (1, 8, 64, 84), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0)).repeat(4, 1, 1, 1)
    batch = _batch(frames, torch.tensor([2, 2, 5, 5]), torch.tensor([100.0, 100.0, 0.0, 0.0]))

    def preference() -> float:
        logits = _replayed_policy(agent, batch)[0]
        return (logits[..., 2] - logits[..., 5]).mean().item()

    before = preference()
    _train(agent, batch, config, 20)
    # measured: 0.08 before, 5.3 after (20 steps); a flipped advantage would make it negative
    assert preference() > before + 2.0, (before, preference())


def test_a_saved_run_is_played_by_agentnet_evaluate_on_the_cropped_game(tmp_path, capsys):
    kungfu.main(total_steps=32, n_envs=2, session_length=16, eval_episodes=1,
                eval_max_steps=5, verbose=False, out_dir=str(tmp_path))
    assert (tmp_path / "checkpoint.safetensors").is_file()
    capsys.readouterr()
    cli(["evaluate", str(tmp_path), "--episodes", "1", "--max-steps", "20"])
    assert "ALE/KungFuMaster-v5: " in capsys.readouterr().out
    with pytest.raises(ValueError, match="memory must be 'lstm' or 'gru'"):
        kungfu.build_agent(kungfu.Config(memory="rnn"))
