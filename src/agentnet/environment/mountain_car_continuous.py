"""A batched, tensor-native MountainCarContinuous that matches Gymnasium's
``MountainCarContinuous-v0`` step for step."""
from __future__ import annotations

import torch

from ._native import _NativeEnvironment
from ._native import _round_to_float32 as _r32

__all__ = ["MountainCarContinuous"]

# Gymnasium's constants (classic_control/continuous_mountain_car.py)
MIN_ACTION = -1.0
MAX_ACTION = 1.0
MIN_POSITION = -1.2
MAX_POSITION = 0.6
MAX_SPEED = 0.07
GOAL_POSITION = 0.45
GOAL_VELOCITY = 0
POWER = 0.0015
GRAVITY = 0.0025
GOAL_REWARD = 100.0
RESET_LOW, RESET_HIGH = -0.6, -0.4


class MountainCarContinuous(_NativeEnvironment):
    """Gymnasium's ``MountainCarContinuous-v0`` (with its 999-step ``TimeLimit``) for a batch
    of sessions.

    The car of :class:`MountainCar`, driven by a continuous force in ``[-1, 1]``; the flag is at
    0.45. Gymnasium keeps this task's state in float32 after the first step and mixes float32
    and float64 arithmetic (NumPy 2 rules); with the default float64 dtype the step reproduces
    that rounding operation for operation (the state after a step holds float32 values; a
    fresh episode's state, ``steps == 0``, is float64 as Gymnasium's reset draws it), so a
    session follows ``gymnasium.make("MountainCarContinuous-v0")`` from the same state and
    actions up to rare last-bit differences between ``math.cos`` and ``torch.cos``.

    States (one tensor per entry, batch first):

    - physics: ``dtype [B, 2]``, ``(position, velocity)``; a fresh episode starts at rest at a
      position uniform in ``[-0.6, -0.4)``.
    - steps: int64 ``[B]``, steps taken in the episode.
    - terminated: bool ``[B]``, sticky: True from the step where the car reached the flag
      (``position >= 0.45`` with ``velocity >= 0``).

    A session is alive while it is not terminated and ``steps < max_steps``; reaching
    ``max_steps`` is a truncation (:meth:`get_is_truncated`). The reward of a step taken while
    alive is ``-0.1 * action ** 2`` (of the action as given, before clipping), plus 100 on
    the step that reaches the flag; 0 afterwards.

    Observations: float32 ``[B, 2]``, the physics. Actions: float32 ``[B, 1]``, the force,
    clipped to ``[-1, 1]``.

    Args:
        batch_size: the number of sessions :meth:`reset` starts when not told otherwise.
        max_steps: the time limit (999 in MountainCarContinuous-v0).
        seed: seeds the environment's own CPU ``torch.Generator`` used by :meth:`reset`; when
            None the seed is drawn from torch's global RNG.
        dtype: the floating dtype of the physics; float64 to reproduce Gymnasium's rounding.
        autoreset: if True, a session that stopped starts a new episode on the next step,
            ignoring that step's action; the new episode is drawn on the device from torch's RNG.

    Example:
        >>> env = MountainCarContinuous(batch_size=2, seed=0)
        >>> states, (obs,) = env.reset()
        >>> obs.shape, obs.dtype, env.action_shapes, env.action_dtypes
        (torch.Size([2, 2]), torch.float32, [(1,)], [torch.float32])
        >>> actions = [torch.tensor([[0.5], [-3.0]])]   # -3 pushes as hard as -1
        >>> new_states, (obs,) = env.get_action_results(states, actions)
        >>> env.get_rewards(states, actions, new_states)   # -0.1 * action ** 2
        tensor([-0.0250, -0.9000])
        >>> near = [torch.tensor([[0.449, 0.05]], dtype=torch.float64), torch.tensor([3]),
        ...         torch.tensor([False])]
        >>> done, _ = env.get_action_results(near, [torch.tensor([[1.0]])])
        >>> env.get_is_terminated(done), env.get_rewards(near, [torch.tensor([[1.0]])], done)
        (tensor([True]), tensor([99.9000]))
    """

    gymnasium_id = "MountainCarContinuous-v0"
    physics_size = 2
    random_size = 1
    observation_low = (MIN_POSITION, -MAX_SPEED)
    observation_high = (MAX_POSITION, MAX_SPEED)
    action_low = MIN_ACTION
    action_high = MAX_ACTION

    def __init__(self, batch_size: int = 1, max_steps: int = 999, seed: int | None = None,
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
        """One step under the force ``action`` float32 ``[B, 1]``; and whether the car reached
        the flag.

        Gymnasium's step, with its types: after the first step the state is float32, so NumPy
        computes ``3 * position``, the velocity and the position in float32 and compares them
        with float32 constants (``_r32``: a float64 operation rounded to float32 is the float32
        operation). A force inside ``[-1, 1]`` stays float32 (its increment is float32 too); one
        outside is clipped to a Python float, whose increment is float64.
        """
        physics, steps, _ = last_states
        limits64, limits32, power32 = self._get_tables(physics.device, physics.dtype)
        # float32 state (Gymnasium's after a step) or float64 (the reset's), per session
        is32 = (steps > 0)[:, None]
        max_speed, max_position, min_position, goal_position = torch.where(
            is32, limits32, limits64).unbind(dim=1)

        def r32(x: torch.Tensor) -> torch.Tensor:  # rounded where the state is float32
            return torch.where(is32[:, 0], _r32(x), x)

        position, velocity = physics.unbind(dim=1)
        raw = action[:, 0].to(physics.dtype)
        force = raw.clamp(MIN_ACTION, MAX_ACTION)
        gravity = GRAVITY * torch.cos(r32(3 * position))  # a Python float in Gymnasium
        inside = _r32(_r32(force * power32) - _r32(gravity))  # float32 * or - a Python float
        outside = r32(force * POWER - gravity)  # Python floats; rounded if added to float32
        velocity = r32(velocity + torch.where(raw.abs() > MAX_ACTION, outside, inside))
        velocity = torch.where(velocity > max_speed, MAX_SPEED, velocity)
        velocity = torch.where(velocity < -max_speed, -MAX_SPEED, velocity)
        position = r32(position + r32(velocity))
        position = torch.where(position > max_position, MAX_POSITION, position)
        at_wall = position <= min_position  # below it (then set to it), or equal
        position = torch.where(position < min_position, MIN_POSITION, position)
        velocity = torch.where(at_wall & (velocity < 0), 0.0, velocity)
        terminal = (position >= goal_position) & (velocity >= GOAL_VELOCITY)
        return _r32(torch.stack([position, velocity], dim=1)), terminal

    def get_rewards(self, last_states: list[torch.Tensor], actions: list[torch.Tensor],
                    new_states: list[torch.Tensor]) -> torch.Tensor:
        """float32 ``[B]``: where alive in ``last_states``, ``-0.1 * action ** 2`` of the
        unclipped action, plus 100 if the step reached the flag; 0 where already stopped."""
        physics = last_states[0]
        raw = actions[0][:, 0].to(physics.dtype)
        goal = torch.where(new_states[2], GOAL_REWARD, 0.0).to(physics.dtype)
        reward = goal - raw * raw * 0.1
        return torch.where(self.get_is_alive(last_states), reward, 0.0).to(torch.float32)

    def _make_tables(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        """``(limits64 [1, 4], limits32 [1, 4], power32 [])``: max speed, max position, min
        position and goal position as Python floats and rounded to float32, and the power
        rounded to float32 (NumPy 2 compares and combines a float32 number with a Python float
        in float32)."""
        limits64 = torch.tensor([[MAX_SPEED, MAX_POSITION, MIN_POSITION, GOAL_POSITION]],
                                dtype=dtype, device=device)
        power32 = _r32(torch.tensor(POWER, dtype=dtype, device=device))
        return limits64, _r32(limits64), power32
