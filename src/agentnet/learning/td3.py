"""Twin delayed DDPG, TD3 (Fujimoto et al. 2018, arXiv:1802.09477).

DPG (:mod:`agentnet.learning.dpg`) with three changes: two critics regress on one reference
built from the smaller of two target critics (clipped double Q), the target actor's actions are
smoothed with clipped noise, and the actor (and the target networks) are updated once every few
critic updates. The first two are here; the delay is the training loop's business. One
update, with ``mu``, ``mu_target``, ``q1``, ``q1_target``, ... the user's networks over
sessions ``[B, T, ...]``::

    with torch.no_grad():
        smoothed = td3.get_smoothed_target_actions(mu_target(s), low=low, high=high)
        values = td3.get_state_values(q1_target(s, smoothed), q2_target(s, smoothed))
    critic_loss = td3.get_elementwise_critic_objective(
        q1(s, a), q2(s, a), values, rewards, is_alive, is_truncated=is_truncated)
    if step % policy_delay == 0:
        actor_loss = td3.get_elementwise_actor_objective(q1(s, mu(s)), is_alive)

Time alignment is the sessions' own: ``values[:, t]`` is the value of the state observed at
tick t, the bootstrap of the ticks before it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from . import dpg
from .checks import check_tensor
from .losses import squared_error

__all__ = ["get_smoothed_target_actions", "get_state_values", "get_elementwise_critic_objective",
           "get_elementwise_actor_objective"]


def get_smoothed_target_actions(target_actions: torch.Tensor, noise_std: float = 0.2,
                                noise_clip: float = 0.5, low: Any = -1.0, high: Any = 1.0,
                                generator: torch.Generator | None = None) -> torch.Tensor:
    """Target policy smoothing: ``clip(mu'(s) + clip(N(0, noise_std), -noise_clip,
    noise_clip), low, high)``, a fresh noise for every element.

    Args:
        target_actions: float ``[..., D]`` (``[B, T, D]`` for sessions), the target actor's
            actions mu'(s).
        noise_std, noise_clip: the noise's standard deviation and bound, in action units (the
            paper's 0.2 and 0.5 are for actions in ``[-1, 1]``: scale them with the bounds).
        low, high: the action bounds, numbers or float ``[D]``.
        generator: the random generator (on the actions' device); torch's global one if None.

    Returns:
        float, shaped like ``target_actions``, inside ``[low, high]``.

    >>> get_smoothed_target_actions(torch.tensor([[[0.0, 0.9]]]), noise_std=0.0, high=0.5)
    tensor([[[0.0000, 0.5000]]])
    """
    if not isinstance(target_actions, torch.Tensor):
        raise TypeError(f"target_actions must be a tensor [..., action_dim], got "
                        f"{type(target_actions).__name__}")
    if target_actions.dim() < 1 or not target_actions.is_floating_point():
        raise ValueError(f"target_actions must be a float tensor [..., action_dim], got shape "
                         f"{tuple(target_actions.shape)} and {target_actions.dtype}")
    for name, number in (("noise_std", noise_std), ("noise_clip", noise_clip)):
        if not number >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {number}")
    low, high = _bounds(low, high, target_actions)
    noise = torch.randn(target_actions.shape, generator=generator, dtype=target_actions.dtype,
                        device=target_actions.device)
    noise = (noise * noise_std).clamp(-noise_clip, noise_clip)
    return (target_actions + noise).clamp(low, high)


def _bounds(low: Any, high: Any, actions: torch.Tensor
            ) -> tuple[float, float] | tuple[torch.Tensor, torch.Tensor]:
    """The action bounds, checked: two floats, or two tensors (0-d or ``[D]``) on the actions'
    device if either is not a number."""
    if isinstance(low, (int, float)) and isinstance(high, (int, float)):
        if not low <= high:
            raise ValueError(f"low must be <= high, got low={low}, high={high}")
        return float(low), float(high)
    bounds = []
    for name, value in (("low", low), ("high", high)):
        bound = torch.as_tensor(value, dtype=actions.dtype, device=actions.device)
        if bound.dim() > 1 or (bound.dim() == 1 and bound.shape != actions.shape[-1:]):
            raise ValueError(f"{name} must be a number or [action_dim] with action_dim = "
                             f"{actions.shape[-1]}, got shape {tuple(bound.shape)}")
        bounds.append(bound)
    ordered = (bounds[0] <= bounds[1]).all()
    if actions.device.type != "cpu" or torch.compiler.is_compiling():
        torch._assert_async(ordered, "low must be <= high")   # no host sync
    elif not ordered:
        raise ValueError(f"low must be <= high, got low={bounds[0].tolist()}, "
                         f"high={bounds[1].tolist()}")
    return bounds[0], bounds[1]


def get_state_values(target_qvalues_1: torch.Tensor, target_qvalues_2: torch.Tensor
                     ) -> torch.Tensor:
    """Clipped double Q: ``min(Q1'(s_t, a~_t), Q2'(s_t, a~_t))``, float ``[B, T]``, with a~
    the smoothed target actions (:func:`get_smoothed_target_actions`); the state values of
    :func:`get_elementwise_critic_objective`.

    >>> get_state_values(torch.tensor([[1., 5.]]), torch.tensor([[2., 3.]]))
    tensor([[1., 3.]])
    """
    check_tensor("target_qvalues_1", target_qvalues_1, 2, floating=True)
    check_tensor("target_qvalues_2", target_qvalues_2, 2, like=target_qvalues_1, floating=True)
    return torch.minimum(target_qvalues_1, target_qvalues_2)


def get_elementwise_critic_objective(qvalues_1: torch.Tensor, qvalues_2: torch.Tensor,
                                     state_values: torch.Tensor, rewards: torch.Tensor,
                                     is_alive: Any = None, *, gamma_or_gammas: Any = 0.99,
                                     n_steps: int | None = 1, crop_last: bool = True,
                                     state_values_after_end: torch.Tensor | None = None,
                                     end_at_tmax: bool = False,
                                     is_truncated: torch.Tensor | None = None,
                                     loss_function: Callable[..., torch.Tensor] = squared_error,
                                     ) -> torch.Tensor:
    """Two critics regressed on one n-step reference of ``state_values``, the losses summed::

        Qref(t) = r(t) + gamma r(t+1) + ... + gamma^n V(s_{t+n})     (constant)
        loss(t) = loss_function(Qref(t), Q1(s_t, a_t)) + loss_function(Qref(t), Q2(s_t, a_t))

    TD3's and SAC's critic alike (``sac.get_elementwise_critic_objective`` is this function):
    they differ only in V, the clipped double-Q min (:func:`get_state_values`) or SAC's soft
    value (``sac.get_state_values``). The reference is the DPG critic's
    (:func:`agentnet.learning.dpg.get_elementwise_objective_critic`), computed once: n-step
    windows stop at episode ends, bootstrap from the final state's value after a truncation
    only, and never cross into the next episode of the row.

    Args:
        qvalues_1, qvalues_2: float ``[B, T]``, Q1(s_t, a_t) and Q2(s_t, a_t) of the actions
            taken (the critics being trained).
        state_values: float ``[B, T]``, V(s_t) (no gradient reaches it).
        rewards: float ``[B, T]``. is_alive: bool ``[B, T]`` (all alive if None).
        gamma_or_gammas: a number, ``[B]`` or ``[B, T]``. n_steps: n; None for the whole
            session.
        crop_last, state_values_after_end, end_at_tmax, is_truncated: how the row's last tick
            and the episodes end, see
            :func:`agentnet.learning.generic.get_n_step_value_reference`.
        loss_function: ``loss(reference, predicted)``, elementwise; squared error by default.

    Everything after ``is_alive`` is keyword-only: the older objectives disagree on the order
    of ``n_steps`` and ``gamma_or_gammas``.

    Returns:
        float ``[B, T]``, 0 at dead ticks (and at the last tick with ``crop_last``).

    >>> get_elementwise_critic_objective(torch.tensor([[1., 0.]]), torch.tensor([[3., 0.]]),
    ...                                  torch.tensor([[0., 2.]]), torch.ones(1, 2),
    ...                                  gamma_or_gammas=0.5)
    tensor([[2., 0.]])
    """
    check_tensor("qvalues_1", qvalues_1, 2, floating=True)
    check_tensor("qvalues_2", qvalues_2, 2, like=qvalues_1, floating=True)

    def both_critics(reference: torch.Tensor, predicted_1: torch.Tensor) -> torch.Tensor:
        # the DPG critic's loss of Q1, with Q2's against the same reference added
        return loss_function(reference, predicted_1) + loss_function(reference, qvalues_2)

    return dpg.get_elementwise_objective_critic(
        qvalues_1, state_values, rewards, is_alive, n_steps, gamma_or_gammas,
        crop_last=crop_last, state_values_after_end=state_values_after_end,
        force_end_at_last_tick=end_at_tmax, is_truncated=is_truncated,
        loss_function=both_critics)


def get_elementwise_actor_objective(qvalues_1: torch.Tensor, is_alive: Any = None
                                    ) -> torch.Tensor:
    """``-Q1(s_t, mu(s_t))`` per tick, float ``[B, T]``, 0 at dead ticks: the DPG actor's
    loss on the first critic only
    (:func:`agentnet.learning.dpg.get_elementwise_objective_actor`). Give only the actor's
    parameters to its optimizer. TD3 updates the actor (and the target networks) once every
    ``policy_delay`` critic updates (2 in the paper): that delay is the training loop's
    business, not this function's.

    >>> get_elementwise_actor_objective(torch.tensor([[1., 2.]]), torch.tensor([[True, False]]))
    tensor([[-1.,  0.]])
    """
    check_tensor("qvalues_1", qvalues_1, 2, floating=True)
    return dpg.get_elementwise_objective_actor(qvalues_1, is_alive)
