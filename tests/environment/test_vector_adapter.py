"""NativeVectorEnv: native environments behind Gymnasium's vector API, checked with Gymnasium's
own space and observation checkers and against ``gymnasium.vector.SyncVectorEnv`` of the real
environments, step for step, autoresets included."""
from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_space_limit
from gymnasium.utils.passive_env_checker import (
    check_action_space,
    check_obs,
    check_observation_space,
)
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv

from agentnet.environment import (
    Acrobot,
    CartPole,
    MountainCar,
    MountainCarContinuous,
    NativeVectorEnv,
    Pendulum,
    TMaze,
)
from agentnet.environment import vector_adapter as vector_adapter_module

NATIVE = [CartPole, Acrobot, MountainCar, MountainCarContinuous, Pendulum]
ATOL = 1e-6


def _real(cls, num_envs: int, max_steps: int) -> SyncVectorEnv:
    """Gymnasium's own vector environment of the task ``cls`` reproduces."""
    return SyncVectorEnv([lambda: gym.make(cls.gymnasium_id, max_episode_steps=max_steps)
                          for _ in range(num_envs)])


def _put_state(envs: SyncVectorEnv, i: int, physics: torch.Tensor) -> None:
    envs.envs[i].unwrapped.state = physics.numpy().astype(np.float64).copy()


def test_public_api_and_lazy_export():
    assert vector_adapter_module.__all__ == ["NativeVectorEnv"]
    import agentnet.environment as environment
    assert environment.NativeVectorEnv is NativeVectorEnv
    assert issubclass(NativeVectorEnv, VectorEnv)


@pytest.mark.parametrize("cls", NATIVE, ids=lambda cls: cls.__name__)
def test_spaces_are_gymnasiums_and_pass_its_checkers(cls):
    envs = NativeVectorEnv(cls(), num_envs=3)
    real = gym.make(cls.gymnasium_id)
    assert envs.num_envs == 3
    assert envs.single_observation_space == real.observation_space
    assert envs.single_action_space == real.action_space
    assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pendulum's [-2, 2] torque is Gymnasium's own choice
        check_observation_space(envs.single_observation_space)
        check_action_space(envs.single_action_space)
        check_space_limit(envs.single_observation_space, "observation")
        check_space_limit(envs.single_action_space, "action")
    obs, info = envs.reset(seed=0)
    check_obs(obs, envs.observation_space, "reset")
    assert info == {}
    envs.action_space.seed(0)
    for _ in range(5):
        obs, rewards, terminations, truncations, info = envs.step(envs.action_space.sample())
        check_obs(obs, envs.observation_space, "step")
        assert rewards.dtype == np.float64 and rewards.shape == (3,)
        assert terminations.dtype == truncations.dtype == np.bool_
        assert terminations.shape == truncations.shape == (3,) and info == {}
    envs.close()


@pytest.mark.parametrize("cls", NATIVE, ids=lambda cls: cls.__name__)
def test_matches_gymnasium_sync_vector_env_with_next_step_autoreset(cls):
    """Our adapter beside SyncVectorEnv of the real task, both with a 40-step limit so that
    many autoresets happen: after each one the real environment is put in our new state."""
    num_envs, max_steps = 4, 40
    envs = NativeVectorEnv(cls(max_steps=max_steps), num_envs=num_envs)
    real = _real(cls, num_envs, max_steps)
    obs, _ = envs.reset(seed=1)
    real.reset(seed=1)
    for i in range(num_envs):
        _put_state(real, i, envs.states[0][i])
    envs.action_space.seed(1)
    restarted, ended = 0, 0
    for t in range(150):
        actions = envs.action_space.sample()
        obs, rewards, terminations, truncations, _ = envs.step(actions)
        g_obs, g_rewards, g_terminations, g_truncations, _ = real.step(actions)
        np.testing.assert_array_equal(terminations, g_terminations, err_msg=f"step {t}")
        np.testing.assert_array_equal(truncations, g_truncations, err_msg=f"step {t}")
        np.testing.assert_allclose(rewards, g_rewards, rtol=1e-6, atol=0, err_msg=f"step {t}")
        ended += int((terminations | truncations).sum())
        for i in range(num_envs):
            if envs.states[1][i] == 0:  # autoreset: a new episode, Gymnasium's own differs
                assert rewards[i] == 0 and not terminations[i] and not truncations[i]
                np.testing.assert_array_equal(obs[i], envs.env._observe(envs.states[0])[i])
                _put_state(real, i, envs.states[0][i])
                restarted += 1
            else:
                np.testing.assert_allclose(obs[i], g_obs[i], rtol=0, atol=ATOL,
                                           err_msg=f"session {i}, step {t}")
    assert restarted >= 8 and restarted >= ended - num_envs


def test_next_step_autoreset_ignores_the_action_and_restarts_from_the_seed():
    def run(last_actions):
        envs = NativeVectorEnv(CartPole(max_steps=3), num_envs=2)
        history = [envs.reset(seed=5)[0]]
        for actions in ([0, 1], [1, 0], [0, 0], last_actions):
            history.append(envs.step(np.array(actions)))
        return history

    first, *steps = run([0, 0])
    _, *other = run([1, 1])
    for _, rewards, terminations, truncations, _ in steps[:2]:
        assert rewards.tolist() == [1, 1] and not terminations.any() and not truncations.any()
    obs, rewards, terminations, truncations, _ = steps[2]
    assert rewards.tolist() == [1, 1] and truncations.all() and not terminations.any()
    obs, rewards, terminations, truncations, _ = steps[3]  # the new episode
    assert rewards.tolist() == [0, 0] and not terminations.any() and not truncations.any()
    assert np.abs(obs).max() <= 0.05 and not np.array_equal(obs, first)
    np.testing.assert_array_equal(obs, other[3][0])  # whatever the action was


def test_seeded_runs_are_reproducible_and_the_envs_autoreset_does_not_matter():
    def run(seed, autoreset=False):
        envs = NativeVectorEnv(MountainCar(max_steps=20, autoreset=autoreset), num_envs=3)
        envs.action_space.seed(0)
        outputs = [envs.reset(seed=seed)[0]]
        for _ in range(70):
            outputs.extend(envs.step(envs.action_space.sample())[:4])
        return outputs

    a, b, c, d = run(3), run(3), run(4), run(3, autoreset=True)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert all(np.array_equal(x, y) for x, y in zip(a, d))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_works_with_gymnasium_vector_wrappers():
    envs = gym.wrappers.vector.RecordEpisodeStatistics(
        NativeVectorEnv(CartPole(), num_envs=4))
    envs.reset(seed=0)
    envs.action_space.seed(0)
    returns, running = [], np.zeros(4)
    for _ in range(200):
        _, rewards, terminations, truncations, infos = envs.step(envs.action_space.sample())
        running += rewards
        done = terminations | truncations
        if done.any():
            np.testing.assert_array_equal(infos["episode"]["r"][done], running[done])
            returns.extend(running[done])
            running[done] = 0
    assert len(returns) >= 10 and all(r >= 8 for r in returns)


def test_observations_are_copies():
    envs = NativeVectorEnv(CartPole(dtype=torch.float32), num_envs=2)
    obs, _ = envs.reset(seed=0)
    physics = envs.states[0].clone()
    obs[:] = 99.0
    assert torch.equal(envs.states[0], physics)


def test_bad_use_raises():
    with pytest.raises(TypeError, match="native environments.*got TMaze"):
        NativeVectorEnv(TMaze())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_envs must be a positive int, got 0"):
        NativeVectorEnv(CartPole(), num_envs=0)
    envs = NativeVectorEnv(CartPole(), num_envs=2)
    with pytest.raises(RuntimeError, match=r"call reset\(\) before step\(\)"):
        envs.step(np.array([0, 1]))
    with pytest.raises(ValueError, match="options are not supported"):
        envs.reset(options={"low": -0.1})
    envs.reset(seed=0)
    with pytest.raises(ValueError, match=r"expected actions of shape \(2,\), got \(3,\)"):
        envs.step(np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="expected integer actions, got float64"):
        envs.step(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"CartPole: actions must be in 0\.\.1, got values \[2\]"):
        envs.step(np.array([0, 2]))
    continuous = NativeVectorEnv(Pendulum(), num_envs=2)
    continuous.reset(seed=0)
    with pytest.raises(ValueError, match=r"expected actions of shape \(2, 1\), got \(2,\)"):
        continuous.step(np.zeros(2, dtype=np.float32))
    continuous.step(np.zeros((2, 1)))  # float64 actions are converted


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_device():
    envs = NativeVectorEnv(Acrobot(), num_envs=8, device="cuda")
    obs, _ = envs.reset(seed=0)
    assert isinstance(obs, np.ndarray) and envs.states[0].device.type == "cuda"
    for _ in range(5):
        obs, rewards, *_ = envs.step(envs.action_space.sample())
        assert isinstance(obs, np.ndarray) and isinstance(rewards, np.ndarray)


def test_termination_on_the_last_allowed_step_is_also_a_truncation_as_in_gymnasium():
    """Session 0 always pushes left: its pole falls on step ``n`` exactly, and the time limit
    is ``n``; session 1 alternates and is only cut by the limit. Gymnasium's TimeLimit gives
    ``terminated = truncated = True`` for session 0 at step ``n``; so must the adapter,
    while the native environment itself keeps termination winning (no bootstrap)."""
    def fall_step(seed):
        envs = NativeVectorEnv(CartPole(max_steps=500), num_envs=1)
        envs.reset(seed=seed)
        for t in range(1, 500):
            if envs.step(np.array([0]))[2][0]:
                return t
        raise AssertionError("the pole did not fall")

    n = fall_step(7)
    assert 5 <= n <= 20
    envs = NativeVectorEnv(CartPole(max_steps=n), num_envs=2)
    real = _real(CartPole, 2, n)
    envs.reset(seed=7)                   # session 0 starts as in fall_step: the same seed
    real.reset(seed=0)
    for i in range(2):
        _put_state(real, i, envs.states[0][i])
    for t in range(1, n + 2):
        actions = np.array([0, t % 2])
        last_states = envs.states
        _, rewards, terminations, truncations, _ = envs.step(actions)
        _, g_rewards, g_terminations, g_truncations, _ = real.step(actions)
        np.testing.assert_array_equal(terminations, g_terminations, err_msg=f"step {t}")
        np.testing.assert_array_equal(truncations, g_truncations, err_msg=f"step {t}")
        np.testing.assert_array_equal(rewards, g_rewards, err_msg=f"step {t}")
        if t < n:
            assert not (terminations.any() or truncations.any())
        elif t == n:
            assert terminations.tolist() == [True, False]
            assert truncations.tolist() == [True, True]
            # the native contract: session 0 terminated (no bootstrap), session 1 truncated
            states = envs.states
            assert envs.env.get_is_terminated(states).tolist() == [True, False]
            assert envs.env.get_is_truncated(states).tolist() == [False, True]
            assert envs.env.get_is_alive(last_states).all()
            assert not envs.env.get_is_alive(states).any()
        else:                            # both start anew (Gymnasium's are its own episodes)
            assert rewards.tolist() == [0, 0]
            assert not (terminations.any() or truncations.any())
