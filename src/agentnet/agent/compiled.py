"""The machinery of ``Agent.get_sessions(compiled=True)``: how ticks are compiled with
``torch.compile`` (options, one code object per graph), the sessions' preallocated tensors that
compiled graphs write into, and bool results passed out of graphs as bytes."""
from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["compile_tick", "make_columns", "as_bytes", "tick_with_bools_as_bytes",
           "tick_with_bools_from_bytes"]

#: inductor options of the compiled ticks: random numbers from ATen's generators, in the
#: eager order (the same sessions as eager, and cheaper on CPU than inductor's per-element
#: Philox), and a C++ wrapper around the kernels (some 20 us less Python per tick)
COMPILE_OPTIONS: dict[str, str | int | bool | Callable[..., Any]] = {
    "fallback_random": True, "cpp_wrapper": True}
#: ticks per compiled graph in a rollout without gradient: each call of a compiled graph
#: costs some 30 us of dynamo and wrapper work, which four ticks share (measured on a 2x64
#: MLP and CartPole at batch 1024: 4 ticks ~10% faster per tick than 2, 8 no faster than 4;
#: compilation grows with the graph, from ~11 s for 2 to ~15 s for 4 and ~27 s for 8, cold)
TICKS_PER_GRAPH = 4
#: session lengths that get a compiled graph of their own (then one graph for any length)
STATIC_LENGTHS = 2


def compile_tick(fn: Callable[..., Any], dynamic: bool | None = False) -> Callable[..., Any]:
    """``torch.compile`` of ``fn`` (with :data:`COMPILE_OPTIONS`; ``dynamic`` as there), on
    a copy of its code: dynamo keeps compiled graphs per code object and, past its
    ``recompile_limit`` (8), silently runs the code eagerly; the ticks of every environment,
    plan and flags would share one code object (closures of one ``def``), now each has its
    own."""
    fresh = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__,
                               fn.__defaults__, fn.__closure__)
    return torch.compile(fresh, dynamic=dynamic, options=COMPILE_OPTIONS)


def make_columns(specs: list[tuple[Any, ...]], length: int, dynamic: bool
                  ) -> list[torch.Tensor]:
    """Empty sessions' tensors ``[B, length, ...]`` for records of ``(B, shape, dtype,
    device)`` (bool ones as uint8); ``dynamic``: their time axis marked dynamic for
    torch.compile."""
    columns = []
    for batch, shape, dtype, device in specs:
        column = torch.empty((batch, length, *shape), device=device,
                             dtype=torch.uint8 if dtype == torch.bool else dtype)
        if dynamic:
            torch._dynamo.mark_dynamic(column, 1)
        columns.append(column)
    return columns


def as_bytes(tensor: torch.Tensor) -> torch.Tensor:
    """A bool tensor as uint8 (0 or 1), through int32 (see :func:`tick_with_bools_as_bytes`);
    any other tensor as it is."""
    if tensor.dtype == torch.bool:
        return tensor.to(torch.int32).to(torch.uint8)
    return tensor


def tick_with_bools_as_bytes(tick: Callable[..., Any]) -> Callable[..., Any]:
    """``tick`` returning its results flat, ``[is_alive, rewards, *outputs, *new_states,
    *new_observations]``, each bool tensor turned into uint8 (0 or 1), with a tuple saying
    which were bool and the lengths of ``outputs`` and ``new_states``.

    For torch.compile on CPU: inductor writes a bool result element by element, some 5 ns
    each, which at large batch is the bulk of a native environment's step; uint8 it writes a
    vector at a time. (Viewing the uint8 as bool inside the graph would be free, but inductor
    then fails to compile some uses of it.)"""

    def as_bytes(*args: Any) -> tuple[list[torch.Tensor], tuple[bool, ...], int, int]:
        is_alive, outputs, new_states, new_observations, rewards = tick(*args)
        flat = [is_alive, rewards, *outputs, *new_states, *new_observations]
        bools = tuple(t.dtype == torch.bool for t in flat)
        flat = [t.to(torch.int32).to(torch.uint8) if b else t for t, b in zip(flat, bools)]
        return flat, bools, len(outputs), len(new_states)

    return as_bytes


def tick_with_bools_from_bytes(compiled: Callable[..., Any]) -> Callable[..., Any]:
    """The other half of :func:`tick_with_bools_as_bytes`: the tick's results again, the
    uint8 ones viewed as bool (a free reinterpretation, outside the compiled graph)."""

    def as_bools(*args: Any) -> tuple[Any, ...]:
        flat, bools, n_outputs, n_states = compiled(*args)
        flat = [t.view(torch.bool) if b else t for t, b in zip(flat, bools)]
        states_end = 2 + n_outputs + n_states
        return (flat[0], flat[2:2 + n_outputs], flat[2 + n_outputs:states_end],
                flat[states_end:], flat[1])

    return as_bools
