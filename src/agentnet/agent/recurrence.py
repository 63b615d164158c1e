"""Recurrence: unroll any one-step graph over time, as a layer of an outer graph."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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

    Output: one sequence ``[B, T, ...]`` per state (in ``state_variables`` order), then one
    per tracked output. ``recurrence[layer]`` is the layer of one of them, for an inner
    new-state or tracked layer; :meth:`get_sequence_layers` gives them all.

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
                 name: str | None = None):
        sequences = dict(input_sequences or {})
        nonsequences = dict(input_nonsequences or {})
        states = dict(state_variables or {})
        inits = dict(state_init or {})
        super().__init__([*sequences.values(), *nonsequences.values(), *inits.values()], name)
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
        self.inner_layers = register_layers(get_all_layers(outputs, self._plan.given))

    def _check(self, sequences: dict[Layer, Layer], nonsequences: dict[Layer, Layer],
               inits: dict[Layer, Layer]) -> None:
        def same(a: Sequence[Any], b: Sequence[Any]) -> bool:
            return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))

        for inner, outer in sequences.items():
            if not isinstance(inner, InputLayer):
                raise TypeError(f"{self.describe()}: input_sequences keys must be InputLayers, "
                                f"got {inner.describe()}")
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

    def __getitem__(self, layer: Layer) -> ItemLayer:
        """The layer of the sequence of an inner new-state or tracked layer."""
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

    def get_output_for(self, *inputs: torch.Tensor, **flags: Any) -> tuple[torch.Tensor, ...]:
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
        for t in range(n_steps):
            outputs = self._plan([s[:, t] for s in sequences] + nonsequences + states, flags)
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
