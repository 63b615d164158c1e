"""A batched, tensor-native Acrobot that matches Gymnasium's ``Acrobot-v1`` step for step."""
from __future__ import annotations

import math

import torch

from ._native import _NativeEnvironment, _round_to_float32

__all__ = ["Acrobot"]

# Gymnasium's constants (classic_control/acrobot.py), named and combined as there, so that the
# float64 arithmetic below rounds the same way.
DT = 0.2
LINK_LENGTH_1 = 1.0
LINK_MASS_1 = 1.0
LINK_MASS_2 = 1.0
LINK_COM_POS_1 = 0.5
LINK_COM_POS_2 = 0.5
LINK_MOI = 1.0
GRAVITY = 9.8
MAX_VEL_1 = 4 * math.pi
MAX_VEL_2 = 9 * math.pi
AVAIL_TORQUE = (-1.0, 0.0, 1.0)
RESET_LOW, RESET_HIGH = -0.1, 0.1
# Gymnasium wraps an angle with `while x > pi: x -= 2 pi` (then the same upwards); unrolled
# this many times (enough for |x| < 13 pi): from a wrapped state with bounded velocities one
# step moves an angle by less than 8 pi (at most 7.9 pi over 2e6 random such states)
WRAP_ROUNDS = 6


class Acrobot(_NativeEnvironment):
    """Gymnasium's ``Acrobot-v1`` (with its 500-step ``TimeLimit``) for a batch of sessions.

    Two links hang from a fixed joint; a torque of -1, 0 or +1 on the joint between them
    must swing the free end above the height of one link over the fixed joint. The dynamics are
    Sutton and Barto's book equations (Gymnasium's ``book_or_nips = "book"``, no torque noise),
    integrated by one fourth-order Runge-Kutta step of ``dt = 0.2``, then the angles wrapped to
    ``[-pi, pi]`` and the velocities bounded to ``4 pi`` and ``9 pi``, operation for operation
    as Gymnasium does. numpy and torch may differ in the last bit of ``sin``, ``cos`` and
    ``x ** 2``; the system is chaotic, so such a difference grows over an episode (see the tests).

    States (one tensor per entry, batch first):

    - physics: ``dtype [B, 4]``, ``(theta1, theta2, dtheta1, dtheta2)``, ``theta2`` relative
      to the first link; a fresh episode draws each uniform in ``[-0.1, 0.1)`` and rounds it to
      float32, as Gymnasium does.
    - steps: int64 ``[B]``, steps taken in the episode.
    - terminated: bool ``[B]``, sticky: True from the step where the free end rose above the
      line (``-cos(theta1) - cos(theta1 + theta2) > 1``).

    A session is alive while it is not terminated and ``steps < max_steps``; reaching
    ``max_steps`` is a truncation (:meth:`get_is_truncated`). The reward is -1 for every step
    taken while alive that does not reach the goal, 0 for the one that does, and 0 afterwards.

    Observations: float32 ``[B, 6]``, ``(cos theta1, sin theta1, cos theta2, sin theta2,
    dtheta1, dtheta2)``. Actions: int64 ``[B]``, 0, 1, 2 for a torque of -1, 0, +1.

    Args:
        batch_size: the number of sessions :meth:`reset` starts when not told otherwise.
        max_steps: the time limit (500 in Acrobot-v1).
        seed: seeds the environment's own CPU ``torch.Generator`` used by :meth:`reset`; when
            None the seed is drawn from torch's global RNG.
        dtype: the floating dtype of the physics; float64 (Gymnasium's) for agreement.
        autoreset: if True, a session that stopped starts a new episode on the next step,
            ignoring that step's action; the new episode is drawn on the device from torch's RNG.

    Example:
        >>> env = Acrobot(batch_size=2, seed=0)
        >>> states, (obs,) = env.reset()
        >>> obs.shape, obs.dtype, states[0].shape
        (torch.Size([2, 6]), torch.float32, torch.Size([2, 4]))
        >>> bool(states[0].abs().max() <= 0.1)
        True
        >>> actions = [torch.tensor([0, 2])]
        >>> new_states, (obs,) = env.get_action_results(states, actions)
        >>> env.get_rewards(states, actions, new_states), new_states[1]
        (tensor([-1., -1.]), tensor([1, 1]))
        >>> env.get_is_alive(new_states)
        tensor([True, True])
        >>> up = [torch.tensor([[math.pi, 0.0, 0.0, 0.0]], dtype=torch.float64),
        ...       torch.tensor([7]), torch.tensor([False])]   # standing straight up
        >>> done, _ = env.get_action_results(up, [torch.tensor([1])])
        >>> env.get_is_terminated(done), env.get_rewards(up, [torch.tensor([1])], done)
        (tensor([True]), tensor([0.]))
    """

    gymnasium_id = "Acrobot-v1"
    physics_size = 4
    random_size = 4
    observation_low = (-1.0, -1.0, -1.0, -1.0, -MAX_VEL_1, -MAX_VEL_2)
    observation_high = (1.0, 1.0, 1.0, 1.0, MAX_VEL_1, MAX_VEL_2)
    n_actions = 3

    def __init__(self, batch_size: int = 1, max_steps: int = 500, seed: int | None = None,
                 dtype: torch.dtype = torch.float64, autoreset: bool = False) -> None:
        super().__init__(batch_size, max_steps, seed, dtype, autoreset)

    def _initial_physics(self, uniform: torch.Tensor) -> torch.Tensor:
        """Uniform in ``[-0.1, 0.1)``, rounded to float32 (Gymnasium's ``.astype(np.float32)``)."""
        return _round_to_float32(uniform * (RESET_HIGH - RESET_LOW) + RESET_LOW)

    def _observe(self, physics: torch.Tensor) -> torch.Tensor:
        theta1, theta2, dtheta1, dtheta2 = physics.unbind(dim=1)
        return torch.stack([torch.cos(theta1), torch.sin(theta1), torch.cos(theta2),
                            torch.sin(theta2), dtheta1, dtheta2], dim=1).to(torch.float32)

    def _step_physics(self, last_states: list[torch.Tensor], action: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """One Runge-Kutta step under ``action`` int64 ``[B]``, the angles wrapped and the
        velocities bounded; and whether the free end is above the line."""
        physics = last_states[0]
        (torques,) = self._get_tables(physics.device, physics.dtype)
        torque = torques.index_select(0, action)
        # Gymnasium's rk4(derivs, y0, [0, dt]); the torque is constant over the step
        dt = DT - 0
        dt2 = dt / 2.0
        k1 = _dsdt(physics, torque)
        k2 = _dsdt(physics + dt2 * k1, torque)
        k3 = _dsdt(physics + dt2 * k2, torque)
        k4 = _dsdt(physics + dt * k3, torque)
        new = physics + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        theta1, theta2, dtheta1, dtheta2 = new.unbind(dim=1)
        theta1 = _wrap(theta1)
        theta2 = _wrap(theta2)
        dtheta1 = dtheta1.clamp(-MAX_VEL_1, MAX_VEL_1)
        dtheta2 = dtheta2.clamp(-MAX_VEL_2, MAX_VEL_2)
        terminal = -torch.cos(theta1) - torch.cos(theta2 + theta1) > 1.0
        return torch.stack([theta1, theta2, dtheta1, dtheta2], dim=1), terminal

    def get_rewards(self, last_states: list[torch.Tensor], actions: list[torch.Tensor],
                    new_states: list[torch.Tensor]) -> torch.Tensor:
        """float32 ``[B]``: where alive in ``last_states``, -1, or 0 if the step reached the
        goal; 0 where the session had already stopped."""
        step_reward = torch.where(new_states[2], 0.0, -1.0)
        return torch.where(self.get_is_alive(last_states), step_reward, 0.0)

    def _make_tables(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        """``(torques [3],)``, the torque of each action."""
        return (torch.tensor(AVAIL_TORQUE, dtype=dtype, device=device),)


def _dsdt(s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Gymnasium's ``AcrobotEnv._dsdt`` (book dynamics) for states ``s [B, 4]`` and torques
    ``a [B]``: the derivatives ``[B, 4]``, written as there so that float64 rounds the same
    (all divisors are tensors: CUDA would turn a division by a number into a multiplication)."""
    m1 = LINK_MASS_1
    m2 = LINK_MASS_2
    l1 = LINK_LENGTH_1
    lc1 = LINK_COM_POS_1
    lc2 = LINK_COM_POS_2
    I1 = LINK_MOI  # noqa: N806 (Gymnasium's names)
    I2 = LINK_MOI  # noqa: N806
    g = GRAVITY
    pi = math.pi
    theta1, theta2, dtheta1, dtheta2 = s.unbind(dim=1)
    cos, sin = torch.cos, torch.sin
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * cos(theta2)) + I1 + I2
    d2 = m2 * (lc2**2 + l1 * lc2 * cos(theta2)) + I2
    phi2 = m2 * lc2 * g * cos(theta1 + theta2 - pi / 2.0)
    phi1 = (
        -m2 * l1 * lc2 * dtheta2**2 * sin(theta2)
        - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin(theta2)
        + (m1 * lc1 + m2 * l1) * g * cos(theta1 - pi / 2)
        + phi2
    )
    ddtheta2 = (
        a + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * sin(theta2) - phi2
    ) / (m2 * lc2**2 + I2 - d2**2 / d1)
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return torch.stack([dtheta1, dtheta2, ddtheta1, ddtheta2], dim=1)


def _wrap(x: torch.Tensor) -> torch.Tensor:
    """Gymnasium's ``wrap(x, -pi, pi)``: subtract (then add) 2 pi while out of range."""
    diff = math.pi - (-math.pi)
    for _ in range(WRAP_ROUNDS):
        x = torch.where(x > math.pi, x - diff, x)
    for _ in range(WRAP_ROUNDS):
        x = torch.where(x < -math.pi, x + diff, x)
    return x
