"""A scalar that is changed at run time and saved with its layer, like Theano's shared values."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["SharedValue"]


class SharedValue(nn.Module):
    """A float held in a buffer named ``value``: it follows ``.to(device)``, appears in
    ``state_dict`` and is read by layers as a tensor, so changing it never re-plans a graph.

    Args:
        value: the initial value.
        check: called with every new value before it is stored; raises ``ValueError`` to
            refuse it (e.g. an epsilon outside [0, 1]).

    >>> epsilon = SharedValue(0.1)
    >>> epsilon.set_value(0.5)
    >>> epsilon.get_value()
    0.5
    """

    value: torch.Tensor

    def __init__(self, value: float, check: Callable[[float], None] | None = None):
        super().__init__()
        self.check = check
        if check is not None:
            check(float(value))
        self.register_buffer("value", torch.tensor(float(value)))

    def get_value(self) -> float:
        return float(self.value)

    def set_value(self, value: float) -> None:
        if self.check is not None:
            self.check(float(value))
        with torch.no_grad():
            self.value.fill_(float(value))

    def __float__(self) -> float:
        return self.get_value()

    def extra_repr(self) -> str:
        return f"{self.get_value():g}"
