"""Episode ends and the one backward recursion every return is made of (internal).

Every objective reads its sessions through the same few arguments (``is_alive``,
``gamma_or_gammas``, ``crop_last``, ``state_values_after_end``, ``end_at_tmax``,
``is_truncated``); inside the package they travel together as one :class:`EpisodeEnds`.
:func:`get_ticks` turns them into per-tick :class:`Ticks`, and :func:`backward_scan` is the
only backward recursion of ``agentnet.learning``: discounted and lambda-returns
(:func:`lambda_returns`), GAE (the lambda-return minus V), V-trace and Retrace are all
expressed on it. The episode-end contract is in :mod:`agentnet.learning.generic`'s docstring.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from .checks import as_gammas, check_tensor

__all__ = ["EpisodeEnds", "Ticks", "get_ticks", "as_mask", "theano_default", "backward_scan",
           "lambda_returns", "uncrop"]


@dataclass(frozen=True, kw_only=True, eq=False)
class EpisodeEnds:
    """How the sessions' episodes and rows end: the arguments every reference shares.

    Attributes:
        is_alive: bool (or 0/1) ``[B, T]``; None: every tick is alive.
        gamma_or_gammas: a number, ``[B]`` or ``[B, T]``: the discount applied after tick t.
        crop_last: the row's last tick is only the bootstrap value of the ticks before it.
        state_values_after_end: float ``[B]``, the value after the row's last tick (only
            without ``crop_last``); None: 0.
        end_at_tmax: the row's last tick is a termination.
        is_truncated: bool ``[B, T]``, True at an episode's last tick when a time limit (not
            a termination) ended it; None: no truncations.
    """

    is_alive: Any = None
    gamma_or_gammas: Any = 0.99
    crop_last: bool = True
    state_values_after_end: torch.Tensor | None = None
    end_at_tmax: bool = False
    is_truncated: torch.Tensor | None = None

    def __post_init__(self) -> None:
        # the original AgentNet's spellings of the defaults, and its [batch, 1] value after end
        if isinstance(self.is_alive, str):
            object.__setattr__(self, "is_alive", theano_default("is_alive", self.is_alive,
                                                                 "always"))
        after = self.state_values_after_end
        if isinstance(after, str):
            object.__setattr__(self, "state_values_after_end",
                               theano_default("state_values_after_end", after, "zeros"))
        elif isinstance(after, torch.Tensor) and after.dim() == 2 and after.shape[1] == 1:
            object.__setattr__(self, "state_values_after_end", after[:, 0])

    @property
    def cropped(self) -> bool:
        """Whether the row's last tick gets no reference (nor loss) of its own: ``crop_last``,
        unless ``end_at_tmax`` makes that tick a termination."""
        return self.crop_last and not self.end_at_tmax


class Ticks(NamedTuple):
    """Per-tick quantities every reference is built from, all ``[B, L]`` where ``L`` is the
    number of ticks that get a reference (``T - 1`` with ``crop_last``, else ``T``).

    ``rewards`` r_t, ``gammas`` gamma_t, ``alive`` (tick t is a transition), ``goes_on`` (the
    episode and the row go on after t: a return may continue into t+1) and ``next_values``
    (the value after t if it is a bootstrap target, else 0: V_{t+1} if the episode goes on
    or was truncated, 0 after a termination). ``last_alive``, bool ``[B]``, says whether the
    cropped last tick is alive (None without cropping): a reference holds a value there.
    """

    rewards: torch.Tensor
    gammas: torch.Tensor
    alive: torch.Tensor
    goes_on: torch.Tensor
    next_values: torch.Tensor
    last_alive: torch.Tensor | None


def get_ticks(state_values: torch.Tensor, rewards: torch.Tensor, ends: EpisodeEnds) -> Ticks:
    """Check the sessions' shapes and compute :class:`Ticks`.

    Args:
        state_values: float ``[B, T]``, the values the references bootstrap from.
        rewards: float ``[B, T]``. ends: how the episodes and the row end.
    """
    rewards = check_tensor("rewards", rewards, 2, floating=True)
    values = check_tensor("state_values", state_values, 2, like=rewards)
    alive = as_mask("is_alive", ends.is_alive, rewards, default=True)
    truncated = as_mask("is_truncated", ends.is_truncated, rewards, default=False)
    gammas = as_gammas(ends.gamma_or_gammas, rewards)
    values = values.to(rewards.dtype)
    last_alive = None
    if ends.cropped:
        if rewards.shape[1] < 2:
            raise ValueError("crop_last needs sessions of at least 2 ticks, got "
                             f"{rewards.shape[1]}")
        if ends.state_values_after_end is not None:
            raise ValueError("state_values_after_end is used only with crop_last=False (with "
                             "crop_last the last tick's value is the bootstrap)")
        last_alive = alive[:, -1]
        next_values, alive_next = values[:, 1:], alive[:, 1:]
        rewards, alive, truncated, gammas = (x[:, :-1] for x in (rewards, alive, truncated,
                                                                 gammas))
    else:
        value_after = torch.zeros_like(values[:, 0])
        if ends.state_values_after_end is not None:
            value_after = check_tensor("state_values_after_end", ends.state_values_after_end, 1,
                                       what="[batch]")
            if value_after.shape[0] != rewards.shape[0]:
                raise ValueError(f"state_values_after_end must be [batch] with batch = "
                                 f"{rewards.shape[0]}, got shape {tuple(value_after.shape)}")
            value_after = value_after.to(values.dtype)
        next_values = torch.cat([values[:, 1:], value_after[:, None]], dim=1)
        alive_next = torch.cat(
            [alive[:, 1:], torch.full_like(alive[:, :1], not ends.end_at_tmax)], dim=1)
    bootstrap = alive & (alive_next | truncated)
    goes_on = alive & alive_next
    goes_on[:, -1] = False  # the row ends: returns close at its last tick
    return Ticks(rewards=rewards, gammas=gammas, alive=alive, goes_on=goes_on,
                 next_values=torch.where(bootstrap, next_values, 0.0), last_alive=last_alive)


def theano_default(name: str, value: Any, spelling: str) -> Any:
    """None for the original AgentNet's string default of an argument (``is_alive="always"``,
    ``state_values_after_end="zeros"``, ``baseline="zeros"``); any other string raises."""
    if value != spelling:
        raise ValueError(f"{name} must be a tensor, None or {spelling!r} (the original "
                         f"AgentNet's default), got {value!r}")
    return None


def as_mask(name: str, mask: Any, like: torch.Tensor, default: bool) -> torch.Tensor:
    """bool ``[B, T]`` from a bool or 0/1 tensor shaped like ``like`` (checked), or the
    ``default`` everywhere if ``mask`` is None (or the original's ``"always"``)."""
    if isinstance(mask, str) and default:
        mask = theano_default(name, mask, "always")
    if mask is None:
        return torch.full(like.shape, default, dtype=torch.bool, device=like.device)
    mask = check_tensor(name, mask, 2, like=like)
    return mask if mask.dtype == torch.bool else mask != 0


def backward_scan(inputs: torch.Tensor, decays: torch.Tensor, ticks: Ticks) -> torch.Tensor:
    """The backward recursion of every return, float ``[B, L]``::

        y(t) = x(t) + decay(t) y(t+1)    while the episode and the row go on after t
        y(t) = x(t)                      at the last tick of an episode or of the row
        y(t) = 0                         at dead ticks

    The episode-end masking happens here and nowhere else: ``inputs`` x and ``decays`` are
    read only where the mask above reads them (elsewhere they may hold anything, NaN
    included). Discounted and lambda-returns, GAE, V-trace and Retrace are this recursion
    with their own x and decay: a "c-trace" ``target(t) = base(t) + gamma(t) c(t)
    (target(t+1) - replaced(t+1))`` is the scan of ``x = base - gamma c replaced(t+1)``
    with ``decay = gamma c``.

    Args:
        inputs, decays: float ``[B, L]`` (``L`` as in ``ticks``). ticks: the sessions' ticks.

    Differentiable in ``inputs`` and ``decays``; one fused multiply-add per tick, on rows
    made contiguous by tick.
    """
    inputs = torch.where(ticks.alive, inputs, 0.0).T.contiguous()   # [L, B]
    decays = torch.where(ticks.goes_on, decays, 0.0).T.contiguous()
    following = inputs[-1]
    scanned = [following]
    for t in range(inputs.shape[0] - 2, -1, -1):
        following = torch.addcmul(inputs[t], decays[t], following)
        scanned.append(following)
    return torch.stack(scanned[::-1], dim=1)


def lambda_returns(ticks: Ticks, lambdas: Any) -> torch.Tensor:
    """TD(lambda) returns ``[B, L]`` on :func:`backward_scan`::

        G(t) = r(t) + gamma(t) [(1 - lambda(t)) V(t+1) + lambda(t) G(t+1)]   inside an episode
        G(t) = r(t) + gamma(t) V_next(t)                                     at its last tick

    i.e. ``x = r + (gamma - gamma lambda [goes on]) V_next`` and ``decay = gamma lambda``.
    ``lambdas``: a number or float ``[B, L]``. With lambda = 1 the coefficient of V_next is
    exactly 0 inside an episode: the discounted return to the episode's end, no value read.
    """
    decays = ticks.gammas * lambdas
    bootstrap = ticks.gammas - torch.where(ticks.goes_on, decays, 0.0)
    return backward_scan(ticks.rewards + bootstrap * ticks.next_values, decays, ticks)


def uncrop(reference: torch.Tensor, ticks: Ticks, last_value: torch.Tensor) -> torch.Tensor:
    """``reference [B, L]`` with the cropped last tick appended (if the row was cropped):
    ``last_value [B]`` where that tick is alive, 0 where it is dead."""
    if ticks.last_alive is None:
        return reference
    last = torch.where(ticks.last_alive, last_value.to(reference.dtype), 0.0)
    return torch.cat([reference, last[:, None]], dim=1)
