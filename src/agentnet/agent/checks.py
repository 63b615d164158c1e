"""What an agent checks: its layers when it is built, and every value that reaches it (a
tick's observations and memories, an environment's shapes, recorded sessions). Each check
raises naming the layer and the shapes involved, before anything runs."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from ..environment.base import as_shapes
from ..layers.base import InputLayer, Layer, fits_shape, format_shape

if TYPE_CHECKING:
    from ..environment.base import BaseEnvironment
    from .agent import Agent

__all__ = ["check_layers", "as_count", "given_memories", "tick_inputs", "check_environment",
           "check_recorded", "refuse"]


def check_layers(observation_layers: Sequence[Layer], state_layers: Sequence[Layer],
                 prev_state_layers: Sequence[Layer], action_layers: Sequence[Layer]) -> None:
    """Raise unless the layers make an agent: an action layer and observation InputLayers
    at least, and each memory's previous value an InputLayer of its own, of its shape."""
    if not action_layers:
        raise ValueError("Agent needs at least one action layer (action_layers=...)")
    if not observation_layers:
        raise ValueError("Agent needs at least one observation layer")
    for layer in observation_layers:
        if not isinstance(layer, InputLayer):
            raise TypeError(f"observation layer {layer.describe()} must be an InputLayer")
    for new, prev in zip(state_layers, prev_state_layers):
        if not isinstance(prev, InputLayer):
            raise TypeError(f"agent_states: the previous state of {new.describe()} must be "
                            f"an InputLayer, got {prev.describe()}")
        if prev in observation_layers:
            raise ValueError(f"agent_states: {prev.describe()} is also an observation layer")
        if tuple(new.output_shape[1:]) != tuple(prev.output_shape[1:]):
            raise ValueError(
                f"agent_states: {new.describe()} has shape {format_shape(new.output_shape)} "
                f"but its previous state {prev.describe()} has "
                f"{format_shape(prev.output_shape)}")
    for layer in prev_state_layers:
        if any(d is None for d in layer.output_shape[1:]):
            raise ValueError(f"memory input {layer.describe()} needs a known shape after "
                             f"the batch axis, got {format_shape(layer.output_shape)}")
    if len(set(map(id, prev_state_layers))) != len(prev_state_layers):
        raise ValueError("agent_states: two memories share one previous-state InputLayer")


def as_count(values: Any, count: int, what: str) -> list[Any]:
    """``values`` (one value, or a list or tuple) as a list of ``count``; raises otherwise."""
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    if len(values) != count:
        raise ValueError(f"Agent: got {len(values)} {what}, the agent has {count}")
    return values


def react_inputs(agent: Agent, inputs: Sequence[Any], prev_states: Any
                 ) -> tuple[list[Any], Any]:
    """A react function's arguments as ``(observations, prev_states)``: agentnet's call
    ``react(observations, prev_states=None)`` (observations one value or a list, memories a
    list, a dict or None) or the original's, every observation then every memory positionally
    (``react(obs, mem0, mem1)``)."""
    n_obs, n_states = agent.layout.n_observations, agent.layout.n_states
    if not inputs:
        raise TypeError("Agent react: no observations given")
    agentnet_call = len(inputs) == 1 or (
        len(inputs) == 2 and prev_states is None
        and (inputs[1] is None or isinstance(inputs[1], (list, tuple, Mapping))))
    if agentnet_call:
        if len(inputs) == 2:
            prev_states = inputs[1]
        return as_count(inputs[0], n_obs, "observations"), prev_states
    if prev_states is not None or len(inputs) != n_obs + n_states:
        raise TypeError(f"Agent react: got {len(inputs)} positional inputs; give the "
                        f"observations (a list of {n_obs}) and the memories (a list of "
                        f"{n_states}, or None for zeros), or every one of the {n_obs} "
                        f"observations then the {n_states} memories positionally")
    return list(inputs[:n_obs]), (list(inputs[n_obs:]) if n_states else None)


def given_memories(agent: Agent, prev_states: Any) -> list[Any]:
    """``prev_states`` (a list in ``agent_states`` order or a dict keyed by new-state layer)
    as a list in ``agent_states`` order."""
    if isinstance(prev_states, Mapping):
        missing = [layer.describe() for layer in agent.state_layers if layer not in prev_states]
        if missing:
            raise ValueError(f"Agent: no previous value for memory {', '.join(missing)}")
        return [prev_states[layer] for layer in agent.state_layers]
    return as_count(prev_states, len(agent.state_layers), "memory states")


def tick_inputs(agent: Agent, observations: Any, prev_states: Any, where: str,
                device: torch.device | None = None) -> tuple[list[Any], list[Any]]:
    """The observations (one value or a list) and memories (``prev_states``, or zeros if None)
    of one tick, as lists, checked by :func:`_check_inputs`. With ``device``, every one is
    made a tensor of its InputLayer's dtype on ``device`` first."""
    observations = as_count(observations, len(agent.observation_layers), "observations")
    if device is not None:
        observations = [torch.as_tensor(o, dtype=layer.output_dtype, device=device)
                        for o, layer in zip(observations, agent.observation_layers)]
    if prev_states is None:
        _check_inputs(agent, observations, (), where)
        return observations, agent.get_zeros_like_memory(observations[0].shape[0], device)
    memories = given_memories(agent, prev_states)
    if device is not None:
        memories = [torch.as_tensor(m, dtype=layer.output_dtype, device=device)
                    for m, layer in zip(memories, agent.prev_state_layers)]
    _check_inputs(agent, observations, memories, where)
    return observations, memories


def _check_inputs(agent: Agent, observations: Sequence[Any], memories: Sequence[Any],
                  where: str) -> None:
    """Raise a ValueError unless each observation and memory fits its InputLayer's shape
    (:func:`~agentnet.layers.base.fits_shape`, as ``get_sessions`` checks an environment's
    observations) and all have one batch size (their first axis)."""
    layers = [*agent.observation_layers, *agent.prev_state_layers]
    first, batch = -1, 0  # the first value with a batch axis, and its batch size
    for index, (value, layer) in enumerate(zip([*observations, *memories], layers)):
        shape = tuple(value.shape)
        if not fits_shape(shape, layer.output_shape):
            expected = layer.output_shape
            unbatched = len(shape) + 1 == len(expected) and fits_shape(shape, expected[1:])
            raise ValueError(
                f"{where}: the {_input_role(agent, index)} has shape {format_shape(shape)}; "
                f"{layer.describe()} expects {format_shape(expected)} (None: any size; "
                f"the first axis is the batch)"
                + ("; for a single one add a batch axis, e.g. value[None]" if unbatched
                   else ""))
        if not shape:
            continue
        if first < 0:
            first, batch = index, shape[0]
        elif shape[0] != batch:
            raise ValueError(
                f"{where}: batch sizes differ: the {_input_role(agent, first)} "
                f"({layers[first].describe()}) has {batch} rows, the "
                f"{_input_role(agent, index)} ({layer.describe()}) has {shape[0]}; every "
                f"observation and memory needs the same batch size (the first axis)")


def _input_role(agent: Agent, index: int) -> str:
    """How errors name the ``index``-th of the observations and then memories."""
    n_observations = len(agent.observation_layers)
    if index < n_observations:
        return "observation" if n_observations == 1 else f"observation #{index}"
    return f"previous state of {agent.state_layers[index - n_observations].describe()}"


def check_environment(agent: Agent, env: BaseEnvironment) -> None:
    """Raise unless ``env``'s observations and actions fit the agent's layers."""
    name = type(env).__name__
    if len(env.observation_shapes) != len(agent.observation_layers):
        raise ValueError(f"{name} gives {len(env.observation_shapes)} observations, the agent "
                         f"has {len(agent.observation_layers)} observation layers")
    for shape, layer in zip(as_shapes(env.observation_shapes), agent.observation_layers):
        if not fits_shape(tuple(shape), layer.output_shape[1:]):
            raise ValueError(f"{name} observations have shape {format_shape((None, *shape))}, "
                             f"{layer.describe()} expects {format_shape(layer.output_shape)}")
    if len(env.action_shapes) != len(agent.action_layers):
        raise ValueError(f"{name} takes {len(env.action_shapes)} actions, the agent has "
                         f"{len(agent.action_layers)} action layers")
    for shape, dtype, layer in zip(as_shapes(env.action_shapes), env.action_dtypes,
                                   agent.action_layers):
        if tuple(layer.output_shape[1:]) != tuple(shape) or layer.output_dtype != dtype:
            raise ValueError(f"{name} takes actions {format_shape((None, *shape))} {dtype}, "
                             f"{layer.describe()} gives {format_shape(layer.output_shape)} "
                             f"{layer.output_dtype}")


def check_recorded(agent: Agent, observations: Sequence[torch.Tensor],
                   actions: Sequence[torch.Tensor]) -> None:
    """Raise unless recorded observations and actions ``[B, T, ...]`` fit the agent's layers
    (for a replay)."""
    for name, values, layers in (("observations", observations, agent.observation_layers),
                                 ("actions", actions, agent.action_layers)):
        if len(values) != len(layers):
            raise ValueError(f"replay: the sessions hold {len(values)} {name}, the agent has "
                             f"{len(layers)} {name[:-1]} layers")
        for value, layer in zip(values, layers):
            if not fits_shape(tuple(value.shape[2:]), layer.output_shape[1:]):
                raise ValueError(f"replay: recorded {name} have shape "
                                 f"{format_shape(tuple(value.shape))}, {layer.describe()} "
                                 f"expects {format_shape((None, None, *layer.output_shape[1:]))}")
            if value.dtype != layer.output_dtype:
                raise ValueError(f"replay: recorded {name} are {value.dtype}, "
                                 f"{layer.describe()} gives {layer.output_dtype}")


def refuse(mode: str, **arguments: Any) -> None:
    """Raise for the first of ``arguments`` (``get_sessions``' arguments by name) given a
    value, i.e. not None, False or 0: it does not apply to ``mode``."""
    for name, value in arguments.items():
        if value is not None and value is not False and not (type(value) is int and value == 0):
            shown = f"{name}={value!r}" if isinstance(value, (bool, int)) else name
            raise ValueError(f"get_sessions: {shown} does not apply to {mode}; remove it")
