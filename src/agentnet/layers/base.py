"""The layer abstraction: one node of the one-tick graph.

A :class:`Layer` is an ``nn.Module`` that knows the layers it reads from (``input_layers``)
and its own ``name``. It implements one method, ``get_output_for(*inputs, **flags)``; its
``output_shape`` (``None`` for any size, usually the batch axis) and ``output_dtype`` are
inferred once, at construction, by running ``get_output_for`` on meta tensors: no real
compute happens, and a shape mistake raises right there, naming the layers and shapes.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

__all__ = ["Layer", "InputLayer", "ItemLayer", "Shape"]

Shape = tuple[int | None, ...]
#: ``Layer._parameters`` as the per-tick code reads it (torch types the values
#: ``Parameter | None``; the parameters that code reads are set)
ParamDict = dict[str, torch.Tensor]

#: every flag some layer reads; get_output warns about a flag in none of them
_KNOWN_FLAGS: set[str] = {"deterministic"}


class _LayerMeta(type):
    """Runs output inference after the most derived ``__init__`` has finished."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        layer = super().__call__(*args, **kwargs)
        layer._set_output_spec()
        return layer


class Layer(nn.Module, metaclass=_LayerMeta):
    """Base class of every node in the one-tick graph.

    Subclasses call ``super().__init__(incoming, name)``, create their parameters, and
    implement ``get_output_for(*inputs, **flags)`` where ``inputs`` are the outputs of
    ``input_layers`` in order. Flags (e.g. ``deterministic=True``) reach every layer; a
    layer reads the ones it knows and ignores the rest. A layer that reads a flag lists
    it in ``accepted_flags`` so that :func:`get_output` can warn about typos.

    Attributes:
        input_layers: the incoming layers, a tuple (not registered as submodules). The
            graph they make must be acyclic: a layer reassigned to read, directly or not,
            from itself makes every walk of the graph (:func:`~agentnet.layers.get_all_layers`,
            plans, agents) raise, naming the layers of the cycle. Recurrence goes through
            memory, from a new state to an InputLayer (``agent_states``, ``state_variables``).
        name: the layer's name, or None.
        output_shape: tuple of int or None; for a layer with several outputs a tuple of such.
        output_dtype: torch.dtype; for a layer with several outputs a tuple of them.
    """

    accepted_flags: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _KNOWN_FLAGS.update(cls.accepted_flags)

    def __init__(self, incoming: Layer | Sequence[Layer] = (), name: str | None = None):
        super().__init__()
        incomings = [incoming] if isinstance(incoming, Layer) else list(incoming)
        for i, layer in enumerate(incomings):
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"{type(self).__name__} {name!r}: incoming #{i} must be an agentnet Layer, "
                    f"got {type(layer).__name__}; wrap tensors in an InputLayer and modules "
                    f"in a ModuleLayer")
            if layer.has_multiple_outputs:
                raise TypeError(f"{type(self).__name__} {name!r}: incoming {layer.describe()} "
                                f"has several outputs; pick one with layer[index]")
        self.input_layers: tuple[Layer, ...] = tuple(incomings)
        self.name = name
        self.output_shape: Any = None
        self.output_dtype: Any = None

    # --- what a subclass implements -------------------------------------------------
    def get_output_for(self, *inputs: torch.Tensor, **flags: Any) -> Any:
        """Compute this layer's output from its inputs' outputs (one tensor per input layer)."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_output_for")

    def forward(self, *inputs: torch.Tensor, **flags: Any) -> Any:
        """Same as ``get_output_for``: a layer can be called like any module."""
        return self.get_output_for(*inputs, **flags)

    # --- conveniences ---------------------------------------------------------------
    @property
    def input_shapes(self) -> list[Any]:
        return [layer.output_shape for layer in self.input_layers]

    @property
    def input_shape(self) -> Any:
        """The output shape of the single incoming layer."""
        if len(self.input_layers) != 1:
            raise AttributeError(f"{self!r} has {len(self.input_layers)} incoming layers, "
                                 f"use input_shapes")
        return self.input_layers[0].output_shape

    @property
    def input_layer(self) -> Layer:
        """The single incoming layer (Lasagne's attribute); see ``input_layers``."""
        if len(self.input_layers) != 1:
            raise AttributeError(f"{self.describe()} has {len(self.input_layers)} incoming "
                                 f"layers, use input_layers")
        return self.input_layers[0]

    @property
    def has_multiple_outputs(self) -> bool:
        return isinstance(self.output_dtype, tuple)

    def __getitem__(self, index: int) -> ItemLayer:
        """Output ``index`` of a layer with several outputs, as a layer of its own."""
        return ItemLayer(self, index)

    def describe(self) -> str:
        """``ClassName 'name'``: how error messages refer to this layer."""
        return f"{type(self).__name__} {self.name!r}" if self.name else type(self).__name__

    def extra_repr(self) -> str:
        return f"name={self.name!r}, output_shape={format_shape(self.output_shape)}"

    # --- output inference -----------------------------------------------------------
    def _set_output_spec(self) -> None:
        """Fill ``output_shape`` and ``output_dtype``, running the layer on meta tensors
        (its parameters swapped for meta ones) with two batch sizes: sizes that differ
        between the runs are ``None``. A layer that cannot run on meta tensors (e.g. a
        function closing over a real tensor) is run on small CPU zeros instead."""
        shapes = self.input_shapes
        dtypes = [layer.output_dtype for layer in self.input_layers]
        try:
            try:
                run_a = _run_on_meta(self, shapes, dtypes, 2, fill_from_known=False)
                run_b = _run_on_meta(self, shapes, dtypes, 3, fill_from_known=False)
            except Exception:  # noqa: BLE001 - an unknown size may have to meet a known one
                try:
                    run_a = _run_on_meta(self, shapes, dtypes, 2, fill_from_known=True)
                    run_b = _run_on_meta(self, shapes, dtypes, 3, fill_from_known=True)
                except Exception:  # noqa: BLE001 - maybe it only runs on real tensors
                    run_a = _run_on_meta(self, shapes, dtypes, 2, True, device="cpu")
                    run_b = _run_on_meta(self, shapes, dtypes, 3, True, device="cpu")
        except Exception as error:  # noqa: BLE001 - re-raised with the graph's context
            sources = ", ".join(
                f"{layer.describe()} {format_shape(layer.output_shape)}"
                for layer in self.input_layers)
            raise ValueError(f"{self.describe()} cannot take its inputs [{sources}]: "
                             f"{error}") from error
        if isinstance(run_a, tuple):
            self.output_shape = tuple(_merge_shapes(a, b) for a, b in zip(run_a, run_b))
            self.output_dtype = tuple(t.dtype for t in run_a)
        else:
            self.output_shape = _merge_shapes(run_a, run_b)
            self.output_dtype = run_a.dtype


class InputLayer(Layer):
    """A placeholder whose value is given at evaluation time.

    Args:
        shape: the value's shape, ``None`` for any size, e.g. ``(None, 4)`` or ``[None, 84, 84]``.
        dtype: torch dtype (or its name, or a numpy dtype); float32 by default.
        name: the layer's name.

    >>> InputLayer((None, 4), name="observation").output_shape
    (None, 4)
    """

    def __init__(self, shape: Sequence[int | None], dtype: Any = torch.float32,
                 name: str | None = None):
        super().__init__((), name)
        if isinstance(shape, (int, np.integer)) or not isinstance(shape, Iterable):
            raise TypeError(f"InputLayer {name!r}: shape must be a tuple such as (None, {shape}), "
                            f"got {shape!r}")
        shape = tuple(None if d is None else int(d) for d in shape)
        if any(d is not None and d < 0 for d in shape):
            raise ValueError(f"InputLayer {name!r}: negative size in shape {format_shape(shape)}")
        self._shape = shape
        self._dtype = as_torch_dtype(dtype)

    def _set_output_spec(self) -> None:
        self.output_shape = self._shape
        self.output_dtype = self._dtype

    def get_output_for(self, *inputs: torch.Tensor, **flags: Any) -> torch.Tensor:
        raise ValueError(f"{self.describe()} has no value: give one in inputs={{layer: tensor}}")


class ItemLayer(Layer):
    """One output of a layer that has several (``layer[index]`` for LSTM cells, Recurrence)."""

    def __init__(self, source: Layer, index: int, name: str | None = None):
        if not isinstance(source, Layer) or not source.has_multiple_outputs:
            raise TypeError(f"ItemLayer {name!r}: the source must be a layer with several "
                            f"outputs, got {getattr(source, 'describe', lambda: source)()}")
        if not -len(source.output_dtype) <= index < len(source.output_dtype):
            raise IndexError(f"ItemLayer {name!r}: {source.describe()} has "
                             f"{len(source.output_dtype)} outputs, no output {index}")
        nn.Module.__init__(self)
        self.input_layers = (source,)
        self.name = name
        self.index = index

    def _set_output_spec(self) -> None:
        source = self.input_layers[0]
        self.output_shape = source.output_shape[self.index]
        self.output_dtype = source.output_dtype[self.index]

    def get_output_for(self, outputs: tuple[torch.Tensor, ...], **flags: Any) -> torch.Tensor:
        return outputs[self.index]


# --- helpers shared by the package ---------------------------------------------------
def format_shape(shape: Any) -> str:
    """``(None, 4)``: a shape as error messages print it."""
    if shape is None:
        return "(unknown)"
    if shape and isinstance(shape[0], tuple):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (
        ",)" if len(shape) == 1 else ")")


def fits_shape(shape: Sequence[int], expected: Sequence[int | None]) -> bool:
    """Whether a value of ``shape`` fits a layer of shape ``expected``: the same number of
    axes, and the same size on each axis where ``expected`` is not ``None`` (any size).

    >>> fits_shape((3, 4), (None, 4)), fits_shape((4,), (None, 4)), fits_shape((3, 2), (None, 4))
    (True, False, False)
    """
    if len(shape) != len(expected):
        return False
    for size, wanted in zip(shape, expected):
        if wanted is not None and size != wanted:
            return False
    return True


def as_torch_dtype(dtype: Any) -> torch.dtype:
    """A torch dtype from a torch dtype, a numpy dtype or a name such as ``"int64"``."""
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return torch.from_numpy(np.empty(0, dtype=np.dtype(dtype))).dtype
    except TypeError as error:
        raise TypeError(f"not a dtype: {dtype!r}") from error


def check_flags(flags: dict[str, Any], layers: Iterable[Layer], where: str) -> None:
    """Warn about flags that no layer reads, suggesting the closest known flag."""
    import warnings

    accepted = {"deterministic"}.union(*(layer.accepted_flags for layer in layers))
    for flag in flags:
        if flag not in accepted:
            close = difflib.get_close_matches(flag, sorted(_KNOWN_FLAGS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            warnings.warn(f"{where}: no layer in the graph reads the flag {flag!r}{hint}",
                          stacklevel=3)


def _run_on_meta(layer: Layer, shapes: list[Any], dtypes: list[Any], size: int,
                 fill_from_known: bool, device: str = "meta") -> Any:
    # unknown sizes become the placeholder ``size``; on a second try (``fill_from_known``) an
    # unknown size takes the size another input of the same rank has on that axis, so that
    # (None, 4) meets (5, 4); ``device="cpu"`` runs the layer as it is on zeros
    known: dict[tuple[int, int], int] = {}
    for shape in shapes if fill_from_known else ():
        for axis, d in enumerate(shape):
            if d is not None:
                known.setdefault((len(shape), axis), d)
    inputs = [torch.zeros(tuple(known.get((len(shape), axis), size) if d is None else d
                                for axis, d in enumerate(shape)), dtype=dtype, device=device)
              for shape, dtype in zip(shapes, dtypes)]
    if device != "meta":
        with torch.no_grad():
            return layer(*inputs, deterministic=True)
    state = {name: torch.empty_like(t, device="meta") for name, t in
             [*layer.named_parameters(), *layer.named_buffers()]}
    with torch.no_grad():
        return torch.func.functional_call(layer, state, tuple(inputs), {"deterministic": True})


def _merge_shapes(a: torch.Tensor, b: torch.Tensor) -> Shape:
    return tuple(x if x == y else None for x, y in zip(a.shape, b.shape))
