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

import gymnasium as gym
import numpy as np
import pytest
import torch

from agentnet.environment import acrobot as acrobot_module
from agentnet.environment.acrobot import Acrobot
from agentnet.environment.base import BaseEnvironment

ATOL = 1e-6


def _gym_from(physics: torch.Tensor, elapsed_steps: int = 0) -> gym.Env:
    """``gymnasium.make("Acrobot-v1")`` put in our float64 ``physics [4]``."""
    env = gym.make("Acrobot-v1")
    env.reset(seed=0)
    _put_state(env, physics, elapsed_steps)
    return env


def _put_state(env: gym.Env, physics: torch.Tensor, elapsed_steps: int | None = None) -> None:
    env.unwrapped.state = physics.cpu().numpy().astype(np.float64).copy()
    if elapsed_steps is not None:
        env._elapsed_steps = elapsed_steps  # the TimeLimit wrapper's counter


def _policy(physics: torch.Tensor, rng: np.random.Generator,
            noise: float | np.ndarray = 0.3) -> torch.Tensor:
    """int64 ``[B]``: torque along the second joint's velocity (swings up in ~100 steps),
    replaced by a random action with probability ``noise`` (a number or one per session)."""
    pump = torch.where(physics[:, 3] > 0, 2, 0)
    random = torch.from_numpy(rng.integers(3, size=len(physics)))
    return torch.where(torch.from_numpy(rng.random(len(physics)) < noise), random, pump)


def _step(env: Acrobot, states: list[torch.Tensor], actions: torch.Tensor):
    a = [actions.to(states[0].device)]
    new_states, (obs,) = env.get_action_results(states, a)
    return new_states, obs, env.get_rewards(states, a, new_states)


def test_public_api():
    assert acrobot_module.__all__ == ["Acrobot"]
    env = Acrobot()
    assert isinstance(env, BaseEnvironment)
    assert env.max_steps == 500 and env.gymnasium_id == "Acrobot-v1"
    assert env.state_shapes == [(4,), (), ()]
    assert env.state_dtypes == [torch.float64, torch.int64, torch.bool]
    assert env.observation_shapes == [(6,)] and env.observation_dtypes == [torch.float32]
    assert env.action_shapes == [()] and env.action_dtypes == [torch.int64]
    genv = gym.make("Acrobot-v1")
    np.testing.assert_array_equal(np.float32(env.observation_low), genv.observation_space.low)
    np.testing.assert_array_equal(np.float32(env.observation_high), genv.observation_space.high)
    assert env.n_actions == genv.action_space.n


def test_matches_gymnasium_step_for_step_with_autoreset():
    """20 sessions, each beside its own Gymnasium environment, for over 10^4 steps. Before each
    step Gymnasium is put in our state (the chaos would otherwise amplify last-bit differences,
    see the free-running test); after each episode end (the dead tick) our session starts anew
    and Gymnasium is reset to our state."""
    batch, ticks = 20, 560
    env = Acrobot(batch_size=batch, seed=0, autoreset=True)
    torch.manual_seed(0)  # autoreset draws new episodes from torch's RNG
    rng = np.random.default_rng(0)
    noise = np.linspace(0.1, 1.0, batch)  # the last sessions play at random: truncated
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
                _put_state(genv, new_states[0][i], elapsed_steps=0)
                restarting[i] = False
                continue
            _put_state(genv, states[0][i])
            g_obs, g_reward, g_terminated, g_truncated, _ = genv.step(int(actions[i]))
            compared += 1
            equal += bool((obs[i].numpy() == g_obs).all())
            where = f"session {i}, tick {t}"
            np.testing.assert_allclose(obs[i].numpy(), g_obs, rtol=0, atol=ATOL, err_msg=where)
            assert rewards[i].item() == g_reward, where
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


def test_free_running_sessions_match_gymnasium():
    """Without putting Gymnasium back in our state: sessions agree to 1e-6 for at least 150
    steps and, but for a few where chaos amplified a last-bit difference, to the episode end."""
    batch = 16
    env = Acrobot(batch_size=batch, seed=1)
    rng = np.random.default_rng(1)
    states, (obs,) = env.reset()
    genvs = [_gym_from(states[0][i]) for i in range(batch)]
    agreed = [0] * batch  # steps agreeing to 1e-6 before the first larger difference
    following = [True] * batch
    for _ in range(500):
        actions = _policy(states[0], rng, noise=0.5)
        states, obs, rewards = _step(env, states, actions)
        for i, genv in enumerate(genvs):
            if not following[i]:
                continue
            g_obs, g_reward, g_terminated, g_truncated, _ = genv.step(int(actions[i]))
            same = (np.abs(obs[i].numpy() - g_obs).max() <= ATOL
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
    new_states, obs, rewards = _step(env, states, actions)
    genv = _gym_from(physics[0])
    for i in range(count):
        _put_state(genv, physics[i], elapsed_steps=0)
        g_obs, g_reward, g_terminated, _, _ = genv.step(int(actions[i]))
        np.testing.assert_allclose(obs[i].numpy(), g_obs, rtol=0, atol=ATOL, err_msg=f"{i}")
        assert new_states[2][i].item() == g_terminated and rewards[i].item() == g_reward
    assert new_states[0][:, :2].abs().max() <= math.pi
    assert new_states[2].sum() > 50 and (~new_states[2]).sum() > 50
    assert (new_states[0][:, 3].abs() == 9 * math.pi).sum() > 5  # bounded


def test_batch_equals_independent_sessions():
    batch = 3
    env = Acrobot(seed=7)
    batch_states, _ = env.reset(batch_size=batch)
    singles = [[s[i:i + 1].clone() for s in batch_states] for i in range(batch)]
    rng = np.random.default_rng(1)
    for _ in range(130):
        actions = _policy(batch_states[0], rng, noise=0.1)
        new_batch, batch_obs, batch_rewards = _step(env, batch_states, actions)
        for i in range(batch):
            new_single, obs, rewards = _step(env, singles[i], actions[i:i + 1])
            # vectorised and scalar sin/cos may differ in the last bit: put the batch row in
            # the single session's state so that differences do not grow
            torch.testing.assert_close(new_single[0][0], new_batch[0][i], rtol=0, atol=1e-12)
            torch.testing.assert_close(obs[0], batch_obs[i], rtol=0, atol=ATOL)
            assert torch.equal(new_single[1][0], new_batch[1][i])
            assert torch.equal(new_single[2][0], new_batch[2][i])
            assert torch.equal(rewards[0], batch_rewards[i])
            singles[i] = [s[i:i + 1].clone() for s in new_batch]
        batch_states = new_batch
    assert batch_states[2].any()


def test_seeded_reset_is_reproducible_and_gymnasiums_distribution():
    (a, steps, terminated), (obs,) = Acrobot(batch_size=5, seed=42).reset()
    (b, *_), _ = Acrobot(batch_size=5, seed=42).reset()
    (c, *_), _ = Acrobot(batch_size=5, seed=43).reset()
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == torch.float64 and steps.tolist() == [0] * 5
    assert terminated.tolist() == [False] * 5
    assert torch.equal(a, a.float().double())  # float32 values, as Gymnasium's reset
    theta1, theta2 = a[:, 0], a[:, 1]
    expected = torch.stack([theta1.cos(), theta1.sin(), theta2.cos(), theta2.sin(),
                            a[:, 2], a[:, 3]], dim=1).float()
    torch.testing.assert_close(obs, expected, rtol=0, atol=0)
    (many, *_), _ = Acrobot(seed=0).reset(batch_size=10000)
    assert many.min() >= -0.1 and many.max() <= 0.1
    assert many.min() < -0.099 and many.max() > 0.099


def test_unseeded_reset_follows_torch_manual_seed():
    torch.manual_seed(5)
    (a, *_), _ = Acrobot().reset(batch_size=4)
    torch.manual_seed(5)
    (b, *_), _ = Acrobot().reset(batch_size=4)
    assert torch.equal(a, b)


def test_autoreset_after_termination_and_sticky_termination():
    up = torch.tensor([[math.pi, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    states = [up, torch.tensor([5, 5]), torch.zeros(2, dtype=torch.bool)]
    env = Acrobot(autoreset=True)
    ticks = []
    for _ in range(3):
        new_states, obs, rewards = _step(env, states, torch.tensor([1, 1]))
        ticks.append((new_states[1].tolist(), env.get_is_alive(new_states).tolist(),
                      rewards.tolist()))
        states = new_states
    # session 0 reaches the goal at once (reward 0), is dead for a tick, then starts anew
    assert ticks == [([6, 6], [False, True], [0.0, -1.0]), ([0, 7], [True, True], [0.0, -1.0]),
                     ([1, 8], [True, True], [-1.0, -1.0])]
    env = Acrobot()  # without autoreset the terminated session stays stopped
    states = [up, torch.tensor([5, 5]), torch.zeros(2, dtype=torch.bool)]
    for _ in range(3):
        new_states, obs, rewards = _step(env, states, torch.tensor([1, 1]))
        states = [torch.zeros_like(new_states[0]), *new_states[1:]]  # even if hanging again
    assert states[2].tolist() == [True, False] and rewards.tolist() == [0.0, -1.0]


def test_float32_dtype_and_device_follow_the_inputs():
    env64, env32 = Acrobot(seed=9), Acrobot(seed=9, dtype=torch.float32)
    states64, _ = env64.reset(batch_size=4)
    states32, _ = env32.reset(batch_size=4)
    assert states32[0].dtype == torch.float32
    torch.testing.assert_close(states32[0], states64[0].float(), rtol=0, atol=0)
    for _ in range(10):
        actions = torch.tensor([0, 1, 2, 2])
        states64, obs64, _ = _step(env64, states64, actions)
        states32, obs32, _ = _step(env32, states32, actions)
        assert states32[0].dtype == torch.float32 and obs32.dtype == torch.float32
        torch.testing.assert_close(obs32, obs64, rtol=0, atol=1e-4)
    # nothing is made on another device: on "meta" any stray CPU tensor would fail
    env = Acrobot(seed=0, autoreset=True)
    states, (obs,) = env.reset(batch_size=3, device="meta")
    actions = [torch.zeros(3, dtype=torch.int64, device="meta")]
    new_states, (obs,) = env.get_action_results(states, actions)
    outputs = [*states, *new_states, obs, env.get_rewards(states, actions, new_states),
               env.get_is_alive(new_states), env.get_is_truncated(new_states)]
    assert all(t.device.type == "meta" for t in outputs)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_for_one_step():
    env = Acrobot(seed=0)
    cpu_states, _ = env.reset(batch_size=256)
    cpu_states[0] = cpu_states[0] * 30  # spread over the state space
    states = [s.cuda() for s in cpu_states]
    actions = torch.from_numpy(np.random.default_rng(0).integers(3, size=256))
    cpu_new, cpu_obs, cpu_rewards = _step(env, cpu_states, actions)
    new, obs, rewards = _step(env, states, actions)
    assert all(t.device.type == "cuda" for t in [*new, obs, rewards])
    torch.testing.assert_close(obs.cpu(), cpu_obs, rtol=0, atol=ATOL)
    assert torch.equal(rewards.cpu(), cpu_rewards)


def test_bad_actions_raise():
    env = Acrobot()
    states, _ = env.reset(batch_size=3)
    env.check_actions(states, [torch.tensor([0, 1, 2])])
    with pytest.raises(ValueError, match=r"Acrobot: expected actions of dtype torch.int64, got "
                                         r"torch.int32"):
        env.get_action_results(states, [torch.zeros(3, dtype=torch.int32)])
    with pytest.raises(ValueError, match=r"shape \(3,\).*got \(2,\)"):
        env.get_action_results(states, [torch.zeros(2, dtype=torch.int64)])
    with pytest.raises(ValueError, match=r"actions in \{0, 1, 2\}, got values \[-1\]"):
        env.check_actions(states, [torch.tensor([0, -1, 1])])
    with pytest.raises(ValueError, match=r"expected actions = \[int64 tensor \[3\]\]"):
        env.check_actions(states, [])
