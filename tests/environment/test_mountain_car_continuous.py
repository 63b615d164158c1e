"""MountainCarContinuous against Gymnasium's MountainCarContinuous-v0, step for step, and its
batch/seed/device contract.

Tolerance: Gymnasium keeps this task's state in float32 after the first step; the native step
reproduces that rounding, so the float32 observations may only differ by a last-bit
difference of ``cos`` (``math.cos`` against torch's) turning into a float32 rounding step; we
allow 1e-6 and measured none (all 10^4 compared observations equal). Rewards are the float32
rounding of Gymnasium's float64 reward, exactly.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from agentnet.environment import mountain_car_continuous as module
from agentnet.environment.base import BaseEnvironment
from agentnet.environment.mountain_car_continuous import MountainCarContinuous

ATOL = 1e-6


def _gym_from(physics: torch.Tensor, elapsed_steps: int = 0, float32: bool = False) -> gym.Env:
    """``gymnasium.make("MountainCarContinuous-v0")`` put in our ``physics [2]``: float64 as
    its reset leaves it, or float32 as its steps do."""
    env = gym.make("MountainCarContinuous-v0")
    env.reset(seed=0)
    _put_state(env, physics, elapsed_steps, float32)
    return env


def _put_state(env: gym.Env, physics: torch.Tensor, elapsed_steps: int = 0,
               float32: bool = False) -> None:
    state = physics.cpu().numpy().astype(np.float32 if float32 else np.float64)
    env.unwrapped.state = state.copy()
    env._elapsed_steps = elapsed_steps  # the TimeLimit wrapper's counter


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


def _step(env: MountainCarContinuous, states: list[torch.Tensor], actions: torch.Tensor):
    a = [actions.to(states[0].device)]
    new_states, (obs,) = env.get_action_results(states, a)
    return new_states, obs, env.get_rewards(states, a, new_states)


def test_public_api():
    assert module.__all__ == ["MountainCarContinuous"]
    env = MountainCarContinuous()
    assert isinstance(env, BaseEnvironment)
    assert env.max_steps == 999 and env.gymnasium_id == "MountainCarContinuous-v0"
    assert env.state_shapes == [(2,), (), ()]
    assert env.state_dtypes == [torch.float64, torch.int64, torch.bool]
    assert env.observation_shapes == [(2,)] and env.observation_dtypes == [torch.float32]
    assert env.action_shapes == [(1,)] and env.action_dtypes == [torch.float32]
    genv = gym.make("MountainCarContinuous-v0")
    np.testing.assert_array_equal(np.float32(env.observation_low), genv.observation_space.low)
    np.testing.assert_array_equal(np.float32(env.observation_high), genv.observation_space.high)
    assert (env.action_low, env.action_high) == (genv.action_space.low[0],
                                                 genv.action_space.high[0])


def test_matches_gymnasium_step_for_step_with_autoreset():
    """10 sessions, each beside its own Gymnasium environment, for over 10^4 steps; after each
    episode end (the dead tick) our session starts anew and Gymnasium is reset to our state."""
    batch, ticks = 10, 1100
    env = MountainCarContinuous(batch_size=batch, seed=0, autoreset=True)
    torch.manual_seed(0)  # autoreset draws new episodes from torch's RNG
    rng = np.random.default_rng(0)
    noise = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 1.0, 1.0])
    states, (obs,) = env.reset()
    genvs = [_gym_from(states[0][i]) for i in range(batch)]
    restarting = [False] * batch
    compared, equal, terminated, truncated = 0, 0, 0, 0
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
            assert rewards[i].item() == np.float32(g_reward), where
            assert env.get_is_terminated(new_states)[i].item() == g_terminated, where
            assert env.get_is_truncated(new_states)[i].item() == g_truncated, where
            if g_terminated or g_truncated:
                restarting[i] = True
                terminated += g_terminated
                truncated += g_truncated
        states = new_states
    assert compared >= 10_000
    assert equal >= 0.99 * compared, f"only {equal} of {compared} observations equal"
    assert terminated >= 30 and truncated >= 2, (terminated, truncated)


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
        new_states, obs, rewards = _step(env, states, action)
        for i in range(batch):
            genv = _gym_from(physics[i], int(steps[i]), float32=not first_step)
            g_obs, g_reward, g_terminated, _, _ = genv.step(action[i].numpy())
            where = f"state {EDGES[i]}, force {force}"
            np.testing.assert_array_equal(obs[i].numpy(), g_obs, err_msg=where)
            assert rewards[i].item() == np.float32(g_reward), where
            assert new_states[2][i].item() == g_terminated, where


def test_batch_equals_independent_sessions():
    batch = 4
    env = MountainCarContinuous(seed=7)
    batch_states, _ = env.reset(batch_size=batch)
    singles = [[s[i:i + 1].clone() for s in batch_states] for i in range(batch)]
    rng = np.random.default_rng(1)
    for _ in range(150):
        actions = _policy(batch_states[0], rng, np.array([0.0, 0.2, 0.5, 1.0]))
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
    assert batch_states[2].any()


def test_seeded_reset_is_reproducible_and_gymnasiums_distribution():
    (a, steps, terminated), (obs,) = MountainCarContinuous(batch_size=5, seed=42).reset()
    (b, *_), _ = MountainCarContinuous(batch_size=5, seed=42).reset()
    (c, *_), _ = MountainCarContinuous(batch_size=5, seed=43).reset()
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == torch.float64 and torch.equal(obs, a.float())
    assert steps.tolist() == [0] * 5 and terminated.tolist() == [False] * 5
    (many, *_), _ = MountainCarContinuous(seed=0).reset(batch_size=10000)
    position, velocity = many.unbind(1)
    assert position.min() >= -0.6 and position.max() <= -0.4
    assert position.min() < -0.599 and position.max() > -0.401
    assert velocity.eq(0).all()


def test_autoreset_after_reaching_the_flag():
    near = torch.tensor([[0.44, 0.05], [-0.5, 0.0]], dtype=torch.float64)
    states = [near, torch.tensor([10, 10]), torch.zeros(2, dtype=torch.bool)]
    env = MountainCarContinuous(autoreset=True)
    ticks = []
    for _ in range(3):
        new_states, obs, rewards = _step(env, states, torch.tensor([[1.0], [-0.5]]))
        ticks.append((new_states[1].tolist(), env.get_is_alive(new_states).tolist(),
                      [round(r, 4) for r in rewards.tolist()]))
        states = new_states
    # session 0 reaches the flag (100 - 0.1), is dead for a tick (reward 0), then starts anew
    assert ticks == [([11, 11], [False, True], [99.9, -0.025]),
                     ([0, 12], [True, True], [0.0, -0.025]),
                     ([1, 13], [True, True], [-0.1, -0.025])]


def test_float32_dtype_and_device_follow_the_inputs():
    env64 = MountainCarContinuous(seed=9)
    env32 = MountainCarContinuous(seed=9, dtype=torch.float32)
    states64, _ = env64.reset(batch_size=4)
    states32, _ = env32.reset(batch_size=4)
    assert states32[0].dtype == torch.float32
    for _ in range(20):
        actions = torch.tensor([[-2.0], [0.5], [1.0], [0.2]])
        states64, obs64, rewards64 = _step(env64, states64, actions)
        states32, obs32, rewards32 = _step(env32, states32, actions)
        assert states32[0].dtype == torch.float32 and obs32.dtype == torch.float32
        torch.testing.assert_close(obs32, obs64, rtol=0, atol=1e-5)
        assert torch.equal(rewards32, rewards64)
    # nothing is made on another device: on "meta" any stray CPU tensor would fail
    env = MountainCarContinuous(seed=0, autoreset=True)
    states, (obs,) = env.reset(batch_size=3, device="meta")
    actions = [torch.zeros(3, 1, device="meta")]
    new_states, (obs,) = env.get_action_results(states, actions)
    outputs = [*states, *new_states, obs, env.get_rewards(states, actions, new_states),
               env.get_is_alive(new_states), env.get_is_truncated(new_states)]
    assert all(t.device.type == "meta" for t in outputs)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    env = MountainCarContinuous(seed=0)
    cpu_states, _ = env.reset(batch_size=64)
    states = [s.cuda() for s in cpu_states]
    rng = np.random.default_rng(0)
    for _ in range(100):
        actions = _policy(cpu_states[0], rng, np.full(64, 0.5))
        cpu_states, cpu_obs, cpu_rewards = _step(env, cpu_states, actions)
        states, obs, rewards = _step(env, states, actions)
        assert all(t.device.type == "cuda" for t in [*states, obs, rewards])
        torch.testing.assert_close(obs.cpu(), cpu_obs, rtol=0, atol=ATOL)
        assert torch.equal(rewards.cpu(), cpu_rewards)


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
