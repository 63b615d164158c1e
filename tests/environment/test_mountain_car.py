"""MountainCar against Gymnasium's MountainCar-v0, step for step, and its batch/seed/device
contract.

Tolerance: the float64 physics follow Gymnasium's operation for operation, so the float32
observations may only differ by a last-bit difference of ``cos`` (numpy's ``math.cos`` against
torch's); we allow 1e-6 and measured none (all 10^4 compared observations equal).
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from agentnet.environment import mountain_car as mountain_car_module
from agentnet.environment.base import BaseEnvironment
from agentnet.environment.mountain_car import MountainCar

ATOL = 1e-6


def _gym_from(physics: torch.Tensor, elapsed_steps: int = 0) -> gym.Env:
    """``gymnasium.make("MountainCar-v0")`` put in our float64 ``physics [2]``."""
    env = gym.make("MountainCar-v0")
    env.reset(seed=0)
    _put_state(env, physics, elapsed_steps)
    return env


def _put_state(env: gym.Env, physics: torch.Tensor, elapsed_steps: int = 0) -> None:
    env.unwrapped.state = physics.cpu().numpy().astype(np.float64).copy()
    env._elapsed_steps = elapsed_steps  # the TimeLimit wrapper's counter


def _policy(physics: torch.Tensor, pumping: torch.Tensor, rng: np.random.Generator
            ) -> torch.Tensor:
    """int64 ``[B]``: where ``pumping``, push along the velocity (reaches the flag), else random."""
    pump = torch.where(physics[:, 1] >= 0, 2, 0)
    random = torch.from_numpy(rng.integers(3, size=len(physics)))
    return torch.where(pumping, pump, random)


def _step(env: MountainCar, states: list[torch.Tensor], actions: torch.Tensor):
    a = [actions.to(states[0].device)]
    new_states, (obs,) = env.get_action_results(states, a)
    return new_states, obs, env.get_rewards(states, a, new_states)


def test_public_api():
    assert mountain_car_module.__all__ == ["MountainCar"]
    env = MountainCar()
    assert isinstance(env, BaseEnvironment)
    assert env.max_steps == 200 and env.gymnasium_id == "MountainCar-v0"
    assert env.state_shapes == [(2,), (), ()]
    assert env.state_dtypes == [torch.float64, torch.int64, torch.bool]
    assert env.observation_shapes == [(2,)] and env.observation_dtypes == [torch.float32]
    assert env.action_shapes == [()] and env.action_dtypes == [torch.int64]
    space = gym.make("MountainCar-v0").observation_space
    np.testing.assert_array_equal(np.float32(env.observation_low), space.low)
    np.testing.assert_array_equal(np.float32(env.observation_high), space.high)
    assert env.n_actions == gym.make("MountainCar-v0").action_space.n


def test_matches_gymnasium_step_for_step_with_autoreset():
    """20 sessions, each beside its own Gymnasium environment, for over 10^4 steps; after each
    episode end (the dead tick) our session starts anew and Gymnasium is reset to our state."""
    batch, ticks = 20, 560
    env = MountainCar(batch_size=batch, seed=0, autoreset=True)
    torch.manual_seed(0)  # autoreset draws new episodes from torch's RNG
    rng = np.random.default_rng(0)
    pumping = torch.arange(batch) % 4 != 0  # a quarter of the sessions play at random
    states, (obs,) = env.reset()
    genvs = [_gym_from(states[0][i]) for i in range(batch)]
    restarting = [False] * batch
    compared, terminated, truncated = 0, 0, 0
    for t in range(ticks):
        actions = _policy(states[0], pumping, rng)
        new_states, obs, rewards = _step(env, states, actions)
        for i, genv in enumerate(genvs):
            if restarting[i]:  # states[i] was the dead tick: a fresh episode, action ignored
                assert new_states[1][i] == 0 and env.get_is_alive(new_states)[i]
                assert rewards[i] == 0
                genv.reset()
                _put_state(genv, new_states[0][i])
                np.testing.assert_array_equal(obs[i].numpy(), np.float32(genv.unwrapped.state))
                restarting[i] = False
                continue
            g_obs, g_reward, g_terminated, g_truncated, _ = genv.step(int(actions[i]))
            compared += 1
            where = f"session {i}, tick {t}"
            np.testing.assert_allclose(obs[i].numpy(), g_obs, rtol=0, atol=ATOL, err_msg=where)
            assert rewards[i].item() == g_reward == -1.0, where
            assert env.get_is_terminated(new_states)[i].item() == g_terminated, where
            assert env.get_is_truncated(new_states)[i].item() == g_truncated, where
            assert env.get_is_alive(new_states)[i].item() == (not (g_terminated or g_truncated))
            if g_terminated or g_truncated:
                restarting[i] = True
                terminated += g_terminated
                truncated += g_truncated
        states = new_states
    assert compared >= 10_000
    assert terminated >= 20 and truncated >= 10, (terminated, truncated)


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
        new_states, obs, _ = _step(env, states, torch.full((batch,), action))
        for i in range(batch):
            g_obs, _, g_terminated, _, _ = _gym_from(physics[i]).step(action)
            np.testing.assert_allclose(obs[i].numpy(), g_obs, rtol=0, atol=ATOL)
            assert new_states[2][i].item() == g_terminated, (i, action)
    assert new_states[0][0].tolist() == [-1.2, 0.0]  # stopped at the wall


def test_batch_equals_independent_sessions():
    batch = 6
    env = MountainCar(seed=7)
    batch_states, _ = env.reset(batch_size=batch)
    singles = [[s[i:i + 1].clone() for s in batch_states] for i in range(batch)]
    rng = np.random.default_rng(1)
    pumping = torch.tensor([True, False] * 3)
    for _ in range(220):
        actions = _policy(batch_states[0], pumping, rng)
        new_batch, batch_obs, batch_rewards = _step(env, batch_states, actions)
        for i in range(batch):
            new_single, obs, rewards = _step(env, singles[i], actions[i:i + 1])
            torch.testing.assert_close(new_single[0][0], new_batch[0][i], rtol=0, atol=1e-12)
            torch.testing.assert_close(obs[0], batch_obs[i], rtol=0, atol=ATOL)
            assert torch.equal(new_single[1][0], new_batch[1][i])
            assert torch.equal(new_single[2][0], new_batch[2][i])
            assert torch.equal(rewards[0], batch_rewards[i])
            singles[i] = new_single
        batch_states = new_batch
    assert batch_states[2].any() and env.get_is_truncated(batch_states).any()


def test_seeded_reset_is_reproducible_and_gymnasiums_distribution():
    (a, steps, terminated), (obs,) = MountainCar(batch_size=5, seed=42).reset()
    (b, *_), _ = MountainCar(batch_size=5, seed=42).reset()
    (c, *_), _ = MountainCar(batch_size=5, seed=43).reset()
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == torch.float64 and torch.equal(obs, a.float())
    assert steps.tolist() == [0] * 5 and terminated.tolist() == [False] * 5
    env = MountainCar(seed=0)
    env.seed(42)
    assert torch.equal(env.reset(batch_size=5)[0][0], a)
    (many, *_), _ = MountainCar(seed=0).reset(batch_size=10000)
    position, velocity = many.unbind(1)
    assert position.min() >= -0.6 and position.max() <= -0.4
    assert position.min() < -0.599 and position.max() > -0.401
    assert velocity.eq(0).all()


def test_autoreset_gives_the_dead_tick_then_a_new_episode():
    env = MountainCar(max_steps=3, seed=0, autoreset=True)
    states, _ = env.reset(batch_size=2)
    alive, steps, rewards = [], [], []
    for _ in range(5):
        new_states, obs, reward = _step(env, states, torch.tensor([2, 0]))
        alive.append(env.get_is_alive(new_states).tolist())
        steps.append(new_states[1].tolist())
        rewards.append(reward.tolist())
        if steps[-1] == [3, 3]:
            final = new_states[0].clone()
            assert env.get_is_truncated(new_states).all()
        if steps[-1] == [0, 0]:  # the new episode: fresh physics, not the final ones
            assert not torch.equal(new_states[0], final)
            assert new_states[0][:, 1].eq(0).all() and torch.equal(obs, new_states[0].float())
        states = new_states
    assert steps == [[1, 1], [2, 2], [3, 3], [0, 0], [1, 1]]
    assert alive == [[True, True], [True, True], [False, False], [True, True], [True, True]]
    assert rewards == [[-1, -1], [-1, -1], [-1, -1], [0, 0], [-1, -1]]


def test_float32_dtype_and_device_follow_the_inputs():
    env64, env32 = MountainCar(seed=9), MountainCar(seed=9, dtype=torch.float32)
    states64, _ = env64.reset(batch_size=4)
    states32, _ = env32.reset(batch_size=4)
    assert states32[0].dtype == torch.float32
    for _ in range(20):
        actions = torch.tensor([0, 1, 2, 2])
        states64, obs64, _ = _step(env64, states64, actions)
        states32, obs32, _ = _step(env32, states32, actions)
        assert states32[0].dtype == torch.float32 and obs32.dtype == torch.float32
        torch.testing.assert_close(obs32, obs64, rtol=0, atol=1e-5)
    # nothing is made on another device: on "meta" any stray CPU tensor would fail
    env = MountainCar(seed=0, autoreset=True)
    states, (obs,) = env.reset(batch_size=3, device="meta")
    actions = [torch.zeros(3, dtype=torch.int64, device="meta")]
    new_states, (obs,) = env.get_action_results(states, actions)
    outputs = [*states, *new_states, obs, env.get_rewards(states, actions, new_states),
               env.get_is_alive(new_states), env.get_is_truncated(new_states)]
    assert all(t.device.type == "meta" for t in outputs)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    env = MountainCar(seed=0)
    cpu_states, _ = MountainCar(seed=0).reset(batch_size=64)
    states, _ = env.reset(batch_size=64, device="cuda")
    rng = np.random.default_rng(0)
    for _ in range(200):
        actions = torch.from_numpy(rng.integers(3, size=64))
        cpu_states, cpu_obs, cpu_rewards = _step(env, cpu_states, actions)
        states, obs, rewards = _step(env, states, actions)
        assert all(t.device.type == "cuda" for t in [*states, obs, rewards])
        torch.testing.assert_close(obs.cpu(), cpu_obs, rtol=0, atol=ATOL)
        assert torch.equal(rewards.cpu(), cpu_rewards)


def test_bad_actions_and_arguments_raise():
    env = MountainCar()
    states, _ = env.reset(batch_size=3)
    env.check_actions(states, [torch.tensor([0, 1, 2])])
    with pytest.raises(ValueError, match=r"dtype torch.int64, got torch.float32"):
        env.get_action_results(states, [torch.zeros(3)])
    with pytest.raises(ValueError, match=r"shape \(3,\).*got \(3, 1\)"):
        env.get_action_results(states, [torch.zeros(3, 1, dtype=torch.int64)])
    with pytest.raises(ValueError, match=r"actions in \{0, 1, 2\}, got values \[3\]"):
        env.check_actions(states, [torch.tensor([0, 3, 1])])
    with pytest.raises(ValueError, match=r"physics of shape \[B, 2\]"):
        env.check_actions([torch.zeros(3, 4), states[1], states[2]], [torch.tensor([0, 1, 2])])
    with pytest.raises(ValueError, match="MountainCar: max_steps must be a positive int"):
        MountainCar(max_steps=0)
    with pytest.raises(ValueError, match="floating torch dtype"):
        MountainCar(dtype=torch.int64)
