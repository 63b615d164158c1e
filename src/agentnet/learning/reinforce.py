"""REINFORCE (Williams 1992): the policy gradient with whole-session returns."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ._episodes import EpisodeEnds, theano_default
from .checks import check_tensor
from .generic import _n_step_reference, _taken_log_policy, get_loss_mask
from .losses import squared_error

__all__ = ["get_elementwise_objective"]


def get_elementwise_objective(policy: torch.Tensor, actions: torch.Tensor,
                              rewards: torch.Tensor, is_alive: Any = None,
                              baseline: Any = None,
                              gamma_or_gammas: Any = 0.99, crop_last: bool = True,
                              treat_policy_as_logpolicy: bool = False, *,
                              state_values_after_end: torch.Tensor | None = None,
                              is_truncated: torch.Tensor | None = None,
                              return_separate: bool = False,
                              loss_function: Callable[..., torch.Tensor] = squared_error) -> Any:
    """``-log pi(a_t | s_t) (G(t) - b(t))`` per tick, G the discounted return to the end of the
    episode (or of the row), plus ``loss_function(G, b)`` training the baseline if given.

    Args:
        policy: float ``[B, T, A]`` probabilities (log-probabilities with
            ``treat_policy_as_logpolicy``), or ``[B, T]``, those of the actions taken.
        actions: int64 ``[B, T]``.
        rewards, is_alive, gamma_or_gammas, is_truncated, state_values_after_end: as in
            :func:`agentnet.learning.generic.get_n_step_value_reference`. After a truncation
            the return bootstraps from ``baseline`` at the final state (if given).
        baseline: float ``[B, T]`` (e.g. a state-value head) or None; it is constant in the
            policy term and trained toward G by the baseline term.
        crop_last: True by default, as in the original AgentNet: the last tick only
            bootstraps (from ``baseline``, 0 without one), so its reward is left out. For
            sessions that are whole episodes pass ``crop_last=False`` (recommended).
        return_separate: return ``(policy term, baseline term)``.

    Positional arguments come in the original AgentNet's order (its ``baseline="zeros"``
    means None); agentnet's additions are keyword-only.

    Returns:
        float ``[B, T]`` (or two), 0 at dead ticks.

    >>> p = torch.full((1, 2, 2), 0.5)
    >>> get_elementwise_objective(p, torch.tensor([[0, 1]]), torch.tensor([[1., 1.]]),
    ...                           gamma_or_gammas=1.0, crop_last=False)
    tensor([[1.3863, 0.6931]])
    """
    _, taken_log_policy = _taken_log_policy(policy, actions, treat_policy_as_logpolicy)
    check_tensor("rewards", rewards, 2, like=taken_log_policy, floating=True)
    if isinstance(baseline, str):
        baseline = theano_default("baseline", baseline, "zeros")
    values = torch.zeros_like(rewards) if baseline is None else check_tensor(
        "baseline", baseline, 2, like=rewards, floating=True)
    ends = EpisodeEnds(is_alive=is_alive, gamma_or_gammas=gamma_or_gammas, crop_last=crop_last,
                       state_values_after_end=state_values_after_end, is_truncated=is_truncated)
    returns = _n_step_reference(values.detach(), rewards, ends, None)
    mask = get_loss_mask(ends.is_alive, rewards, ends.cropped)
    zero = torch.zeros_like(rewards)
    actor = torch.where(mask, -taken_log_policy * (returns - values.detach()), zero)
    critic = zero if baseline is None else torch.where(mask, loss_function(returns, values), zero)
    return (actor, critic) if return_separate else actor + critic
