"""Counting and switching: CounterLayer (a tick counter memory) and SwitchLayer (if-then-else)."""
from __future__ import annotations

from typing import Any

import torch

from agentnet.layers.base import Layer, format_shape

from ._compat import original_names
from ._shapes import fits, single_output

__all__ = ["CounterLayer", "SwitchLayer"]


class CounterLayer(Layer):
    """Counts ticks: ``prev_counter + 1``, or ``(prev_counter + 1) % k`` to loop every k ticks.

    As an agent state (``agent_states={counter: prev_counter}``), it starts from zero memory
    and holds ``t + 1`` (or ``(t + 1) % k``) after tick ``t``: an agent that acts every k-th
    tick, or a clock feature, reads it.

    Args:
        prev_counter: the previous count, any shape and numeric dtype (usually an InputLayer
            ``(None,)`` or ``(None, 1)`` of int64).
        k: None to count forever, or a positive int: the count goes ``0, 1, ..., k-1, 0, ...``.
        name: the layer's name.

    Output: the new count, ``prev_counter``'s shape and dtype.

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> prev = InputLayer((None,), dtype=torch.int64, name="prev_count")
    >>> get_output(CounterLayer(prev, k=3), {prev: torch.tensor([0, 1, 2])})
    tensor([1, 2, 0])
    """

    def __init__(self, prev_counter: Layer, k: int | None = None, name: str | None = None):
        super().__init__(prev_counter, name)
        single_output(self.describe(), "prev_counter", prev_counter)
        if prev_counter.output_dtype in (torch.bool, torch.complex64, torch.complex128):
            raise TypeError(f"{self.describe()}: prev_counter {prev_counter.describe()} must be "
                            f"an integer or float count, got {prev_counter.output_dtype}")
        if k is not None and (isinstance(k, bool) or int(k) != k or k < 1):
            raise ValueError(f"{self.describe()}: k must be a positive int or None, got {k!r}")
        self.k = None if k is None else int(k)

    def get_output_for(self, prev: torch.Tensor, **flags: Any) -> torch.Tensor:
        count = prev + 1
        return count if self.k is None else torch.remainder(count, self.k)


class SwitchLayer(Layer):
    """If-then-else per batch row: ``where(condition, if_true, if_false)``.

    Args:
        condition: bool (or numeric: nonzero is true), ``[B]`` or ``[B, ...]``: a leading
            part of the branches' shape, broadcast over their remaining axes.
        if_true: the value where the condition holds, ``[B, ...]``.
        if_false: the value elsewhere, the same shape and dtype as ``if_true``.
        name: the layer's name.

    The original's keywords ``than_branch=`` (for ``if_true``) and ``else_branch=`` (for
    ``if_false``) are accepted too; the positional order is the original's.

    Output: ``if_true``'s shape and dtype. Gradients reach each branch where it was chosen.

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> cond = InputLayer((None,), dtype=torch.bool, name="cond")
    >>> a, b = InputLayer((None, 2), name="a"), InputLayer((None, 2), name="b")
    >>> get_output(SwitchLayer(cond, a, b), {cond: torch.tensor([True, False]),
    ...                                      a: torch.ones(2, 2), b: torch.zeros(2, 2)})
    tensor([[1., 1.],
            [0., 0.]])
    """

    @original_names(than_branch="if_true", else_branch="if_false")
    def __init__(self, condition: Layer, if_true: Layer, if_false: Layer,
                 name: str | None = None):
        super().__init__([condition, if_true, if_false], name)
        cond = single_output(self.describe(), "condition", condition)
        true = single_output(self.describe(), "if_true", if_true)
        false = single_output(self.describe(), "if_false", if_false)
        if not fits(true, false) or if_true.output_dtype != if_false.output_dtype:
            raise ValueError(f"{self.describe()}: the branches differ: if_true "
                             f"{if_true.describe()} {format_shape(true)} "
                             f"{if_true.output_dtype}, if_false {if_false.describe()} "
                             f"{format_shape(false)} {if_false.output_dtype}")
        if not 1 <= len(cond) <= len(true) or not fits(cond, true[:len(cond)]):
            raise ValueError(f"{self.describe()}: condition {condition.describe()} has shape "
                             f"{format_shape(cond)}, expected a leading part of the branches' "
                             f"shape {format_shape(true)}, e.g. (B,)")

    def get_output_for(self, condition: torch.Tensor, if_true: torch.Tensor,
                       if_false: torch.Tensor, **flags: Any) -> torch.Tensor:
        if condition.dtype != torch.bool:
            condition = condition != 0
        if condition.dim() < if_true.dim():
            condition = condition.reshape(*condition.shape,
                                          *([1] * (if_true.dim() - condition.dim())))
        return torch.where(condition, if_true, if_false)
