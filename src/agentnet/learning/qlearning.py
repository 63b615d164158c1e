"""Q-learning: plain, n-step, with a target network, and double Q-learning.

Mnih et al. 2015 (DQN), van Hasselt et al. 2016 (double Q-learning, arXiv:1509.06461).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .checks import check_tensor
from .generic import get_elementwise_td_objective, get_values_for_actions
from .losses import huber_loss, squared_error

__all__ = ["get_elementwise_objective", "get_double_q_state_values", "huber_loss",
           "squared_error"]


def _max_over_actions(qvalues: torch.Tensor) -> torch.Tensor:
    return qvalues.max(dim=-1).values


def get_elementwise_objective(qvalues: torch.Tensor, actions: torch.Tensor,
                              rewards: torch.Tensor, is_alive: Any = None,
                              qvalues_target: torch.Tensor | None = None,
                              state_values_target: torch.Tensor | None = None,
                              n_steps: int | None = 1, gamma_or_gammas: Any = 0.99,
                              crop_last: bool = True,
                              state_values_after_end: torch.Tensor | None = None,
                              end_at_tmax: bool = False,
                              is_truncated: torch.Tensor | None = None,
                              consider_reference_constant: bool = True,
                              aggregation_function: Callable[[torch.Tensor], torch.Tensor]
                              = _max_over_actions,
                              return_reference: bool = False,
                              loss_function: Callable[..., torch.Tensor] = squared_error) -> Any:
    """The Q-learning loss per tick::

        Qref(t) = r(t) + gamma r(t+1) + ... + gamma^n max_a Q_target(s_{t+n}, a)
        loss(t) = loss_function(Qref(t), Q(s_t, a_t))

    with n-step windows stopping at episode ends (see :mod:`agentnet.learning.generic`).

    Args:
        qvalues: float ``[B, T, A]``, the agent's Q-values (the ones being trained).
        actions: int64 ``[B, T]``, the actions taken. rewards: float ``[B, T]``.
        is_alive: bool ``[B, T]`` (all alive if None).
        qvalues_target: float ``[B, T, A]`` used for the reference (e.g. a target network's);
            the agent's own ``qvalues`` by default.
        state_values_target: float ``[B, T]``, the reference's state values directly (e.g.
            :func:`get_double_q_state_values`); overrides ``qvalues_target``.
        n_steps: the n of n-step Q-learning; None for the whole session.
        gamma_or_gammas: a number, ``[B]`` or ``[B, T]``.
        crop_last, state_values_after_end, end_at_tmax, is_truncated: see
            :func:`agentnet.learning.generic.get_n_step_value_reference`.
        consider_reference_constant: no gradient through the reference (recommended).
        aggregation_function: ``[B, T, A] -> [B, T]``, max over actions by default.
        return_reference: also return the reference ``[B, T]``.
        loss_function: ``loss(reference, predicted)``; squared error, or :func:`huber_loss`.

    Returns:
        float ``[B, T]``, 0 at dead ticks (and the last tick with ``crop_last``); the caller
        reduces it, e.g. with :func:`agentnet.learning.generic.masked_mean`.

    >>> q = torch.tensor([[[1., 2.], [3., 0.], [0., 0.]]])
    >>> get_elementwise_objective(q, torch.tensor([[1, 0, 0]]), torch.ones(1, 3),
    ...                           gamma_or_gammas=0.5)
    tensor([[0.2500, 4.0000, 0.0000]])
    """
    check_tensor("qvalues", qvalues, 3, what="[batch, time, n_actions]", floating=True)
    check_tensor("rewards", rewards, 2, like=qvalues, floating=True)
    if state_values_target is None:
        target = qvalues if qvalues_target is None else check_tensor(
            "qvalues_target", qvalues_target, 3, like=qvalues, what="[batch, time, n_actions]",
            same_shape=True)
        state_values_target = aggregation_function(target)
    check_tensor("state_values_target", state_values_target, 2, like=qvalues)
    return get_elementwise_td_objective(
        get_values_for_actions(qvalues, actions), state_values_target, rewards, is_alive,
        n_steps, gamma_or_gammas, crop_last, state_values_after_end, end_at_tmax,
        is_truncated, consider_reference_constant, return_reference, loss_function)


def get_double_q_state_values(qvalues: torch.Tensor, qvalues_target: torch.Tensor
                              ) -> torch.Tensor:
    """Double Q-learning's state values: the target network's value of the action the
    online network prefers, ``Q_target(s, argmax_a Q(s, a))``, float ``[B, T]``.

    Pass it as ``state_values_target`` to :func:`get_elementwise_objective`.

    >>> get_double_q_state_values(torch.tensor([[[0., 1.]]]), torch.tensor([[[5., 3.]]]))
    tensor([[3.]])
    """
    check_tensor("qvalues", qvalues, 3, what="[batch, time, n_actions]")
    check_tensor("qvalues_target", qvalues_target, 3, like=qvalues,
                 what="[batch, time, n_actions]", same_shape=True)
    return get_values_for_actions(qvalues_target, qvalues.argmax(dim=-1))
