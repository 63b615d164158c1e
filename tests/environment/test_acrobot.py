"""Acrobot against Gymnasium's Acrobot-v1, step for step, and its batch/seed/device contract.

Tolerance: the float64 physics follow Gymnasium's ``rk4``/``_dsdt`` operation for operation,
but numpy and torch differ in the last bit of ``sin``, ``cos`` and ``x ** 2`` for about one
argument in a thousand. One step from the same state therefore gives float32 observations
within 1e-6 (nearly always equal). The double pendulum is chaotic, so over a free-running
episode such a last-bit difference can grow: the free-running test checks that sessions agree
to 1e-6 for long stretches, not for ever.
"""
from __future__ import annotations

import math

import native_env_checks as checks
import numpy as np
import pytest
import torch

from agentnet.environment import acrobot as acrobot_module
from agentnet.environment.acrobot import Acrobot

GYM_ID = "Acrobot-v1"


def _policy(physics: torch.Tensor, rng: np.random.Generator,
            noise: float | np.ndarray = 0.3) -> torch.Tensor:
    """int64 ``[B]``: torque along the second joint's velocity (swings up in ~100 steps),
    replaced by a random action with probability ``noise`` (a number or one per session)."""
    pump = torch.where(physics[:, 3] > 0, 2, 0)
    random = torch.from_numpy(rng.integers(3, size=len(physics)))
    return torch.where(torch.from_numpy(rng.random(len(physics)) < noise), random, pump)


def test_public_api():
    checks.check_public_api(acrobot_module, Acrobot, gym_id=GYM_ID, max_steps=500,
                            physics_size=4, observation_size=6, discrete=True)


def test_matches_gymnasium_step_for_step_with_autoreset():
    """20 sessions, each beside its own Gymnasium environment, for over 10^4 steps. Before each
    step Gymnasium is put in our state (the chaos would otherwise amplify last-bit differences,
    see the free-running test); after each episode end (the dead tick) our session starts anew
    and Gymnasium is reset to our state."""
    batch = 20
    noise = np.linspace(0.1, 1.0, batch)  # the last sessions play at random: truncated
    agreement = checks.check_matches_gymnasium(
        Acrobot(batch_size=batch, seed=0, autoreset=True), GYM_ID,
        lambda physics, rng: _policy(physics, rng, noise), ticks=560, sync_each_step=True)
    compared, equal = agreement.compared, agreement.equal
    assert compared >= 10_000
    assert equal >= 0.99 * compared, f"only {equal} of {compared} observations equal"
    assert agreement.terminated >= 30 and agreement.truncated >= 2, agreement


def test_free_running_sessions_match_gymnasium():
    """Without putting Gymnasium back in our state: sessions agree to 1e-6 for at least 150
    steps and, but for a few where chaos amplified a last-bit difference, to the episode end."""
    batch = 16
    env = Acrobot(batch_size=batch, seed=1)
    rng = np.random.default_rng(1)
    states, (obs,) = env.reset()
    genvs = [checks.gym_from(GYM_ID, states[0][i]) for i in range(batch)]
    agreed = [0] * batch  # steps agreeing to 1e-6 before the first larger difference
    following = [True] * batch
    for _ in range(500):
        actions = _policy(states[0], rng, noise=0.5)
        states, obs, rewards = checks.step(env, states, actions)
        for i, genv in enumerate(genvs):
            if not following[i]:
                continue
            g_obs, g_reward, g_terminated, g_truncated, _ = genv.step(int(actions[i]))
            same = (np.abs(obs[i].numpy() - g_obs).max() <= checks.ATOL
                    and rewards[i].item() == g_reward
                    and env.get_is_terminated(states)[i].item() == g_terminated)
            if not same:
                following[i] = False
                continue
            agreed[i] += 1
            if g_terminated or g_truncated:
                following[i] = False
                agreed[i] = 500  # agreed to the end
    assert min(agreed) >= 150, agreed
    assert sum(a == 500 for a in agreed) >= 12, agreed
    assert env.get_is_terminated(states).sum() >= 8


def test_any_state_steps_as_gymnasium():
    """One step from states all over the state space (angles wrapped more than once, the
    velocity bounds, the goal line), compared with Gymnasium from the same state."""
    generator = torch.Generator().manual_seed(0)
    count = 1000
    scale = torch.tensor([math.pi, math.pi, 4 * math.pi, 9 * math.pi], dtype=torch.float64)
    physics = (torch.rand(count, 4, generator=generator, dtype=torch.float64) * 2 - 1) * scale
    physics[:10, 2:] = scale[2:]  # at the velocity bounds
    actions = torch.randint(3, (count,), generator=generator)
    env = Acrobot()
    states = [physics, torch.zeros(count, dtype=torch.int64), torch.zeros(count, dtype=torch.bool)]
    new_states = checks.check_steps_from(env, GYM_ID, states, actions)
    assert new_states[0][:, :2].abs().max() <= math.pi
    assert new_states[2].sum() > 50 and (~new_states[2]).sum() > 50
    assert (new_states[0][:, 3].abs() == 9 * math.pi).sum() > 5  # bounded


def test_batch_equals_independent_sessions():
    # vectorised and scalar sin/cos may differ in the last bit: put the single sessions in the
    # batch rows' states after each step so that differences do not grow
    batch_states = checks.check_batch_equals_single(
        Acrobot(seed=7), batch=3, ticks=130,
        policy=lambda physics, rng: _policy(physics, rng, noise=0.1), resync=True)
    assert batch_states[2].any()


def test_seeded_reset_is_reproducible_and_gymnasiums_distribution():
    a, obs = checks.check_seeded_reset(Acrobot)
    assert torch.equal(a, a.float().double())  # float32 values, as Gymnasium's reset
    theta1, theta2 = a[:, 0], a[:, 1]
    expected = torch.stack([theta1.cos(), theta1.sin(), theta2.cos(), theta2.sin(),
                            a[:, 2], a[:, 3]], dim=1).float()
    torch.testing.assert_close(obs, expected, rtol=0, atol=0)
    checks.check_spread(checks.reset_many(Acrobot), -0.1, 0.1, -0.099, 0.099)


def test_unseeded_reset_follows_torch_manual_seed():
    checks.check_unseeded_reset_follows_torch_seed(Acrobot)


def test_autoreset_after_termination_and_sticky_termination():
    up = torch.tensor([[math.pi, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    states = [up, torch.tensor([5, 5]), torch.zeros(2, dtype=torch.bool)]
    env = Acrobot(autoreset=True)
    ticks = []
    for _ in range(3):
        new_states, obs, rewards = checks.step(env, states, torch.tensor([1, 1]))
        ticks.append((new_states[1].tolist(), env.get_is_alive(new_states).tolist(),
                      rewards.tolist()))
        states = new_states
    # session 0 reaches the goal at once (reward 0), is dead for a tick, then starts anew
    assert ticks == [([6, 6], [False, True], [0.0, -1.0]), ([0, 7], [True, True], [0.0, -1.0]),
                     ([1, 8], [True, True], [-1.0, -1.0])]
    env = Acrobot()  # without autoreset the terminated session stays stopped
    states = [up, torch.tensor([5, 5]), torch.zeros(2, dtype=torch.bool)]
    for _ in range(3):
        new_states, obs, rewards = checks.step(env, states, torch.tensor([1, 1]))
        states = [torch.zeros_like(new_states[0]), *new_states[1:]]  # even if hanging again
    assert states[2].tolist() == [True, False] and rewards.tolist() == [0.0, -1.0]


def test_float32_dtype_and_device_follow_the_inputs():
    checks.check_float32_follows_float64(Acrobot, lambda: torch.tensor([0, 1, 2, 2]),
                                         ticks=10, obs_atol=1e-4)
    checks.check_stays_on_meta(Acrobot)


@checks.cuda_test
def test_cuda_matches_cpu_for_one_step():
    env = Acrobot(seed=0)
    cpu_states, _ = env.reset(batch_size=256)
    cpu_states[0] = cpu_states[0] * 30  # spread over the state space
    states = [s.cuda() for s in cpu_states]
    checks.check_device_matches_cpu(
        env, cpu_states, states, lambda physics, rng: torch.from_numpy(rng.integers(3, size=256)),
        ticks=1)


def test_bad_actions_raise():
    env = Acrobot()
    states, _ = env.reset(batch_size=3)
    env.check_actions(states, [torch.tensor([0, 1, 2])])
    with pytest.raises(ValueError, match=r"Acrobot: expected actions of dtype torch.int64, got "
                                         r"torch.int32"):
        env.get_action_results(states, [torch.zeros(3, dtype=torch.int32)])
    with pytest.raises(ValueError, match=r"shape \(3,\).*got \(2,\)"):
        env.get_action_results(states, [torch.zeros(2, dtype=torch.int64)])
    with pytest.raises(ValueError, match=r"Acrobot: actions must be in 0\.\.2, got values \[-1\]"):
        env.check_actions(states, [torch.tensor([0, -1, 1])])
    with pytest.raises(ValueError, match=r"expected actions = \[int64 tensor \[3\]\]"):
        env.check_actions(states, [])
