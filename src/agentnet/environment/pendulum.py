"""A batched, tensor-native Pendulum that matches Gymnasium's ``Pendulum-v1`` step for step."""
from __future__ import annotations

import math

import torch

from ._native import _NativeEnvironment
from ._native import _round_to_float32 as _r32

__all__ = ["Pendulum"]

# Gymnasium's constants (classic_control/pendulum.py)
MAX_SPEED = 8
MAX_TORQUE = 2.0
DT = 0.05
G = 10.0
M = 1.0
L = 1.0
RESET_HIGH = (math.pi, 1.0)  # theta, thetadot uniform in [-high, high)
# Gymnasium's 0.001 * (u**2) is float32 arithmetic (u is a float32 number): 0.001 as float32
EFFORT_COST_32 = torch.tensor(0.001, dtype=torch.float32).item()


class Pendulum(_NativeEnvironment):
    """Gymnasium's ``Pendulum-v1`` (with its 200-step ``TimeLimit``) for a batch of sessions.

    A torque on a pendulum's pivot must swing it up and hold it upright. The dynamics and
    costs are Gymnasium's, operation for operation, with its float32 steps (the torque is
    float32, so NumPy computes ``3 * u`` and ``0.001 * u ** 2`` in float32): with the default
    float64 dtype a session follows ``gymnasium.make("Pendulum-v1")`` from the same state and
    actions up to rare last-bit differences between numpy's and torch's ``sin`` and ``** 2``.

    States (one tensor per entry, batch first):

    - physics: ``dtype [B, 2]``, ``(theta, thetadot)``, theta 0 upright; a fresh episode
      draws theta uniform in ``[-pi, pi)`` and thetadot in ``[-1, 1)``.
    - steps: int64 ``[B]``, steps taken in the episode.
    - terminated: bool ``[B]``, always False: the task never terminates.

    A session is alive while ``steps < max_steps``; reaching it is a truncation
    (:meth:`get_is_truncated`). The reward of a step taken while alive is minus the cost
    ``normalized theta ** 2 + 0.1 * thetadot ** 2 + 0.001 * u ** 2`` of the state it was taken
    in and the clipped torque ``u``; 0 afterwards.

    Observations: float32 ``[B, 3]``, ``(cos theta, sin theta, thetadot)``. Actions: float32
    ``[B, 1]``, the torque, clipped to ``[-2, 2]``.

    Args:
        batch_size: the number of sessions :meth:`reset` starts when not told otherwise.
        max_steps: the time limit (200 in Pendulum-v1).
        seed: seeds the environment's own CPU ``torch.Generator`` used by :meth:`reset`; when
            None the seed is drawn from torch's global RNG.
        dtype: the floating dtype of the physics; float64 (Gymnasium's) for agreement.
        autoreset: if True, a session that stopped starts a new episode on the next step,
            ignoring that step's action; the new episode is drawn on the device from torch's RNG.

    Example:
        >>> env = Pendulum(batch_size=2, seed=0)
        >>> states, (obs,) = env.reset()
        >>> obs.shape, obs.dtype, env.action_shapes, env.action_dtypes
        (torch.Size([2, 3]), torch.float32, [(1,)], [torch.float32])
        >>> upright = [torch.zeros(2, 2, dtype=torch.float64), torch.zeros(2, dtype=torch.int64),
        ...            torch.zeros(2, dtype=torch.bool)]
        >>> actions = [torch.tensor([[1.0], [5.0]])]   # 5 is clipped to 2
        >>> new_states, (obs,) = env.get_action_results(upright, actions)
        >>> env.get_rewards(upright, actions, new_states)   # -0.001 * u ** 2
        tensor([-0.0010, -0.0040])
        >>> obs   # thetadot += 3 * u * dt, theta += thetadot * dt
        tensor([[1.0000, 0.0075, 0.1500],
                [0.9999, 0.0150, 0.3000]])
        >>> late = [new_states[0], torch.tensor([199, 199]), new_states[2]]
        >>> final, _ = env.get_action_results(late, actions)
        >>> env.get_is_alive(final), env.get_is_truncated(final)
        (tensor([False, False]), tensor([True, True]))
    """

    gymnasium_id = "Pendulum-v1"
    physics_size = 2
    random_size = 2
    observation_low = (-1.0, -1.0, -float(MAX_SPEED))
    observation_high = (1.0, 1.0, float(MAX_SPEED))
    action_low = -MAX_TORQUE
    action_high = MAX_TORQUE

    def __init__(self, batch_size: int = 1, max_steps: int = 200, seed: int | None = None,
                 dtype: torch.dtype = torch.float64, autoreset: bool = False) -> None:
        super().__init__(batch_size, max_steps, seed, dtype, autoreset)

    def _initial_physics(self, uniform: torch.Tensor) -> torch.Tensor:
        """theta uniform in ``[-pi, pi)``, thetadot in ``[-1, 1)``."""
        u_theta, u_thetadot = uniform.unbind(dim=1)
        theta_high, thetadot_high = RESET_HIGH
        return torch.stack([u_theta * (2 * theta_high) - theta_high,
                            u_thetadot * (2 * thetadot_high) - thetadot_high], dim=1)

    def _observe(self, physics: torch.Tensor) -> torch.Tensor:
        theta, thetadot = physics.unbind(dim=1)
        return torch.stack([torch.cos(theta), torch.sin(theta), thetadot],
                           dim=1).to(torch.float32)

    def _step_physics(self, last_states: list[torch.Tensor], action: torch.Tensor
                      ) -> tuple[torch.Tensor, None]:
        """One semi-implicit Euler step under the torque ``action`` float32 ``[B, 1]``; never
        terminal."""
        th, thdot = last_states[0].unbind(dim=1)
        g, m, l, dt = G, M, L, DT  # noqa: E741 (Gymnasium's names)
        u = _clip(action, th.dtype)
        # 3.0 / (m * l**2) * u is float32 arithmetic in Gymnasium (u is a float32 number)
        newthdot = thdot + (3 * g / (2 * l) * torch.sin(th) + _r32(3.0 / (m * l**2) * u)) * dt
        newthdot = newthdot.clamp(-MAX_SPEED, MAX_SPEED)
        newth = th + newthdot * dt
        return torch.stack([newth, newthdot], dim=1), None

    def get_rewards(self, last_states: list[torch.Tensor], actions: list[torch.Tensor],
                    new_states: list[torch.Tensor]) -> torch.Tensor:
        """float32 ``[B]``: minus the cost of ``last_states`` and the clipped torque where the
        session was alive there, else 0."""
        th, thdot = last_states[0].unbind(dim=1)
        u = _clip(actions[0], th.dtype)
        effort = _r32(_r32(u * u) * EFFORT_COST_32)
        costs = _angle_normalize(th) ** 2 + 0.1 * thdot**2 + effort
        return torch.where(self.get_is_alive(last_states), -costs, 0.0).to(torch.float32)


def _clip(action: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``[B]``: the float32 torques ``action [B, 1]`` clipped to ``[-2, 2]``, in ``dtype``."""
    return action[:, 0].clamp(-MAX_TORQUE, MAX_TORQUE).to(dtype)


def _angle_normalize(x: torch.Tensor) -> torch.Tensor:
    """Gymnasium's ``((x + pi) % (2 pi)) - pi``: the angle in ``[-pi, pi)``."""
    return torch.remainder(x + math.pi, 2 * math.pi) - math.pi
