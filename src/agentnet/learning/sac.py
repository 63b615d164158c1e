"""Soft actor-critic, SAC (Haarnoja et al. 2018, arXiv:1801.01290 and arXiv:1812.05905).

Two critics regress on an n-step reference of soft state values, ``min(Q1', Q2') - alpha log
pi`` at a fresh action of the current policy (TD3's clipped double Q with an entropy bonus);
the actor minimizes ``alpha log pi - min(Q1, Q2)`` at reparameterized actions; the temperature
alpha is tuned so that the policy's entropy stays near a target. One update, with ``policy``
returning reparameterized actions and their log-probabilities ``[B, T]`` (summed over the
action's dimensions), ``q1``, ``q1_target``, ... the user's networks over sessions
``[B, T, ...]``::

    alpha = log_alpha.exp().detach()
    with torch.no_grad():
        fresh, fresh_log_probs = policy(s)
        values = sac.get_state_values(q1_target(s, fresh), q2_target(s, fresh),
                                      fresh_log_probs, alpha)
    critic_loss = sac.get_elementwise_critic_objective(
        q1(s, a), q2(s, a), values, rewards, is_alive, is_truncated=is_truncated)
    new, log_probs = policy(s)
    actor_loss = sac.get_elementwise_actor_objective(q1(s, new), q2(s, new), log_probs, alpha,
                                                     is_alive)
    alpha_loss = sac.get_temperature_objective(log_alpha, log_probs, target_entropy, is_alive)

Each is ``[B, T]``, 0 at dead ticks; reduce with
:func:`agentnet.learning.generic.masked_mean`. Time alignment is the sessions' own:
``values[:, t]`` is the soft value of the state observed at tick t.
"""
from __future__ import annotations

from typing import Any

import torch

from .checks import as_gammas, check_tensor
from .generic import get_loss_mask
from .td3 import get_elementwise_critic_objective

__all__ = ["get_state_values", "add_entropy_bonuses", "get_elementwise_critic_objective",
           "get_elementwise_actor_objective", "get_temperature_objective",
           "default_target_entropy"]


def get_state_values(target_qvalues_1: torch.Tensor, target_qvalues_2: torch.Tensor,
                     log_probs: torch.Tensor, alpha: Any) -> torch.Tensor:
    """Soft state values, float ``[B, T]``::

        V(s_t) = min(Q1'(s_t, a~_t), Q2'(s_t, a~_t)) - alpha log pi(a~_t | s_t)

    with a~_t a fresh action of the current policy at every tick (not the action taken); the
    state values of :func:`get_elementwise_critic_objective`, so the entropy bonus enters the
    n-step reference at its bootstrap only. For n > 1, the bonuses of the ticks in between
    belong in the reference too: :func:`add_entropy_bonuses` puts them there.

    Args:
        target_qvalues_1, target_qvalues_2: float ``[B, T]``, the target critics at (s_t, a~_t).
        log_probs: float ``[B, T]``, log pi(a~_t | s_t).
        alpha: the temperature, a number or a one-element tensor (no gradient reaches it).

    >>> get_state_values(torch.tensor([[1., 5.]]), torch.tensor([[2., 3.]]),
    ...                  torch.tensor([[-1., 2.]]), alpha=0.5)
    tensor([[1.5000, 2.0000]])
    """
    check_tensor("target_qvalues_1", target_qvalues_1, 2, floating=True)
    check_tensor("target_qvalues_2", target_qvalues_2, 2, like=target_qvalues_1, floating=True)
    check_tensor("log_probs", log_probs, 2, like=target_qvalues_1, floating=True)
    alpha = _temperature(alpha)
    return torch.minimum(target_qvalues_1, target_qvalues_2) - alpha * log_probs


def add_entropy_bonuses(rewards: torch.Tensor, state_values: torch.Tensor,
                        log_probs: torch.Tensor, alpha: Any, is_alive: Any = None,
                        gamma_or_gammas: Any = 0.99) -> tuple[torch.Tensor, torch.Tensor]:
    """Rewards and soft state values, float ``[B, T]`` each, that make an n-step reference
    count the entropy bonus of every tick inside its window::

        bonus_t = -alpha log pi(a_t | s_t)     (the action taken; 0 where tick t is dead)
        r'_t    = r_t + gamma_t bonus_{t+1}    (0 after the row's last tick)
        V'(s_t) = V(s_t) - bonus_t

    The soft n-step reference of Q(s_t, a_t) is ``r_t + sum_{k=1}^{n-1} gamma^k (bonus_{t+k}
    + r_{t+k}) + gamma^n V(s_{t+n})``: tick t's own bonus is not in it (a_t is given), those
    of the ticks after it are. Given ``r'`` and ``V'``, the n-step reference of
    :func:`get_elementwise_critic_objective` is exactly that, whatever window, termination,
    truncation or row end stops it: a bonus moved into ``r'_{t-1}`` is taken back off
    ``V'(s_t)`` wherever a window bootstraps there. With ``n_steps=1`` the change is void.

    Args:
        rewards: float ``[B, T]``. state_values: float ``[B, T]``, from :func:`get_state_values`.
        log_probs: float ``[B, T]``, log pi(a_t | s_t) of the actions taken (no gradient
            reaches them).
        alpha: the temperature, a number or a one-element tensor (a constant here).
        is_alive: bool ``[B, T]`` (all alive if None).
        gamma_or_gammas: a number, ``[B]`` or ``[B, T]``, the discount after tick t (the
            critic objective's own).

    >>> rewards, values = add_entropy_bonuses(
    ...     torch.tensor([[1., 1., 1.]]), torch.tensor([[5., 6., 7.]]),
    ...     torch.tensor([[-1., -2., 3.]]), alpha=0.5, gamma_or_gammas=0.5,
    ...     is_alive=torch.tensor([[True, True, False]]))
    >>> rewards, values
    (tensor([[1.5000, 1.0000, 1.0000]]), tensor([[4.5000, 5.0000, 7.0000]]))
    """
    check_tensor("rewards", rewards, 2, floating=True)
    check_tensor("state_values", state_values, 2, like=rewards, floating=True)
    check_tensor("log_probs", log_probs, 2, like=rewards, floating=True)
    alpha = _temperature(alpha)
    mask = get_loss_mask(is_alive, rewards, crop_last=False)
    bonus = torch.where(mask, -alpha * log_probs.detach(), 0.0)
    gammas = as_gammas(gamma_or_gammas, rewards)
    next_bonus = torch.cat([bonus[:, 1:], torch.zeros_like(bonus[:, :1])], dim=1)
    return rewards + gammas * next_bonus, state_values - bonus


def get_elementwise_actor_objective(qvalues_1: torch.Tensor, qvalues_2: torch.Tensor,
                                    log_probs: torch.Tensor, alpha: Any, is_alive: Any = None
                                    ) -> torch.Tensor:
    """The policy's loss per tick, float ``[B, T]``, 0 at dead ticks::

        loss(t) = alpha log pi(a~_t | s_t) - min(Q1(s_t, a~_t), Q2(s_t, a~_t))

    with a~_t ~ pi(. | s_t) reparameterized, so that the gradient reaches the policy through
    both ``log_probs`` and the actions inside ``qvalues_1``, ``qvalues_2`` (give only the
    policy's parameters to its optimizer).

    Args:
        qvalues_1, qvalues_2: float ``[B, T]``, the critics at (s_t, a~_t).
        log_probs: float ``[B, T]``, log pi(a~_t | s_t).
        alpha: the temperature, a number or a one-element tensor (a constant here).
        is_alive: bool ``[B, T]`` (all alive if None).

    >>> get_elementwise_actor_objective(torch.tensor([[1., 5.]]), torch.tensor([[2., 3.]]),
    ...                                 torch.tensor([[-1., 2.]]), 0.5)
    tensor([[-1.5000, -2.0000]])
    """
    check_tensor("qvalues_1", qvalues_1, 2, floating=True)
    check_tensor("qvalues_2", qvalues_2, 2, like=qvalues_1, floating=True)
    check_tensor("log_probs", log_probs, 2, like=qvalues_1, floating=True)
    alpha = _temperature(alpha)
    mask = get_loss_mask(is_alive, qvalues_1, crop_last=False)
    return torch.where(mask, alpha * log_probs - torch.minimum(qvalues_1, qvalues_2), 0.0)


def get_temperature_objective(log_alpha: torch.Tensor, log_probs: torch.Tensor,
                              target_entropy: float, is_alive: Any = None) -> torch.Tensor:
    """The temperature's loss per tick, float ``[B, T]``, 0 at dead ticks::

        loss(t) = -log(alpha) (log pi(a~_t | s_t) + target_entropy)     (the bracket constant)

    Minimizing its mean over alive ticks raises alpha while the policy's entropy
    ``-log pi`` is below ``target_entropy`` and lowers it above (arXiv:1812.05905, section 5;
    on ``log(alpha)``, as most implementations, so that alpha stays positive).

    Args:
        log_alpha: float, a one-element tensor (the trained parameter).
        log_probs: float ``[B, T]``, log pi(a~_t | s_t) of fresh actions (no gradient reaches
            them). target_entropy: a number, usually :func:`default_target_entropy`.
        is_alive: bool ``[B, T]`` (all alive if None).

    >>> log_alpha = torch.tensor(0.5, requires_grad=True)
    >>> get_temperature_objective(log_alpha, torch.tensor([[-1., 3.]]), target_entropy=-2.0,
    ...                           is_alive=torch.tensor([[True, False]]))
    tensor([[1.5000, 0.0000]], grad_fn=<WhereBackward0>)
    """
    if not isinstance(log_alpha, torch.Tensor) or log_alpha.numel() != 1:
        shape = (tuple(log_alpha.shape) if isinstance(log_alpha, torch.Tensor)
                 else type(log_alpha).__name__)
        raise ValueError(f"log_alpha must be a one-element tensor (the trained parameter), "
                         f"got {shape}")
    check_tensor("log_probs", log_probs, 2, floating=True)
    mask = get_loss_mask(is_alive, log_probs, crop_last=False)
    target = (log_probs + target_entropy).detach()
    return torch.where(mask, -log_alpha.reshape(()) * target, 0.0)


def default_target_entropy(action_dim: int, low: Any = None, high: Any = None) -> float:
    """The usual entropy target, ``-action_dim`` (arXiv:1812.05905, appendix D), for actions
    in [-1, 1].

    A :class:`~agentnet.resolver.TanhGaussianResolver`'s ``log_prob`` is the density of the
    action in its bounds ``[low, high]``, whose entropy is that of the action rescaled to
    [-1, 1] plus ``sum(log((high - low) / 2))``. Given the bounds (numbers, or arrays or
    tensors ``[action_dim]``), the target is shifted by that much, so that it asks of the
    policy what ``-action_dim`` asks of the rescaled action (SB3's convention); without,
    it is ``-action_dim`` for the action as ``log_prob`` measures it (CleanRL's).

    >>> default_target_entropy(6)
    -6.0
    >>> round(default_target_entropy(1, low=-2.0, high=2.0), 4)  # -1 + log 2
    -0.3069
    """
    if isinstance(action_dim, bool) or not isinstance(action_dim, int) or action_dim < 1:
        raise ValueError(f"action_dim must be a positive integer, got {action_dim!r}")
    if (low is None) != (high is None):
        raise ValueError("default_target_entropy: give both low and high, or neither")
    if low is None:
        return -float(action_dim)
    half_range = (torch.as_tensor(high, dtype=torch.float64)
                  - torch.as_tensor(low, dtype=torch.float64)) / 2
    if half_range.dim() > 1 or half_range.numel() not in (1, action_dim):
        raise ValueError(f"default_target_entropy: low and high must be numbers or of shape "
                         f"[{action_dim}], got shape {tuple(half_range.shape)}")
    half_range = half_range.expand(action_dim)
    if not (half_range > 0).all() or not torch.isfinite(half_range).all():
        raise ValueError(f"default_target_entropy: low must be below high, both finite, in "
                         f"each of the {action_dim} dimensions; got low={low}, high={high}")
    return -float(action_dim) + float(half_range.log().sum())


def _temperature(alpha: Any) -> Any:
    """alpha as a number >= 0 or a detached 0-d tensor (checked to have one element)."""
    if isinstance(alpha, torch.Tensor):
        if alpha.numel() != 1:
            raise ValueError(f"alpha must be a number or a one-element tensor, got shape "
                             f"{tuple(alpha.shape)}")
        return alpha.detach().reshape(())
    if not alpha >= 0:
        raise ValueError(f"alpha must be a number >= 0 or a one-element tensor, got {alpha}")
    return alpha
