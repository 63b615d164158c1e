"""Elementwise regression losses ``loss(reference, predicted) -> same shape``."""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["squared_error", "huber_loss"]


def squared_error(reference: torch.Tensor, predicted: torch.Tensor) -> torch.Tensor:
    """``(reference - predicted) ** 2``, elementwise.

    >>> squared_error(torch.tensor([1., 2.]), torch.tensor([0., 0.]))
    tensor([1., 4.])
    """
    return (reference - predicted) ** 2


def huber_loss(reference: torch.Tensor, predicted: torch.Tensor,
               delta: float = 1.0) -> torch.Tensor:
    """Squared error within ``delta``, linear beyond (DQN's error clipping), elementwise:
    ``0.5 d**2`` if ``|d| <= delta`` else ``delta * (|d| - 0.5 delta)``.

    >>> huber_loss(torch.tensor([0.5, 3.]), torch.tensor([0., 0.]))
    tensor([0.1250, 2.5000])
    """
    return F.huber_loss(predicted, reference, reduction="none", delta=delta)
