"""Deterministic policy gradient (Silver et al. 2014; Lillicrap et al. 2016, arXiv:1509.02971).

The critic regresses Q(s_t, a_t) on the n-step reference of Q(s, mu(s)) (usually from target
networks); the actor climbs Q(s, mu(s)) through the critic.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ._episodes import EpisodeEnds
from .checks import check_tensor
from .generic import _td_objective, get_loss_mask
from .losses import squared_error

__all__ = ["get_elementwise_objective_critic", "get_elementwise_objective_actor"]


def get_elementwise_objective_critic(action_qvalues: torch.Tensor, state_values: torch.Tensor,
                                     rewards: torch.Tensor, is_alive: Any = None,
                                     n_steps: int | None = 1, gamma_or_gammas: Any = 0.99,
                                     crop_last: bool = True,
                                     state_values_after_end: Any = None,
                                     force_end_at_last_tick: bool = False,
                                     consider_reference_constant: bool = True,
                                     return_reference: bool = False,
                                     loss_function: Callable[..., torch.Tensor] = squared_error,
                                     scan_dependencies: Any = (), scan_strict: bool = True, *,
                                     is_truncated: torch.Tensor | None = None,
                                     ) -> torch.Tensor:
    """``loss_function(Qref(t), Q(s_t, a_t))`` with ``Qref`` the n-step reference of
    ``state_values`` = Q(s, mu(s)), float ``[B, T]`` each; see
    :func:`agentnet.learning.generic.get_elementwise_td_objective` (``return_reference``:
    the reference instead of the loss). Positional arguments come in the original AgentNet's
    order; its ``scan_dependencies`` and ``scan_strict`` (Theano's scan) are accepted and
    ignored; ``is_truncated`` is keyword-only.

    >>> get_elementwise_objective_critic(torch.zeros(1, 3), torch.ones(1, 3), torch.ones(1, 3),
    ...                                  gamma_or_gammas=0.5)
    tensor([[2.2500, 2.2500, 0.0000]])
    """
    check_tensor("action_qvalues", action_qvalues, 2, floating=True)
    check_tensor("rewards", rewards, 2, like=action_qvalues, floating=True)
    ends = EpisodeEnds(is_alive=is_alive, gamma_or_gammas=gamma_or_gammas, crop_last=crop_last,
                       state_values_after_end=state_values_after_end,
                       end_at_tmax=force_end_at_last_tick, is_truncated=is_truncated)
    return _td_objective(action_qvalues, state_values, rewards, ends, n_steps=n_steps,
                         consider_reference_constant=consider_reference_constant,
                         return_reference=return_reference, loss_function=loss_function)


def get_elementwise_objective_actor(policy_qvalues: torch.Tensor, is_alive: Any = None,
                                    crop_last: bool = False) -> torch.Tensor:
    """``-Q(s_t, mu(s_t))`` per tick, float ``[B, T]``, 0 at dead ticks: minimizing it moves
    the actor's action toward higher critic values (the critic's parameters should not be
    updated by this loss: give only the actor's parameters to its optimizer).

    >>> get_elementwise_objective_actor(torch.tensor([[1., 2.]]))
    tensor([[-1., -2.]])
    """
    check_tensor("policy_qvalues", policy_qvalues, 2, floating=True)
    mask = get_loss_mask(is_alive, policy_qvalues, crop_last)
    return torch.where(mask, -policy_qvalues, 0.0)
