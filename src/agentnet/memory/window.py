"""WindowAugmentation: a memory of the last k values (the frame buffer of Atari agents)."""
from __future__ import annotations

from typing import Any

import torch

from agentnet.layers.base import Layer, format_shape

from ._compat import original_names
from ._shapes import fits, single_output

__all__ = ["WindowAugmentation"]


class WindowAugmentation(Layer):
    """Holds the last k values of a layer: each tick the newest value enters, the oldest leaves.

    Order (the original's): newest first. ``window[:, 0]`` is the value pushed this tick,
    ``window[:, 1]`` the one before, ..., ``window[:, k-1]`` the oldest still held::

        new_window = concat([new_value[:, None], prev_window[:, :k-1]], axis=1)

    Use it as an agent state, ``agent_states={window: prev_window}``: with the default zero
    initial memory, the slots not yet filled hold zeros. This is the frame buffer of the
    DeepMind Atari agents (observe one frame, see the last four).

    Args:
        new_value_layer: the value to push, ``[B, *item]`` (any dtype, e.g. float32 frames).
        prev_window_layer: the previous window, ``[B, k, *item]`` with k known, the same dtype
            (usually an InputLayer).
        name: the layer's name.

    The original's keywords ``new_value_input=`` and ``prev_state_input=`` are accepted too.

    Output: the new window, ``[B, k, *item]``, the previous window's shape and dtype.

    >>> import torch
    >>> from agentnet.layers import InputLayer, get_output
    >>> frame = InputLayer((None, 2), name="frame")
    >>> prev = InputLayer((None, 3, 2), name="prev_window")
    >>> window = WindowAugmentation(frame, prev, name="window")
    >>> get_output(window, {frame: torch.tensor([[9., 9.]]),
    ...                     prev: torch.tensor([[[1., 1.], [2., 2.], [3., 3.]]])})
    tensor([[[9., 9.],
             [1., 1.],
             [2., 2.]]])
    """

    @original_names(new_value_input="new_value_layer", prev_state_input="prev_window_layer")
    def __init__(self, new_value_layer: Layer, prev_window_layer: Layer,
                 name: str | None = None):
        super().__init__([new_value_layer, prev_window_layer], name)
        item = single_output(self.describe(), "new_value_layer", new_value_layer)
        window = single_output(self.describe(), "prev_window_layer", prev_window_layer)
        if len(window) < 2 or window[1] is None or window[1] < 1 or not fits(
                item, window[:1] + window[2:]):
            raise ValueError(
                f"{self.describe()}: the previous window {prev_window_layer.describe()} has "
                f"shape {format_shape(window)} and the new value {new_value_layer.describe()} "
                f"{format_shape(item)}; expected a window (B, k, *item) with k >= 1 known for "
                f"values (B, *item)")
        if new_value_layer.output_dtype != prev_window_layer.output_dtype:
            raise TypeError(f"{self.describe()}: the new value {new_value_layer.describe()} is "
                            f"{new_value_layer.output_dtype} but the window "
                            f"{prev_window_layer.describe()} is {prev_window_layer.output_dtype}")
        self.window_size = int(window[1])

    def get_output_for(self, new_value: torch.Tensor, prev_window: torch.Tensor,
                       **flags: Any) -> torch.Tensor:
        return torch.cat([new_value.unsqueeze(1), prev_window[:, :-1]], dim=1)
