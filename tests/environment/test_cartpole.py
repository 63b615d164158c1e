"""CartPole against Gymnasium's CartPole-v1, step for step, and its batch/seed/device contract."""
from __future__ import annotations

import warnings

import native_env_checks as checks
import numpy as np
import pytest
import torch

from agentnet.environment import cartpole as cartpole_module
from agentnet.environment.cartpole import CartPole

GYM_ID = "CartPole-v1"


def _balance(obs: np.ndarray) -> int:
    """A hand-made policy that keeps the pole up for 500 steps from a standard start."""
    x, x_dot, theta, theta_dot = (float(v) for v in obs)
    return int(theta + 0.5 * theta_dot + 0.01 * x + 0.1 * x_dot > 0)


def _gym_from(physics: torch.Tensor, elapsed_steps: int = 0):
    return checks.gym_from(GYM_ID, physics, elapsed_steps)


def _step(env: CartPole, states: list[torch.Tensor], actions: list[int]):
    return checks.step(env, states, torch.tensor(actions, dtype=torch.int64))


def test_public_api():
    checks.check_public_api(cartpole_module, CartPole, gym_id=GYM_ID, max_steps=500,
                            physics_size=4, observation_size=4, discrete=True)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5, 6, 7])
def test_random_actions_match_gymnasium_step_for_step(seed):
    env = CartPole(seed=seed)
    states, (obs,) = env.reset()
    genv = _gym_from(states[0][0])
    np.testing.assert_array_equal(obs[0].numpy(), np.asarray(genv.unwrapped.state, np.float32))
    rng = np.random.default_rng(seed)
    steps_after_end = 0
    for t in range(1, 501):
        action = int(rng.integers(2))
        with warnings.catch_warnings():  # gymnasium warns about stepping after termination
            warnings.simplefilter("ignore")
            g_obs, g_reward, g_terminated, g_truncated, _ = genv.step(action)
        states, obs, rewards = _step(env, states, [action])
        assert rewards.dtype == torch.float32 and rewards.shape == (1,)
        assert rewards.item() == g_reward, f"reward at step {t}"
        if steps_after_end == 0:
            np.testing.assert_allclose(obs[0].numpy(), g_obs, rtol=0, atol=1e-6,
                                       err_msg=f"observation at step {t}")
            assert env.get_is_terminated(states).item() == g_terminated, f"step {t}"
            assert env.get_is_alive(states).item() == (not (g_terminated or g_truncated))
            assert states[1].item() == t
        if not env.get_is_alive(states).item():
            # Gymnasium's reward after the end is 0 and its physics go on: compare a few more
            steps_after_end += 1
            if steps_after_end > 3:
                break
    assert steps_after_end > 0, "random actions should drop the pole well before 500 steps"


@pytest.mark.parametrize("seed", [10, 11, 12])
def test_balanced_episode_matches_gymnasium_and_truncates_at_500(seed):
    env = CartPole(seed=seed)
    states, (obs,) = env.reset()
    genv = _gym_from(states[0][0])
    for t in range(1, 501):
        action = _balance(obs[0].numpy())
        g_obs, g_reward, g_terminated, g_truncated, _ = genv.step(action)
        states, obs, rewards = _step(env, states, [action])
        np.testing.assert_allclose(obs[0].numpy(), g_obs, rtol=0, atol=1e-6,
                                   err_msg=f"observation at step {t}")
        assert rewards.item() == g_reward == 1.0
        assert env.get_is_terminated(states).item() == g_terminated
        assert env.get_is_alive(states).item() == (not (g_terminated or g_truncated))
    assert g_truncated and not g_terminated, "the balancing policy should reach the time limit"
    assert states[1].item() == 500
    assert not env.get_is_alive(states).item()
    assert not env.get_is_terminated(states).item()  # truncated, not terminated
    # after the time limit the session stays stopped and earns nothing
    new_states, _, rewards = _step(env, states, [0])
    assert rewards.item() == 0.0 and not env.get_is_alive(new_states).item()


def _noisy_balance(physics: torch.Tensor, rng: np.random.Generator,
                   noise: np.ndarray) -> torch.Tensor:
    """:func:`_balance` on every session, replaced by a random action with probability
    ``noise[i]`` in session ``i``."""
    x, x_dot, theta, theta_dot = physics.double().unbind(dim=1)
    balance = (theta + 0.5 * theta_dot + 0.01 * x + 0.1 * x_dot > 0).numpy()
    random = rng.random(len(noise)) < noise
    actions = np.where(random, rng.integers(2, size=len(noise)), balance)
    return torch.from_numpy(actions.astype(np.int64))


def _check_autoreset_matches_gymnasium(env, sync_each_step: bool = False) -> None:
    """20 sessions of ``env`` (batch 20, autoreset) beside their own Gymnasium environments
    for over 10^4 steps: the first ones balance (and reach the time limit), the last ones
    play more and more at random (and fall)."""
    noise = np.concatenate([np.zeros(4), np.linspace(0.2, 1.0, 16)])
    agreement = checks.check_matches_gymnasium(
        env, GYM_ID, lambda physics, rng: _noisy_balance(physics, rng, noise), ticks=520,
        sync_each_step=sync_each_step)
    assert agreement.compared >= 10_000
    assert agreement.equal >= 0.99 * agreement.compared, agreement
    assert agreement.terminated >= 100 and agreement.truncated >= 4, agreement


def test_autoreset_sessions_match_gymnasium_step_for_step():
    """Gymnasium put in our state before each step: numpy's and ATen's float64 sin/cos may
    differ in the last bit (how often depends on the CPU's vector unit), and over a balanced
    episode of 500 steps the chaotic physics grow such a difference past 1e-6."""
    _check_autoreset_matches_gymnasium(CartPole(batch_size=20, seed=0, autoreset=True),
                                       sync_each_step=True)


class _CompiledSteps:
    """``env`` whose step is compiled as ``Agent.get_sessions(compiled=True)`` compiles it."""

    def __init__(self, env: CartPole) -> None:
        self.env = env
        self.get_action_results = torch.compile(env.get_action_results, dynamic=False,
                                                options={"fallback_random": True})

    def __getattr__(self, name: str):
        return getattr(self.env, name)


def test_compiled_step_matches_gymnasium_step_for_step():
    """Gymnasium put in our state before each step: inductor's vectorised float64 sin/cos
    differ from numpy's in the last bit more often than ATen's do, and over a few hundred
    balanced steps such differences can grow past 1e-6."""
    _check_autoreset_matches_gymnasium(
        _CompiledSteps(CartPole(batch_size=20, seed=0, autoreset=True)), sync_each_step=True)


def test_physics_are_feature_major_and_observations_batch_major():
    """The physics ``[B, 4]`` are held column by column (strides ``(1, B)``) through reset,
    steps and autoreset, eager and compiled; observations are contiguous ``[B, 4]``."""
    env = CartPole(batch_size=6, max_steps=2, seed=0, autoreset=True)
    compiled = _CompiledSteps(env)
    states, (obs,) = env.reset()
    for step in [env.get_action_results] * 3 + [compiled.get_action_results] * 3:
        physics = states[0]
        assert physics.shape == (6, 4) and physics.stride() == (1, 6)
        assert obs.shape == (6, 4) and obs.is_contiguous()
        assert torch.equal(obs, physics.float())
        states, (obs,) = step(states, [torch.ones(6, dtype=torch.int64)])
    assert env.get_is_alive(states).all()  # restarted twice on the way


def test_autoreset_draws_gymnasium_reset_distribution():
    """New episodes drawn on autoreset are uniform in [-0.05, 0.05) like Gymnasium's reset,
    each coordinate independently."""
    env = CartPole(batch_size=20000, max_steps=1, seed=0, autoreset=True)
    states, _ = env.reset()
    actions = [torch.zeros(20000, dtype=torch.int64)]
    for _ in range(2):  # the time limit, then the new episode
        states, _ = env.get_action_results(states, actions)
    physics = states[0]
    assert (states[1] == 0).all()
    checks.check_spread(physics, -0.05, 0.05, -0.0499, 0.0499)
    assert (physics < 0.05).all()
    torch.testing.assert_close(physics.mean(dim=0), torch.zeros(4, dtype=torch.float64),
                               rtol=0, atol=0.002)
    correlation = torch.corrcoef(physics.t())
    torch.testing.assert_close(correlation, torch.eye(4, dtype=torch.float64), rtol=0,
                               atol=0.03)


def test_truncation_near_the_limit_matches_gymnasium_time_limit():
    env = CartPole(seed=3)
    (physics, steps, terminated), _ = env.reset()
    states = [physics, torch.full_like(steps, 498), terminated]
    genv = _gym_from(physics[0], elapsed_steps=498)
    for expected_truncated in (False, True):
        g_obs, g_reward, g_terminated, g_truncated, _ = genv.step(1)
        new_states, obs, rewards = _step(env, states, [1])
        assert g_truncated == expected_truncated and not g_terminated
        np.testing.assert_allclose(obs[0].numpy(), g_obs, rtol=0, atol=1e-6)
        assert rewards.item() == g_reward == 1.0
        assert env.get_is_alive(new_states).item() == (not g_truncated)
        assert not env.get_is_terminated(new_states).item()
        states = new_states
    assert states[1].item() == 500


def test_max_steps_is_the_time_limit():
    env = CartPole(max_steps=3, seed=0)
    states, _ = env.reset(batch_size=2)
    alive = []
    for _ in range(4):
        new_states, _, rewards = _step(env, states, [0, 1])
        alive.append(env.get_is_alive(new_states).tolist())
        assert rewards.tolist() == env.get_is_alive(states).float().tolist()
        states = new_states
    assert alive == [[True, True], [True, True], [False, False], [False, False]]


def test_batch_matches_gymnasium():
    batch_size = 16
    env = CartPole(batch_size=batch_size, seed=123)
    states, (obs,) = env.reset()
    genvs = [_gym_from(states[0][i]) for i in range(batch_size)]
    rng = np.random.default_rng(0)
    done = np.zeros(batch_size, dtype=bool)
    for t in range(1, 60):
        actions = rng.integers(2, size=batch_size).tolist()
        states, obs, rewards = _step(env, states, actions)
        for i, genv in enumerate(genvs):
            if done[i]:
                continue
            g_obs, g_reward, g_terminated, g_truncated, _ = genv.step(actions[i])
            np.testing.assert_allclose(obs[i].numpy(), g_obs, rtol=0, atol=1e-6,
                                       err_msg=f"session {i}, step {t}")
            assert rewards[i].item() == g_reward
            assert states[2][i].item() == g_terminated
            done[i] = g_terminated or g_truncated
        assert (env.get_is_alive(states).numpy() == ~done).all()
    assert done.all()


def test_batch_equals_independent_sessions():
    env = CartPole(seed=7)
    batch_states = checks.check_batch_equals_single(
        env, batch=8, ticks=40,
        policy=lambda physics, rng: torch.from_numpy(rng.integers(2, size=len(physics))))
    assert not env.get_is_alive(batch_states).all(), "some sessions should have ended"


def test_seeded_reset_is_reproducible_and_in_bounds():
    a, obs = checks.check_seeded_reset(CartPole)
    assert torch.equal(obs, a.to(torch.float32))
    # the whole range is used
    checks.check_spread(checks.reset_many(CartPole), -0.05, 0.05, -0.049, 0.049)


def test_resets_differ_and_batch_size_default():
    env = CartPole(batch_size=3, seed=0)
    (first, *_), _ = env.reset()
    (second, *_), _ = env.reset()
    assert first.shape == (3, 4) and not torch.equal(first, second)
    (other, *_), (obs,) = env.reset(batch_size=7)
    assert other.shape == (7, 4) and obs.shape == (7, 4)


def test_unseeded_reset_follows_torch_manual_seed():
    checks.check_unseeded_reset_follows_torch_seed(CartPole)


def test_termination_is_sticky():
    env = CartPole()
    physics = torch.tensor([[0.0, 0.0, 0.20, 2.0], [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    states = [physics, torch.zeros(2, dtype=torch.int64), torch.zeros(2, dtype=torch.bool)]
    new_states, _, rewards = _step(env, states, [1, 1])
    assert new_states[2].tolist() == [True, False]
    assert rewards.tolist() == [1.0, 1.0]  # the terminating step earns its reward
    assert env.get_is_alive(new_states).tolist() == [False, True]
    # put the fallen pole back upright: the session must stay terminated
    states = [torch.zeros_like(new_states[0]), new_states[1], new_states[2]]
    for _ in range(3):
        new_states, _, rewards = _step(env, states, [0, 0])
        assert new_states[2].tolist() == [True, False]
        assert env.get_is_alive(new_states).tolist() == [False, True]
        assert rewards.tolist() == [0.0, 1.0]
        states = new_states


def test_thresholds_are_gymnasiums():
    env = CartPole()
    theta_limit = 12 * 2 * np.pi / 360
    eps = 1e-9
    # zero velocities and no force can move x and theta only through tau * velocity = 0
    physics = torch.tensor([[2.4, 0, 0, 0], [2.4 + eps, 0, 0, 0], [-2.4 - eps, 0, 0, 0],
                            [0, 0, theta_limit - eps, 0], [0, 0, -theta_limit - eps, 0]],
                           dtype=torch.float64)
    states = [physics, torch.zeros(5, dtype=torch.int64), torch.zeros(5, dtype=torch.bool)]
    new_states, _ = env.get_action_results(states, [torch.ones(5, dtype=torch.int64)])
    expected = []
    for row in physics:
        genv = _gym_from(row)
        expected.append(genv.step(1)[2])
    assert new_states[2].tolist() == expected == [False, True, True, False, True]


def test_float32_dtype_and_device():
    rng = np.random.default_rng(2)
    checks.check_float32_follows_float64(
        CartPole, lambda: torch.from_numpy(rng.integers(2, size=4)), ticks=10, obs_atol=1e-4)
    checks.check_stays_on_meta(CartPole)


def test_reset_device_argument():
    states, (obs,) = CartPole(seed=0).reset(batch_size=2, device="cpu")
    assert all(t.device == torch.device("cpu") for t in [*states, obs])


@checks.cuda_test
def test_cuda_matches_cpu():
    checks.check_cuda_matches_cpu(
        CartPole, lambda physics, rng: torch.from_numpy(rng.integers(2, size=64)), ticks=30)


def test_bad_actions_raise():
    env = CartPole()
    states, _ = env.reset(batch_size=3)
    good = [torch.tensor([0, 1, 0])]
    env.check_actions(states, good)
    with pytest.raises(ValueError, match=r"dtype torch.int64, got torch.float32"):
        env.get_action_results(states, [torch.zeros(3)])
    with pytest.raises(ValueError, match=r"shape \(3,\).*got \(3, 1\)"):
        env.get_action_results(states, [torch.zeros(3, 1, dtype=torch.int64)])
    with pytest.raises(ValueError, match=r"shape \(3,\).*got \(1,\)"):
        env.get_action_results(states, [torch.zeros(1, dtype=torch.int64)])
    with pytest.raises(ValueError, match=r"values \[2\]"):
        env.check_actions(states, [torch.tensor([0, 2, 1])])
    with pytest.raises(ValueError, match=r"expected actions = \[int64 tensor \[3\]\]"):
        env.check_actions(states, [good[0], good[0]])
    with pytest.raises(ValueError, match=r"physics of shape \[B, 4\]"):
        env.check_actions([torch.zeros(3, 5), states[1], states[2]], good)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        CartPole(batch_size=0)
    with pytest.raises(ValueError, match="max_steps must be a positive int, got 2.5"):
        CartPole(max_steps=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="floating torch dtype, got torch.int32"):
        CartPole(dtype=torch.int32)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got -1"):
        CartPole().reset(batch_size=-1)
