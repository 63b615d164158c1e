"""SARSA and expected SARSA: on-policy temporal-difference learning of Q-values."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .checks import check_tensor
from .generic import get_elementwise_td_objective, get_values_for_actions
from .losses import squared_error

__all__ = ["get_elementwise_objective", "get_expected_state_values"]


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
                              return_reference: bool = False,
                              loss_function: Callable[..., torch.Tensor] = squared_error) -> Any:
    """The SARSA loss per tick: the next state's value is that of the next action taken::

        Qref(t) = r(t) + gamma Q_target(s_{t+1}, a_{t+1})      (n-step: as in Q-learning)

    For expected SARSA pass ``state_values_target=get_expected_state_values(q, policy)``.
    Arguments and result as :func:`agentnet.learning.qlearning.get_elementwise_objective`.

    >>> q = torch.tensor([[[1., 2.], [3., 0.], [0., 0.]]])
    >>> get_elementwise_objective(q, torch.tensor([[1, 1, 0]]), torch.ones(1, 3),
    ...                           gamma_or_gammas=0.5)
    tensor([[1., 1., 0.]])
    """
    check_tensor("qvalues", qvalues, 3, what="[batch, time, n_actions]", floating=True)
    check_tensor("rewards", rewards, 2, like=qvalues, floating=True)
    if state_values_target is None:
        target = qvalues if qvalues_target is None else check_tensor(
            "qvalues_target", qvalues_target, 3, like=qvalues, what="[batch, time, n_actions]",
            same_shape=True)
        state_values_target = get_values_for_actions(target, actions)
    check_tensor("state_values_target", state_values_target, 2, like=qvalues)
    return get_elementwise_td_objective(
        get_values_for_actions(qvalues, actions), state_values_target, rewards, is_alive,
        n_steps, gamma_or_gammas, crop_last, state_values_after_end, end_at_tmax,
        is_truncated, consider_reference_constant, return_reference, loss_function)


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
