"""Checks shared by the tests of the native environments (CartPole, Acrobot, MountainCar,
MountainCarContinuous, Pendulum): the contract of ``agentnet.environment._native`` compared
with Gymnasium, session by session.

A plain module, imported by the test files (pytest puts this folder on ``sys.path``). Each
``check_*`` runs the assertions; what differs between environments (the policy, the step
counts, the tolerances, the special cases) comes in as arguments, and what is left to a test
(its thresholds) comes back as a result.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import pytest
import torch

from agentnet.environment.base import BaseEnvironment

ATOL = 1e-6

#: marks a test that needs a CUDA device (skipped where there is none)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

#: ``policy(physics, rng) -> actions``: int64 ``[B]`` or float32 ``[B, 1]``
Policy = Callable[[torch.Tensor, np.random.Generator], torch.Tensor]
#: ``check_reward(ours, gymnasium's, where)``: asserts that one reward matches
RewardCheck = Callable[[float, float, str], None]


# ------------------------------------------------------------------------------ plumbing
def gym_from(gym_id: str, physics: torch.Tensor, elapsed_steps: int = 0,
             dtype: type = np.float64) -> gym.Env:
    """``gymnasium.make(gym_id)`` put in our ``physics [P]`` (as ``dtype``)."""
    env = gym.make(gym_id)
    env.reset(seed=0)
    put_state(env, physics, elapsed_steps, dtype)
    return env


def put_state(env: gym.Env, physics: torch.Tensor, elapsed_steps: int | None = 0,
              dtype: type = np.float64) -> None:
    """Put a Gymnasium environment in our ``physics [P]``; ``elapsed_steps`` sets the
    TimeLimit wrapper's counter (None: left as it is)."""
    env.unwrapped.state = physics.cpu().numpy().astype(dtype).copy()
    if elapsed_steps is not None:
        env._elapsed_steps = elapsed_steps  # the TimeLimit wrapper's counter


def step(env, states: list[torch.Tensor], actions: torch.Tensor):
    """One step: ``(new_states, observations, rewards)``; the actions go to the states'
    device."""
    a = [actions.to(states[0].device)]
    new_states, (obs,) = env.get_action_results(states, a)
    return new_states, obs, env.get_rewards(states, a, new_states)


def gym_action(action: torch.Tensor):
    """One session's action as Gymnasium takes it: an int, or a float32 array ``[1]``."""
    return int(action) if action.dtype == torch.int64 else action.numpy()


def rows(states: list[torch.Tensor], i: int) -> list[torch.Tensor]:
    """Session ``i`` of a batch of states, as a batch of one."""
    return [s[i:i + 1].clone() for s in states]


def assert_same_reward(ours: float, theirs: float, where: str) -> None:
    assert ours == theirs, where


def assert_float32_reward(ours: float, theirs: float, where: str) -> None:
    """Our float32 reward is Gymnasium's float64 one rounded, exactly."""
    assert ours == np.float32(theirs), where


def assert_tensors_match(ours: torch.Tensor, theirs: torch.Tensor, tol: float) -> None:
    """Equal if ``tol == 0``, else within ``tol`` relative and absolute."""
    if tol == 0:
        assert torch.equal(ours, theirs)
    else:
        torch.testing.assert_close(ours, theirs, rtol=tol, atol=tol)


# ---------------------------------------------------------------------------- the checks
def check_public_api(module, env_cls, *, gym_id: str, max_steps: int, physics_size: int,
                     observation_size: int, discrete: bool) -> None:
    """``__all__``, the base class, the shapes and dtypes, and the observation and action
    spaces against Gymnasium's."""
    assert module.__all__ == [env_cls.__name__]
    env = env_cls()
    assert isinstance(env, BaseEnvironment)
    assert env.max_steps == max_steps and env.gymnasium_id == gym_id
    assert env.state_shapes == [(physics_size,), (), ()]
    assert env.state_dtypes == [torch.float64, torch.int64, torch.bool]
    assert env.observation_shapes == [(observation_size,)]
    assert env.observation_dtypes == [torch.float32]
    if discrete:
        assert env.action_shapes == [()] and env.action_dtypes == [torch.int64]
    else:
        assert env.action_shapes == [(1,)] and env.action_dtypes == [torch.float32]
    genv = gym.make(gym_id)
    np.testing.assert_array_equal(np.float32(env.observation_low), genv.observation_space.low)
    np.testing.assert_array_equal(np.float32(env.observation_high), genv.observation_space.high)
    if discrete:
        assert env.n_actions == genv.action_space.n
    else:
        assert (env.action_low, env.action_high) == (genv.action_space.low[0],
                                                     genv.action_space.high[0])


@dataclass
class Agreement:
    """What :func:`check_matches_gymnasium` compared: steps, observations equal to the bit,
    and episodes ended by termination and by truncation."""
    compared: int = 0
    equal: int = 0
    terminated: int = 0
    truncated: int = 0


def check_matches_gymnasium(env, gym_id: str, policy: Policy, ticks: int, *,
                            check_reward: RewardCheck = assert_same_reward,
                            sync_each_step: bool = False,
                            on_restart: Callable | None = None,
                            on_step: Callable | None = None) -> Agreement:
    """Every session of ``env`` (made with ``autoreset=True``) beside its own Gymnasium
    environment for ``ticks`` ticks, under ``policy`` (with ``np.random.default_rng(0)``;
    ``torch.manual_seed(0)`` for autoreset's new episodes). After each episode end (the dead
    tick) our session starts anew and Gymnasium is reset to our state.

    Each step: observations within ``ATOL``, the reward by ``check_reward``, terminated,
    truncated and alive as Gymnasium's. ``sync_each_step`` puts Gymnasium in our state before
    each step (for chaotic physics); ``on_restart(i, obs, genv)`` and
    ``on_step(i, new_states, g_obs, g_terminated, g_truncated)`` add a task's own checks.
    """
    torch.manual_seed(0)  # autoreset draws new episodes from torch's RNG
    rng = np.random.default_rng(0)
    states, (obs,) = env.reset()
    batch = len(states[0])
    genvs = [gym_from(gym_id, states[0][i]) for i in range(batch)]
    restarting = [False] * batch
    agreement = Agreement()
    for t in range(ticks):
        actions = policy(states[0], rng)
        new_states, obs, rewards = step(env, states, actions)
        for i, genv in enumerate(genvs):
            if restarting[i]:  # states[i] was the dead tick: a fresh episode, action ignored
                assert new_states[1][i] == 0 and env.get_is_alive(new_states)[i]
                assert rewards[i] == 0
                genv.reset()
                put_state(genv, new_states[0][i], elapsed_steps=0)
                if on_restart is not None:
                    on_restart(i, obs, genv)
                restarting[i] = False
                continue
            if sync_each_step:
                put_state(genv, states[0][i], elapsed_steps=None)
            g_obs, g_reward, g_terminated, g_truncated, _ = genv.step(gym_action(actions[i]))
            agreement.compared += 1
            agreement.equal += bool((obs[i].numpy() == g_obs).all())
            where = f"session {i}, tick {t}"
            np.testing.assert_allclose(obs[i].numpy(), g_obs, rtol=0, atol=ATOL, err_msg=where)
            check_reward(rewards[i].item(), g_reward, where)
            assert env.get_is_terminated(new_states)[i].item() == g_terminated, where
            assert env.get_is_truncated(new_states)[i].item() == g_truncated, where
            assert env.get_is_alive(new_states)[i].item() == (not (g_terminated or g_truncated))
            if on_step is not None:
                on_step(i, new_states, g_obs, g_terminated, g_truncated)
            if g_terminated or g_truncated:
                restarting[i] = True
                agreement.terminated += g_terminated
                agreement.truncated += g_truncated
        states = new_states
    return agreement


def check_steps_from(env, gym_id: str, states: list[torch.Tensor], actions: torch.Tensor, *,
                     atol: float = ATOL, check_reward: RewardCheck = assert_same_reward,
                     gym_dtype: type = np.float64, where: Callable[[int], str] = str
                     ) -> list[torch.Tensor]:
    """One step of every session from ``states``, each compared with Gymnasium put in the
    same state (physics as ``gym_dtype``, its time limit counter at our ``steps``):
    observations within ``atol``, the reward by ``check_reward``, terminated. Returns the new
    states."""
    new_states, obs, rewards = step(env, states, actions)
    genv = gym_from(gym_id, states[0][0])
    for i in range(len(states[0])):
        put_state(genv, states[0][i], int(states[1][i]), gym_dtype)
        g_obs, g_reward, g_terminated, _, _ = genv.step(gym_action(actions[i]))
        np.testing.assert_allclose(obs[i].numpy(), g_obs, rtol=0, atol=atol, err_msg=where(i))
        check_reward(rewards[i].item(), g_reward, where(i))
        assert new_states[2][i].item() == g_terminated, where(i)
    return new_states


def check_batch_equals_single(env, batch: int, ticks: int, policy: Policy, *,
                              resync: bool = False, reward_rtol: float = 0.0
                              ) -> list[torch.Tensor]:
    """``batch`` sessions stepped together and one by one, under ``policy`` (with
    ``np.random.default_rng(1)``), for ``ticks`` ticks: physics within 1e-12 (vectorised and
    scalar float64 ``sin``/``cos`` may differ in the last bit), observations within ``ATOL``,
    steps, terminated and alive equal, rewards equal (or within ``reward_rtol``). ``resync``
    puts each single session in the batch row's state after each step, so that last-bit
    differences cannot grow (chaotic physics). Returns the final batch states."""
    batch_states, _ = env.reset(batch_size=batch)
    singles = [rows(batch_states, i) for i in range(batch)]
    rng = np.random.default_rng(1)
    for _ in range(ticks):
        actions = policy(batch_states[0], rng)
        new_batch, batch_obs, batch_rewards = step(env, batch_states, actions)
        for i in range(batch):
            new_single, obs, rewards = step(env, singles[i], actions[i:i + 1])
            torch.testing.assert_close(new_single[0][0], new_batch[0][i], rtol=0, atol=1e-12)
            torch.testing.assert_close(obs[0], batch_obs[i], rtol=0, atol=ATOL)
            assert torch.equal(new_single[1][0], new_batch[1][i])
            assert torch.equal(new_single[2][0], new_batch[2][i])
            if reward_rtol == 0:
                assert torch.equal(rewards[0], batch_rewards[i])
            else:
                torch.testing.assert_close(rewards[0], batch_rewards[i], rtol=reward_rtol,
                                           atol=0)
            assert torch.equal(env.get_is_alive(new_single)[0], env.get_is_alive(new_batch)[i])
            singles[i] = rows(new_batch, i) if resync else new_single
        batch_states = new_batch
    return batch_states


def check_seeded_reset(env_cls) -> tuple[torch.Tensor, torch.Tensor]:
    """A seed gives the same 5 sessions, another seed others; steps 0, not terminated.
    Returns the physics and observations for the task's own checks."""
    (a, steps, terminated), (obs,) = env_cls(batch_size=5, seed=42).reset()
    (b, *_), _ = env_cls(batch_size=5, seed=42).reset()
    (c, *_), _ = env_cls(batch_size=5, seed=43).reset()
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (5, env_cls.physics_size) and a.dtype == torch.float64
    assert steps.tolist() == [0] * 5 and steps.dtype == torch.int64
    assert terminated.tolist() == [False] * 5 and terminated.dtype == torch.bool
    return a, obs


def reset_many(env_cls, batch_size: int = 10000) -> torch.Tensor:
    """The physics of many fresh sessions (seed 0), to check the reset distribution."""
    (physics, *_), _ = env_cls(seed=0).reset(batch_size=batch_size)
    return physics


def check_spread(values: torch.Tensor, low: float, high: float, inner_low: float,
                 inner_high: float) -> None:
    """``values`` in ``[low, high]`` and reaching below ``inner_low`` and above
    ``inner_high``: the whole range is used."""
    assert values.min() >= low and values.max() <= high
    assert values.min() < inner_low and values.max() > inner_high


def check_unseeded_reset_follows_torch_seed(env_cls) -> None:
    torch.manual_seed(5)
    (a, *_), _ = env_cls().reset(batch_size=4)
    torch.manual_seed(5)
    (b, *_), _ = env_cls().reset(batch_size=4)
    (c, *_), _ = env_cls().reset(batch_size=4)
    assert torch.equal(a, b)
    assert not torch.equal(b, c)


def check_autoreset_final_tick(env_cls, actions: torch.Tensor,
                               check_fresh: Callable[[list[torch.Tensor], torch.Tensor], None]
                               ) -> list[list[float]]:
    """Two sessions with ``max_steps=3`` and autoreset for 5 ticks: truncated (alive no
    more) at step 3, the dead tick (reward 0) starts a new episode with fresh physics (not
    the final ones; ``check_fresh(new_states, obs)`` checks them), then steps on. Returns the
    rewards per tick."""
    env = env_cls(max_steps=3, seed=0, autoreset=True)
    states, _ = env.reset(batch_size=2)
    steps, alive, truncated, terminated, rewards = [], [], [], [], []
    final = None
    for _ in range(5):
        new_states, obs, reward = step(env, states, actions)
        steps.append(new_states[1].tolist())
        alive.append(env.get_is_alive(new_states).tolist())
        truncated.append(env.get_is_truncated(new_states).tolist())
        terminated.append(env.get_is_terminated(new_states).any().item())
        rewards.append(reward.tolist())
        if steps[-1] == [3, 3]:
            final = new_states[0].clone()
        if steps[-1] == [0, 0]:  # the new episode: fresh physics, not the final ones
            assert not torch.equal(new_states[0], final)
            check_fresh(new_states, obs)
        states = new_states
    assert steps == [[1, 1], [2, 2], [3, 3], [0, 0], [1, 1]]
    assert alive == [[True, True], [True, True], [False, False], [True, True], [True, True]]
    assert truncated == [[False, False], [False, False], [True, True], [False, False],
                         [False, False]]
    assert terminated == [False] * 5
    assert rewards[3] == [0, 0]
    return rewards


def check_float32_follows_float64(env_cls, next_actions: Callable[[], torch.Tensor],
                                  ticks: int, *, obs_atol: float, reward_tol: float = 0.0
                                  ) -> None:
    """The same 4 sessions in float32 and float64 (seed 9): the float32 reset is the float64
    one rounded, and for ``ticks`` steps everything stays float32 on the states' device with
    observations within ``obs_atol`` and rewards equal (or within ``reward_tol``)."""
    env64, env32 = env_cls(seed=9), env_cls(seed=9, dtype=torch.float32)
    states64, _ = env64.reset(batch_size=4)
    states32, (obs32,) = env32.reset(batch_size=4)
    assert states32[0].dtype == torch.float32 and obs32.dtype == torch.float32
    torch.testing.assert_close(states32[0], states64[0].float(), rtol=0, atol=0)
    device = states32[0].device
    for _ in range(ticks):
        actions = next_actions()
        states64, obs64, rewards64 = step(env64, states64, actions)
        states32, obs32, rewards32 = step(env32, states32, actions)
        outputs = [*states32, obs32, rewards32, env32.get_is_alive(states32),
                   env32.get_is_terminated(states32)]
        assert all(t.device == device for t in outputs)
        assert states32[0].dtype == torch.float32 and obs32.dtype == torch.float32
        assert rewards32.dtype == torch.float32
        torch.testing.assert_close(obs32, obs64, rtol=0, atol=obs_atol)
        assert_tensors_match(rewards32, rewards64, reward_tol)


def check_stays_on_meta(env_cls) -> None:
    """Nothing is made on another device: on "meta" any stray CPU tensor would fail."""
    env = env_cls(seed=0, autoreset=True)
    states, (obs,) = env.reset(batch_size=3, device="meta")
    actions = [torch.zeros(3, *env.action_shapes[0], dtype=env.action_dtypes[0],
                           device="meta")]
    new_states, (obs,) = env.get_action_results(states, actions)
    outputs = [*states, *new_states, obs, env.get_rewards(states, actions, new_states),
               env.get_is_alive(new_states), env.get_is_truncated(new_states)]
    assert all(t.device.type == "meta" for t in outputs)


def cuda_test(test):
    """Mark ``test`` as a GPU test, skipped where there is no CUDA device."""
    return pytest.mark.gpu(needs_cuda(test))


def check_cuda_matches_cpu(env_cls, policy: Policy, ticks: int, *, batch_size: int = 64,
                           reward_tol: float = 0.0, device: str = "cuda") -> None:
    """The same seeded sessions (seed 0) reset on CPU and on ``device``, then stepped side by
    side: see :func:`check_device_matches_cpu`."""
    env = env_cls(seed=0)
    cpu_states, _ = env_cls(seed=0).reset(batch_size=batch_size)
    states, _ = env.reset(batch_size=batch_size, device=device)
    check_device_matches_cpu(env, cpu_states, states, policy, ticks, reward_tol=reward_tol,
                             device=device)


def check_device_matches_cpu(env, cpu_states: list[torch.Tensor], states: list[torch.Tensor],
                             policy: Policy, ticks: int, *, reward_tol: float = 0.0,
                             device: str = "cuda") -> None:
    """The same sessions on CPU and on ``device`` for ``ticks`` steps, with actions from
    ``policy(cpu_physics, rng)`` (``np.random.default_rng(0)``): everything stays on
    ``device``, observations within ``ATOL``, rewards equal (or within ``reward_tol``)."""
    rng = np.random.default_rng(0)
    for _ in range(ticks):
        actions = policy(cpu_states[0], rng)
        cpu_states, cpu_obs, cpu_rewards = step(env, cpu_states, actions)
        states, obs, rewards = step(env, states, actions)
        assert all(t.device.type == device for t in [*states, obs, rewards])
        torch.testing.assert_close(obs.cpu(), cpu_obs, rtol=0, atol=ATOL)
        assert_tensors_match(rewards.cpu(), cpu_rewards, reward_tol)

