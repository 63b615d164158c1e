"""Losses compiled with ``torch.compile``: the forward through the agent's layers and the
objectives, from a replayed batch's tensors to the losses, and with it their backward.

An off-policy update is many small tensor operations: on CPU a DQN step of the
``gym_cartpole_dqn`` example spends more time in Python (the graph walk, autograd's
bookkeeping) than in arithmetic. Compiled, the graph walk is traced away: the agent's plan,
the checks and the objectives become one fused graph, and its backward another, which
autograd runs when ``loss.backward()`` is called. The optimizer's step stays PyTorch's own
(Adam's ``fused=True`` kernel is one call already; compiled, it was no faster).

Why not compile the whole update, with ``backward`` and the optimizer's step inside (as
LeanRL does, then replaying it as a CUDA graph)? On CPU, without CUDA graphs, ``backward``,
``zero_grad`` and the optimizer's own graph breaks cut it into pieces (5 for DQN, 22 for SAC),
each with its guards and calls, and it measured slower than compiling the losses alone (DQN
x1.36 against x1.46, SAC x0.98 against x1.69; ``docs/benchmarks.md``).

The batch is sampled eagerly and its tensors handed in (the random draw and the pool's
bookkeeping stay Python; the work on a fixed-size batch is compiled once). Random numbers
inside (a SAC actor's fresh actions) come from PyTorch's generators in eager order, so the
compiled losses are the eager ones up to float rounding.
"""
from __future__ import annotations

import time
import types
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

import torch
import torch.utils._pytree as pytree

__all__ = ["compile_loss", "CompiledLoss"]

R = TypeVar("R")

#: inductor options: random numbers from ATen's generators in the eager order (the same
#: draws as eager, so the same results), and a C++ wrapper around the kernels (less Python
#: per call: the examples' updates some 6-8% faster than with the Python wrapper)
COMPILE_OPTIONS: dict[str, Any] = {"fallback_random": True, "cpp_wrapper": True}


class CompiledLoss(Generic[R]):
    """``loss_fn`` compiled by ``torch.compile``, made by :func:`compile_loss`: call it with
    the same tensors (and lists, tuples or dicts of tensors) as ``loss_fn``.

    Its inputs' shapes, dtypes and devices are fixed by the first call (each new shape would
    compile again, for seconds): another raises ``ValueError``, unless ``dynamic=True``.
    Inputs are numbered in the order the arguments hold them, lists and dicts flattened.
    ``compile_seconds`` is the time the calls that compiled took (the first two: the second
    recompiles once the agent's replay plan, made inside the first, exists).
    """

    def __init__(self, loss_fn: Callable[..., R], mode: str | None, dynamic: bool,
                 options: dict[str, Any] | None):
        self.loss_fn = loss_fn
        self.dynamic = dynamic
        self._compiled = torch.compile(_own_code(loss_fn), mode=mode,
                                       dynamic=True if dynamic else False,
                                       options=None if mode else {**COMPILE_OPTIONS,
                                                                  **(options or {})})
        self._signature: tuple[Any, ...] | None = None
        self.calls = 0
        self.compile_seconds = 0.0

    def __call__(self, *args: Any) -> R:
        leaves, spec = pytree.tree_flatten(args)
        signature = (spec, *(_describe(leaf, i) for i, leaf in enumerate(leaves)))
        if self._signature is None:
            self._signature = signature
        elif signature != self._signature and not self.dynamic:
            raise ValueError(f"compile_loss: called with "
                             f"{_difference(self._signature, signature)}; a compiled loss "
                             f"keeps the shapes of its first call (a new shape would compile "
                             f"again): sample batches of one size, or compile with "
                             f"dynamic=True")
        if self.calls < 2:
            start = time.perf_counter()
            result = self._compiled(*args)
            self.compile_seconds += time.perf_counter() - start
        else:
            result = self._compiled(*args)
        self.calls += 1
        return result


def compile_loss(loss_fn: Callable[..., R], *, mode: str | None = None,
                 dynamic: bool = False, options: dict[str, Any] | None = None
                 ) -> CompiledLoss[R]:
    """``loss_fn`` (a function of tensors returning losses, e.g. a replay through the agent
    and an objective) compiled by ``torch.compile``: the same losses up to float rounding,
    whose ``backward`` runs a compiled backward graph. Zero the gradients, call
    ``backward`` and step the optimizer as with the eager losses.

    Args:
        loss_fn: called with tensors only (or lists, tuples, dicts of tensors, or None), e.g.
            a replayed batch's: a Python number in its arguments would be compiled in as a
            constant. What it reads besides (the agent's layers, a target network) is
            traced, and changing it later (a new layer, a float setting) recompiles. Several
            losses returned from one call share one compiled node of the autograd graph:
            call ``backward`` once for them (on their sum, when each one's gradients go to
            other parameters), or compile them apart.
        mode: ``torch.compile``'s mode (None: the default, with :data:`COMPILE_OPTIONS`; a
            mode takes inductor's own options, whose random numbers differ from eager's).
            ``"max-autotune-no-cudagraphs"`` was no faster here on CPU.
        dynamic: allow inputs of varying shapes (symbolic shapes, recompiles as needed); by
            default the first call's shapes are the only ones accepted.
        options: inductor options over :data:`COMPILE_OPTIONS` (not with ``mode``), e.g.
            ``{"cpp_wrapper": False}`` (a Python wrapper around the same kernels).

    Raises ``RuntimeError`` if inductor finds no C++ compiler (it compiles the CPU kernels).

    A linear regression's loss, compiled (the first call compiles, for seconds):

    >>> model = torch.nn.Linear(3, 1)
    >>> optimizer = torch.optim.Adam(model.parameters(), lr=0.1, fused=True)
    >>> loss_fn = compile_loss(lambda x, y: (model(x)[:, 0] - y).square().mean())
    >>> loss = loss_fn(torch.randn(16, 3), torch.randn(16))
    >>> optimizer.zero_grad()
    >>> loss.backward()
    >>> optimizer.step()
    >>> loss_fn(torch.randn(8, 3), torch.randn(8))
    Traceback (most recent call last):
    ...
    ValueError: compile_loss: called with input 0 of shape [8, 3] where the first call \
had [16, 3]; a compiled loss keeps the shapes of its first call (a new shape would compile \
again): sample batches of one size, or compile with dynamic=True
    """
    if not callable(loss_fn):
        raise TypeError(f"compile_loss: loss_fn must be a function, got "
                        f"{type(loss_fn).__name__}")
    if mode is not None and options:
        raise ValueError(f"compile_loss: give mode ({mode!r}) or options, not both "
                         f"(torch.compile takes one)")
    _check_cpp_compiler()
    return CompiledLoss(loss_fn, mode, dynamic, options)


def _own_code(update: Callable[..., R]) -> Callable[..., R]:
    """``update`` (a function) on a copy of its code object: dynamo keeps compiled graphs per
    code object and, past its ``recompile_limit`` (8), silently runs the code eagerly; the
    losses of several agents made by one factory (closures of one ``def``) would share one,
    now each has its own. Other callables are returned as they are."""
    if not isinstance(update, types.FunctionType):
        return update
    fresh = types.FunctionType(update.__code__.replace(), update.__globals__, update.__name__,
                               update.__defaults__, update.__closure__)
    fresh.__kwdefaults__ = update.__kwdefaults__
    fresh.__qualname__, fresh.__doc__ = update.__qualname__, update.__doc__
    return cast(Callable[..., R], fresh)


def _check_cpp_compiler() -> None:
    """Raise a RuntimeError saying what to do if inductor finds no C++ compiler."""
    from torch._inductor import config, cpp_builder

    try:
        cpp_builder.get_cpp_compiler()
    except Exception as error:  # InvalidCxxCompiler, or a broken compiler
        raise RuntimeError(
            f"compile_loss: torch.compile needs a C++ compiler to build its CPU kernels and "
            f"found none (it tried {config.cpp.cxx}): install one (e.g. apt-get install g++) "
            f"or name it in the CXX environment variable, or run the update eagerly "
            f"(compile=False in the examples)") from error


def _describe(leaf: Any, index: int) -> tuple[Any, ...]:
    """What a compiled update's argument must keep: shape, dtype and device (None stays
    None)."""
    if leaf is None:
        return (None,)
    if not isinstance(leaf, torch.Tensor):
        raise TypeError(f"compile_loss: input {index} is a {type(leaf).__name__} "
                        f"({leaf!r}), not a tensor: a Python value would be compiled in as a "
                        f"constant (pass it as a tensor, or read it inside the function)")
    return tuple(leaf.shape), leaf.dtype, leaf.device


def _difference(expected: tuple[Any, ...], got: tuple[Any, ...]) -> str:
    """The first argument whose description differs, in words."""
    if expected[0] != got[0] or len(expected) != len(got):
        return (f"arguments arranged otherwise (other lists, tuples or dicts, {len(got) - 1} "
                f"inputs) than in the first call ({len(expected) - 1} inputs)")
    for i, (was, now) in enumerate(zip(expected[1:], got[1:])):
        if was != now:
            if len(was) != len(now):
                return f"input {i} {_kind(now)} where the first call had {_kind(was)}"
            for what, a, b in zip(("shape", "dtype", "device"), was, now):
                if a != b:
                    shown = (lambda s: list(s)) if what == "shape" else (lambda s: s)
                    return (f"input {i} of {what} {shown(b)} where the first call had "
                            f"{shown(a)}")
    return "other arguments"


def _kind(description: tuple[Any, ...]) -> str:
    return "None" if description == (None,) else "a tensor"
