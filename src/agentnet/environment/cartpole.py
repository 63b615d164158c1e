"""A batched, tensor-native CartPole that matches Gymnasium's ``CartPole-v1`` step for step."""
from __future__ import annotations

import math

import torch

from ._native import _NativeEnvironment

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


class CartPole(_NativeEnvironment):
    """Gymnasium's ``CartPole-v1`` (with its 500-step ``TimeLimit``) for a batch of sessions.

    The dynamics, thresholds and rewards are Gymnasium's, operation for operation: with the
    default float64 state, a session follows ``gymnasium.make("CartPole-v1")`` from the same
    initial state and actions, with float32 observations equal up to rare last-bit differences
    between numpy's and torch's ``sin``/``cos`` (a little less rare in a step run by
    ``torch.compile``, whose vectorised ``sin``/``cos`` are not ATen's to the bit either).

    States (one tensor per entry, batch first):

    - physics: ``dtype [B, 4]``, ``(x, x_dot, theta, theta_dot)``, held feature-major
      (strides ``(1, B)``: each coordinate a contiguous column, which lets a compiled step
      run vectorised over the batch); ``.contiguous()`` gives the usual layout.
    - steps: int64 ``[B]``, steps taken in the episode.
    - terminated: bool ``[B]``, sticky: True from the step where the pole fell or the cart left
      the track, even if the physics later come back in bounds.

    A session is alive while it is not terminated and ``steps < max_steps``; reaching
    ``max_steps`` is a truncation by time limit (:meth:`get_is_truncated`), which objectives
    bootstrap from; termination (:meth:`get_is_terminated`) they do not. The reward is 1.0
    for every step taken while alive, the terminating one included (Gymnasium's), and 0
    afterwards.

    Observations: float32 ``[B, 4]`` (contiguous), the physics rounded to float32. Actions:
    int64 ``[B]``, 0 pushes left, 1 pushes right.

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

    gymnasium_id = "CartPole-v1"
    physics_size = 4
    random_size = 4
    observation_low = (-2 * X_THRESHOLD, -math.inf, -2 * THETA_THRESHOLD_RADIANS, -math.inf)
    observation_high = (2 * X_THRESHOLD, math.inf, 2 * THETA_THRESHOLD_RADIANS, math.inf)
    n_actions = 2
    feature_major = True

    def __init__(self, batch_size: int = 1, max_steps: int = 500, seed: int | None = None,
                 dtype: torch.dtype = torch.float64, autoreset: bool = False) -> None:
        super().__init__(batch_size, max_steps, seed, dtype, autoreset)

    def _initial_physics(self, uniform: torch.Tensor) -> torch.Tensor:
        """Uniform in ``[-0.05, 0.05)``, Gymnasium's."""
        return uniform * (RESET_HIGH - RESET_LOW) + RESET_LOW

    def _observe(self, physics: torch.Tensor) -> torch.Tensor:
        # batch-major (contiguous) observations from the feature-major physics
        if torch.compiler.is_compiling():  # column by column: inductor's transposing copy is slow
            return torch.stack([c.to(torch.float32) for c in physics.unbind(dim=1)], dim=1)
        return physics.to(torch.float32, memory_format=torch.contiguous_format)  # one copy

    def _step_physics(self, last_states: list[torch.Tensor], action: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """One Euler step of the physics ``[B, 4]`` under ``action`` int64 ``[B]`` (0: push
        left, 1: push right), and whether the new physics are out of bounds (``|x| > 2.4`` or
        ``|theta| > 12 degrees``).

        Works on columns: each coordinate is a contiguous ``[B]`` vector (the physics are held
        feature-major), so that a compiled step is one vectorised loop over the batch (rows of
        4 make inductor emit a scalar loop)."""
        physics = last_states[0]
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
        # explicit Euler, all four coordinates at once: x += tau * x_dot, x_dot += tau * xacc,
        # ...; the derivatives stacked [4, B] and transposed: feature-major as the physics
        derivatives = torch.stack([x_dot, xacc, theta_dot, thetaacc]).t()
        new_physics = physics + TAU * derivatives
        # |x| > 2.4 is exactly "x < -2.4 or x > 2.4"; the velocities' limits are infinite
        out_of_bounds = (new_physics.abs() > limits).any(dim=1)
        return new_physics, out_of_bounds

    def get_rewards(self, last_states: list[torch.Tensor], actions: list[torch.Tensor],
                    new_states: list[torch.Tensor]) -> torch.Tensor:
        """float32 ``[B]``: 1.0 where the session was alive in ``last_states``, else 0.

        This includes the step on which the pole falls and the last step before the time limit,
        as in Gymnasium's ``CartPole-v1``.
        """
        return self.get_is_alive(last_states).to(torch.float32)

    def _make_tables(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        """``(forces [2], total_mass [], limits [4])``: forces indexed by action, the total mass
        (a divisor), ``|physics|`` limits."""
        forces = torch.tensor([-FORCE_MAG, FORCE_MAG], dtype=dtype, device=device)
        total_mass = torch.tensor(TOTAL_MASS, dtype=dtype, device=device)
        # |x| and |theta| limits; the velocities are unbounded
        limits = torch.tensor([X_THRESHOLD, math.inf, THETA_THRESHOLD_RADIANS, math.inf],
                              dtype=dtype, device=device)
        return forces, total_mass, limits
