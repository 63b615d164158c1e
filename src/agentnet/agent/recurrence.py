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

    Args (the original's, in its order; pass them by keyword):
        input_nonsequences: ``{inner InputLayer: outer layer}``, the same value every tick
            (e.g. an encoder's whole sequence for a decoder to attend over).
        input_sequences: ``{inner InputLayer [None, ...]: outer layer [None, T, ...]}``; tick
            ``t`` of the inner graph sees ``sequence[:, t]``.
        tracked_outputs: inner layers whose value is recorded every tick.
        state_variables: ``{new_state_layer: prev_state InputLayer}``, as in ``Agent``.
        state_init: ``{new_state_layer: outer layer [None, ...]}``, the state before tick 0
            (zeros for states not listed), or a list with one such layer (or None) per state
            in ``state_variables`` order; ``"zeros"`` or None for all zeros.
        unroll_scan: the original's choice between ``theano.scan`` and an unrolled loop;
            accepted and ignored (torch always runs the loop eagerly), with a warning.
        n_steps: the number of ticks; taken from the sequences when there are any.
        batch_size: needed only when there are no outer inputs to take it from.
        mask_input: an outer layer ``[None, T]`` (bool, or 0/1 numbers) for sequences of
            different lengths: at a tick where it is False, every state and tracked output
            keeps its previous value (zeros for tracked outputs before the first tick).
        delayed_states: states whose sequences are shifted one tick later, starting from
            their initial value (and losing the last one): an environment's state and
            observation in ``Agent.as_recurrence``, so that tick ``t`` holds what the agent saw
            at ``t``.
        verify_graph: accepted; the graph is always checked (a missing input raises).
        force_cast_types: cast each new state to its previous-state layer's dtype (otherwise
            they are fed back as computed).
        name: the layer's name.

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

    def __init__(self, input_nonsequences: Mapping[Layer, Layer] | None = None,
                 input_sequences: Mapping[Layer, Layer] | None = None,
                 tracked_outputs: Layer | Sequence[Layer] = (),
                 state_variables: Mapping[Layer, Layer] | None = None,
                 state_init: Mapping[Layer, Layer] | Sequence[Layer | None] | str | None = None,
                 unroll_scan: bool | None = None, n_steps: int | None = None,
                 batch_size: int | None = None, mask_input: Layer | None = None,
                 delayed_states: Sequence[Layer] = (), verify_graph: bool = True,
                 force_cast_types: bool = False, name: str | None = None):
        if unroll_scan is not None:
            warnings.warn("Recurrence: unroll_scan is ignored (a Theano option: torch runs the "
                          "loop eagerly)", stacklevel=2)
        sequences = dict(input_sequences or {})
        nonsequences = dict(input_nonsequences or {})
        states = dict(state_variables or {})
        inits = _as_init_dict(state_init, list(states))
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
        self.force_cast_types, self.verify_graph = force_cast_types, verify_graph
        delayed = as_layer_list(delayed_states, "delayed_states")
        if any(layer not in self.state_layers for layer in delayed):
            raise ValueError(f"{self.describe()}: delayed_states must be keys of "
                             f"state_variables")
        self.delayed_index = [self.state_layers.index(layer) for layer in delayed]
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
        initial = states
        for t in range(n_steps):
            outputs = self._step([s[:, t] for s in sequences] + nonsequences + states, flags)
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
        sequences_out = stack_ticks(history)
        for index in self.delayed_index:  # one tick later: start from the initial value
            sequences_out[index] = torch.cat([initial[index][:, None],
                                              sequences_out[index][:, :-1]], dim=1)
        return tuple(sequences_out)

    def _step(self, values: list[Any], flags: Mapping[str, Any]) -> list[Any]:
        outputs = self._plan(values, flags)
        if self.force_cast_types:
            for index, prev in enumerate(self.prev_state_layers):
                outputs[index] = outputs[index].to(prev.output_dtype)
        return outputs

    def get_one_step(self, prev_states: Mapping[Layer, Any] | Sequence[Any] | Any = (),
                     current_inputs: Mapping[Layer, Any] | Sequence[Any] | Any = (),
                     **flags: Any) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """One tick of the inner graph: ``(new_states, new_outputs)``, lists in the order of
        ``state_variables`` and ``tracked_outputs`` (the original's method).

        Args:
            prev_states: ``{new_state_layer: tensor [B, ...]}``, or a list in the order of
                ``state_variables`` (a single tensor for a single state).
            current_inputs: ``{inner input layer: tensor [B, ...]}``, or a list in the
                order of the nonsequences' keys, then the sequences' (the original's order).
            flags: reach every layer, as in :func:`~agentnet.layers.get_output`.

        >>> from agentnet import layers as L
        >>> from agentnet.memory import RNNCell
        >>> x_t, h_prev = L.InputLayer((None, 3)), L.InputLayer((None, 5))
        >>> h = RNNCell(h_prev, x_t)
        >>> rec = Recurrence(input_sequences={x_t: L.InputLayer((None, 7, 3))},
        ...                  state_variables={h: h_prev})
        >>> (h_1,), outputs = rec.get_one_step([torch.zeros(2, 5)], [torch.ones(2, 3)])
        >>> h_1.shape, outputs
        (torch.Size([2, 5]), [])
        """
        states = _ordered(prev_states, self.state_layers, "prev_states", self.describe())
        inputs = _ordered(current_inputs, self.nonsequence_inputs + self.sequence_inputs,
                          "current_inputs", self.describe())
        n_nonseq = len(self.nonsequence_inputs)
        # the plan takes sequences, then nonsequences, then previous states
        outputs = self._step(inputs[n_nonseq:] + inputs[:n_nonseq] + states, flags)
        return outputs[:len(self.state_layers)], outputs[len(self.state_layers):]

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


def _as_init_dict(state_init: Any, states: Sequence[Layer], where: str = "Recurrence",
                  what: str = "state_init") -> dict[Layer, Layer]:
    """``state_init`` as ``{state layer: initial-value layer}``: from a dict (its keys are
    the caller's to check), None or ``"zeros"`` (no initial values), or a list with one layer
    (or None) per state; errors name ``where`` and ``what``."""
    if state_init is None or (isinstance(state_init, str) and state_init == "zeros"):
        return {}
    if isinstance(state_init, Mapping):
        return dict(state_init)
    if isinstance(state_init, str):
        raise ValueError(f"{where}: {what}={state_init!r}; give 'zeros', a dict or a "
                         f"list of layers")
    inits = [state_init] if isinstance(state_init, Layer) else list(state_init)
    if len(inits) != len(states):
        raise ValueError(f"{where}: {what} lists {len(inits)} initial values for "
                         f"{len(states)} states")
    return {state: init for state, init in zip(states, inits) if init is not None}


def _ordered(values: Any, layers: list[Layer], what: str, where: str) -> list[Any]:
    """Values for ``layers`` from ``{layer: value}``, a list in their order, or one value."""
    if isinstance(values, Mapping):
        missing = [layer.describe() for layer in layers if layer not in values]
        unknown = [key for key in values if key not in layers]
        if missing or unknown:
            raise ValueError(f"{where}: {what} must give exactly "
                             f"{[layer.describe() for layer in layers]}; missing {missing}, "
                             f"unknown {[getattr(k, 'name', k) for k in unknown]}")
        return [values[layer] for layer in layers]
    listed = [values] if isinstance(values, torch.Tensor) else list(values)
    if len(listed) != len(layers):
        raise ValueError(f"{where}: {what} gives {len(listed)} values for {len(layers)} layers "
                         f"{[layer.describe() for layer in layers]}")
    return listed
