"""MountainCarContinuous against Gymnasium's MountainCarContinuous-v0, step for step, and its
batch/seed/device contract.

Tolerance: Gymnasium keeps this task's state in float32 after the first step; the native step
reproduces that rounding, so the float32 observations may only differ by a last-bit
difference of ``cos`` (``math.cos`` against torch's) turning into a float32 rounding step; we
allow 1e-6 and measured none (all 10^4 compared observations equal). Rewards are the float32
rounding of Gymnasium's float64 reward, exactly.
"""
from __future__ import annotations

import native_env_checks as checks
import numpy as np
import pytest
import torch

from agentnet.environment import mountain_car_continuous as module
from agentnet.environment.mountain_car_continuous import MountainCarContinuous

GYM_ID = "MountainCarContinuous-v0"


def _policy(physics: torch.Tensor, rng: np.random.Generator, noise: np.ndarray
            ) -> torch.Tensor:
    """float32 ``[B, 1]``: a force of 0.5 to 1.5 along the velocity (reaches the flag; beyond
    1 it is clipped), or a random one in ``[-1.5, 1.5]`` with probability ``noise``."""
    size = len(physics)
    strength = torch.from_numpy(rng.uniform(0.5, 1.5, size=size))
    pump = torch.where(physics[:, 1] >= 0, strength, -strength)
    random = torch.from_numpy(rng.uniform(-1.5, 1.5, size=size))
    use_random = torch.from_numpy(rng.random(size) < noise)
    return torch.where(use_random, random, pump).to(torch.float32)[:, None]


def test_public_api():
    checks.check_public_api(module, MountainCarContinuous, gym_id=GYM_ID, max_steps=999,
                            physics_size=2, observation_size=2, discrete=False)


def test_matches_gymnasium_step_for_step_with_autoreset():
    """10 sessions, each beside its own Gymnasium environment, for over 10^4 steps; after each
    episode end (the dead tick) our session starts anew and Gymnasium is reset to our state."""
    noise = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 1.0, 1.0])
    agreement = checks.check_matches_gymnasium(
        MountainCarContinuous(batch_size=10, seed=0, autoreset=True), GYM_ID,
        lambda physics, rng: _policy(physics, rng, noise), ticks=1100,
        check_reward=checks.assert_float32_reward)
    compared, equal = agreement.compared, agreement.equal
    assert compared >= 10_000
    assert equal >= 0.99 * compared, f"only {equal} of {compared} observations equal"
    assert agreement.terminated >= 30 and agreement.truncated >= 2, agreement


# (position, velocity) at the edges: speed limits, the left wall, the flag, the right end
EDGES = [(-0.5, 0.0695), (-0.5, -0.0695), (-1.19, -0.02), (-1.2, -0.01), (-1.2, 0.0),
         (0.44, 0.0099), (0.45, 0.0), (0.449, 0.001), (0.59, 0.07), (-0.52, 0.0)]
FORCES = [-2.0, -1.0, -0.3, 0.0, 1e-8, 0.7, 1.0, 1.0000001, 1.5]


@pytest.mark.parametrize("first_step", [True, False])
def test_edges_match_gymnasium(first_step):
    """Every edge state under forces inside, at and beyond ``[-1, 1]``, both from a float64
    state (Gymnasium's reset: ``steps == 0``) and a float32 one (after its first step)."""
    physics = torch.tensor(EDGES, dtype=torch.float64)
    if not first_step:
        physics = physics.float().double()
    env = MountainCarContinuous()
    batch = len(EDGES)
    for force in FORCES:
        action = torch.full((batch, 1), force, dtype=torch.float32)
        steps = torch.full((batch,), 0 if first_step else 5)
        states = [physics, steps, torch.zeros(batch, dtype=torch.bool)]
        checks.check_steps_from(env, GYM_ID, states, action, atol=0,
                                check_reward=checks.assert_float32_reward,
                                gym_dtype=np.float64 if first_step else np.float32,
                                where=lambda i, f=force: f"state {EDGES[i]}, force {f}")


def test_batch_equals_independent_sessions():
    noise = np.array([0.0, 0.2, 0.5, 1.0])
    batch_states = checks.check_batch_equals_single(
        MountainCarContinuous(seed=7), batch=4, ticks=150,
        policy=lambda physics, rng: _policy(physics, rng, noise))
    assert batch_states[2].any()


def test_seeded_reset_is_reproducible_and_gymnasiums_distribution():
    a, obs = checks.check_seeded_reset(MountainCarContinuous)
    assert torch.equal(obs, a.float())
    position, velocity = checks.reset_many(MountainCarContinuous).unbind(1)
    checks.check_spread(position, -0.6, -0.4, -0.599, -0.401)
    assert velocity.eq(0).all()


def test_autoreset_after_reaching_the_flag():
    near = torch.tensor([[0.44, 0.05], [-0.5, 0.0]], dtype=torch.float64)
    states = [near, torch.tensor([10, 10]), torch.zeros(2, dtype=torch.bool)]
    env = MountainCarContinuous(autoreset=True)
    ticks = []
    for _ in range(3):
        new_states, obs, rewards = checks.step(env, states, torch.tensor([[1.0], [-0.5]]))
        ticks.append((new_states[1].tolist(), env.get_is_alive(new_states).tolist(),
                      [round(r, 4) for r in rewards.tolist()]))
        states = new_states
    # session 0 reaches the flag (100 - 0.1), is dead for a tick (reward 0), then starts anew
    assert ticks == [([11, 11], [False, True], [99.9, -0.025]),
                     ([0, 12], [True, True], [0.0, -0.025]),
                     ([1, 13], [True, True], [-0.1, -0.025])]


def test_float32_dtype_and_device_follow_the_inputs():
    checks.check_float32_follows_float64(
        MountainCarContinuous, lambda: torch.tensor([[-2.0], [0.5], [1.0], [0.2]]), ticks=20,
        obs_atol=1e-5)
    checks.check_stays_on_meta(MountainCarContinuous)


@checks.cuda_test
def test_cuda_matches_cpu():
    checks.check_cuda_matches_cpu(
        MountainCarContinuous, lambda physics, rng: _policy(physics, rng, np.full(64, 0.5)),
        ticks=100)


def test_bad_actions_raise():
    env = MountainCarContinuous()
    states, _ = env.reset(batch_size=2)
    env.check_actions(states, [torch.zeros(2, 1)])
    with pytest.raises(ValueError, match=r"MountainCarContinuous: expected actions of dtype "
                                         r"torch.float32, got torch.float64"):
        env.get_action_results(states, [torch.zeros(2, 1, dtype=torch.float64)])
    with pytest.raises(ValueError, match=r"shape \(2, 1\).*got \(2, 2\)"):
        env.get_action_results(states, [torch.zeros(2, 2)])
    with pytest.raises(ValueError, match=r"without NaN"):
        env.check_actions(states, [torch.tensor([[0.0], [float("nan")]])])
