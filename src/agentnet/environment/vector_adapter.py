"""A native environment seen as a ``gymnasium.vector.VectorEnv``, for other libraries."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ._native import _NativeEnvironment

__all__ = ["NativeVectorEnv"]


class NativeVectorEnv(VectorEnv):
    """A batch of sessions of a native environment (``CartPole``, ``Acrobot``, ``MountainCar``,
    ``MountainCarContinuous``, ``Pendulum``) behind Gymnasium's vector API: numpy in and out,
    the spaces of the Gymnasium environment it reproduces, and Gymnasium's default
    ``NEXT_STEP`` autoreset.

    ``terminations`` and ``truncations`` are Gymnasium's: an episode that reaches a terminal
    state on its last allowed step (the ``max_steps``-th) has both True, as Gymnasium's
    ``TimeLimit`` gives (the native environment's own ``get_is_truncated`` is False there:
    for its objectives termination wins, nothing is bootstrapped).

    ``step`` after a session's episode ended (``terminations | truncations`` on the previous
    step) ignores that session's action and returns the first observation of a new episode
    with reward 0 and both flags False, as ``gymnasium.vector.SyncVectorEnv`` does. New
    episodes, at :meth:`reset` and at autoresets, are drawn from the native environment's own
    generator, so ``reset(seed=...)`` makes the whole run reproducible (the environment's own
    ``autoreset`` is not used).

    Shapes: observations float32 ``[num_envs, O]``; actions int64 ``[num_envs]`` (any integer
    dtype) for a discrete task, float32 ``[num_envs, 1]`` (any float dtype) for a continuous
    one; rewards float64 ``[num_envs]`` (the native float32 rewards); terminations and
    truncations bool ``[num_envs]``.

    Args:
        env: the native environment; its constructor's ``max_steps`` and ``dtype`` hold here.
        num_envs: the number of sessions; the environment's ``batch_size`` if None.
        device: where the native environment's tensors live (CPU if None).

    Example:
        >>> from agentnet.environment import CartPole
        >>> envs = NativeVectorEnv(CartPole(), num_envs=3)
        >>> envs.single_observation_space.shape, envs.action_space
        ((4,), MultiDiscrete([2 2 2]))
        >>> observations, infos = envs.reset(seed=0)
        >>> observations.shape, observations.dtype, infos
        ((3, 4), dtype('float32'), {})
        >>> observations, rewards, terminations, truncations, infos = envs.step(
        ...     np.array([0, 1, 1]))
        >>> rewards, terminations, truncations
        (array([1., 1., 1.]), array([False, False, False]), array([False, False, False]))
    """

    def __init__(self, env: _NativeEnvironment, num_envs: int | None = None,
                 device: Any = None) -> None:
        if not isinstance(env, _NativeEnvironment):
            raise TypeError("NativeVectorEnv: expected one of agentnet's native environments "
                            "(CartPole, Acrobot, MountainCar, MountainCarContinuous, Pendulum),"
                            f" got {type(env).__name__}")
        if num_envs is None:
            num_envs = env.batch_size
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"NativeVectorEnv: num_envs must be a positive int, got "
                             f"{num_envs!r}")
        self.env = env
        self.num_envs = num_envs
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}
        self.render_mode = None
        self.single_observation_space = spaces.Box(
            np.array(env.observation_low, dtype=np.float32),
            np.array(env.observation_high, dtype=np.float32), dtype=np.float32)
        if env.n_actions is None:
            self.single_action_space: spaces.Space = spaces.Box(
                env.action_low, env.action_high, shape=(1,), dtype=np.float32)
        else:
            self.single_action_space = spaces.Discrete(env.n_actions)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._states: list[torch.Tensor] | None = None
        self._autoreset = np.zeros(num_envs, dtype=np.bool_)

    def __repr__(self) -> str:
        return f"NativeVectorEnv({self.env!r}, num_envs={self.num_envs})"

    @property
    def states(self) -> list[torch.Tensor]:
        """The native environment's states of the sessions, ``[num_envs, ...]`` each (read-only:
        tensors the next :meth:`step` does not modify)."""
        if self._states is None:
            raise RuntimeError("NativeVectorEnv: call reset() first")
        return list(self._states)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new episode in every session: ``(observations [num_envs, O], {})``.

        Args:
            seed: if given, reseeds the native environment's generator first (an int).
            options: not supported (must be None or empty).
        """
        if options:
            raise ValueError(f"NativeVectorEnv: reset options are not supported, got "
                             f"{sorted(options)}")
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
                raise ValueError(f"NativeVectorEnv: seed must be an int, got {seed!r}")
            super().reset(seed=int(seed))
            self.env.seed(int(seed))
        self._states, (observations,) = self.env.reset(self.num_envs, self.device)
        self._autoreset = np.zeros(self.num_envs, dtype=np.bool_)
        return _to_numpy(observations), {}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                          dict[str, Any]]:
        """One step of every session: ``(observations, rewards, terminations, truncations,
        infos)`` (see the class docstring for shapes and the autoreset)."""
        if self._states is None:
            raise RuntimeError("NativeVectorEnv: call reset() before step()")
        env, last_states = self.env, self._states
        action = [self._to_tensor(actions)]
        env.check_actions(last_states, action)
        new_states, (observations,) = env.get_action_results(last_states, action)
        rewards = env.get_rewards(last_states, action, new_states)
        ended = env.get_is_alive(last_states) & ~env.get_is_alive(new_states)
        # Gymnasium's flags: terminated where a terminal state was reached; truncated where
        # the time limit was (its TimeLimit sets it whenever elapsed >= max_episode_steps),
        # so both where the episode terminates on its last allowed step (the native
        # get_is_truncated is False there: for learning, termination wins)
        terminations = ended & env.get_is_terminated(new_states)
        truncations = ended & (new_states[1] >= env.max_steps)
        restart = torch.as_tensor(self._autoreset, device=self.device)
        if self._autoreset.any():  # the sessions that ended on the previous step start anew
            fresh_states, (fresh_observations,) = env.reset(int(self._autoreset.sum()),
                                                            self.device)
            new_states = [_put(s, restart, f) for s, f in zip(new_states, fresh_states)]
            observations = _put(observations, restart, fresh_observations)
            rewards = rewards.masked_fill(restart, 0.0)
            terminations = terminations & ~restart
            truncations = truncations & ~restart
        self._states = new_states
        terminations_np, truncations_np = _to_numpy(terminations), _to_numpy(truncations)
        self._autoreset = terminations_np | truncations_np
        return (_to_numpy(observations), _to_numpy(rewards).astype(np.float64),
                terminations_np, truncations_np, {})

    def _to_tensor(self, actions: Any) -> torch.Tensor:
        """The actions as the native environment takes them, after checking their shape."""
        array = np.asarray(actions)
        discrete = self.env.n_actions is not None
        shape = (self.num_envs,) if discrete else (self.num_envs, 1)
        if array.shape != shape:
            raise ValueError(f"NativeVectorEnv: expected actions of shape {shape}, got "
                             f"{array.shape}")
        if discrete and not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"NativeVectorEnv: expected integer actions, got {array.dtype}")
        if not discrete and not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"NativeVectorEnv: expected float actions, got {array.dtype}")
        dtype = torch.int64 if discrete else torch.float32
        return torch.as_tensor(array.astype(np.int64 if discrete else np.float32),
                               dtype=dtype, device=self.device)


def _put(values: torch.Tensor, rows: torch.Tensor, fresh: torch.Tensor) -> torch.Tensor:
    """``values`` with the ``rows`` (bool ``[N]``) replaced by ``fresh`` (one per True row)."""
    values = values.clone()
    values[rows] = fresh
    return values


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A numpy copy on the host (never a view of a tensor the environment keeps)."""
    return tensor.detach().cpu().numpy().copy()
