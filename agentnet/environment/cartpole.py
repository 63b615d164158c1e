"""A batched, tensor-native CartPole that matches Gymnasium's ``CartPole-v1`` step for step."""
from __future__ import annotations

import math
from typing import Any

import torch

from .base import BaseEnvironment

__all__ = ["CartPole"]

# Gymnasium's constants, written (and combined) exactly as its classic_control/cartpole.py does,
# so that the float64 arithmetic below rounds the same way.
GRAVITY = 9.8
MASSCART = 1.0
MASSPOLE = 0.1
TOTAL_MASS = MASSPOLE + MASSCART
LENGTH = 0.5  # half the pole's length
POLEMASS_LENGTH = MASSPOLE * LENGTH
FORCE_MAG = 10.0
TAU = 0.02  # seconds between state updates (explicit Euler)
THETA_THRESHOLD_RADIANS = 12 * 2 * math.pi / 360
X_THRESHOLD = 2.4
RESET_LOW, RESET_HIGH = -0.05, 0.05


class CartPole(BaseEnvironment):
    """Gymnasium's ``CartPole-v1`` (with its 500-step ``TimeLimit``) for a batch of sessions.

    The dynamics, thresholds and rewards are Gymnasium's, operation for operation: with the
    default float64 state, a session follows ``gymnasium.make("CartPole-v1")`` from the same
    initial state and actions, with float32 observations equal up to rare last-bit differences
    between numpy's and torch's ``sin``/``cos``.

    States (one tensor per entry, batch first):

    - physics: ``dtype [B, 4]``, ``(x, x_dot, theta, theta_dot)``.
    - steps: int64 ``[B]``, steps taken in the episode.
    - terminated: bool ``[B]``, sticky: True from the step where the pole fell or the cart left
      the track, even if the physics later come back in bounds.

    A session is alive while it is not terminated and ``steps < max_steps``; reaching
    ``max_steps`` is a truncation by time limit (:meth:`get_is_truncated`), which objectives
    bootstrap from; termination (:meth:`get_is_terminated`) they do not. The reward is 1.0
    for every step taken while alive, the terminating one included (Gymnasium's), and 0
    afterwards.

    Observations: float32 ``[B, 4]``, the physics rounded to float32 (the physics tensor itself
    when ``dtype`` is float32). Actions: int64 ``[B]``, 0 pushes left, 1 pushes right.

    Args:
        batch_size: the number of sessions :meth:`reset` starts when not told otherwise.
        max_steps: the time limit; a session stops after this many steps (500 in CartPole-v1).
        seed: seeds the environment's own CPU ``torch.Generator`` used by :meth:`reset`; when
            None the seed is drawn from torch's global RNG, so ``torch.manual_seed`` makes runs
            reproducible.
        dtype: the floating dtype of the physics; float64 (Gymnasium's) for exact agreement.
        autoreset: if True, a session that stopped (its dead tick holds the final state) starts
            a new episode on the next step, ignoring that step's action, so long rollouts keep
            every row busy. The new episode's physics are drawn on the device from torch's RNG.

    Example:
        >>> env = CartPole(batch_size=3, seed=0)
        >>> states, (obs,) = env.reset()
        >>> obs.shape, obs.dtype, states[1]
        (torch.Size([3, 4]), torch.float32, tensor([0, 0, 0]))
        >>> bool(obs.abs().max() <= 0.05)
        True
        >>> actions = [torch.tensor([0, 1, 1])]
        >>> new_states, (obs,) = env.get_action_results(states, actions)
        >>> env.get_rewards(states, actions, new_states)
        tensor([1., 1., 1.])
        >>> env.get_is_alive(new_states), new_states[1]
        (tensor([True, True, True]), tensor([1, 1, 1]))
        >>> left = [torch.zeros(3, dtype=torch.int64)]
        >>> for _ in range(100):  # always push left: the poles fall, the sessions stop
        ...     states = new_states
        ...     new_states, (obs,) = env.get_action_results(states, left)
        >>> env.get_is_alive(new_states), env.get_is_terminated(new_states)
        (tensor([False, False, False]), tensor([True, True, True]))
        >>> env.get_rewards(states, actions, new_states)
        tensor([0., 0., 0.])
    """

    def __init__(self, batch_size: int = 1, max_steps: int = 500, seed: int | None = None,
                 dtype: torch.dtype = torch.float64, autoreset: bool = False) -> None:
        _check_positive_int("batch_size", batch_size)
        _check_positive_int("max_steps", max_steps)
        if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ValueError(f"CartPole: dtype must be a floating torch dtype, got {dtype!r}")
        if seed is None:
            seed = int(torch.randint(0, 2**62, ()).item())
        self.batch_size = batch_size
        self.max_steps = max_steps
        self.autoreset = autoreset
        self.dtype = dtype
        self.state_shapes = [(4,), (), ()]
        self.state_dtypes = [dtype, torch.int64, torch.bool]
        self.observation_shapes = [(4,)]
        self.observation_dtypes = [torch.float32]
        self.action_shapes = [()]
        self.action_dtypes = [torch.int64]
        self._generator = torch.Generator().manual_seed(seed)
        # per (device, dtype): forces indexed by action, the total mass, |physics| limits
        self._tables: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, ...]] = {}

    def __repr__(self) -> str:
        return (f"CartPole(batch_size={self.batch_size}, max_steps={self.max_steps}, "
                f"dtype={self.dtype})")

    def reset(self, batch_size: int | None = None, device: Any = None
              ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Initial ``([physics, steps, terminated], [observations])`` of a batch of sessions.

        Args:
            batch_size: the number of sessions ``B``; the constructor's ``batch_size`` if None.
            device: where the tensors go (CPU if None). The physics are sampled on CPU from the
                environment's generator (float64, uniform in ``[-0.05, 0.05)`` like Gymnasium),
                so a seed gives the same sessions on every device, then moved once.

        Returns:
            states: physics ``dtype [B, 4]``, steps int64 ``[B]`` (zeros), terminated bool
            ``[B]`` (False); observations: float32 ``[B, 4]``.
        """
        if batch_size is None:
            batch_size = self.batch_size
        _check_positive_int("batch_size", batch_size)
        uniform = torch.rand(batch_size, 4, generator=self._generator, dtype=torch.float64)
        physics = (uniform * (RESET_HIGH - RESET_LOW) + RESET_LOW).to(device=device,
                                                                     dtype=self.dtype)
        steps = torch.zeros(batch_size, dtype=torch.int64, device=physics.device)
        terminated = torch.zeros(batch_size, dtype=torch.bool, device=physics.device)
        return [physics, steps, terminated], [physics.to(torch.float32)]

    def get_action_results(self, last_states: list[torch.Tensor], actions: list[torch.Tensor]
                           ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """One Euler step of every session: ``([physics, steps, terminated], [observations])``.

        Args:
            last_states: physics ``dtype [B, 4]``, steps int64 ``[B]``, terminated bool ``[B]``.
            actions: ``[actions]``, int64 ``[B]`` (0: push left, 1: push right).

        Returns:
            new_states: the physics one step later, ``steps + 1``, and ``terminated`` OR the new
            physics out of bounds (``|x| > 2.4`` or ``|theta| > 12 degrees``);
            observations: ``[physics as float32 [B, 4]]``.

        Only the actions' shape and dtype are checked here (metadata, no host sync); use
        :meth:`check_actions` for a full check. Everything stays on the states' device.
        """
        physics, steps, terminated = last_states
        (action,) = actions
        if action.dtype != torch.int64 or action.shape != steps.shape:
            self.check_actions(last_states, actions)

        forces, total_mass, limits = self._get_tables(physics.device, physics.dtype)
        _, x_dot, theta, theta_dot = physics.unbind(dim=1)
        force = forces.index_select(0, action)
        costheta = torch.cos(theta)
        sintheta = torch.sin(theta)
        # The same operations in the same order as Gymnasium, so that float64 rounds the same.
        # total_mass is a tensor on the device: CUDA turns a division by a Python number into a
        # multiplication by its reciprocal, which may round differently.
        temp = (force + POLEMASS_LENGTH * (theta_dot * theta_dot) * sintheta) / total_mass
        thetaacc = (GRAVITY * sintheta - costheta * temp) / (
            LENGTH * (4.0 / 3.0 - MASSPOLE * (costheta * costheta) / total_mass))
        xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / total_mass
        # explicit Euler, all four coordinates at once: x += tau * x_dot, x_dot += tau * xacc, ...
        derivatives = torch.stack([x_dot, xacc, theta_dot, thetaacc], dim=1)
        new_physics = physics + TAU * derivatives
        # |x| > 2.4 is exactly "x < -2.4 or x > 2.4"; the velocities' limits are infinite
        out_of_bounds = (new_physics.abs() > limits).any(dim=1)
        new_states = [new_physics, steps + 1, terminated | out_of_bounds]
        if self.autoreset:
            new_states = self._restart_stopped(last_states, new_states)
        return new_states, [new_states[0].to(torch.float32)]

    def _restart_stopped(self, last_states: list[torch.Tensor], new_states: list[torch.Tensor]
                         ) -> list[torch.Tensor]:
        """Sessions that had stopped in ``last_states`` (the dead tick after an episode's end)
        begin a new episode: fresh physics uniform in [-0.05, 0.05), drawn on the device from
        torch's RNG there (no host round trip), steps 0, not terminated."""
        stopped = ~self.get_is_alive(last_states)
        physics, steps, terminated = new_states
        fresh = torch.rand(physics.shape, dtype=physics.dtype, device=physics.device)
        fresh = fresh * (RESET_HIGH - RESET_LOW) + RESET_LOW
        return [torch.where(stopped[:, None], fresh, physics), steps.masked_fill(stopped, 0),
                terminated & ~stopped]

    def get_rewards(self, last_states: list[torch.Tensor], actions: list[torch.Tensor],
                    new_states: list[torch.Tensor]) -> torch.Tensor:
        """float32 ``[B]``: 1.0 where the session was alive in ``last_states``, else 0.

        This includes the step on which the pole falls and the last step before the time limit,
        as in Gymnasium's ``CartPole-v1``.
        """
        return self.get_is_alive(last_states).to(torch.float32)

    def get_is_alive(self, states: list[torch.Tensor]) -> torch.Tensor:
        """bool ``[B]``: not terminated and ``steps < max_steps``."""
        _, steps, terminated = states
        return (steps < self.max_steps) & ~terminated

    def get_is_truncated(self, states: list[torch.Tensor]) -> torch.Tensor:
        """bool ``[B]``: the episode was cut by the time limit (``steps >= max_steps``) without
        terminating; a pole falling on the last allowed step counts as terminated."""
        _, steps, terminated = states
        return (steps >= self.max_steps) & ~terminated

    def get_is_terminated(self, states: list[torch.Tensor]) -> torch.Tensor:
        """bool ``[B]``: whether the pole has fallen or the cart left the track (not truncation).

        A session that is not alive but not terminated was truncated by the time limit.
        """
        return states[2]

    def check_actions(self, last_states: list[torch.Tensor], actions: list[torch.Tensor]) -> None:
        """Raise ``ValueError`` unless ``actions`` fit ``last_states``: one int64 tensor ``[B]``
        on the states' device with values in ``{0, 1}``.

        Checking the values synchronises with the device, so this is not called on every step;
        :meth:`get_action_results` only checks the shape and dtype.
        """
        if not isinstance(last_states, (list, tuple)) or len(last_states) != 3:
            raise ValueError("CartPole: expected last_states = [physics [B, 4], steps [B], "
                             f"terminated [B]], got {_describe(last_states)}")
        physics = last_states[0]
        if not isinstance(physics, torch.Tensor) or physics.ndim != 2 or physics.shape[1] != 4:
            raise ValueError(f"CartPole: expected physics of shape [B, 4], got "
                             f"{_describe(physics)}")
        batch_size = physics.shape[0]
        if not isinstance(actions, (list, tuple)) or len(actions) != 1:
            raise ValueError(f"CartPole: expected actions = [int64 tensor [{batch_size}]], got "
                             f"{_describe(actions)}")
        (action,) = actions
        if not isinstance(action, torch.Tensor):
            raise ValueError(f"CartPole: expected actions[0] to be an int64 tensor "
                             f"[{batch_size}], got {type(action).__name__}")
        if action.dtype != torch.int64:
            raise ValueError(f"CartPole: expected actions of dtype torch.int64, got {action.dtype}")
        if tuple(action.shape) != (batch_size,):
            raise ValueError(f"CartPole: expected actions of shape ({batch_size},) to match the "
                             f"states' batch, got {tuple(action.shape)}")
        if action.device != physics.device:
            raise ValueError(f"CartPole: expected actions on the states' device {physics.device}, "
                             f"got {action.device}")
        if bool(((action != 0) & (action != 1)).any()):
            bad = action[(action != 0) & (action != 1)].unique().tolist()
            raise ValueError(f"CartPole: expected actions in {{0, 1}}, got values {bad}")

    def _get_tables(self, device: torch.device, dtype: torch.dtype
                    ) -> tuple[torch.Tensor, ...]:
        """``(forces [2], total_mass [], limits [4])`` on ``device``, made once per device."""
        key = (device, dtype)
        tables = self._tables.get(key)
        if tables is None:
            forces = torch.tensor([-FORCE_MAG, FORCE_MAG], dtype=dtype, device=device)
            total_mass = torch.tensor(TOTAL_MASS, dtype=dtype, device=device)
            # |x| and |theta| limits; the velocities are unbounded
            limits = torch.tensor([X_THRESHOLD, math.inf, THETA_THRESHOLD_RADIANS, math.inf],
                                  dtype=dtype, device=device)
            tables = self._tables[key] = (forces, total_mass, limits)
        return tables


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"CartPole: {name} must be a positive int, got {value!r}")


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)}: [" + ", ".join(
            _describe(v) for v in value) + "]"
    return type(value).__name__
