"""A batched, tensor-native MountainCar that matches Gymnasium's ``MountainCar-v0`` step for
step."""
from __future__ import annotations

import torch

from ._native import _NativeEnvironment

__all__ = ["MountainCar"]

# Gymnasium's constants (classic_control/mountain_car.py)
MIN_POSITION = -1.2
MAX_POSITION = 0.6
MAX_SPEED = 0.07
GOAL_POSITION = 0.5
GOAL_VELOCITY = 0
FORCE = 0.001
GRAVITY = 0.0025
RESET_LOW, RESET_HIGH = -0.6, -0.4


class MountainCar(_NativeEnvironment):
    """Gymnasium's ``MountainCar-v0`` (with its 200-step ``TimeLimit``) for a batch of sessions.

    An underpowered car in a valley must rock back and forth to reach the flag on the right
    hill. The dynamics are Gymnasium's, operation for operation, in float64: with the default
    dtype a session follows ``gymnasium.make("MountainCar-v0")`` from the same state and
    actions, up to rare last-bit differences between ``math.cos`` and ``torch.cos``.

    States (one tensor per entry, batch first):

    - physics: ``dtype [B, 2]``, ``(position, velocity)``; a fresh episode starts at rest at a
      position uniform in ``[-0.6, -0.4)``.
    - steps: int64 ``[B]``, steps taken in the episode.
    - terminated: bool ``[B]``, sticky: True from the step where the car reached the flag
      (``position >= 0.5`` with ``velocity >= 0``).

    A session is alive while it is not terminated and ``steps < max_steps``; reaching
    ``max_steps`` is a truncation (:meth:`get_is_truncated`). The reward is -1 for every step
    taken while alive (the one reaching the flag too), 0 afterwards.

    Observations: float32 ``[B, 2]``, the physics. Actions: int64 ``[B]``, 0 accelerates left,
    1 not at all, 2 right.

    Args:
        batch_size: the number of sessions :meth:`reset` starts when not told otherwise.
        max_steps: the time limit (200 in MountainCar-v0).
        seed: seeds the environment's own CPU ``torch.Generator`` used by :meth:`reset`; when
            None the seed is drawn from torch's global RNG.
        dtype: the floating dtype of the physics; float64 (Gymnasium's) for agreement.
        autoreset: if True, a session that stopped starts a new episode on the next step,
            ignoring that step's action; the new episode is drawn on the device from torch's RNG.

    Example:
        >>> env = MountainCar(batch_size=3, seed=0)
        >>> states, (obs,) = env.reset()
        >>> obs.shape, obs.dtype, obs[:, 1]
        (torch.Size([3, 2]), torch.float32, tensor([0., 0., 0.]))
        >>> bool(((obs[:, 0] >= -0.6) & (obs[:, 0] <= -0.4)).all())
        True
        >>> actions = [torch.tensor([0, 1, 2])]
        >>> new_states, (obs,) = env.get_action_results(states, actions)
        >>> env.get_rewards(states, actions, new_states), new_states[1]
        (tensor([-1., -1., -1.]), tensor([1, 1, 1]))
        >>> for _ in range(199):   # pushing right alone never gets up the hill
        ...     new_states, _ = env.get_action_results(new_states, [torch.tensor([2, 2, 2])])
        >>> env.get_is_alive(new_states), env.get_is_truncated(new_states)
        (tensor([False, False, False]), tensor([True, True, True]))
    """

    gymnasium_id = "MountainCar-v0"
    physics_size = 2
    random_size = 1
    observation_low = (MIN_POSITION, -MAX_SPEED)
    observation_high = (MAX_POSITION, MAX_SPEED)
    n_actions = 3

    def __init__(self, batch_size: int = 1, max_steps: int = 200, seed: int | None = None,
                 dtype: torch.dtype = torch.float64, autoreset: bool = False) -> None:
        super().__init__(batch_size, max_steps, seed, dtype, autoreset)

    def _initial_physics(self, uniform: torch.Tensor) -> torch.Tensor:
        """Position uniform in ``[-0.6, -0.4)``, velocity 0."""
        position = uniform * (RESET_HIGH - RESET_LOW) + RESET_LOW
        return torch.cat([position, torch.zeros_like(position)], dim=1)

    def _observe(self, physics: torch.Tensor) -> torch.Tensor:
        return physics.to(torch.float32)

    def _step_physics(self, last_states: list[torch.Tensor], action: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step under ``action`` int64 ``[B]``; and whether the car reached the flag."""
        physics = last_states[0]
        pushes, min_position = self._get_tables(physics.device, physics.dtype)
        position, velocity = physics.unbind(dim=1)
        # velocity += (action - 1) * force + cos(3 * position) * (-gravity)
        velocity = velocity + (pushes.index_select(0, action)
                               + torch.cos(3 * position) * (-GRAVITY))
        velocity = velocity.clamp(-MAX_SPEED, MAX_SPEED)
        position = torch.maximum(torch.clamp(position + velocity, max=MAX_POSITION),
                                 min_position)
        # the left wall stops the car
        velocity = torch.where((position == min_position) & (velocity < 0), 0.0, velocity)
        terminal = (position >= GOAL_POSITION) & (velocity >= GOAL_VELOCITY)
        return torch.stack([position, velocity], dim=1), terminal

    def get_rewards(self, last_states: list[torch.Tensor], actions: list[torch.Tensor],
                    new_states: list[torch.Tensor]) -> torch.Tensor:
        """float32 ``[B]``: -1 where the session was alive in ``last_states``, else 0."""
        return torch.where(self.get_is_alive(last_states), -1.0, 0.0)

    def _make_tables(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        """``(pushes [3], min_position [])``: ``(action - 1) * force`` per action, and the left
        wall in the physics' dtype (so that a car stopped there compares equal to it)."""
        pushes = torch.tensor([(a - 1) * FORCE for a in range(3)], dtype=dtype, device=device)
        return pushes, torch.tensor(MIN_POSITION, dtype=dtype, device=device)
