"""V-trace off-policy corrections (Espeholt et al. 2018, IMPALA, arXiv:1802.01561).

With importance ratios ``rho(t) = min(rho_bar, pi/mu)`` and ``c(t) = lambda min(c_bar, pi/mu)``
of the target policy pi to the behaviour policy mu that acted::

    delta(t) = rho(t) (r(t) + gamma(t) V_next(t) - V(t))
    v(t)     = V(t) + delta(t) + gamma(t) c(t) (v(t+1) - V(t+1))      inside an episode
    pg_advantage(t) = rho(t) (r(t) + gamma(t) v_next(t) - V(t))

where ``V_next``/``v_next`` follow the episode-end contract (0 after a termination, the final
state's value after a truncation, ``v(t+1)`` inside an episode).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ._episodes import EpisodeEnds, backward_scan, get_ticks, uncrop
from .checks import as_gammas, check_tensor
from .generic import as_log_policy, get_loss_mask, get_policy_entropy, get_values_for_actions
from .losses import squared_error

__all__ = ["get_vtrace_targets", "get_elementwise_objective"]


def get_vtrace_targets(state_values: torch.Tensor, rewards: torch.Tensor,
                       log_rhos: torch.Tensor, is_alive: Any = None,
                       gamma_or_gammas: Any = 0.99, clip_rho: float = 1.0, clip_c: float = 1.0,
                       lambda_: Any = 1.0, crop_last: bool = True,
                       state_values_after_end: torch.Tensor | None = None,
                       end_at_tmax: bool = False, is_truncated: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(vs, pg_advantages)``, float ``[B, T]`` each (0 at dead ticks and, with
    ``crop_last``, at the last tick, where ``vs`` is V itself), computed without gradient.

    Args:
        state_values: float ``[B, T]``, V(s_t). rewards: float ``[B, T]``.
        log_rhos: float ``[B, T]``, ``log pi(a_t|s_t) - log mu(a_t|s_t)``.
        clip_rho, clip_c: the truncation levels rho_bar and c_bar; lambda_: trace decay.
        Others as :func:`agentnet.learning.generic.get_n_step_value_reference`.

    With pi = mu (log_rhos 0) and no clipping, vs is the whole-session return:

    >>> get_vtrace_targets(torch.zeros(1, 3), torch.ones(1, 3), torch.zeros(1, 3),
    ...                    gamma_or_gammas=1.0, crop_last=False)
    (tensor([[3., 2., 1.]]), tensor([[3., 2., 1.]]))
    """
    ends = EpisodeEnds(is_alive=is_alive, gamma_or_gammas=gamma_or_gammas, crop_last=crop_last,
                       state_values_after_end=state_values_after_end, end_at_tmax=end_at_tmax,
                       is_truncated=is_truncated)
    return _vtrace_targets(state_values, rewards, log_rhos, ends, clip_rho=clip_rho,
                           clip_c=clip_c, lambda_=lambda_)


def _vtrace_targets(state_values: torch.Tensor, rewards: torch.Tensor, log_rhos: torch.Tensor,
                    ends: EpisodeEnds, *, clip_rho: float = 1.0, clip_c: float = 1.0,
                    lambda_: Any = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`get_vtrace_targets` with its episode ends as one record.

    ``vs - V`` is the backward scan of the weighted TD errors ``rho(t) delta(t)`` with decay
    ``gamma(t) c(t)`` (with rho = 1 and c = lambda: GAE, and vs the lambda-return)."""
    with torch.no_grad():
        check_tensor("state_values", state_values, 2, floating=True)
        check_tensor("rewards", rewards, 2, like=state_values, floating=True)
        ticks = get_ticks(state_values, rewards, ends)
        length = ticks.rewards.shape[1]
        log_rhos = check_tensor("log_rhos", log_rhos, 2, like=rewards)[:, :length]
        values = state_values[:, :length].to(ticks.rewards.dtype)
        ratios = log_rhos.exp()
        rhos = ratios.clamp(max=clip_rho)
        cs = as_gammas(lambda_, ticks.rewards, "lambda_") * ratios.clamp(max=clip_c)
        deltas = rhos * (ticks.rewards + ticks.gammas * ticks.next_values - values)
        vs = torch.where(ticks.alive, values + backward_scan(deltas, ticks.gammas * cs, ticks),
                         0.0)
        vs_next = torch.where(ticks.goes_on, torch.cat([vs[:, 1:], vs[:, -1:]], dim=1),
                              ticks.next_values)
        advantages = rhos * (ticks.rewards + ticks.gammas * vs_next - values)
        advantages = torch.where(ticks.alive, advantages, 0.0)
        return (uncrop(vs, ticks, state_values[:, -1]),
                uncrop(advantages, ticks, torch.zeros_like(advantages[:, 0])))


def get_elementwise_objective(policy: torch.Tensor, state_values: torch.Tensor,
                              actions: torch.Tensor, rewards: torch.Tensor,
                              behaviour_log_probs: torch.Tensor, is_alive: Any = None,
                              gamma_or_gammas: Any = 0.99, clip_rho: float = 1.0,
                              clip_c: float = 1.0, lambda_: Any = 1.0, crop_last: bool = True,
                              is_truncated: torch.Tensor | None = None,
                              entropy_regularization: float = 0.0,
                              treat_policy_as_logpolicy: bool = False,
                              return_separate: bool = False,
                              loss_function: Callable[..., torch.Tensor] = squared_error) -> Any:
    """IMPALA's actor-critic loss per tick: ``-rho A_vtrace log pi(a_t|s_t)`` minus the
    entropy bonus, plus ``loss_function(vs, V)``.

    Args:
        policy: float ``[B, T, A]``, the learner's probabilities (or log-probabilities).
        state_values: float ``[B, T]``. actions: int64 ``[B, T]``. rewards: float ``[B, T]``.
        behaviour_log_probs: float ``[B, T]``, log mu(a_t | s_t) of the policy that acted.
        Others as :func:`get_vtrace_targets` and
        :func:`agentnet.learning.a2c.get_elementwise_objective`.

    Returns:
        float ``[B, T]`` (or ``(actor, critic)``), 0 at dead ticks (and the last with crop_last).
    """
    log_policy = as_log_policy(policy, treat_policy_as_logpolicy)
    log_probs = get_values_for_actions(log_policy, actions)
    check_tensor("behaviour_log_probs", behaviour_log_probs, 2, like=log_probs)
    ends = EpisodeEnds(is_alive=is_alive, gamma_or_gammas=gamma_or_gammas, crop_last=crop_last,
                       is_truncated=is_truncated)
    vs, advantages = _vtrace_targets(state_values, rewards,
                                     log_probs.detach() - behaviour_log_probs, ends,
                                     clip_rho=clip_rho, clip_c=clip_c, lambda_=lambda_)
    mask = get_loss_mask(ends.is_alive, rewards, ends.cropped)
    zero = torch.zeros_like(rewards)
    actor = -log_probs * advantages
    if entropy_regularization:
        actor = actor - entropy_regularization * get_policy_entropy(log_policy)
    actor = torch.where(mask, actor, zero)
    critic = torch.where(mask, loss_function(vs, state_values), zero)
    return (actor, critic) if return_separate else actor + critic
