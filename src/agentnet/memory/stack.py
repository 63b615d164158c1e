"""StackAugmentation: a differentiable stack (Joulin & Mikolov, 2015, arXiv:1503.01007)."""
from __future__ import annotations

from typing import Any

import torch

from agentnet.layers.base import Layer, format_shape

from ._compat import original_names
from ._shapes import fits, single_output

__all__ = ["StackAugmentation"]


class StackAugmentation(Layer):
    """A differentiable stack: a soft mix of push, pop and no-op on the previous stack.

    The top of the stack is index 0 (the original's order)::

        push = concat([observation[:, None], stack[:, :depth-1]], axis=1)  # the rest moves down
        pop  = concat([stack[:, 1:], zeros[:, None]], axis=1)              # the rest moves up
        new  = p_push * push + p_pop * pop + p_noop * stack

    with ``p_push, p_pop, p_noop = controls[:, 0], controls[:, 1], controls[:, 2]``. One-hot
    controls give an exact discrete stack (the pushed item falls off the bottom when the
    stack is full; popping an empty stack leaves zeros); probabilities give the convex
    combination, differentiable in the controls, the observation and the previous stack.
    The top item, the usual readout, is ``SliceLayer(stack, 0, axis=1)``.

    Args:
        observation_layer: the item that a push puts on top, float ``[B, *item]`` (usually
            ``[B, size]``, e.g. a dense layer on the controller RNN).
        prev_state_stack_layer: the previous stack, float ``[B, depth, *item]`` with depth
            known (usually an InputLayer).
        controls_layer: float ``[B, 3]``, the probabilities of push, pop and no-op in that
            order, summing to one (usually a dense layer with a softmax); not checked.
        name: the layer's name.

    The original's keywords ``observation_input=`` and ``prev_state_input=`` are accepted
    too.

    Output: the new stack, float ``[B, depth, *item]``.

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> item = InputLayer((None, 1), name="item")
    >>> prev = InputLayer((None, 3, 1), name="prev_stack")
    >>> controls = InputLayer((None, 3), name="controls")
    >>> stack = StackAugmentation(item, prev, controls, name="stack")
    >>> old = torch.tensor([[[1.], [2.], [0.]]])
    >>> push, pop = torch.tensor([[1., 0., 0.]]), torch.tensor([[0., 1., 0.]])
    >>> get_output(stack, {item: torch.tensor([[7.]]), prev: old, controls: push}).flatten()
    tensor([7., 1., 2.])
    >>> get_output(stack, {item: torch.tensor([[7.]]), prev: old, controls: pop}).flatten()
    tensor([2., 0., 0.])
    """

    @original_names(observation_input="observation_layer",
                    prev_state_input="prev_state_stack_layer")
    def __init__(self, observation_layer: Layer, prev_state_stack_layer: Layer,
                 controls_layer: Layer, name: str | None = None):
        super().__init__([observation_layer, prev_state_stack_layer, controls_layer], name)
        item = single_output(self.describe(), "observation_layer", observation_layer)
        stack = single_output(self.describe(), "prev_state_stack_layer", prev_state_stack_layer)
        controls = single_output(self.describe(), "controls_layer", controls_layer)
        if len(stack) < 2 or stack[1] is None or stack[1] < 1 or not fits(
                item, stack[:1] + stack[2:]):
            raise ValueError(
                f"{self.describe()}: the previous stack {prev_state_stack_layer.describe()} has "
                f"shape {format_shape(stack)} and the observation {observation_layer.describe()} "
                f"{format_shape(item)}; expected a stack (B, depth, *item) with depth >= 1 known "
                f"for items (B, *item)")
        if not fits(controls, (None, 3)):
            raise ValueError(f"{self.describe()}: controls {controls_layer.describe()} have "
                             f"shape {format_shape(controls)}, expected (B, 3): the "
                             f"probabilities of push, pop and no-op")
        for what, layer in [("observation_layer", observation_layer),
                            ("prev_state_stack_layer", prev_state_stack_layer),
                            ("controls_layer", controls_layer)]:
            if not layer.output_dtype.is_floating_point:
                raise TypeError(f"{self.describe()}: {what} {layer.describe()} must be float, "
                                f"got {layer.output_dtype}")
        self.depth = int(stack[1])

    def get_output_for(self, observation: torch.Tensor, stack: torch.Tensor,
                       controls: torch.Tensor, **flags: Any) -> torch.Tensor:
        controls = controls.reshape(controls.shape[0], 3, *([1] * (stack.dim() - 1)))
        p_push, p_pop, p_noop = controls.unbind(1)
        pushed = torch.cat([observation.unsqueeze(1), stack[:, :-1]], dim=1)
        popped = torch.cat([stack[:, 1:], torch.zeros_like(stack[:, :1])], dim=1)
        return p_push * pushed + p_pop * popped + p_noop * stack
