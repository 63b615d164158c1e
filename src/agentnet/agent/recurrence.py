"""Recurrence: unroll any one-step graph over time, as a layer of an outer graph."""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, overload

import torch

from ..layers.base import InputLayer, ItemLayer, Layer, format_shape
from ..layers.graph import GraphPlan, as_layer_list, get_all_layers, register_layers
from ..records import stack_ticks

__all__ = ["Recurrence"]


class Recurrence(Layer):
    """A layer that applies a one-step graph ``n_steps`` times, feeding new states back.

    Args:
        input_sequences: ``{inner InputLayer [None, ...]: outer layer [None, T, ...]}``; tick
            ``t`` of the inner graph sees ``sequence[:, t]``.
        input_nonsequences: ``{inner InputLayer: outer layer}``, the same value every tick
            (e.g. an encoder's whole sequence for a decoder to attend over).
        state_variables: ``{new_state_layer: prev_state InputLayer}``, as in ``Agent``.
        state_init: ``{new_state_layer: outer layer [None, ...]}``, the state before tick 0;
            zeros for states not listed.
        tracked_outputs: inner layers whose value is recorded every tick.
        n_steps: the number of ticks; taken from the sequences when there are any.
        batch_size: needed only when there are no outer inputs to take it from.
        mask_input: an outer layer ``[None, T]`` (bool, or 0/1 numbers) for sequences of
            different lengths: at a tick where it is False, every state and tracked output
            keeps its previous value (zeros for tracked outputs before the first tick).
        unroll_scan: the original's choice between ``theano.scan`` and an unrolled loop;
            accepted and ignored (torch always runs the loop eagerly), with a warning.

    The keys of ``input_sequences`` may be any inner layer, not only InputLayers: a layer given
    a sequence is not computed (its value comes from the sequence), nor are the layers below it.

    Flags given to :func:`~agentnet.layers.get_output` reach the layers inside, as does the
    original's ``recurrence_flags={...}`` (which applies to the inside only and wins over the
    outer flags of the same name).

    Output: one sequence ``[B, T, ...]`` per state (in ``state_variables`` order), then one
    per tracked output. ``recurrence[layer]`` is the layer of one of them, for an inner
    new-state or tracked layer (``recurrence[a, b]``: a list of them, as in the original);
    :meth:`get_sequence_layers` gives them all.

    >>> import torch
    >>> from agentnet import layers as L
    >>> from agentnet.memory import RNNCell
    >>> x_t = L.InputLayer((None, 3), name="x_t")
    >>> h_prev = L.InputLayer((None, 5), name="h_prev")
    >>> h = RNNCell(h_prev, x_t, name="h")
    >>> sequence = L.InputLayer((None, 7, 3), name="xs")
    >>> rec = Recurrence(input_sequences={x_t: sequence}, state_variables={h: h_prev})
    >>> rec[h].output_shape
    (None, 7, 5)
    >>> L.get_output(rec[h], {sequence: torch.zeros(2, 7, 3)}).shape
    torch.Size([2, 7, 5])
    """

    def __init__(self, input_sequences: Mapping[Layer, Layer] | None = None,
                 input_nonsequences: Mapping[Layer, Layer] | None = None,
                 state_variables: Mapping[Layer, Layer] | None = None,
                 state_init: Mapping[Layer, Layer] | None = None,
                 tracked_outputs: Layer | Sequence[Layer] = (),
                 n_steps: int | None = None, batch_size: int | None = None,
                 name: str | None = None, *, mask_input: Layer | None = None,
                 unroll_scan: bool | None = None):
        if unroll_scan is not None:
            warnings.warn("Recurrence: unroll_scan is ignored (a Theano option: torch runs the "
                          "loop eagerly)", stacklevel=2)
        sequences = dict(input_sequences or {})
        nonsequences = dict(input_nonsequences or {})
        states = dict(state_variables or {})
        inits = dict(state_init or {})
        masks = [] if mask_input is None else [mask_input]
        super().__init__([*sequences.values(), *nonsequences.values(), *inits.values(), *masks],
                         name)
        self.has_mask = mask_input is not None
        self.sequence_inputs = as_layer_list(list(sequences), "input_sequences keys")
        self.nonsequence_inputs = as_layer_list(list(nonsequences), "input_nonsequences keys")
        self.state_layers = as_layer_list(list(states), "state_variables keys")
        self.prev_state_layers = as_layer_list(list(states.values()), "state_variables values")
        self.tracked_layers = as_layer_list(tracked_outputs, "tracked_outputs")
        self.init_index = [self.state_layers.index(layer) if layer in self.state_layers else -1
                           for layer in inits]
        if -1 in self.init_index:
            raise ValueError(f"{self.describe()}: state_init names a layer that is not a key of "
                             f"state_variables")
        self.n_steps, self.batch_size = n_steps, batch_size
        self._check(sequences, nonsequences, inits)
        outputs = self.state_layers + self.tracked_layers
        if not outputs:
            raise ValueError(f"{self.describe()}: nothing to unroll "
                             f"(no states, no tracked outputs)")
        self._plan = GraphPlan(outputs, self.sequence_inputs + self.nonsequence_inputs
                               + self.prev_state_layers)
        given = set(map(id, self._plan.given))  # given a value each tick: not computed here
        self.inner_layers = register_layers([layer for layer in
                                             get_all_layers(outputs, self._plan.given)
                                             if id(layer) not in given])
        # the flags of the layers inside count as read by this one (get_output warns about
        # flags no layer reads); an instance's own set, so the ClassVar is shadowed here
        self.accepted_flags = frozenset({"recurrence_flags"}).union(  # type: ignore[misc]
            *(layer.accepted_flags for layer in self._plan.layers))
        if mask_input is not None and len(mask_input.output_shape) != 2:
            raise ValueError(f"{self.describe()}: mask_input {mask_input.describe()} must be "
                             f"[batch, time], got {format_shape(mask_input.output_shape)}")

    def _check(self, sequences: dict[Layer, Layer], nonsequences: dict[Layer, Layer],
               inits: dict[Layer, Layer]) -> None:
        def same(a: Sequence[Any], b: Sequence[Any]) -> bool:
            return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))

        for inner, outer in sequences.items():
            if not same(outer.output_shape[:1] + outer.output_shape[2:], inner.output_shape):
                raise ValueError(f"{self.describe()}: sequence {outer.describe()} "
                                 f"{format_shape(outer.output_shape)} does not fit one tick of "
                                 f"{inner.describe()} {format_shape(inner.output_shape)}")
        for inner, outer in nonsequences.items():
            if not same(outer.output_shape, inner.output_shape):
                raise ValueError(f"{self.describe()}: {outer.describe()} "
                                 f"{format_shape(outer.output_shape)} does not fit "
                                 f"{inner.describe()} {format_shape(inner.output_shape)}")
        for new, prev in zip(self.state_layers, self.prev_state_layers):
            if not isinstance(prev, InputLayer) or not same(new.output_shape, prev.output_shape):
                raise ValueError(f"{self.describe()}: state {new.describe()} "
                                 f"{format_shape(new.output_shape)} needs a previous-state "
                                 f"InputLayer of the same shape, got {prev.describe()} "
                                 f"{format_shape(prev.output_shape)}")
            if any(d is None for d in prev.output_shape[1:]):
                raise ValueError(f"{self.describe()}: state {prev.describe()} needs a known "
                                 f"shape after the batch axis")
        for new, outer in inits.items():
            if not same(outer.output_shape, new.output_shape):
                raise ValueError(f"{self.describe()}: state_init {outer.describe()} "
                                 f"{format_shape(outer.output_shape)} does not fit state "
                                 f"{new.describe()} {format_shape(new.output_shape)}")
        if not sequences and self.n_steps is None:
            raise ValueError(f"{self.describe()}: give n_steps when there are no input_sequences")
        if not self.input_layers and self.batch_size is None:
            raise ValueError(f"{self.describe()}: give batch_size when there are no outer inputs")

    def _set_output_spec(self) -> None:
        steps: int | None = self.n_steps
        if steps is None:
            steps = self.input_layers[0].output_shape[1]
        layers = self.state_layers + self.tracked_layers
        self.output_shape = tuple((None, steps, *layer.output_shape[1:]) for layer in layers)
        self.output_dtype = tuple(layer.output_dtype for layer in layers)

    @overload
    def __getitem__(self, layer: Layer) -> ItemLayer: ...
    @overload
    def __getitem__(self, layer: tuple[Layer, ...] | list[Layer]) -> list[ItemLayer]: ...

    def __getitem__(self, layer: Layer | tuple[Layer, ...] | list[Layer]
                    ) -> ItemLayer | list[ItemLayer]:
        """The layer of the sequence of an inner new-state or tracked layer (a list of them
        for several: ``rec[a, b]``)."""
        if isinstance(layer, (tuple, list)):
            return [self[one] for one in layer]
        outputs = self.state_layers + self.tracked_layers
        for index, candidate in enumerate(outputs):
            if candidate is layer:
                name = f"{self.name}[{layer.name}]" if self.name and layer.name else None
                return ItemLayer(self, index, name=name)
        raise KeyError(f"{self.describe()}: {layer.describe()} is neither a state nor a "
                       f"tracked output")

    def get_sequence_layers(self) -> tuple[dict[Layer, ItemLayer], list[ItemLayer]]:
        """``({new_state_layer: its sequence layer}, [tracked output sequence layers])``."""
        return ({layer: self[layer] for layer in self.state_layers},
                [self[layer] for layer in self.tracked_layers])

    def get_output_for(self, *inputs: torch.Tensor, recurrence_flags: Mapping[str, Any] | None
                       = None, **flags: Any) -> tuple[torch.Tensor, ...]:
        flags = {**flags, **(recurrence_flags or {})}
        mask = inputs[-1] if self.has_mask else None
        inputs = inputs[:-1] if self.has_mask else inputs
        n_seq, n_nonseq = len(self.sequence_inputs), len(self.nonsequence_inputs)
        sequences = list(inputs[:n_seq])
        nonsequences = list(inputs[n_seq:n_seq + n_nonseq])
        states = self._initial_states(inputs, list(inputs[n_seq + n_nonseq:]))
        n_steps = sequences[0].shape[1] if sequences else self.n_steps
        if self.n_steps is not None and n_steps != self.n_steps:
            raise ValueError(f"{self.describe()}: sequences have {n_steps} steps, "
                             f"n_steps={self.n_steps}")
        assert n_steps is not None  # __init__ requires n_steps when there are no sequences
        n_states = len(self.state_layers)
        history: list[list[torch.Tensor]] = []
        previous: list[torch.Tensor] | None = None
        for t in range(n_steps):
            outputs = self._plan([s[:, t] for s in sequences] + nonsequences + states, flags)
            if mask is not None:
                if previous is None:
                    previous = states + [torch.zeros_like(o) for o in outputs[n_states:]]
                outputs = [_keep_where_masked(mask[:, t], new, old)
                           for new, old in zip(outputs, previous)]
                previous = outputs
            states = outputs[:n_states]
            history.append(outputs)
        if not history:
            raise ValueError(f"{self.describe()}: cannot unroll 0 steps")
        return tuple(stack_ticks(history))

    def _initial_states(self, inputs: Sequence[torch.Tensor],
                        inits: list[torch.Tensor]) -> list[torch.Tensor]:
        if inputs:
            batch, device = inputs[0].shape[0], inputs[0].device
        else:
            assert self.batch_size is not None  # __init__ requires it without outer inputs
            batch = self.batch_size
            device = next((p.device for p in self.parameters()), torch.device("cpu"))
        states: list[torch.Tensor] = [
            torch.zeros((batch, *layer.output_shape[1:]), dtype=layer.output_dtype, device=device)
            for layer in self.prev_state_layers]
        for index, value in zip(self.init_index, inits):
            states[index] = value
        return states


def _keep_where_masked(mask_t: torch.Tensor, new: torch.Tensor, old: torch.Tensor
                       ) -> torch.Tensor:
    """``new`` where ``mask_t`` (``[B]``) is true, ``old`` (its value a tick before) elsewhere."""
    keep = mask_t.to(torch.bool).view((-1,) + (1,) * (new.dim() - 1))
    return torch.where(keep, new, old.to(new.dtype))
