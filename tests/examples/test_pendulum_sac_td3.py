"""The SAC and TD3 examples on native Pendulum: they run, resume exactly and learn (an
untrained agent scores about -1200 to -1500 per episode); SAC's replay gives today's
log-probabilities of the recorded torques, and its temperature moves toward its target."""
import math

import numpy as np
import pytest
import torch

import agentnet
from agentnet.environment import Pendulum, SessionPoolEnvironment
from agentnet.examples import pendulum_sac, pendulum_td3
from agentnet.layers import get_output

EXAMPLES = [pendulum_sac, pendulum_td3]

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


@pytest.mark.parametrize("example, setting, value, message", [
    (pendulum_sac, "initial_temperature", 0.0, "initial_temperature must be > 0, got 0.0"),
    (pendulum_td3, "policy_delay", 0, "policy_delay must be >= 1, got 0")])
def test_settings_that_cannot_work_are_refused(example, setting, value, message):
    with pytest.raises(ValueError, match=message):
        example.main(total_steps=64, verbose=False, **{setting: value})


class Crash(Exception):
    pass


# with one critic update per iteration: SAC steps 3 optimizers per update (critics, actor,
# temperature); TD3 the critics at every update, the actor at every second one
@pytest.mark.parametrize("example, crash_at_adam_step", [(pendulum_sac, 55 * 3),
                                                         (pendulum_td3, 55 + 27)])
def test_a_stopped_run_resumes_exactly(example, crash_at_adam_step, tmp_path, monkeypatch):
    # one small update per iteration from the start; checkpoints every 50 iterations
    settings = dict(total_steps=64 * 60, verbose=False, eval_episodes=2, learning_starts=0,
                    updates_per_iteration=1, batch_sessions=8)
    whole = example.main(**settings)["agent"]

    calls = {"n": 0}
    original_step = torch.optim.Adam.step

    def crashing_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == crash_at_adam_step:  # past the checkpoint at iteration 50
            raise Crash()
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", crashing_step)
    with pytest.raises(Crash):
        example.main(out_dir=tmp_path, **settings)
    monkeypatch.setattr(torch.optim.Adam, "step", original_step)
    resumed = example.main(out_dir=tmp_path, resume=True, **settings)["agent"]
    for (name, a), b in zip(whole.named_parameters(), resumed.parameters()):
        assert torch.equal(a, b), name


# --- SAC's pieces ---------------------------------------------------------------------------
def test_the_replay_gives_todays_log_probabilities_of_the_recorded_torques():
    torch.manual_seed(0)
    agent = pendulum_sac.build_agent(pendulum_sac.Config(hidden=16))
    (observation,), (torque,) = agent.observation_layers, agent.action_layers
    with torch.no_grad():
        recorded = agent.get_sessions(Pendulum(batch_size=8, seed=0, autoreset=True),
                                      session_length=6)
    pool = SessionPoolEnvironment(8, 6, agent=agent)
    pool.append_sessions(recorded)
    # the same weights: the log-probabilities the live sessions recorded
    replayed = agent.get_sessions(pool, experience_replay=True)
    assert torch.equal(replayed.actions, recorded.actions)
    torch.testing.assert_close(replayed.policy[0], recorded.policy[0])
    # other weights: the recorded torques' log-density under today's tanh-Gaussian, by hand
    with torch.no_grad():
        for param in agent.parameters():
            param.add_(0.3 * torch.randn_like(param))
    replayed = agent.get_sessions(pool, experience_replay=True)
    mean_layer, log_std_layer = torque.input_layers
    with torch.no_grad():
        mean, log_std = (x.double() for x in get_output(
            [mean_layer, log_std_layer], {observation: recorded.observations.flatten(0, 1)}))
    y = (recorded.actions.flatten(0, 1).double() / 2).clamp(-1 + 1.2e-7, 1 - 1.2e-7)
    u = torch.atanh(y)
    by_hand = (torch.distributions.Normal(mean, log_std.clamp(-5, 2).exp()).log_prob(u)
               - torch.log(2 * (1 - y ** 2))).sum(-1)
    torch.testing.assert_close(replayed.policy[0].flatten().double(), by_hand,
                               rtol=1e-4, atol=1e-4)
    assert not torch.allclose(replayed.policy[0], recorded.policy[0], atol=1e-2)


def test_the_temperature_falls_while_the_entropy_is_above_its_target():
    # an untrained actor's std is about 1: its entropy is far above the target -1
    result = pendulum_sac.main(total_steps=1024, learning_starts=0, updates_per_iteration=4,
                               eval_episodes=2, verbose=False)
    _, entropy = result["log"].metrics["entropy"]
    _, alpha = result["log"].metrics["alpha"]
    assert bool((entropy > -1).all())
    assert alpha[-1] < 0.97 * pendulum_sac.Config.initial_temperature
    assert bool((np.diff(alpha) < 0).all())


# --- learning -------------------------------------------------------------------------------
# the default runs take about 8 s each on one thread (up to twice that on a busy machine):
# seed 0 of each runs by default, seeds 1 and 2 are marked slow
@pytest.mark.parametrize("example, seed", [
    (pendulum_sac, 0), (pendulum_td3, 0),
    *[pytest.param(example, seed, marks=pytest.mark.slow) for example in EXAMPLES
      for seed in (1, 2)],
])
def test_the_default_run_swings_the_pendulum_up(example, seed):
    assert example.main(verbose=False, seed=seed)["eval_mean_return"] > -250
