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

from dataclasses import replace
from typing import Any

import torch

from ._episodes import EpisodeEnds, get_ticks
from ._original import aliased
from .checks import check_tensor
from .generic import _n_step_returns, _qvalues_target, get_loss_mask, get_values_for_actions
from .qlearning import _max_over_actions, _q_td_objective

__all__ = ["get_elementwise_objective", "get_bounds"]


def get_bounds(qvalues: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor,
               is_alive: Any = None, n_steps: int = 4, gamma: float = 0.99,
               is_truncated: torch.Tensor | None = None, crop_last: bool = True
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(lower, upper)`` bounds, float ``[B, T]`` each (-inf / +inf where none applies), from
    Q-values ``[B, T, A]`` (usually a target network's), actions int64 ``[B, T]``, rewards
    float ``[B, T]`` and a scalar gamma.
    """
    ends = EpisodeEnds(is_alive=is_alive, gamma_or_gammas=gamma, crop_last=crop_last,
                       is_truncated=is_truncated)
    return _bounds(qvalues, actions, rewards, ends, n_steps=n_steps)


def _bounds(qvalues: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor,
            ends: EpisodeEnds, *, n_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`get_bounds` with its episode ends as one record (``gamma_or_gammas`` a number)."""
    check_tensor("qvalues", qvalues, 3, what="[batch, time, n_actions]", floating=True)
    check_tensor("rewards", rewards, 2, like=qvalues, floating=True)
    gamma = ends.gamma_or_gammas
    if not isinstance(gamma, (int, float)) or not 0 < gamma <= 1:
        raise ValueError(f"gamma must be a number in (0, 1] (upper bounds divide by gamma^k), "
                         f"got {gamma!r}")
    state_values = _max_over_actions(qvalues)
    ticks = get_ticks(state_values, rewards, ends)  # lower bounds: the k-step references
    lower = torch.stack([_n_step_returns(ticks, k) for k in range(1, n_steps + 1)]
                        ).max(dim=0).values
    lower = torch.where(ticks.alive, lower, -torch.inf)
    if ends.cropped:                                 # the cropped last tick has none
        lower = torch.cat([lower, torch.full_like(lower[:, :1], -torch.inf)], dim=1)
    taken = get_values_for_actions(qvalues, actions)
    ticks = get_ticks(state_values, rewards, replace(ends, crop_last=False))
    upper = torch.full_like(rewards, torch.inf)
    linked = ticks.alive  # after k steps back: ticks t-k .. t are one episode
    summed_back = torch.zeros_like(rewards)  # r(t-k) + gamma r(t-k+1) + ... + gamma^{k-1} r(t-1)
    for k in range(1, min(n_steps, rewards.shape[1] - 1) + 1):
        linked = linked & _shift_right(ticks.goes_on, k)
        summed_back = _shift_right(rewards, k) + gamma * summed_back
        bound = (_shift_right(taken, k) - summed_back) / gamma ** k
        upper = torch.where(linked, torch.minimum(upper, bound), upper)
    return lower, upper


def _shift_right(x: torch.Tensor, k: int) -> torch.Tensor:
    """``x[:, t - k]`` at position t, padded with zeros (False) before the start."""
    return torch.cat([torch.zeros_like(x[:, :k]), x[:, :-k]], dim=1)


def get_elementwise_objective(qvalues: torch.Tensor | None = None,
                              actions: torch.Tensor | None = None,
                              rewards: torch.Tensor | None = None, n_steps: int = 4,
                              is_alive: Any = None, gamma: float = 0.95,
                              lambda_constr: float = 1e3, *,
                              qvalues_target: torch.Tensor | None = None,
                              is_truncated: torch.Tensor | None = None,
                              crop_last: bool = True,
                              Qvalues: torch.Tensor | None = None) -> torch.Tensor:  # noqa: N803
    """The tightened Q-learning loss, float ``[B, T]``, 0 at dead ticks (see the module).

    Args:
        qvalues: float ``[B, T, A]``; actions int64 ``[B, T]``; rewards float ``[B, T]``.
        n_steps: K, how far the bounds look. gamma: a number in (0, 1] (0.95 by default,
            as in the original AgentNet).
        lambda_constr: the weight of bound violations: 1000 by default as in the original,
            which dwarfs the TD term; He et al. used 4 (recommended).
        qvalues_target: Q-values the reference and the bounds use (``qvalues`` by default).
        Qvalues: the original AgentNet's name of ``qvalues``.

    Positional arguments come in the original's order (``n_steps`` before ``is_alive``);
    agentnet's additions are keyword-only.

    >>> q = torch.zeros(1, 3, 2)   # Q = 0 violates lower bounds (rewards of 1) and upper ones
    >>> get_elementwise_objective(q, torch.zeros(1, 3, dtype=torch.int64), torch.ones(1, 3),
    ...                           2, gamma=1.0, lambda_constr=1.0)
    tensor([[5., 3., 0.]])
    """
    qvalues = aliased("qlearning_opt_tightening.get_elementwise_objective", "qvalues", qvalues,
                      None, "Qvalues", Qvalues)
    if qvalues is None or actions is None or rewards is None:
        raise TypeError("qlearning_opt_tightening.get_elementwise_objective needs qvalues, "
                        "actions and rewards")
    check_tensor("qvalues", qvalues, 3, what="[batch, time, n_actions]", floating=True)
    target = _qvalues_target(qvalues, qvalues_target).detach()
    ends = EpisodeEnds(is_alive=is_alive, gamma_or_gammas=gamma, crop_last=crop_last,
                       is_truncated=is_truncated)
    lower, upper = _bounds(target, actions, rewards, ends, n_steps=n_steps)
    # the 1-step Q-learning loss on the target's values, plus the bounds' violations
    td_loss = _q_td_objective(qvalues, actions, rewards, ends, state_values_of=_max_over_actions,
                              qvalues_target=target, n_steps=1)
    taken = get_values_for_actions(qvalues, actions)
    violation = torch.relu(lower - taken) ** 2 + torch.relu(taken - upper) ** 2
    mask = get_loss_mask(ends.is_alive, rewards, ends.cropped)
    return td_loss + torch.where(mask, lambda_constr * violation, 0.0)
