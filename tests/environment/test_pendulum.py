"""Pendulum against Gymnasium's Pendulum-v1, step for step, and its batch/seed/device contract.

Tolerance: the float64 physics follow Gymnasium's operation for operation (with its float32
``3 * u`` and ``0.001 * u ** 2``), so the float32 observations may only differ by last-bit
differences of ``sin``/``cos``/``** 2`` between numpy and torch; we allow 1e-6 and measured
none over 10^4 steps. Rewards are float32: Gymnasium's float64 reward rounded, within 1e-6
relative (measured: equal to ``np.float32(reward)``).
"""
from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from agentnet.environment import pendulum as pendulum_module
from agentnet.environment.base import BaseEnvironment
from agentnet.environment.pendulum import Pendulum

ATOL = 1e-6


def _gym_from(physics: torch.Tensor, elapsed_steps: int = 0) -> gym.Env:
    """``gymnasium.make("Pendulum-v1")`` put in our float64 ``physics [2]``."""
    env = gym.make("Pendulum-v1")
    env.reset(seed=0)
    _put_state(env, physics, elapsed_steps)
    return env


def _put_state(env: gym.Env, physics: torch.Tensor, elapsed_steps: int = 0) -> None:
    env.unwrapped.state = physics.cpu().numpy().astype(np.float64).copy()
    env._elapsed_steps = elapsed_steps  # the TimeLimit wrapper's counter


def _policy(physics: torch.Tensor, rng: np.random.Generator, noise: np.ndarray
            ) -> torch.Tensor:
    """float32 ``[B, 1]``: a torque of 3 (clipped to 2) along the angular velocity, which
    swings the pendulum fast, or a random one in ``[-3, 3]`` with probability ``noise``."""
    pump = torch.where(physics[:, 1] >= 0, 3.0, -3.0)
    random = torch.from_numpy(rng.uniform(-3, 3, size=len(physics)).astype(np.float32))
    use_random = torch.from_numpy(rng.random(len(physics)) < noise)
    return torch.where(use_random, random, pump)[:, None]


def _step(env: Pendulum, states: list[torch.Tensor], actions: torch.Tensor):
    a = [actions.to(states[0].device)]
    new_states, (obs,) = env.get_action_results(states, a)
    return new_states, obs, env.get_rewards(states, a, new_states)


def test_public_api():
    assert pendulum_module.__all__ == ["Pendulum"]
    env = Pendulum()
    assert isinstance(env, BaseEnvironment)
    assert env.max_steps == 200 and env.gymnasium_id == "Pendulum-v1"
    assert env.state_shapes == [(2,), (), ()]
    assert env.state_dtypes == [torch.float64, torch.int64, torch.bool]
    assert env.observation_shapes == [(3,)] and env.observation_dtypes == [torch.float32]
    assert env.action_shapes == [(1,)] and env.action_dtypes == [torch.float32]
    genv = gym.make("Pendulum-v1")
    np.testing.assert_array_equal(np.float32(env.observation_low), genv.observation_space.low)
    np.testing.assert_array_equal(np.float32(env.observation_high), genv.observation_space.high)
    assert (env.action_low, env.action_high) == (genv.action_space.low[0],
                                                 genv.action_space.high[0])


def test_matches_gymnasium_step_for_step_with_autoreset():
    """20 sessions, each beside its own Gymnasium environment, for over 10^4 steps; after each
    episode end (truncation: Pendulum never terminates) our session starts anew on the next
    tick and Gymnasium is reset to our state."""
    batch, ticks = 20, 540
    env = Pendulum(batch_size=batch, seed=0, autoreset=True)
    torch.manual_seed(0)  # autoreset draws new episodes from torch's RNG
    rng = np.random.default_rng(0)
    noise = np.linspace(0.0, 1.0, batch)
    states, (obs,) = env.reset()
    genvs = [_gym_from(states[0][i]) for i in range(batch)]
    restarting = [False] * batch
    compared, equal, truncated, fastest = 0, 0, 0, 0.0
    for t in range(ticks):
        actions = _policy(states[0], rng, noise)
        new_states, obs, rewards = _step(env, states, actions)
        for i, genv in enumerate(genvs):
            if restarting[i]:  # states[i] was the dead tick: a fresh episode, action ignored
                assert new_states[1][i] == 0 and env.get_is_alive(new_states)[i]
                assert rewards[i] == 0
                genv.reset()
                _put_state(genv, new_states[0][i])
                restarting[i] = False
                continue
            g_obs, g_reward, g_terminated, g_truncated, _ = genv.step(actions[i].numpy())
            compared += 1
            equal += bool((obs[i].numpy() == g_obs).all())
            where = f"session {i}, tick {t}"
            np.testing.assert_allclose(obs[i].numpy(), g_obs, rtol=0, atol=ATOL, err_msg=where)
            np.testing.assert_allclose(rewards[i].item(), g_reward, rtol=1e-6, err_msg=where)
            assert not g_terminated and not env.get_is_terminated(new_states)[i]
            assert env.get_is_truncated(new_states)[i].item() == g_truncated, where
            assert env.get_is_alive(new_states)[i].item() == (not g_truncated), where
            fastest = max(fastest, abs(float(g_obs[2])))
            if g_truncated:
                assert new_states[1][i] == 200
                restarting[i] = True
                truncated += 1
        states = new_states
    assert compared >= 10_000 and truncated >= 40
    assert equal >= 0.99 * compared, f"only {equal} of {compared} observations equal"
    assert fastest == 8.0  # the speed limit was reached


def test_batch_equals_independent_sessions():
    batch = 4
    env = Pendulum(seed=7)
    batch_states, _ = env.reset(batch_size=batch)
    singles = [[s[i:i + 1].clone() for s in batch_states] for i in range(batch)]
    rng = np.random.default_rng(1)
    for _ in range(205):
        actions = _policy(batch_states[0], rng, np.array([0.0, 0.3, 0.6, 1.0]))
        new_batch, batch_obs, batch_rewards = _step(env, batch_states, actions)
        for i in range(batch):
            new_single, obs, rewards = _step(env, singles[i], actions[i:i + 1])
            torch.testing.assert_close(new_single[0][0], new_batch[0][i], rtol=0, atol=1e-12)
            torch.testing.assert_close(obs[0], batch_obs[i], rtol=0, atol=ATOL)
            assert torch.equal(new_single[1][0], new_batch[1][i])
            torch.testing.assert_close(rewards[0], batch_rewards[i], rtol=1e-6, atol=0)
            singles[i] = [s[i:i + 1].clone() for s in new_batch]
        batch_states = new_batch
    assert env.get_is_truncated(batch_states).all()


def test_seeded_reset_is_reproducible_and_gymnasiums_distribution():
    (a, steps, terminated), (obs,) = Pendulum(batch_size=5, seed=42).reset()
    (b, *_), _ = Pendulum(batch_size=5, seed=42).reset()
    (c, *_), _ = Pendulum(batch_size=5, seed=43).reset()
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == torch.float64 and steps.tolist() == [0] * 5
    assert terminated.tolist() == [False] * 5
    expected = torch.stack([a[:, 0].cos(), a[:, 0].sin(), a[:, 1]], dim=1).float()
    torch.testing.assert_close(obs, expected, rtol=0, atol=0)
    (many, *_), _ = Pendulum(seed=0).reset(batch_size=10000)
    theta, thetadot = many.unbind(1)
    assert theta.min() >= -math.pi and theta.max() <= math.pi
    assert theta.min() < -math.pi + 0.01 and theta.max() > math.pi - 0.01
    assert thetadot.min() >= -1 and thetadot.max() <= 1
    assert thetadot.min() < -0.99 and thetadot.max() > 0.99


def test_never_terminates_and_truncates_at_the_limit_with_autoreset():
    env = Pendulum(max_steps=3, seed=0, autoreset=True)
    states, _ = env.reset(batch_size=2)
    ticks = []
    for _ in range(5):
        new_states, obs, rewards = _step(env, states, torch.tensor([[2.0], [-2.0]]))
        ticks.append((new_states[1].tolist(), env.get_is_alive(new_states).tolist(),
                      env.get_is_truncated(new_states).tolist(), bool((rewards < 0).all()),
                      bool((rewards == 0).all())))
        assert not env.get_is_terminated(new_states).any()
        if new_states[1].tolist() == [3, 3]:
            final = new_states[0].clone()
        if new_states[1].tolist() == [0, 0]:  # a new episode, not the final state
            assert not torch.equal(new_states[0], final)
            assert new_states[0][:, 1].abs().max() <= 1
        states = new_states
    assert ticks == [([1, 1], [True, True], [False, False], True, False),
                     ([2, 2], [True, True], [False, False], True, False),
                     ([3, 3], [False, False], [True, True], True, False),
                     ([0, 0], [True, True], [False, False], False, True),
                     ([1, 1], [True, True], [False, False], True, False)]


def test_float32_dtype_and_device_follow_the_inputs():
    env64, env32 = Pendulum(seed=9), Pendulum(seed=9, dtype=torch.float32)
    states64, _ = env64.reset(batch_size=4)
    states32, _ = env32.reset(batch_size=4)
    assert states32[0].dtype == torch.float32
    for _ in range(20):
        actions = torch.tensor([[-2.0], [0.5], [1.0], [3.0]])
        states64, obs64, rewards64 = _step(env64, states64, actions)
        states32, obs32, rewards32 = _step(env32, states32, actions)
        assert states32[0].dtype == torch.float32 and obs32.dtype == torch.float32
        torch.testing.assert_close(obs32, obs64, rtol=0, atol=1e-4)
        torch.testing.assert_close(rewards32, rewards64, rtol=1e-4, atol=1e-4)
    # nothing is made on another device: on "meta" any stray CPU tensor would fail
    env = Pendulum(seed=0, autoreset=True)
    states, (obs,) = env.reset(batch_size=3, device="meta")
    actions = [torch.zeros(3, 1, device="meta")]
    new_states, (obs,) = env.get_action_results(states, actions)
    outputs = [*states, *new_states, obs, env.get_rewards(states, actions, new_states),
               env.get_is_alive(new_states), env.get_is_truncated(new_states)]
    assert all(t.device.type == "meta" for t in outputs)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    env = Pendulum(seed=0)
    cpu_states, _ = env.reset(batch_size=64)
    states = [s.cuda() for s in cpu_states]
    rng = np.random.default_rng(0)
    for _ in range(50):
        actions = torch.from_numpy(rng.uniform(-3, 3, size=(64, 1)).astype(np.float32))
        cpu_states, cpu_obs, cpu_rewards = _step(env, cpu_states, actions)
        states, obs, rewards = _step(env, states, actions)
        assert all(t.device.type == "cuda" for t in [*states, obs, rewards])
        torch.testing.assert_close(obs.cpu(), cpu_obs, rtol=0, atol=ATOL)
        torch.testing.assert_close(rewards.cpu(), cpu_rewards, rtol=1e-6, atol=1e-6)


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
