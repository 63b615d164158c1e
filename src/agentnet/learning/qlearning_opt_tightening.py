"""Q-learning with optimality tightening (He et al. 2017, arXiv:1611.01606).

Besides the 1-step Q-learning loss, Q(s_t, a_t) is pushed above lower bounds and below upper
bounds built from the rewards of the same episode::

    L(t) = max_{k=1..K} [ r(t) + ... + gamma^{k-1} r(t+k-1) + gamma^k max_a Q(s_{t+k}, a) ]
    U(t) = min_{k=1..K} gamma^{-k} [ Q(s_{t-k}, a_{t-k}) - r(t-k) - ... - gamma^{k-1} r(t-1) ]
    loss(t) = (Qref(t) - Q(t))^2 + lambda_constr [relu(L(t) - Q(t))^2 + relu(Q(t) - U(t))^2]

Windows stop at episode ends (lower bounds use the episode's return there), and upper
bounds only look back within the episode. Bounds and the reference are constant.
"""
from __future__ import annotations

from typing import Any

import torch

from .checks import check_tensor
from .generic import get_loss_mask, get_n_step_value_reference, get_ticks, get_values_for_actions
from .losses import squared_error

__all__ = ["get_elementwise_objective", "get_bounds"]


def get_bounds(qvalues: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor,
               is_alive: Any = None, n_steps: int = 4, gamma: float = 0.99,
               is_truncated: torch.Tensor | None = None, crop_last: bool = True
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(lower, upper)`` bounds, float ``[B, T]`` each (-inf / +inf where none applies), from
    Q-values ``[B, T, A]`` (usually a target network's), actions, rewards and a scalar gamma.
    """
    check_tensor("qvalues", qvalues, 3, what="[batch, time, n_actions]", floating=True)
    check_tensor("rewards", rewards, 2, like=qvalues, floating=True)
    if not isinstance(gamma, (int, float)) or not 0 < gamma <= 1:
        raise ValueError(f"gamma must be a number in (0, 1] (upper bounds divide by gamma^k), "
                         f"got {gamma!r}")
    state_values = qvalues.max(dim=-1).values
    lower = torch.stack([
        get_n_step_value_reference(state_values, rewards, is_alive, k, gamma, crop_last,
                                   is_truncated=is_truncated) for k in range(1, n_steps + 1)
    ]).max(dim=0).values
    taken = get_values_for_actions(qvalues, actions)
    ticks = get_ticks(state_values, rewards, is_alive, gamma, False, None, False, is_truncated)
    upper = torch.full_like(rewards, torch.inf)
    linked = ticks.alive  # after k steps back: ticks t-k .. t are one episode
    for k in range(1, min(n_steps, rewards.shape[1] - 1) + 1):
        linked = linked & _shift_right(ticks.goes_on, k)
        bound = (_shift_right(taken, k) - _discounted_sum_back(rewards, k, gamma)) / gamma ** k
        upper = torch.where(linked, torch.minimum(upper, bound), upper)
    if crop_last:
        lower[:, -1] = -torch.inf
    return torch.where(ticks.alive, lower, torch.full_like(lower, -torch.inf)), upper


def _shift_right(x: torch.Tensor, k: int) -> torch.Tensor:
    """``x[:, t - k]`` at position t, padded with zeros (False) before the start."""
    return torch.cat([torch.zeros_like(x[:, :k]), x[:, :-k]], dim=1)


def _discounted_sum_back(rewards: torch.Tensor, k: int, gamma: float) -> torch.Tensor:
    """``r(t-k) + gamma r(t-k+1) + ... + gamma^{k-1} r(t-1)`` at position t."""
    total = sum(gamma ** i * _shift_right(rewards, k - i) for i in range(k))
    assert isinstance(total, torch.Tensor)  # k >= 1 terms: not sum's start 0
    return total


def get_elementwise_objective(qvalues: torch.Tensor, actions: torch.Tensor,
                              rewards: torch.Tensor, is_alive: Any = None, n_steps: int = 4,
                              gamma: float = 0.99, lambda_constr: float = 4.0,
                              qvalues_target: torch.Tensor | None = None,
                              is_truncated: torch.Tensor | None = None,
                              crop_last: bool = True) -> torch.Tensor:
    """The tightened Q-learning loss, float ``[B, T]``, 0 at dead ticks (see the module).

    Args:
        qvalues: float ``[B, T, A]``; actions int64 ``[B, T]``; rewards float ``[B, T]``.
        n_steps: K, how far the bounds look. gamma: a number in (0, 1].
        lambda_constr: the weight of bound violations.
        qvalues_target: Q-values the reference and the bounds use (``qvalues`` by default).

    >>> q = torch.zeros(1, 3, 2)   # Q = 0 violates lower bounds (rewards of 1) and upper ones
    >>> get_elementwise_objective(q, torch.zeros(1, 3, dtype=torch.int64), torch.ones(1, 3),
    ...                           n_steps=2, gamma=1.0, lambda_constr=1.0)
    tensor([[5., 3., 0.]])
    """
    check_tensor("qvalues", qvalues, 3, what="[batch, time, n_actions]", floating=True)
    target = (qvalues if qvalues_target is None else check_tensor(
        "qvalues_target", qvalues_target, 3, like=qvalues, what="[batch, time, n_actions]",
        same_shape=True)).detach()
    lower, upper = get_bounds(target, actions, rewards, is_alive, n_steps, gamma,
                              is_truncated, crop_last)
    reference = get_n_step_value_reference(target.max(dim=-1).values, rewards, is_alive, 1,
                                           gamma, crop_last, is_truncated=is_truncated)
    taken = get_values_for_actions(qvalues, actions)
    violation = torch.relu(lower - taken) ** 2 + torch.relu(taken - upper) ** 2
    loss = squared_error(reference.detach(), taken) + lambda_constr * violation
    mask = get_loss_mask(is_alive, rewards, crop_last)
    return torch.where(mask, loss, 0.0)
