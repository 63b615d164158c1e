"""An agent as a layer of a bigger graph: its interaction with an environment, or its replay
of recorded sessions, as one :class:`~agentnet.agent.Recurrence` (the original AgentNet's
``Agent.as_recurrence`` and ``as_replay_recurrence``).

``Agent.get_sessions`` does not go through these (it runs the same ticks without building
layers); they are for graphs that use an agent as a part, e.g. a decoder agent unrolled
inside a sequence-to-sequence model, whose outputs feed a loss with everything else.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from ..environment.base import as_shapes
from ..layers.base import InputLayer, Layer, format_shape
from .recurrence import Recurrence, _as_init_dict

if TYPE_CHECKING:
    from ..environment.base import BaseEnvironment
    from .agent import Agent

__all__ = ["environment_recurrence", "replay_recurrence"]


def environment_recurrence(agent: Agent, environment: BaseEnvironment, session_length: int = 10,
                           batch_size: int | None = None, initial_env_states: Any = "zeros",
                           initial_observations: Any = "zeros", initial_hidden: Any = "zeros",
                           recurrence_name: str = "AgentRecurrence",
                           unroll_scan: bool | None = None) -> Recurrence:
    """The agent playing ``environment`` for ``session_length`` ticks, as a Recurrence whose
    outputs are, in order: each agent memory, each environment state, each observation, each
    policy, each action, ``[B, T, ...]`` (the original's order).

    Environment states and observations are delayed one tick: tick ``t`` holds what the
    agent saw at ``t`` (tick 0 the initial values), as in :class:`~agentnet.agent.Sessions`.
    Rewards are not part of it: compute them from the states and actions (the original's
    :class:`~agentnet.objective.BaseObjective`). Initial values (zeros by default, as in the
    original: agentnet's ``reset`` is not called) are ``"zeros"`` or a list with one layer
    ``[None, ...]`` (or None for zeros) per environment state, per observation, per agent
    memory; ``initial_hidden`` may also be ``{memory layer: layer}``. ``batch_size`` is needed
    when no initial value is a layer.
    """
    env = environment
    observations = as_shapes(env.observation_shapes)
    if len(observations) != len(agent.observation_layers):
        raise ValueError(f"as_recurrence: {type(env).__name__} gives {len(observations)} "
                         f"observations, the agent has {len(agent.observation_layers)} "
                         f"observation layers")
    prev_env_states = [InputLayer((None, *shape), dtype, name=f"env.prev_state[{i}]")
                       for i, (shape, dtype)
                       in enumerate(zip(as_shapes(env.state_shapes), env.state_dtypes))]
    new_states, new_observations = env.as_layers(prev_env_states, agent.action_layers)
    state_variables = {**agent.agent_states, **dict(zip(new_states, prev_env_states)),
                       **dict(zip(new_observations, agent.observation_layers))}
    state_init = {**_init_pairs(new_states, initial_env_states, "initial_env_states"),
                  **_init_pairs(new_observations, initial_observations, "initial_observations"),
                  **_init_pairs(agent.state_layers, initial_hidden, "initial_hidden")}
    return Recurrence(state_variables=state_variables, state_init=state_init,
                      tracked_outputs=agent.policy_layers + agent.action_layers,
                      n_steps=session_length, batch_size=batch_size,
                      delayed_states=new_states + new_observations, name=recurrence_name,
                      unroll_scan=unroll_scan)


def replay_recurrence(agent: Agent, environment: Any, session_length: int | None = None,
                      initial_hidden: Any = "zeros", recurrence_name: str = "ReplayRecurrence",
                      unroll_scan: bool | None = None) -> Recurrence:
    """The agent replaying the sessions recorded in ``environment`` (a session pool or
    batch: its ``observations`` and ``actions``, ``[B, T, ...]`` each), as a Recurrence:
    recorded observations in, recorded actions forced through the action layers. Outputs:
    each agent memory, each policy, each action, ``[B, T, ...]``.

    The recorded sessions are read when the Recurrence is evaluated (sessions stored
    later are replayed too; the first ``session_length`` ticks, all by default). Memories
    start from ``initial_hidden`` (``"zeros"``, a list or a dict of layers, as in
    :func:`environment_recurrence`), not from the memories recorded in the pool.
    """
    env = environment
    if not hasattr(env, "observations") or not hasattr(env, "actions"):
        raise ValueError(f"as_replay_recurrence: {type(env).__name__} has no recorded "
                         f"observations and actions; give a SessionPoolEnvironment or a "
                         f"SessionBatchEnvironment")
    sequences: dict[Layer, Layer] = {}
    for field, inner_layers in (("observations", agent.observation_layers),
                                ("actions", agent.action_layers)):
        recorded = list(getattr(env, field))
        if len(recorded) != len(inner_layers):
            raise ValueError(f"as_replay_recurrence: the sessions hold {len(recorded)} {field}, "
                             f"the agent has {len(inner_layers)} {field[:-1]} layers")
        for index, inner in enumerate(inner_layers):
            sequences[inner] = RecordedSequenceLayer(env, field, index, session_length,
                                                     name=f"{recurrence_name}.{field}[{index}]")
    return Recurrence(input_sequences=sequences, state_variables=agent.agent_states,
                      state_init=_init_pairs(agent.state_layers, initial_hidden,
                                             "initial_hidden"),
                      tracked_outputs=agent.policy_layers + agent.action_layers,
                      n_steps=session_length, name=recurrence_name, unroll_scan=unroll_scan)


class RecordedSequenceLayer(Layer):
    """A layer whose value is ``getattr(source, field)[index]`` ``[B, T, ...]`` when it is
    evaluated (its first ``length`` ticks when given): recorded sessions as an outer input."""

    def __init__(self, source: Any, field: str, index: int, length: int | None = None,
                 name: str | None = None):
        self.source, self.field, self.index, self.length = source, field, index, length
        super().__init__((), name)

    def _value(self) -> torch.Tensor:
        value = torch.as_tensor(getattr(self.source, self.field)[self.index])
        if self.length is not None:
            if value.shape[1] < self.length:
                raise ValueError(f"{self.describe()}: the recorded sessions have "
                                 f"{value.shape[1]} ticks, session_length={self.length}")
            value = value[:, :self.length]
        return value

    def _set_output_spec(self) -> None:
        value = self._value()
        self.output_shape = (None, *value.shape[1:])
        self.output_dtype = value.dtype

    def get_output_for(self, *inputs: torch.Tensor, **flags: Any) -> torch.Tensor:
        return self._value()


def _init_pairs(layers: Sequence[Layer], values: Any, what: str) -> dict[Layer, Layer]:
    """``{state layer: initial-value layer}`` from ``"zeros"``, a dict or a list of layers
    (None entries: zeros); checks each value's shape against its state's."""
    pairs = _as_init_dict(values, layers, "as_recurrence", what)
    unknown = [key for key in pairs if key not in layers]
    if unknown:
        raise ValueError(f"as_recurrence: {what} names layers that are not its states: "
                         f"{[getattr(k, 'name', k) for k in unknown]}")
    for layer, value in pairs.items():
        if not isinstance(value, Layer):
            raise TypeError(f"as_recurrence: {what} for {layer.describe()} must be a layer "
                            f"(an InputLayer whose value you give to get_output), got "
                            f"{type(value).__name__}")
        if tuple(value.output_shape[1:]) != tuple(layer.output_shape[1:]):
            raise ValueError(f"as_recurrence: {what} {value.describe()} "
                             f"{format_shape(value.output_shape)} does not fit "
                             f"{layer.describe()} {format_shape(layer.output_shape)}")
    return pairs
