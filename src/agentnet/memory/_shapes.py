"""Shape checks shared by the memory layers (private)."""
from __future__ import annotations

from collections.abc import Sequence

from agentnet.layers.base import Layer, format_shape


def fits(a: Sequence[int | None], b: Sequence[int | None]) -> bool:
    """Same rank, and equal sizes wherever both are known."""
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def single_output(owner: str, what: str, layer: Layer) -> tuple[int | None, ...]:
    """The shape of ``layer``, which must have one output."""
    if not isinstance(layer, Layer):
        raise TypeError(f"{owner}: {what} must be an agentnet Layer, got {type(layer).__name__}")
    if layer.has_multiple_outputs:
        raise TypeError(f"{owner}: {what} {layer.describe()} has several outputs; pick one "
                        f"with layer[index]")
    return tuple(layer.output_shape)


def expect_rank(owner: str, what: str, layer: Layer, rank: int, expected: str,
                known_from: int = 1) -> tuple[int | None, ...]:
    """The shape of ``layer``: ``rank`` axes, sizes known from axis ``known_from`` on."""
    shape = single_output(owner, what, layer)
    if len(shape) != rank or any(d is None for d in shape[known_from:]):
        raise ValueError(f"{owner}: {what} {layer.describe()} has shape {format_shape(shape)}, "
                         f"expected {expected}")
    return shape


def first_known(*sizes: int | None) -> int | None:
    """The first size that is not None (None if all are)."""
    return next((d for d in sizes if d is not None), None)


def sequence_shapes(owner: str, input_sequence: Layer, key_sequence: Layer | None
                    ) -> tuple[tuple[int | None, ...], tuple[int | None, ...]]:
    """The shapes ``(B, T, features)`` of an attention's values and keys (the values' own
    when ``key_sequence`` is None), checked: rank 3, features known, the same B and T."""
    expected = "(B, T, features) with features known"
    values = expect_rank(owner, "input_sequence", input_sequence, 3, expected, known_from=2)
    if key_sequence is None:
        return values, values
    keys = expect_rank(owner, "key_sequence", key_sequence, 3, expected, known_from=2)
    if not fits(keys[:2], values[:2]):
        raise ValueError(f"{owner}: key_sequence {key_sequence.describe()} "
                         f"{format_shape(keys)} and input_sequence {input_sequence.describe()} "
                         f"{format_shape(values)} must have the same batch and length")
    return values, keys
