"""The command line and resumable runs: a stopped run, resumed, ends bit for bit where an
uninterrupted one does."""
import re
import subprocess
import sys

import gymnasium
import pytest
import torch

from agentnet.__main__ import main as cli
from agentnet.examples import cartpole_a2c, cartpole_nstep_q

STEPS = 16 * 8 * 120   # 120 iterations of the examples' default batch


pytestmark = pytest.mark.usefixtures("one_thread")


class Crash(Exception):
    pass


@pytest.mark.parametrize("example", [cartpole_a2c, cartpole_nstep_q])
def test_a_stopped_run_resumes_exactly(example, tmp_path, monkeypatch):
    whole = example.main(total_steps=STEPS, verbose=False)["agent"]

    calls = {"n": 0}
    original_step = torch.optim.Adam.step

    def crashing_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 75:  # past the checkpoint at iteration 50, before the next
            raise Crash()
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", crashing_step)
    with pytest.raises(Crash):
        example.main(total_steps=STEPS, verbose=False, out_dir=tmp_path)
    resumed_steps = {"n": 0}

    def counting_step(self, *args, **kwargs):
        resumed_steps["n"] += 1
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", counting_step)
    resumed = example.main(total_steps=STEPS, verbose=False, out_dir=tmp_path, resume=True)
    # went on from the checkpoint at iteration 50 (and load_checkpoint took one trial step
    # on a copy of the optimizer, to refuse a state that would break the next step)
    assert resumed_steps["n"] == 120 - 50 + 1
    for (name, a), b in zip(whole.named_parameters(), resumed["agent"].parameters()):
        assert torch.equal(a, b), name
    assert {p.name for p in tmp_path.iterdir()} >= {
        "config.json", "metrics.csv", "learning_curve.png", "checkpoint.safetensors"}
    assert resumed["log"].metrics["loss"].steps[-1] == STEPS


def test_cli_trains_resumes_and_evaluates_on_gymnasium(tmp_path, capsys):
    cli(["train", "cartpole_a2c", "--steps", "4096", "--out", str(tmp_path)])
    assert "greedy evaluation: " in capsys.readouterr().out
    cli(["train", "--resume", str(tmp_path), "--steps", "8192"])
    out = capsys.readouterr().out
    assert "resuming agentnet.examples.cartpole_a2c" in out and "8,192" in out
    cli(["evaluate", str(tmp_path), "--episodes", "3"])
    *_, lengths, last = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"mean return \d+\.\d \+/- \d+\.\d over 3 episodes", last), last
    assert re.fullmatch(r"CartPole-v1: 3 greedy episodes; length (\d+\.\d) \+/- \d+\.\d "
                        r"\(min \d+, max \d+\); return min \d+\.\d, max \d+\.\d", lengths)
    mean_length = float(re.search(r"length (\S+)", lengths).group(1))
    assert float(last.split()[2]) == mean_length  # CartPole: one reward per step
    cli(["list"])
    assert "cartpole_nstep_q" in capsys.readouterr().out


def test_the_recurrent_agent_is_evaluated_on_gymnasium_with_the_velocities_hidden(tmp_path,
                                                                                  capsys):
    from agentnet.examples import cartpole_recurrent

    env = cartpole_recurrent.make_gymnasium_env()
    observation, _ = env.reset(seed=0)
    assert observation.shape == (2,) == env.observation_space.shape
    full, _ = gymnasium.make("CartPole-v1").reset(seed=0)
    assert observation.tolist() == full[[0, 2]].tolist()     # position and angle
    cli(["train", "cartpole_recurrent", "--steps", "2048", "--out", str(tmp_path)])
    capsys.readouterr()
    cli(["evaluate", str(tmp_path), "--episodes", "2"])
    assert "CartPole-v1: " in capsys.readouterr().out


def test_console_entry_point_runs_as_a_module():
    result = subprocess.run([sys.executable, "-m", "agentnet", "list"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and "cartpole_a2c" in result.stdout
