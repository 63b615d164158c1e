"""n-step advantage actor-critic (Mnih et al. 2016, arXiv:1602.01783).

The agent outputs action probabilities (or log-probabilities) and state values.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch

from ._episodes import EpisodeEnds
from .checks import check_tensor
from .generic import (
    _n_step_reference,
    _taken_log_policy,
    get_loss_mask,
    get_policy_entropy,
)
from .losses import squared_error

__all__ = ["get_elementwise_objective"]


def get_elementwise_objective(policy: torch.Tensor, state_values: torch.Tensor,
                              actions: torch.Tensor, rewards: torch.Tensor,
                              is_alive: Any = None,
                              state_values_target: torch.Tensor | None = None,
                              n_steps: int | None = 1, n_steps_advantage: Any = "same",
                              gamma_or_gammas: Any = 0.99, crop_last: bool = True,
                              state_values_target_after_end: Any = None,
                              state_values_after_end: Any = None,
                              consider_value_reference_constant: bool = True,
                              force_end_at_last_tick: bool = False,
                              return_separate: bool = False,
                              treat_policy_as_logpolicy: bool = False,
                              loss_function: Callable[..., torch.Tensor] = squared_error, *,
                              is_truncated: torch.Tensor | None = None,
                              consider_predicted_value_constant: bool = True,
                              entropy_regularization: float = 0.0,
                              ) -> Any:
    """Actor and critic losses per tick::

        A(t)        = Vref_adv(t) - V(t)              (n_steps_advantage-step, constant)
        actor(t)    = -log pi(a_t | s_t) A(t) - entropy_regularization * H(pi(. | s_t))
        critic(t)   = loss_function(Vref(t), V(t))    (n_steps-step reference of V_target)

    Args:
        policy: float ``[B, T, A]`` probabilities (or log-probabilities with
            ``treat_policy_as_logpolicy``, e.g. ``log_softmax`` of logits); or ``[B, T]``,
            those of the actions taken (as the original allowed; no entropy bonus then):
            for continuous actions, a Gaussian resolver's ``log_prob`` of the recorded
            actions with ``treat_policy_as_logpolicy=True`` (add ``-c * entropy`` yourself).
        state_values: float ``[B, T]`` (or ``[B, T, 1]``), the critic.
        actions: int64 ``[B, T]`` (not read when ``policy`` is ``[B, T]``).
        rewards, is_alive, gamma_or_gammas, crop_last, is_truncated: as in
            :func:`agentnet.learning.generic.get_n_step_value_reference`.
        state_values_target: values the critic's reference bootstraps from (e.g. a target
            network's); ``state_values`` by default.
        n_steps: the critic reference's n; ``n_steps_advantage``: the advantage's ("same").
        state_values_target_after_end, state_values_after_end: the value after the row's last
            tick for each reference (with ``crop_last=False``).
        force_end_at_last_tick: treat the last tick as a termination.
        consider_value_reference_constant: no gradient through the critic's reference.
        consider_predicted_value_constant: no gradient from the actor into V through A.
        entropy_regularization: weight of the entropy bonus (0: none).
        return_separate: return ``(actor, critic)`` instead of their sum.
        loss_function: the critic's ``loss(reference, predicted)``.

    Positional arguments come in the original AgentNet's order; ``is_truncated``,
    ``consider_predicted_value_constant`` and ``entropy_regularization`` (agentnet's
    additions) are keyword-only.

    Returns:
        float ``[B, T]`` (or two), 0 at dead ticks and, with ``crop_last``, the last tick.

    >>> probs, values = torch.full((1, 3, 2), 0.5), torch.zeros(1, 3)
    >>> get_elementwise_objective(probs, values, torch.zeros(1, 3, dtype=torch.int64),
    ...                           torch.ones(1, 3), gamma_or_gammas=1.0)
    tensor([[1.6931, 1.6931, 0.0000]])
    """
    log_policy, taken_log_policy = _taken_log_policy(policy, actions, treat_policy_as_logpolicy)
    check_tensor("rewards", rewards, 2, like=taken_log_policy, floating=True)
    state_values = _as_values("state_values", state_values)
    check_tensor("state_values", state_values, 2, like=taken_log_policy, floating=True)
    target = state_values if state_values_target is None else check_tensor(
        "state_values_target", _as_values("state_values_target", state_values_target), 2,
        like=state_values)
    if n_steps_advantage == "same":
        n_steps_advantage = n_steps
    ends = EpisodeEnds(is_alive=is_alive, gamma_or_gammas=gamma_or_gammas, crop_last=crop_last,
                       end_at_tmax=force_end_at_last_tick, is_truncated=is_truncated)
    critic_reference = _n_step_reference(
        target, rewards, replace(ends, state_values_after_end=state_values_target_after_end),
        n_steps)
    actor_reference = _n_step_reference(
        state_values, rewards, replace(ends, state_values_after_end=state_values_after_end),
        n_steps_advantage)
    if consider_value_reference_constant:
        critic_reference = critic_reference.detach()
    baseline = state_values.detach() if consider_predicted_value_constant else state_values
    advantage = actor_reference.detach() - baseline

    mask = get_loss_mask(ends.is_alive, rewards, ends.cropped)
    zero = torch.zeros_like(rewards)
    actor = -taken_log_policy * advantage
    if entropy_regularization:
        if log_policy is None:
            raise ValueError("entropy_regularization needs the policy over all actions "
                             "[batch, time, n_actions], got the actions taken's [batch, time]")
        actor = actor - entropy_regularization * get_policy_entropy(log_policy)
    actor = torch.where(mask, actor, zero)
    critic = torch.where(mask, loss_function(critic_reference, state_values), zero)
    return (actor, critic) if return_separate else actor + critic


def _as_values(name: str, values: Any) -> Any:
    """State values ``[B, T]`` from ``[B, T, 1]`` (a one-unit head, as the original
    accepted); anything else unchanged (checked by the caller)."""
    if isinstance(values, torch.Tensor) and values.dim() == 3 and values.shape[-1] == 1:
        return values[..., 0]
    return values
