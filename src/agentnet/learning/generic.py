"""Shared primitives of every objective: value references, returns, masks, action values.

All functions take sessions as ``[batch, time]`` tensors and follow the episode-end contract
of :class:`agentnet.agent.Sessions`: an episode's last tick ``t`` is alive and tick ``t+1``
is not; tick ``t+1`` then holds the state the episode ended in, whose value is bootstrapped
from only if ``is_truncated[:, t]`` (a time limit), never after a termination; a dead tick
followed by an alive one starts a new episode, and no return crosses it.

The last tick of a row has no next tick inside the row. With ``crop_last=True`` (default)
it is used only as the bootstrap value of the ticks before it and its own loss is zero; with
``crop_last=False`` its next value is ``state_values_after_end`` (zeros by default, i.e. the
sessions are assumed to end there); ``end_at_tmax=True`` makes the last tick a termination.

Rewards and values that no reference reads (rewards at dead ticks, values at dead ticks that
are no truncated episode's final state) may hold anything, NaN included. The rest must be
finite: a NaN or infinite one may reach references near it that do not read it (the n-step
windows weigh terms by zeros rather than leaving them out).

Every backward recursion here and in ``vtrace`` and ``retrace`` is one private scan
(``agentnet.learning._episodes.backward_scan``): the whole-session return is the
lambda-return with lambda = 1, and GAE is the lambda-return minus V.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ._episodes import EpisodeEnds, Ticks, as_mask, get_ticks, lambda_returns, uncrop
from .checks import as_gammas, check_actions, check_tensor
from .losses import squared_error

__all__ = [
    "get_n_step_value_reference", "get_1_step_value_reference", "get_lambda_returns",
    "get_generalized_advantages", "get_values_for_actions", "get_end_indicator",
    "get_mask_by_eos", "get_loss_mask", "masked_mean", "get_elementwise_td_objective",
    "get_policy_entropy", "as_log_policy",
]


def get_n_step_value_reference(state_values: torch.Tensor, rewards: torch.Tensor,
                               is_alive: Any = None, n_steps: int | None = None,
                               gamma_or_gammas: Any = 0.99, crop_last: bool = True,
                               state_values_after_end: torch.Tensor | None = None,
                               end_at_tmax: bool = False, force_n_step: bool = False, *,
                               is_truncated: torch.Tensor | None = None) -> torch.Tensor:
    """n-step references for state values: each tick sums its next n rewards and bootstraps
    from the value n ticks later, stopping at episode ends::

        Vref(t) = r(t) + gamma(t) r(t+1) + ... + gamma(t)...gamma(t+n-2) r(t+n-1)
                  + gamma(t)...gamma(t+n-1) V(t+n)

    where a window reaching an episode's end stops there (bootstrapping from the final
    state's value only after a truncation) and one reaching the row's end bootstraps there.

    Args:
        state_values: float ``[B, T]``, V(s_t) (for Q-learning the max over actions).
        rewards: float ``[B, T]``. is_alive: bool ``[B, T]`` (all alive if None).
        n_steps: the window n; None for the whole session (Monte-Carlo up to the row's end).
        gamma_or_gammas: a number, ``[B]`` or ``[B, T]`` (discount applied after tick t).
        crop_last, state_values_after_end, end_at_tmax: how the row's last tick is treated
            (see the module's docstring). is_truncated: bool ``[B, T]``, time-limit ends.
        force_n_step: accepted for the original AgentNet's calls and ignored (it chose
            between two equal computations of n = 1).

    Returns:
        float ``[B, T]``; 0 at dead ticks; with ``crop_last`` (and not ``end_at_tmax``) an
        alive last tick holds V(T-1), so that a loss against it is zero.

    >>> v, r = torch.tensor([[1., 1., 1.]]), torch.tensor([[1., 2., 4.]])
    >>> get_n_step_value_reference(v, r, n_steps=2, gamma_or_gammas=0.5, crop_last=False)
    tensor([[2.2500, 4.0000, 4.0000]])
    """
    ends = EpisodeEnds(is_alive=is_alive, gamma_or_gammas=gamma_or_gammas, crop_last=crop_last,
                       state_values_after_end=state_values_after_end, end_at_tmax=end_at_tmax,
                       is_truncated=is_truncated)
    return _n_step_reference(state_values, rewards, ends, n_steps)


def _n_step_reference(state_values: torch.Tensor, rewards: torch.Tensor, ends: EpisodeEnds,
                      n_steps: int | None) -> torch.Tensor:
    """:func:`get_n_step_value_reference` with its episode ends as one record."""
    ticks = get_ticks(state_values, rewards, ends)
    return uncrop(_n_step_returns(ticks, n_steps), ticks, state_values[:, -1])


def _n_step_returns(ticks: Ticks, n_steps: int | None) -> torch.Tensor:
    """The n-step references of the ticks that get one, float ``[B, L]``: the discounted
    return (the lambda-return with lambda = 1) when the window spans the row, else the
    sliding window."""
    if n_steps is not None and n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer or None, got {n_steps}")
    if n_steps is None or n_steps >= ticks.rewards.shape[1]:
        return lambda_returns(ticks, 1.0)
    return _windowed_returns(ticks, n_steps)


def get_1_step_value_reference(state_values: torch.Tensor, rewards: torch.Tensor,
                               is_alive: Any = None, gamma_or_gammas: Any = 0.99,
                               crop_last: bool = True,
                               state_values_after_end: torch.Tensor | None = None,
                               end_at_tmax: bool = False,
                               is_truncated: torch.Tensor | None = None) -> torch.Tensor:
    """``Vref(t) = r(t) + gamma(t) V(t+1)``: :func:`get_n_step_value_reference` with n = 1.

    >>> get_1_step_value_reference(torch.tensor([[1., 2., 3.]]), torch.ones(1, 3),
    ...                            gamma_or_gammas=0.5)
    tensor([[2.0000, 2.5000, 3.0000]])
    """
    ends = EpisodeEnds(is_alive=is_alive, gamma_or_gammas=gamma_or_gammas, crop_last=crop_last,
                       state_values_after_end=state_values_after_end, end_at_tmax=end_at_tmax,
                       is_truncated=is_truncated)
    ticks = get_ticks(state_values, rewards, ends)
    reference = torch.where(ticks.alive, ticks.rewards + ticks.gammas * ticks.next_values, 0.0)
    return uncrop(reference, ticks, state_values[:, -1])


def get_lambda_returns(state_values: torch.Tensor, rewards: torch.Tensor, is_alive: Any = None,
                       gamma_or_gammas: Any = 0.99, lambda_: Any = 0.95, crop_last: bool = True,
                       state_values_after_end: torch.Tensor | None = None,
                       end_at_tmax: bool = False,
                       is_truncated: torch.Tensor | None = None) -> torch.Tensor:
    """TD(lambda) returns, the lambda-weighted mix of all n-step references::

        G(t) = r(t) + gamma(t) [(1 - lambda) V(t+1) + lambda G(t+1)]   inside an episode
        G(t) = r(t) + gamma(t) V_end                                   at its last tick

    (V_end: the final state's value after a truncation, 0 after a termination, V(t+1) at
    the row's end). lambda 0 gives the 1-step reference, 1 the whole-session return.
    Shapes as :func:`get_n_step_value_reference`; ``lambda_`` a number or ``[B, T]``.

    >>> get_lambda_returns(torch.zeros(1, 3), torch.ones(1, 3), gamma_or_gammas=1.0,
    ...                    lambda_=1.0, crop_last=False)
    tensor([[3., 2., 1.]])
    """
    ends = EpisodeEnds(is_alive=is_alive, gamma_or_gammas=gamma_or_gammas, crop_last=crop_last,
                       state_values_after_end=state_values_after_end, end_at_tmax=end_at_tmax,
                       is_truncated=is_truncated)
    ticks, lambdas = _ticks_and_lambdas(state_values, rewards, ends, lambda_)
    return uncrop(lambda_returns(ticks, lambdas), ticks, state_values[:, -1])


def get_generalized_advantages(state_values: torch.Tensor, rewards: torch.Tensor,
                               is_alive: Any = None, gamma_or_gammas: Any = 0.99,
                               lambda_: Any = 0.95, crop_last: bool = True,
                               state_values_after_end: torch.Tensor | None = None,
                               end_at_tmax: bool = False,
                               is_truncated: torch.Tensor | None = None) -> torch.Tensor:
    """Generalized advantage estimation (Schulman et al. 2016, arXiv:1506.02438)::

        delta(t) = r(t) + gamma(t) V_next(t) - V(t)
        A(t) = delta(t) + gamma(t) lambda A(t+1)    (inside an episode; A = delta at its end)

    ``V_next`` follows the episode-end contract (0 after a termination). Returns float
    ``[B, T]``, 0 at dead ticks and, with ``crop_last``, at the last tick. ``A + V`` is the
    lambda-return, and that is how A is computed: ``G - V`` with G from
    :func:`get_lambda_returns`. Shapes as :func:`get_lambda_returns`.

    >>> get_generalized_advantages(torch.zeros(1, 3), torch.ones(1, 3), gamma_or_gammas=1.0,
    ...                            lambda_=1.0, crop_last=False)
    tensor([[3., 2., 1.]])
    """
    ends = EpisodeEnds(is_alive=is_alive, gamma_or_gammas=gamma_or_gammas, crop_last=crop_last,
                       state_values_after_end=state_values_after_end, end_at_tmax=end_at_tmax,
                       is_truncated=is_truncated)
    ticks, lambdas = _ticks_and_lambdas(state_values, rewards, ends, lambda_)
    values = state_values[:, :ticks.rewards.shape[1]].to(ticks.rewards.dtype)
    advantages = torch.where(ticks.alive, lambda_returns(ticks, lambdas) - values, 0.0)
    return uncrop(advantages, ticks, torch.zeros_like(advantages[:, 0]))


def _ticks_and_lambdas(state_values: torch.Tensor, rewards: torch.Tensor, ends: EpisodeEnds,
                       lambda_: Any) -> tuple[Ticks, torch.Tensor]:
    """The ticks, and ``lambda_`` (a number, ``[B]`` or ``[B, T]``) as float ``[B, L]``."""
    ticks = get_ticks(state_values, rewards, ends)
    return ticks, as_gammas(lambda_, rewards, "lambda_")[:, :ticks.rewards.shape[1]]


def _windowed_returns(ticks: Ticks, n_steps: int) -> torch.Tensor:
    """The n-step sliding window: offset k of tick t counts if the episode went on through
    ticks ``t .. t+k-1`` (its discount is the product of their gammas); it adds the reward of
    tick ``t + k``, and its bootstrap value where the window closes there (at its n-th tick,
    or where the episode or the row ends). Small sessions take all offsets at once (a few
    large operations), large ones one offset at a time (their tensors stay in cache)."""
    rewards, gammas, alive, goes_on, next_values = ticks[:5]
    width = min(n_steps, rewards.shape[1])
    goes = goes_on.to(rewards.dtype)
    rewards = torch.where(alive, rewards, 0.0)
    carried, bootstraps = gammas * goes, gammas * next_values
    if rewards.numel() * width <= _ALL_OFFSETS_AT_ONCE:
        summed = _all_offsets(rewards, carried, goes, bootstraps, width=width)
        return torch.where(alive, summed, 0.0)
    length = rewards.shape[1]
    reference = rewards.clone()  # offset 0: every alive tick's own reward ...
    reach = torch.ones_like(rewards)
    for k in range(width):       # ... then offset k added on the ticks t < L - k
        cut = length - k
        if k:
            reference[:, :cut] += reach[:, :cut] * rewards[:, k:]
        closing = bootstraps[:, k:] if k == width - 1 else bootstraps[:, k:] * (1 - goes[:, k:])
        reference[:, :cut] += reach[:, :cut] * closing
        if k < width - 1:
            reach = reach[:, :cut] * carried[:, k:]
    return torch.where(alive, reference, 0.0)


#: sessions up to this many ``ticks x n`` take all window offsets at once
_ALL_OFFSETS_AT_ONCE = 2 ** 17


def _all_offsets(rewards: torch.Tensor, carried: torch.Tensor, goes: torch.Tensor,
                 bootstraps: torch.Tensor, *, width: int) -> torch.Tensor:
    """The window's sum for every tick, from ``[n, B, L]`` copies of the four inputs shifted
    by each offset (zeros past the row's end)."""
    windows = F.pad(torch.stack([rewards, carried, goes, bootstraps]), (0, width - 1))
    # copied offsets-first: the ticks innermost and contiguous (on the overlapping unfolded
    # view the offsets would be the inner loop, n elements long)
    reward, carried, goes, bootstrap = (
        windows.unfold(2, width, 1).permute(0, 3, 1, 2).contiguous().unbind(0))
    closes = 1 - goes
    closes[-1] = 1
    reach = torch.cat([torch.ones_like(carried[:1]), carried[:-1].cumprod(0)])
    return (reach * (reward + closes * bootstrap)).sum(0)


def get_values_for_actions(values_for_all_actions: torch.Tensor,
                           actions: torch.Tensor) -> torch.Tensor:
    """The values of the actions taken: float ``[B, T, A]`` and int64 ``[B, T]`` -> ``[B, T]``;
    an action out of ``0 .. A - 1`` is refused
    (:func:`~agentnet.learning.checks.check_actions`).

    >>> get_values_for_actions(torch.tensor([[[1., 2.], [3., 4.]]]), torch.tensor([[1, 0]]))
    tensor([[2., 3.]])
    """
    check_tensor("values_for_all_actions", values_for_all_actions, 3,
                 what="[batch, time, n_actions]")
    check_tensor("actions", actions, 2, like=values_for_all_actions, floating=False)
    check_actions(actions, values_for_all_actions.shape[-1])
    return values_for_all_actions.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)


def get_end_indicator(is_alive: torch.Tensor, force_end_at_t_max: bool = False) -> torch.Tensor:
    """bool ``[B, T]``: True at the last tick of each episode (alive, and the next tick is not).

    The last tick of a row is an end only with ``force_end_at_t_max`` (if it is alive).

    >>> get_end_indicator(torch.tensor([[True, True, False, True]]))
    tensor([[False,  True, False, False]])
    """
    alive = as_mask("is_alive", is_alive, is_alive, default=True)
    after = torch.full_like(alive[:, :1], not force_end_at_t_max)
    return alive & ~torch.cat([alive[:, 1:], after], dim=1)


def get_mask_by_eos(is_eos: torch.Tensor) -> torch.Tensor:
    """bool ``[B, T]``: True up to and including the first end-of-sequence tick of each row.

    >>> get_mask_by_eos(torch.tensor([[False, True, False, True]]))
    tensor([[ True,  True, False, False]])
    """
    eos = as_mask("is_eos", is_eos, is_eos, default=False)
    ended_before = (eos.cumsum(dim=1) - eos.long()) > 0
    return ~ended_before


def get_loss_mask(is_alive: Any, like: torch.Tensor, crop_last: bool = True) -> torch.Tensor:
    """bool ``[B, T]``: where an elementwise loss counts: alive ticks, minus the last tick of
    the row when ``crop_last`` (it has no reference of its own)."""
    mask = as_mask("is_alive", is_alive, like, default=True)
    if crop_last:
        mask = mask.clone()
        mask[:, -1] = False
    return mask


def masked_mean(elementwise: torch.Tensor, mask: Any = None) -> torch.Tensor:
    """The mean of ``elementwise [B, T]`` over the ticks where ``mask`` holds (all if None);
    0 when the mask is empty.

    >>> masked_mean(torch.tensor([[1., 3., 100.]]), torch.tensor([[True, True, False]]))
    tensor(2.)
    """
    if mask is None:
        return elementwise.mean()
    mask = as_mask("mask", mask, elementwise, default=True)
    total = torch.where(mask, elementwise, 0.0).sum()
    return total / mask.sum().clamp(min=1)


def get_elementwise_td_objective(action_values: torch.Tensor, state_values: torch.Tensor,
                                 rewards: torch.Tensor, is_alive: Any = None,
                                 n_steps: int | None = 1, gamma_or_gammas: Any = 0.99,
                                 crop_last: bool = True,
                                 state_values_after_end: torch.Tensor | None = None,
                                 end_at_tmax: bool = False,
                                 is_truncated: torch.Tensor | None = None,
                                 consider_reference_constant: bool = True,
                                 return_reference: bool = False,
                                 loss_function: Any = squared_error) -> Any:
    """Regress the values of the actions taken on the n-step reference of state values::

        loss(t) = loss_function(Vref(t), Q(s_t, a_t)),   Vref from get_n_step_value_reference

    The one temporal-difference objective behind Q-learning (state values = max Q), SARSA
    (Q of the next action taken), expected SARSA, the DPG critic and NAF.

    Args:
        action_values: float ``[B, T]``, Q(s_t, a_t) of the actions taken.
        state_values: float ``[B, T]``, what the reference bootstraps from (often from a
            target network). Other arguments as :func:`get_n_step_value_reference`.
        consider_reference_constant: no gradient through the reference (recommended).
        return_reference: return the reference ``[B, T]`` instead of the loss (as the
            original AgentNet did); with ``crop_last`` its last tick holds ``action_values``
            there (so that a loss against it is zero).
        loss_function: ``loss(reference, predicted)``, elementwise; squared error by default.

    Returns:
        float ``[B, T]`` loss, 0 at dead ticks and, with ``crop_last``, at the last tick;
        the reference instead if ``return_reference``.
    """
    ends = EpisodeEnds(is_alive=is_alive, gamma_or_gammas=gamma_or_gammas, crop_last=crop_last,
                       state_values_after_end=state_values_after_end, end_at_tmax=end_at_tmax,
                       is_truncated=is_truncated)
    return _td_objective(action_values, state_values, rewards, ends, n_steps=n_steps,
                         consider_reference_constant=consider_reference_constant,
                         return_reference=return_reference, loss_function=loss_function)


def _td_objective(action_values: torch.Tensor, state_values: torch.Tensor,
                  rewards: torch.Tensor, ends: EpisodeEnds, *, n_steps: int | None = 1,
                  consider_reference_constant: bool = True, return_reference: bool = False,
                  loss_function: Any = squared_error) -> Any:
    """:func:`get_elementwise_td_objective` with its episode ends as one record."""
    check_tensor("action_values", action_values, 2, like=rewards)
    reference = _n_step_reference(state_values, rewards, ends, n_steps)
    if consider_reference_constant:
        reference = reference.detach()
    if return_reference:  # as the original AgentNet: the reference alone, whose cropped
        if ends.cropped:     # last tick holds the prediction itself (a zero loss there)
            last = action_values[:, -1:].to(reference.dtype)
            reference = torch.cat([reference[:, :-1], last.detach()
                                   if consider_reference_constant else last], dim=1)
        return reference
    mask = get_loss_mask(ends.is_alive, rewards, ends.cropped)
    return torch.where(mask, loss_function(reference, action_values), 0.0)


def _qvalues_target(qvalues: torch.Tensor, qvalues_target: torch.Tensor | None
                    ) -> torch.Tensor:
    """``qvalues_target`` (float ``[B, T, A]``, checked to be shaped like ``qvalues``), or
    ``qvalues`` itself when it is None: the Q-values a reference bootstraps from."""
    if qvalues_target is None:
        return qvalues
    return check_tensor("qvalues_target", qvalues_target, 3, like=qvalues,
                        what="[batch, time, n_actions]", same_shape=True)


def as_log_policy(policy: torch.Tensor, treat_policy_as_logpolicy: bool = False,
                  min_proba: float = 1e-8) -> torch.Tensor:
    """``log(policy)`` for probabilities ``[B, T, A]`` (clipped at ``min_proba``), or the
    policy itself if it already holds log-probabilities."""
    check_tensor("policy", policy, 3, what="[batch, time, n_actions]", floating=True)
    return policy if treat_policy_as_logpolicy else policy.clamp(min=min_proba).log()


def _taken_log_policy(policy: torch.Tensor, actions: torch.Tensor,
                      treat_policy_as_logpolicy: bool) -> tuple[torch.Tensor | None, torch.Tensor]:
    """``(log_policy [B, T, A], log pi(a_t | s_t) [B, T])`` from a policy over all actions;
    ``(None, log-probabilities [B, T])`` from the probabilities of the actions taken
    ``[B, T]``, which the original AgentNet accepted too."""
    if isinstance(policy, torch.Tensor) and policy.dim() == 2:
        check_tensor("policy", policy, 2, like=actions, floating=True,
                     what="[batch, time] (actions taken) or [batch, time, n_actions]")
        return None, policy if treat_policy_as_logpolicy else policy.clamp(min=1e-8).log()
    log_policy = as_log_policy(policy, treat_policy_as_logpolicy)
    return log_policy, get_values_for_actions(log_policy, actions)


def get_policy_entropy(log_policy: torch.Tensor) -> torch.Tensor:
    """float ``[B, T]``: the entropy ``-sum_a pi(a) log pi(a)`` of log-probabilities
    ``[B, T, A]``.

    >>> get_policy_entropy(torch.log(torch.full((1, 1, 4), 0.25)))
    tensor([[1.3863]])
    """
    # clamped: a probability of exactly 0 (log -inf) adds 0, not nan, and no nan gradient
    log_policy = log_policy.clamp(min=torch.finfo(log_policy.dtype).min)
    return -(log_policy.exp() * log_policy).sum(dim=-1)
