"""SARSA and expected SARSA: on-policy temporal-difference learning of Q-values."""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch

from ._episodes import EpisodeEnds
from ._original import aliased
from .checks import check_tensor
from .generic import get_values_for_actions
from .losses import squared_error
from .qlearning import _q_td_objective

__all__ = ["get_elementwise_objective", "get_expected_state_values"]


def get_elementwise_objective(qvalues: torch.Tensor, actions: torch.Tensor,
                              rewards: torch.Tensor, is_alive: Any = None,
                              qvalues_target: torch.Tensor | None = None,
                              n_steps: int | None = 1, gamma_or_gammas: Any = 0.99,
                              crop_last: bool = True,
                              state_values_after_end: Any = None,
                              consider_reference_constant: bool = True,
                              end_at_tmax: bool = False,
                              return_reference: bool = False,
                              loss_function: Callable[..., torch.Tensor] = squared_error, *,
                              state_values_target: torch.Tensor | None = None,
                              is_truncated: torch.Tensor | None = None,
                              state_values_target_after_end: Any = None,
                              force_end_at_last_tick: bool | None = None) -> torch.Tensor:
    """The SARSA loss per tick: the next state's value is that of the next action taken::

        Qref(t) = r(t) + gamma Q_target(s_{t+1}, a_{t+1})      (n-step: as in Q-learning)

    For expected SARSA pass ``state_values_target=get_expected_state_values(q, policy)``.
    Arguments and result as :func:`agentnet.learning.qlearning.get_elementwise_objective`
    (positional ones in the original AgentNet's order, which has no ``state_values_target``
    nor ``aggregation_function``; the original names ``state_values_target_after_end`` and
    ``force_end_at_last_tick`` are accepted).

    >>> q = torch.tensor([[[1., 2.], [3., 0.], [0., 0.]]])
    >>> get_elementwise_objective(q, torch.tensor([[1, 1, 0]]), torch.ones(1, 3),
    ...                           gamma_or_gammas=0.5)
    tensor([[1., 1., 0.]])
    """
    where = "sarsa.get_elementwise_objective"
    state_values_after_end = aliased(where, "state_values_after_end", state_values_after_end,
                                     None, "state_values_target_after_end",
                                     state_values_target_after_end)
    end_at_tmax = aliased(where, "end_at_tmax", end_at_tmax, False, "force_end_at_last_tick",
                          force_end_at_last_tick)
    ends = EpisodeEnds(is_alive=is_alive, gamma_or_gammas=gamma_or_gammas, crop_last=crop_last,
                       state_values_after_end=state_values_after_end, end_at_tmax=end_at_tmax,
                       is_truncated=is_truncated)
    # Q-learning's objective, the next state's value being that of the next action taken
    return _q_td_objective(qvalues, actions, rewards, ends,
                           state_values_of=partial(get_values_for_actions, actions=actions),
                           qvalues_target=qvalues_target,
                           state_values_target=state_values_target, n_steps=n_steps,
                           consider_reference_constant=consider_reference_constant,
                           return_reference=return_reference, loss_function=loss_function)


def get_expected_state_values(qvalues: torch.Tensor, policy: torch.Tensor) -> torch.Tensor:
    """``sum_a pi(a|s) Q(s, a)``: float ``[B, T]`` from Q-values and probabilities
    ``[B, T, A]`` (expected SARSA's state values).

    >>> get_expected_state_values(torch.tensor([[[2., 4.]]]), torch.tensor([[[0.5, 0.5]]]))
    tensor([[3.]])
    """
    check_tensor("qvalues", qvalues, 3, what="[batch, time, n_actions]")
    check_tensor("policy", policy, 3, like=qvalues, what="[batch, time, n_actions]",
                 same_shape=True)
    return (qvalues * policy).sum(dim=-1)
