"""Proximal policy optimization's clipped objectives (Schulman et al. 2017, arXiv:1707.06347).

Pair with :func:`agentnet.learning.generic.get_generalized_advantages` for the advantages and
``advantages + values`` for the value targets, both computed once per batch of sessions.
"""
from __future__ import annotations

from typing import Any

import torch

from .checks import check_tensor
from .generic import get_loss_mask

__all__ = ["get_elementwise_objective", "get_elementwise_value_objective"]


def get_elementwise_objective(log_probs: torch.Tensor, old_log_probs: torch.Tensor,
                              advantages: torch.Tensor, is_alive: Any = None,
                              clip_epsilon: float = 0.2, crop_last: bool = False
                              ) -> torch.Tensor:
    """The clipped surrogate, to minimize::

        ratio(t) = exp(log_probs(t) - old_log_probs(t))
        loss(t)  = -min(ratio A(t), clip(ratio, 1 - eps, 1 + eps) A(t))

    Args:
        log_probs: float ``[B, T]``, log pi(a_t | s_t) under the policy being trained.
        old_log_probs: float ``[B, T]``, the same under the policy that acted (constant).
        advantages: float ``[B, T]`` (constant; normalize them first if you like).
        is_alive: bool ``[B, T]``; crop_last: also zero the last tick.

    Returns:
        float ``[B, T]``, 0 at dead ticks.

    >>> get_elementwise_objective(torch.log(torch.tensor([[0.9]])), torch.log(
    ...     torch.tensor([[0.5]])), torch.tensor([[1.0]]))
    tensor([[-1.2000]])
    """
    check_tensor("log_probs", log_probs, 2, floating=True)
    check_tensor("old_log_probs", old_log_probs, 2, like=log_probs)
    check_tensor("advantages", advantages, 2, like=log_probs)
    ratio = torch.exp(log_probs - old_log_probs.detach())
    advantages = advantages.detach()
    surrogate = torch.minimum(ratio * advantages,
                              ratio.clamp(1 - clip_epsilon, 1 + clip_epsilon) * advantages)
    mask = get_loss_mask(is_alive, log_probs, crop_last)
    return torch.where(mask, -surrogate, 0.0)


def get_elementwise_value_objective(state_values: torch.Tensor, old_state_values: torch.Tensor,
                                    value_targets: torch.Tensor, is_alive: Any = None,
                                    clip_epsilon: float | None = 0.2, crop_last: bool = False
                                    ) -> torch.Tensor:
    """The clipped value loss: ``max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2)``,
    or plain ``(V - R)^2`` when ``clip_epsilon`` is None. All float ``[B, T]``; returns
    ``[B, T]``, 0 at dead ticks.

    >>> get_elementwise_value_objective(torch.tensor([[2.0]]), torch.tensor([[0.0]]),
    ...                                 torch.tensor([[1.0]]), clip_epsilon=0.5)
    tensor([[1.]])
    """
    check_tensor("state_values", state_values, 2, floating=True)
    check_tensor("old_state_values", old_state_values, 2, like=state_values)
    check_tensor("value_targets", value_targets, 2, like=state_values)
    targets, old = value_targets.detach(), old_state_values.detach()
    loss = (state_values - targets) ** 2
    if clip_epsilon is not None:
        clipped = old + (state_values - old).clamp(-clip_epsilon, clip_epsilon)
        loss = torch.maximum(loss, (clipped - targets) ** 2)
    mask = get_loss_mask(is_alive, state_values, crop_last)
    return torch.where(mask, loss, 0.0)
