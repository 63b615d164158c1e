"""Q-learning: plain, n-step, with a target network, and double Q-learning.

Mnih et al. 2015 (DQN), van Hasselt et al. 2016 (double Q-learning, arXiv:1509.06461).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ._episodes import EpisodeEnds
from ._original import aliased
from .checks import check_tensor
from .generic import _qvalues_target, _td_objective, get_values_for_actions
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
                              state_values_after_end: Any = None,
                              consider_reference_constant: bool = True,
                              aggregation_function: Any = _max_over_actions,
                              end_at_tmax: bool = False,
                              return_reference: bool = False,
                              loss_function: Callable[..., torch.Tensor] = squared_error, *,
                              is_truncated: torch.Tensor | None = None,
                              state_values_target_after_end: Any = None,
                              force_end_at_last_tick: bool | None = None) -> torch.Tensor:
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
        aggregation_function: ``[B, T, A] -> [B, T]``, max over actions by default (the
            original AgentNet's ``"deprecated"`` means the default too).
        return_reference: return the reference ``[B, T]`` instead of the loss (as the
            original did; with ``crop_last`` its last tick is Q(s, a) there).
        loss_function: ``loss(reference, predicted)``; squared error, or :func:`huber_loss`.
        state_values_target_after_end, force_end_at_last_tick: the original AgentNet's names
            of ``state_values_after_end`` and ``end_at_tmax``, accepted with their meaning.

    Positional arguments come in the original AgentNet's order; ``is_truncated`` and the
    original names are keyword-only.

    Returns:
        float ``[B, T]``, 0 at dead ticks (and the last tick with ``crop_last``); the caller
        reduces it, e.g. with :func:`agentnet.learning.generic.masked_mean`.

    >>> q = torch.tensor([[[1., 2.], [3., 0.], [0., 0.]]])
    >>> get_elementwise_objective(q, torch.tensor([[1, 0, 0]]), torch.ones(1, 3),
    ...                           gamma_or_gammas=0.5)
    tensor([[0.2500, 4.0000, 0.0000]])
    """
    where = "qlearning.get_elementwise_objective"
    state_values_after_end = aliased(where, "state_values_after_end", state_values_after_end,
                                     None, "state_values_target_after_end",
                                     state_values_target_after_end)
    end_at_tmax = aliased(where, "end_at_tmax", end_at_tmax, False, "force_end_at_last_tick",
                          force_end_at_last_tick)
    if aggregation_function == "deprecated":
        aggregation_function = _max_over_actions
    ends = EpisodeEnds(is_alive=is_alive, gamma_or_gammas=gamma_or_gammas, crop_last=crop_last,
                       state_values_after_end=state_values_after_end, end_at_tmax=end_at_tmax,
                       is_truncated=is_truncated)
    return _q_td_objective(qvalues, actions, rewards, ends, state_values_of=aggregation_function,
                           qvalues_target=qvalues_target,
                           state_values_target=state_values_target, n_steps=n_steps,
                           consider_reference_constant=consider_reference_constant,
                           return_reference=return_reference, loss_function=loss_function)


def _q_td_objective(qvalues: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor,
                    ends: EpisodeEnds, *,
                    state_values_of: Callable[[torch.Tensor], torch.Tensor],
                    qvalues_target: torch.Tensor | None = None,
                    state_values_target: torch.Tensor | None = None, n_steps: int | None = 1,
                    consider_reference_constant: bool = True, return_reference: bool = False,
                    loss_function: Callable[..., torch.Tensor] = squared_error
                    ) -> torch.Tensor:
    """The temporal-difference objective of Q(s_t, a_t), shared by Q-learning, SARSA (and
    expected SARSA) and optimality tightening: they differ only in ``state_values_of``, how
    the reference's state values ``[B, T]`` come from Q-values ``[B, T, A]`` (the max over
    actions; the value of the action taken). ``state_values_target`` [B, T], if given, is
    used as it is; else ``state_values_of(qvalues_target)`` (``qvalues`` by default)."""
    check_tensor("qvalues", qvalues, 3, what="[batch, time, n_actions]", floating=True)
    check_tensor("rewards", rewards, 2, like=qvalues, floating=True)
    if state_values_target is None:
        state_values_target = state_values_of(_qvalues_target(qvalues, qvalues_target))
    check_tensor("state_values_target", state_values_target, 2, like=qvalues)
    return _td_objective(get_values_for_actions(qvalues, actions), state_values_target, rewards,
                         ends, n_steps=n_steps,
                         consider_reference_constant=consider_reference_constant,
                         return_reference=return_reference, loss_function=loss_function)


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
