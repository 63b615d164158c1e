"""REINFORCE (Williams 1992): the policy gradient with whole-session returns."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .checks import check_tensor
from .generic import (
    as_log_policy,
    get_loss_mask,
    get_n_step_value_reference,
    get_values_for_actions,
)
from .losses import squared_error

__all__ = ["get_elementwise_objective"]


def get_elementwise_objective(policy: torch.Tensor, actions: torch.Tensor,
                              rewards: torch.Tensor, is_alive: Any = None,
                              baseline: torch.Tensor | None = None,
                              gamma_or_gammas: Any = 0.99, crop_last: bool = False,
                              state_values_after_end: torch.Tensor | None = None,
                              is_truncated: torch.Tensor | None = None,
                              treat_policy_as_logpolicy: bool = False,
                              return_separate: bool = False,
                              loss_function: Callable[..., torch.Tensor] = squared_error) -> Any:
    """``-log pi(a_t | s_t) (G(t) - b(t))`` per tick, G the discounted return to the end of the
    episode (or of the row), plus ``loss_function(G, b)`` training the baseline if given.

    Args:
        policy: float ``[B, T, A]`` probabilities (log-probabilities with
            ``treat_policy_as_logpolicy``). actions: int64 ``[B, T]``.
        rewards, is_alive, gamma_or_gammas, is_truncated, state_values_after_end: as in
            :func:`agentnet.learning.generic.get_n_step_value_reference`. After a truncation
            the return bootstraps from ``baseline`` at the final state (if given).
        baseline: float ``[B, T]`` (e.g. a state-value head) or None; it is constant in the
            policy term and trained toward G by the baseline term.
        crop_last: False by default: sessions are usually whole episodes.
        return_separate: return ``(policy term, baseline term)``.

    Returns:
        float ``[B, T]`` (or two), 0 at dead ticks.

    >>> p = torch.full((1, 2, 2), 0.5)
    >>> get_elementwise_objective(p, torch.tensor([[0, 1]]), torch.tensor([[1., 1.]]),
    ...                           gamma_or_gammas=1.0)
    tensor([[1.3863, 0.6931]])
    """
    log_policy = as_log_policy(policy, treat_policy_as_logpolicy)
    check_tensor("rewards", rewards, 2, like=log_policy, floating=True)
    values = torch.zeros_like(rewards) if baseline is None else check_tensor(
        "baseline", baseline, 2, like=rewards, floating=True)
    returns = get_n_step_value_reference(values.detach(), rewards, is_alive, None,
                                         gamma_or_gammas, crop_last, state_values_after_end,
                                         False, is_truncated)
    mask = get_loss_mask(is_alive, rewards, crop_last)
    zero = torch.zeros_like(rewards)
    actor = torch.where(mask, -get_values_for_actions(log_policy, actions)
                        * (returns - values.detach()), zero)
    critic = zero if baseline is None else torch.where(mask, loss_function(returns, values), zero)
    return (actor, critic) if return_separate else actor + critic
