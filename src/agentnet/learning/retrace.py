"""Retrace(lambda) targets for Q-values (Munos et al. 2016, arXiv:1606.02647).

With ``c(t) = lambda min(1, pi(a_t|s_t) / mu(a_t|s_t))`` and ``EQ(t) = sum_a pi(a|s_t) Q(s_t, a)``::

    Qret(t) = r(t) + gamma(t) [EQ(t+1) + c(t+1) (Qret(t+1) - Q(s_{t+1}, a_{t+1}))]   inside
    Qret(t) = r(t) + gamma(t) EQ_end                                                  at an end

(EQ_end: EQ of the final state after a truncation, 0 after a termination, EQ(t+1) where the
row ends). lambda = 0 gives expected SARSA's 1-step target.

The recursion is the shared backward scan with ``x(t) = r(t) + gamma(t) (EQ_next(t) - c(t+1)
Q(s_{t+1}, a_{t+1}))`` and ``decay(t) = gamma(t) c(t+1)``. Unlike V-trace it is not a
lambda-return with per-tick lambdas: the trace of tick t is the next action's ratio c(t+1),
and what the trace replaces, Q(s_{t+1}, a_{t+1}), is not the value bootstrapped from, EQ(t+1).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from ._episodes import EpisodeEnds, backward_scan, get_ticks, uncrop
from .checks import as_gammas, check_tensor
from .generic import _qvalues_target, get_loss_mask, get_values_for_actions
from .losses import squared_error

__all__ = ["get_retrace_targets", "get_elementwise_objective"]


def get_retrace_targets(qvalues: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor,
                        target_policy: torch.Tensor, behaviour_log_probs: torch.Tensor,
                        is_alive: Any = None, gamma_or_gammas: Any = 0.99, lambda_: Any = 1.0,
                        crop_last: bool = True, end_at_tmax: bool = False,
                        is_truncated: torch.Tensor | None = None) -> torch.Tensor:
    """Retrace targets ``Qret``, float ``[B, T]``, computed without gradient (0 at dead ticks;
    with ``crop_last`` the last tick holds Q(s, a) itself).

    Args:
        qvalues: float ``[B, T, A]`` (usually a target network's). actions: int64 ``[B, T]``.
        target_policy: float ``[B, T, A]``, pi's probabilities.
        behaviour_log_probs: float ``[B, T]``, log mu(a_t | s_t) of the policy that acted.
        Others as :func:`agentnet.learning.generic.get_n_step_value_reference`.

    >>> q, pi = torch.zeros(1, 3, 2), torch.full((1, 3, 2), 0.5)
    >>> get_retrace_targets(q, torch.zeros(1, 3, dtype=torch.int64), torch.ones(1, 3), pi,
    ...                     torch.log(torch.full((1, 3), 0.5)), gamma_or_gammas=1.0,
    ...                     crop_last=False)
    tensor([[3., 2., 1.]])
    """
    ends = EpisodeEnds(is_alive=is_alive, gamma_or_gammas=gamma_or_gammas, crop_last=crop_last,
                       end_at_tmax=end_at_tmax, is_truncated=is_truncated)
    return _retrace_targets(qvalues, actions, rewards, ends, target_policy=target_policy,
                            behaviour_log_probs=behaviour_log_probs, lambda_=lambda_)


def _retrace_targets(qvalues: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor,
                     ends: EpisodeEnds, *, target_policy: torch.Tensor,
                     behaviour_log_probs: torch.Tensor, lambda_: Any = 1.0) -> torch.Tensor:
    """:func:`get_retrace_targets` with its episode ends as one record."""
    with torch.no_grad():
        check_tensor("qvalues", qvalues, 3, what="[batch, time, n_actions]", floating=True)
        check_tensor("rewards", rewards, 2, like=qvalues, floating=True)
        check_tensor("target_policy", target_policy, 3, like=qvalues,
                     what="[batch, time, n_actions]", same_shape=True)
        expected = (target_policy * qvalues).sum(dim=-1)
        taken = get_values_for_actions(qvalues, actions)
        ticks = get_ticks(expected, rewards, ends)
        check_tensor("behaviour_log_probs", behaviour_log_probs, 2, like=rewards)
        ratios = (get_values_for_actions(target_policy, actions).clamp(min=1e-30).log()
                  - behaviour_log_probs).exp()
        cs = as_gammas(lambda_, rewards, "lambda_") * ratios.clamp(max=1.0)
        # tick t's trace and replaced value are tick t + 1's, read only where the episode
        # goes on: never past the row (the zero padding of an uncropped row is not read)
        length = ticks.rewards.shape[1]
        cs_next, taken_next = (F.pad(x[:, 1:], (0, 1))[:, :length]
                               for x in (cs, taken.to(ticks.rewards.dtype)))
        decays = ticks.gammas * cs_next
        replaced = torch.where(ticks.goes_on, cs_next * taken_next, 0.0)
        targets = backward_scan(ticks.rewards + ticks.gammas * (ticks.next_values - replaced),
                                decays, ticks)
        return uncrop(targets, ticks, taken[:, -1])


def get_elementwise_objective(qvalues: torch.Tensor, actions: torch.Tensor,
                              rewards: torch.Tensor, target_policy: torch.Tensor,
                              behaviour_log_probs: torch.Tensor, is_alive: Any = None,
                              qvalues_target: torch.Tensor | None = None,
                              gamma_or_gammas: Any = 0.99, lambda_: Any = 1.0,
                              crop_last: bool = True, is_truncated: torch.Tensor | None = None,
                              loss_function: Callable[..., torch.Tensor] = squared_error
                              ) -> torch.Tensor:
    """``loss_function(Qret(t), Q(s_t, a_t))``, float ``[B, T]``, 0 at dead ticks (and the
    last tick with ``crop_last``); ``Qret`` from :func:`get_retrace_targets` on
    ``qvalues_target`` (``qvalues`` by default)."""
    check_tensor("qvalues", qvalues, 3, what="[batch, time, n_actions]", floating=True)
    target = _qvalues_target(qvalues, qvalues_target)
    ends = EpisodeEnds(is_alive=is_alive, gamma_or_gammas=gamma_or_gammas, crop_last=crop_last,
                       is_truncated=is_truncated)
    targets = _retrace_targets(target, actions, rewards, ends, target_policy=target_policy,
                               behaviour_log_probs=behaviour_log_probs, lambda_=lambda_)
    loss = loss_function(targets, get_values_for_actions(qvalues, actions))
    mask = get_loss_mask(ends.is_alive, rewards, ends.cropped)
    return torch.where(mask, loss, 0.0)
