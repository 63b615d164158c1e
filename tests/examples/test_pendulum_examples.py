"""The continuous-action examples on native Pendulum: NAF and DDPG run, resume exactly and
learn (an untrained agent scores about -1200 to -1500 per episode)."""
import math

import pytest
import torch

import agentnet
from agentnet.examples import pendulum_ddpg, pendulum_naf

EXAMPLES = [pendulum_naf, pendulum_ddpg]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("example", EXAMPLES)
def test_a_short_run_returns_the_documented_dict(example):
    # 20 iterations of 16 sessions x 4 ticks: learning starts at the 16th
    result = example.main(total_steps=1280, verbose=False, eval_episodes=10)
    assert set(result) == {"eval_mean_return", "log", "agent"}
    assert isinstance(result["agent"], agentnet.Agent)
    assert math.isfinite(result["eval_mean_return"])
    assert -2000 < result["eval_mean_return"] <= 0
    assert result["log"].metrics["eval_return"].last == pytest.approx(result["eval_mean_return"])
    (torque,) = result["agent"].action_layers
    assert torque.output_shape == (None, 1) and torque.output_dtype == torch.float32


class Crash(Exception):
    pass


@pytest.mark.parametrize("example, adam_steps_per_update", [(pendulum_naf, 1),
                                                            (pendulum_ddpg, 2)])
def test_a_stopped_run_resumes_exactly(example, adam_steps_per_update, tmp_path, monkeypatch):
    # one small update per iteration from the start; checkpoints every 50 iterations
    settings = dict(total_steps=64 * 60, verbose=False, eval_episodes=2, learning_starts=0,
                    updates_per_iteration=1, batch_sessions=8)
    whole = example.main(**settings)["agent"]

    calls = {"n": 0}
    original_step = torch.optim.Adam.step

    def crashing_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 55 * adam_steps_per_update:  # past the checkpoint at iteration 50
            raise Crash()
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", crashing_step)
    with pytest.raises(Crash):
        example.main(out_dir=tmp_path, **settings)
    monkeypatch.setattr(torch.optim.Adam, "step", original_step)
    resumed = example.main(out_dir=tmp_path, resume=True, **settings)["agent"]
    for (name, a), b in zip(whole.named_parameters(), resumed.parameters()):
        assert torch.equal(a, b), name


# --- learning ------------------------------------------------------------------------------
# the default runs take about 15 s (DDPG) and 30 s (NAF, up to 50 s on a busy machine) on one
# thread: DDPG's seed 0 runs by default, NAF's with a shorter cheaper run and a lower bar
def test_naf_clearly_beats_an_untrained_agent_after_12k_steps():
    assert pendulum_naf.main(total_steps=12_000, verbose=False)["eval_mean_return"] > -900


@pytest.mark.parametrize("example, seed", [
    (pendulum_ddpg, 0),
    *[pytest.param(pendulum_ddpg, seed, marks=pytest.mark.slow) for seed in (1, 2)],
    *[pytest.param(pendulum_naf, seed, marks=pytest.mark.slow) for seed in (0, 1, 2)],
])
def test_the_default_run_swings_the_pendulum_up(example, seed):
    assert example.main(verbose=False, seed=seed)["eval_mean_return"] > -250
