"""The executable shape contract at the top of every objective."""
from __future__ import annotations

from typing import Any

import torch

__all__ = ["check_tensor", "check_actions", "as_gammas"]


def check_tensor(name: str, value: Any, ndim: int, like: torch.Tensor | None = None,
                 what: str = "[batch, time]", floating: bool | None = None,
                 same_shape: bool = False) -> torch.Tensor:
    """Return ``value`` as a tensor after checking its rank (and its first two sizes against
    ``like``, or its whole shape with ``same_shape``); raise ``ValueError`` naming the
    argument, what was expected and what came.

    >>> check_tensor("rewards", torch.zeros(2, 3, 1), 2)
    Traceback (most recent call last):
    ...
    ValueError: rewards must be [batch, time], got shape (2, 3, 1)
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a tensor {what}, got {type(value).__name__}")
    if value.dim() != ndim or (like is not None and value.shape[:2] != like.shape[:2]):
        expected = what if like is None else (
            f"{what} with batch, time = {tuple(like.shape[:2])}")
        raise ValueError(f"{name} must be {expected}, got shape {tuple(value.shape)}")
    if same_shape and like is not None and value.shape != like.shape:
        raise ValueError(f"{name} must be {what} with n_actions = {like.shape[-1]} like the "
                         f"rest, got shape {tuple(value.shape)}")
    if floating is True and not value.is_floating_point():
        raise ValueError(f"{name} must be a float tensor, got {value.dtype}")
    if floating is False and (value.is_floating_point() or value.is_complex()):
        raise ValueError(f"{name} must be an integer tensor, got {value.dtype}")
    return value


def check_actions(actions: torch.Tensor, n_actions: int, name: str = "actions"
                  ) -> torch.Tensor:
    """Return ``actions`` (an integer tensor, checked by :func:`check_tensor` before) after
    checking that every value is an action id in ``0 .. n_actions - 1``; raise ``ValueError``
    naming the argument, the range and the offending values (``gather`` would otherwise raise
    a bare ``RuntimeError`` on CPU, or read out of bounds).

    On CPU this reads one ``aminmax`` on the host (microseconds, once per objective); under
    ``torch.compile`` and on other devices it is an asynchronous assert
    (``torch._assert_async``: no host sync) whose ``RuntimeError`` names the argument and the
    range.

    >>> check_actions(torch.tensor([[0, 2, -1]]), 2)
    Traceback (most recent call last):
    ...
    ValueError: actions must be action ids in 0..1 (n_actions = 2), got values [-1, 2]
    """
    expected = f"action ids in 0..{n_actions - 1} (n_actions = {n_actions})"
    if torch.compiler.is_compiling() or actions.device.type != "cpu":
        torch._assert_async(((actions >= 0) & (actions < n_actions)).all(),
                            f"{name} must be {expected}")
    elif actions.numel():
        low, high = torch.aminmax(actions)
        if int(low) < 0 or int(high) >= n_actions:
            invalid = (actions < 0) | (actions >= n_actions)
            values = actions[invalid].unique()
            more = f" (and {len(values) - 8} more)" if len(values) > 8 else ""
            raise ValueError(f"{name} must be {expected}, got values "
                             f"{values[:8].tolist()}{more}")
    return actions


def as_gammas(gamma_or_gammas: Any, like: torch.Tensor, name: str = "gamma_or_gammas"
              ) -> torch.Tensor:
    """Discounts as float ``[B, T]`` (broadcast view) from a number, ``[B]`` or ``[B, T]``."""
    gammas = torch.as_tensor(gamma_or_gammas, dtype=like.dtype, device=like.device)
    if gammas.dim() == 1:
        gammas = gammas[:, None]
    if gammas.dim() > 2 or (gammas.dim() == 2 and (gammas.shape[0] not in (1, like.shape[0])
                                                   or gammas.shape[1] not in (1, like.shape[1]))):
        raise ValueError(f"{name} must be a number, [batch] or [batch, time], got shape "
                         f"{tuple(gammas.shape)} for sessions {tuple(like.shape[:2])}")
    return gammas.expand(like.shape[:2])
