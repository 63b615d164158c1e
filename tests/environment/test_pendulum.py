"""Pendulum against Gymnasium's Pendulum-v1, step for step, and its batch/seed/device contract.

Tolerance: the float64 physics follow Gymnasium's operation for operation (with its float32
``3 * u`` and ``0.001 * u ** 2``), so the float32 observations may only differ by last-bit
differences of ``sin``/``cos``/``** 2`` between numpy and torch; we allow 1e-6 and measured
none over 10^4 steps. Rewards are float32: Gymnasium's float64 reward rounded, within 1e-6
relative (measured: equal to ``np.float32(reward)``).
"""
from __future__ import annotations

import math

import native_env_checks as checks
import numpy as np
import pytest
import torch

from agentnet.environment import pendulum as pendulum_module
from agentnet.environment.pendulum import Pendulum

GYM_ID = "Pendulum-v1"


def _policy(physics: torch.Tensor, rng: np.random.Generator, noise: np.ndarray
            ) -> torch.Tensor:
    """float32 ``[B, 1]``: a torque of 3 (clipped to 2) along the angular velocity, which
    swings the pendulum fast, or a random one in ``[-3, 3]`` with probability ``noise``."""
    pump = torch.where(physics[:, 1] >= 0, 3.0, -3.0)
    random = torch.from_numpy(rng.uniform(-3, 3, size=len(physics)).astype(np.float32))
    use_random = torch.from_numpy(rng.random(len(physics)) < noise)
    return torch.where(use_random, random, pump)[:, None]


def _reward_within_float32(ours: float, theirs: float, where: str) -> None:
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, err_msg=where)


def test_public_api():
    checks.check_public_api(pendulum_module, Pendulum, gym_id=GYM_ID, max_steps=200,
                            physics_size=2, observation_size=3, discrete=False)


def test_matches_gymnasium_step_for_step_with_autoreset():
    """20 sessions, each beside its own Gymnasium environment, for over 10^4 steps; after each
    episode end (truncation: Pendulum never terminates) our session starts anew on the next
    tick and Gymnasium is reset to our state."""
    batch = 20
    noise = np.linspace(0.0, 1.0, batch)
    fastest = [0.0]

    def stepped(i, new_states, g_obs, g_terminated, g_truncated):
        assert not g_terminated
        fastest[0] = max(fastest[0], abs(float(g_obs[2])))
        if g_truncated:
            assert new_states[1][i] == 200

    agreement = checks.check_matches_gymnasium(
        Pendulum(batch_size=batch, seed=0, autoreset=True), GYM_ID,
        lambda physics, rng: _policy(physics, rng, noise), ticks=540,
        check_reward=_reward_within_float32, on_step=stepped)
    compared, equal = agreement.compared, agreement.equal
    assert compared >= 10_000 and agreement.truncated >= 40
    assert equal >= 0.99 * compared, f"only {equal} of {compared} observations equal"
    assert fastest[0] == 8.0  # the speed limit was reached


def test_batch_equals_independent_sessions():
    env = Pendulum(seed=7)
    noise = np.array([0.0, 0.3, 0.6, 1.0])
    batch_states = checks.check_batch_equals_single(
        env, batch=4, ticks=205, policy=lambda physics, rng: _policy(physics, rng, noise),
        resync=True, reward_rtol=1e-6)
    assert env.get_is_truncated(batch_states).all()


def test_seeded_reset_is_reproducible_and_gymnasiums_distribution():
    a, obs = checks.check_seeded_reset(Pendulum)
    expected = torch.stack([a[:, 0].cos(), a[:, 0].sin(), a[:, 1]], dim=1).float()
    torch.testing.assert_close(obs, expected, rtol=0, atol=0)
    theta, thetadot = checks.reset_many(Pendulum).unbind(1)
    checks.check_spread(theta, -math.pi, math.pi, -math.pi + 0.01, math.pi - 0.01)
    checks.check_spread(thetadot, -1, 1, -0.99, 0.99)


def test_never_terminates_and_truncates_at_the_limit_with_autoreset():
    def fresh(new_states, obs):
        assert new_states[0][:, 1].abs().max() <= 1

    rewards = checks.check_autoreset_final_tick(Pendulum, torch.tensor([[2.0], [-2.0]]), fresh)
    assert [all(r < 0 for r in tick) for tick in rewards] == [True, True, True, False, True]


def test_float32_dtype_and_device_follow_the_inputs():
    checks.check_float32_follows_float64(
        Pendulum, lambda: torch.tensor([[-2.0], [0.5], [1.0], [3.0]]), ticks=20, obs_atol=1e-4,
        reward_tol=1e-4)
    checks.check_stays_on_meta(Pendulum)


@checks.cuda_test
def test_cuda_matches_cpu():
    checks.check_cuda_matches_cpu(
        Pendulum, lambda physics, rng: torch.from_numpy(
            rng.uniform(-3, 3, size=(64, 1)).astype(np.float32)), ticks=50, reward_tol=1e-6)


def test_bad_actions_raise():
    env = Pendulum()
    states, _ = env.reset(batch_size=3)
    env.check_actions(states, [torch.zeros(3, 1)])
    with pytest.raises(ValueError, match=r"Pendulum: expected actions of dtype torch.float32, "
                                         r"got torch.float64"):
        env.get_action_results(states, [torch.zeros(3, 1, dtype=torch.float64)])
    with pytest.raises(ValueError, match=r"dtype torch.float32, got torch.int64"):
        env.get_action_results(states, [torch.zeros(3, 1, dtype=torch.int64)])
    with pytest.raises(ValueError, match=r"shape \(3, 1\).*got \(3,\)"):
        env.get_action_results(states, [torch.zeros(3)])
    with pytest.raises(ValueError, match=r"without NaN, got 1 NaN"):
        env.check_actions(states, [torch.tensor([[0.0], [math.nan], [1.0]])])
    with pytest.raises(ValueError, match=r"expected actions = \[float32 tensor \[3, 1\]\]"):
        env.check_actions(states, torch.zeros(3, 1))  # type: ignore[arg-type]
