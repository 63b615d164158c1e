"""MountainCar against Gymnasium's MountainCar-v0, step for step, and its batch/seed/device
contract.

Tolerance: the float64 physics follow Gymnasium's operation for operation, so the float32
observations may only differ by a last-bit difference of ``cos`` (numpy's ``math.cos`` against
torch's); we allow 1e-6 and measured none (all 10^4 compared observations equal).
"""
from __future__ import annotations

import native_env_checks as checks
import numpy as np
import pytest
import torch

from agentnet.environment import mountain_car as mountain_car_module
from agentnet.environment.mountain_car import MountainCar

GYM_ID = "MountainCar-v0"


def _policy(physics: torch.Tensor, rng: np.random.Generator, pumping: torch.Tensor
            ) -> torch.Tensor:
    """int64 ``[B]``: where ``pumping``, push along the velocity (reaches the flag), else random."""
    pump = torch.where(physics[:, 1] >= 0, 2, 0)
    random = torch.from_numpy(rng.integers(3, size=len(physics)))
    return torch.where(pumping, pump, random)


def _reward_is_minus_one(ours: float, theirs: float, where: str) -> None:
    assert ours == theirs == -1.0, where


def test_public_api():
    checks.check_public_api(mountain_car_module, MountainCar, gym_id=GYM_ID, max_steps=200,
                            physics_size=2, observation_size=2, discrete=True)


def test_matches_gymnasium_step_for_step_with_autoreset():
    """20 sessions, each beside its own Gymnasium environment, for over 10^4 steps; after each
    episode end (the dead tick) our session starts anew and Gymnasium is reset to our state."""
    batch = 20
    pumping = torch.arange(batch) % 4 != 0  # a quarter of the sessions play at random

    def restarted(i, obs, genv):  # the observation is the fresh state
        np.testing.assert_array_equal(obs[i].numpy(), np.float32(genv.unwrapped.state))

    agreement = checks.check_matches_gymnasium(
        MountainCar(batch_size=batch, seed=0, autoreset=True), GYM_ID,
        lambda physics, rng: _policy(physics, rng, pumping), ticks=560,
        check_reward=_reward_is_minus_one, on_restart=restarted)
    assert agreement.compared >= 10_000
    assert agreement.terminated >= 20 and agreement.truncated >= 10, agreement


def test_walls_and_limits_match_gymnasium():
    """States at the edges: the left wall stops the car, the speed is clipped, the flag."""
    physics = torch.tensor([[-1.2, -0.01], [-1.19, -0.02], [-0.5, 0.0699], [-0.5, -0.0699],
                            [0.49, 0.0099], [0.5, 0.0], [0.5, -1e-9], [0.59, 0.07]],
                           dtype=torch.float64)
    batch = len(physics)
    env = MountainCar()
    for action in range(3):
        states = [physics, torch.zeros(batch, dtype=torch.int64),
                  torch.zeros(batch, dtype=torch.bool)]
        new_states = checks.check_steps_from(env, GYM_ID, states, torch.full((batch,), action),
                                             where=lambda i, a=action: str((i, a)))
    assert new_states[0][0].tolist() == [-1.2, 0.0]  # stopped at the wall


def test_batch_equals_independent_sessions():
    pumping = torch.tensor([True, False] * 3)
    env = MountainCar(seed=7)
    batch_states = checks.check_batch_equals_single(
        env, batch=6, ticks=220, policy=lambda physics, rng: _policy(physics, rng, pumping))
    assert batch_states[2].any() and env.get_is_truncated(batch_states).any()


def test_seeded_reset_is_reproducible_and_gymnasiums_distribution():
    a, obs = checks.check_seeded_reset(MountainCar)
    assert torch.equal(obs, a.float())
    env = MountainCar(seed=0)
    env.seed(42)
    assert torch.equal(env.reset(batch_size=5)[0][0], a)
    position, velocity = checks.reset_many(MountainCar).unbind(1)
    checks.check_spread(position, -0.6, -0.4, -0.599, -0.401)
    assert velocity.eq(0).all()


def test_autoreset_gives_the_dead_tick_then_a_new_episode():
    def fresh(new_states, obs):
        assert new_states[0][:, 1].eq(0).all() and torch.equal(obs, new_states[0].float())

    rewards = checks.check_autoreset_final_tick(MountainCar, torch.tensor([2, 0]), fresh)
    assert rewards == [[-1, -1], [-1, -1], [-1, -1], [0, 0], [-1, -1]]


def test_float32_dtype_and_device_follow_the_inputs():
    checks.check_float32_follows_float64(MountainCar, lambda: torch.tensor([0, 1, 2, 2]),
                                         ticks=20, obs_atol=1e-5)
    checks.check_stays_on_meta(MountainCar)


@checks.cuda_test
def test_cuda_matches_cpu():
    checks.check_cuda_matches_cpu(
        MountainCar, lambda physics, rng: torch.from_numpy(rng.integers(3, size=64)), ticks=200)


def test_bad_actions_and_arguments_raise():
    env = MountainCar()
    states, _ = env.reset(batch_size=3)
    env.check_actions(states, [torch.tensor([0, 1, 2])])
    with pytest.raises(ValueError, match=r"dtype torch.int64, got torch.float32"):
        env.get_action_results(states, [torch.zeros(3)])
    with pytest.raises(ValueError, match=r"shape \(3,\).*got \(3, 1\)"):
        env.get_action_results(states, [torch.zeros(3, 1, dtype=torch.int64)])
    with pytest.raises(ValueError,
                       match=r"MountainCar: actions must be in 0\.\.2, got values \[3\]"):
        env.check_actions(states, [torch.tensor([0, 3, 1])])
    with pytest.raises(ValueError, match=r"physics of shape \[B, 2\]"):
        env.check_actions([torch.zeros(3, 4), states[1], states[2]], [torch.tensor([0, 1, 2])])
    with pytest.raises(ValueError, match="MountainCar: max_steps must be a positive int"):
        MountainCar(max_steps=0)
    with pytest.raises(ValueError, match="floating torch dtype"):
        MountainCar(dtype=torch.int64)
