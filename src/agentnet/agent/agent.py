"""The Agent: a one-tick graph packed with its memory, its parameters and its reaction."""
from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, cast, overload

import torch
from torch import Tensor, nn

from ..layers import graph
from ..layers.base import Layer, check_flags
from ..layers.graph import GraphPlan, as_layer_list, get_all_layers, register_layers
from ..records import ActT, AgentReaction, ObsT, PolT, Reaction, Sessions, TickLayout
from . import checks, composition, replay, rollout

if TYPE_CHECKING:
    from ..environment.base import BaseEnvironment
    from ..environment.session_pool import SessionBatchEnvironment, SessionPoolEnvironment
    from .recurrence import Recurrence

__all__ = ["Agent", "MDPAgent"]


class Agent(nn.Module, Generic[ObsT, ActT, PolT]):
    """An agent built around a one-tick graph.

    A tick: see the observation, read the previous memory, commit an action, update memory.

    Args:
        observation_layers: InputLayer(s) where observations arrive, ``[None, ...]``.
        agent_states: ``{new_state_layer: prev_state_input_layer}``: each memory's update and
            the InputLayer where its previous value arrives (same shape). None for no memory.
        policy_estimators: layer(s) whose outputs are recorded as ``policy`` (Q-values,
            probabilities, state values...).
        action_layers: layer(s) picking actions, usually resolvers: int64 ``[None]``.

    Single layers in mean single tensors out (actions, policy, observations), lists in mean
    lists (:attr:`layout` says which). The graph is resolved into a plan here, once; mistakes
    (a memory without its input, mismatched shapes, an input the agent cannot feed, a cycle
    of layers: memory goes through its previous-state InputLayer, not ``input_layers``)
    raise here, naming the layers.

    >>> import numpy as np
    >>> from agentnet import layers as L
    >>> from agentnet.resolver import EpsilonGreedyResolver
    >>> obs = L.InputLayer((None, 4), name="observation")
    >>> q = L.DenseLayer(obs, num_units=2, nonlinearity=None, name="q")
    >>> agent = Agent(obs, policy_estimators=q, action_layers=EpsilonGreedyResolver(q))
    >>> agent.get_react_function()(np.zeros((3, 4))).actions.shape
    (3,)
    """

    # sessions typed Sessions[Tensor, Tensor, Tensor] for an agent of single layers, else Any
    @overload
    def __init__(self: Agent[Tensor, Tensor, Tensor], observation_layers: Layer,
                 agent_states: Mapping[Layer, Layer] | None, policy_estimators: Layer,
                 action_layers: Layer) -> None: ...
    @overload
    def __init__(self: Agent[Tensor, Tensor, Tensor], observation_layers: Layer,
                 agent_states: Mapping[Layer, Layer] | None = None, *,
                 policy_estimators: Layer, action_layers: Layer) -> None: ...
    @overload
    def __init__(self: Agent[Any, Any, Any], observation_layers: Layer | Sequence[Layer],
                 agent_states: Mapping[Layer, Layer] | None = None,
                 policy_estimators: Layer | Sequence[Layer] = (),
                 action_layers: Layer | Sequence[Layer] = ()) -> None: ...

    def __init__(self, observation_layers: Layer | Sequence[Layer],
                 agent_states: Mapping[Layer, Layer] | None = None,
                 policy_estimators: Layer | Sequence[Layer] = (),
                 action_layers: Layer | Sequence[Layer] = ()) -> None:
        super().__init__()
        self._device: torch.device | None = None
        self.observation_layers = as_layer_list(observation_layers, "observation_layers")
        self.policy_layers = as_layer_list(policy_estimators, "policy_estimators")
        self.action_layers = as_layer_list(action_layers, "action_layers")
        agent_states = dict(agent_states or {})
        self.state_layers = as_layer_list(list(agent_states.keys()), "agent_states keys")
        self.prev_state_layers = as_layer_list(list(agent_states.values()), "agent_states values")
        checks.check_layers(self.observation_layers, self.state_layers, self.prev_state_layers,
                            self.action_layers)
        self.layout = TickLayout(
            len(self.observation_layers), len(self.action_layers), len(self.policy_layers),
            tuple(self.state_layers), isinstance(observation_layers, Layer),
            isinstance(action_layers, Layer), isinstance(policy_estimators, Layer))
        outputs = self.action_layers + self.state_layers + self.policy_layers
        self._plan = GraphPlan(outputs, self.observation_layers + self.prev_state_layers)
        self._plans: dict[tuple[Any, ...], GraphPlan] = {}
        self._split_plans: dict[tuple[Any, ...], tuple[GraphPlan, GraphPlan]] = {}
        self.layers = register_layers(get_all_layers(outputs))

    # --- parameters -------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        """Where the agent's parameters live (CPU for none); looked up again after ``.to()``."""
        if self._device is None:
            tensor = next(itertools.chain(self.parameters(), self.buffers()), None)
            self._device = torch.device("cpu") if tensor is None else tensor.device
        return self._device

    def _apply(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Agent:
        self._device = None  # .to(), .cuda(), .half()...: the device may change
        return super()._apply(fn, *args, **kwargs)

    def get_all_params(self, **tags: bool) -> list[nn.Parameter]:
        """The agent's parameters, each once; tags as in :func:`agentnet.layers.get_all_params`."""
        return graph.get_all_params(self._plan.outputs, **tags)

    def get_all_param_values(self, **tags: bool) -> list[torch.Tensor]:
        """Detached copies of :meth:`get_all_params`."""
        return [p.detach().clone() for p in self.get_all_params(**tags)]

    def set_all_param_values(self, values: Sequence[Any], **tags: bool) -> None:
        """Load values in :meth:`get_all_params` order; checks every shape first."""
        graph.set_all_param_values(self._plan.outputs, values, **tags)

    # --- the graph ----------------------------------------------------------------------
    def get_tick_plan(self, additional_outputs: Sequence[Layer] = (),
                      replay: bool = False) -> GraphPlan:
        """The tick resolved into a plan (made once per set of arguments, then kept).

        Given the observations then the previous memories (then, with ``replay``, the actions
        to force through the action layers), it returns the actions, the new memories, the
        policy and ``additional_outputs``: the order :attr:`layout` splits."""
        if not additional_outputs and not replay:
            return self._plan
        key = (replay, *additional_outputs)
        plan = self._plans.get(key)
        if plan is None:
            given = self._plan.given + (self.action_layers if replay else [])
            plan = self._plans[key] = GraphPlan(self._plan.outputs + list(additional_outputs),
                                                given)
        return plan

    def get_replay_plans(self, additional_outputs: Sequence[Layer] = ()
                         ) -> tuple[GraphPlan, GraphPlan]:
        """A replay split in two plans (made once per set of arguments, then kept):

        - the memory path, given the observations, the previous memories and the actions
          (one tick, ``[B, ...]`` each), returns the new memories: what a replay runs tick by
          tick;
        - the rest, given the same and the new memories (any number of ticks at once,
          flattened to ``[N, ...]``), returns what :meth:`get_tick_plan` with ``replay`` does.
        """
        key = tuple(additional_outputs)
        plans = self._split_plans.get(key)
        if plans is None:
            given = self._plan.given + self.action_layers
            plans = self._split_plans[key] = (
                GraphPlan(self.state_layers, given),
                GraphPlan(self._plan.outputs + list(additional_outputs),
                          given + self.state_layers))
        return plans

    @property
    def agent_states(self) -> dict[Layer, Layer]:
        """``{new_state_layer: prev_state_input_layer}``, as given (the original's attribute;
        a new dict each time: changing it does not change the agent)."""
        return dict(zip(self.state_layers, self.prev_state_layers))

    def get_zeros_like_memory(self, batch_size: int = 1, device: Any = None
                              ) -> list[torch.Tensor]:
        """Zero memories ``[batch_size, ...]``, one per agent state, on the agent's device
        (one session by default, as in the original)."""
        device = self.device if device is None else device
        return [torch.zeros((batch_size, *layer.output_shape[1:]), dtype=layer.output_dtype,
                            device=device) for layer in self.prev_state_layers]

    def get_initial_memories(self, initial_hidden: Any, batch_size: int) -> list[Any]:
        """The memories a rollout or replay starts from, a list in ``agent_states`` order:
        ``initial_hidden`` (a list, or a dict keyed by new-state layer; unchecked shapes) or,
        for None, zeros ``[batch_size, ...]``."""
        if initial_hidden is None:
            return self.get_zeros_like_memory(batch_size)
        return checks.given_memories(self, initial_hidden)

    # --- one tick ---------------------------------------------------------------------
    def get_agent_reaction(self, prev_states: Any = None, current_observations: Any = (),
                           **flags: Any) -> AgentReaction:
        """One differentiable tick: :class:`~agentnet.records.AgentReaction` ``(actions,
        new_states, policy)`` (unpacking as the original's three lists) from
        ``prev_states`` (a list in ``agent_states`` order, a dict keyed by new-state layer, or
        None for zeros) and ``current_observations`` (a tensor ``[B, ...]``, or a list of one
        per observation layer); ``flags`` reach every layer. Inputs that do not fit their
        InputLayers raise a ValueError (see :meth:`get_react_function`)."""
        observations, memories = checks.tick_inputs(self, current_observations, prev_states,
                                                    "Agent.get_agent_reaction")
        if flags:
            check_flags(flags, self._plan.layers, "Agent.get_agent_reaction")
        return cast(AgentReaction, self.layout.reaction(self._plan(observations + memories, flags),
                                                        AgentReaction))

    def get_react_function(self, **flags: Any) -> Callable[..., Reaction]:
        """A function for deployment: one tick under ``torch.inference_mode``.

        ``react(observations, prev_states=None)`` takes observations ``[B, ...]`` (a tensor or
        array, or a list for several observation layers) and previous memories (a list, or
        None for zeros) and returns a :class:`Reaction`: numpy in, numpy out; tensors in,
        tensors out. The original's call, every observation then every memory positionally
        (``react(observation, mem0, mem1)``), works as well, and a :class:`Reaction` unpacks as
        the original's results: ``action, new_mem0, new_mem1 = react(observation, mem0,
        mem1)`` (every action, then every new memory). Inputs are moved to the agent's device
        and cast to the input layers' dtypes, once. ``flags`` (e.g. ``greedy=True``) apply to
        every call. Each observation and memory must have its InputLayer's shape, batch axis
        included (``obs[None]`` for a single one), and all one batch size: else a ValueError
        names the InputLayer, the shape it expects (``None`` for any size) and the shape it got.

        >>> import numpy as np
        >>> from agentnet import layers as L
        >>> from agentnet.resolver import GreedyResolver
        >>> obs = L.InputLayer((None, 4), name="observation")
        >>> q = L.DenseLayer(obs, num_units=2, name="q")
        >>> react = Agent(obs, None, q, GreedyResolver(q)).get_react_function()
        >>> react(np.zeros((1, 4))).actions.shape
        (1,)
        >>> react(np.zeros(4))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: Agent react: the observation has shape (4,); InputLayer 'observation' ...
        """
        if flags:
            check_flags(flags, self._plan.layers, "Agent.get_react_function")

        def react(*inputs: Any, prev_states: Any = None) -> Reaction:
            observations, prev_states = checks.react_inputs(self, inputs, prev_states)
            as_numpy = not isinstance(observations[0], torch.Tensor)
            observations, memories = checks.tick_inputs(self, observations, prev_states,
                                                        "Agent react", self.device)
            with torch.inference_mode():
                reaction = self.layout.reaction(self._plan(observations + memories, flags))
            return reaction.numpy() if as_numpy else reaction

        return react

    # --- sessions ---------------------------------------------------------------------
    def get_sessions(self, environment: BaseEnvironment | SessionPoolEnvironment
                     | SessionBatchEnvironment, session_length: int | None = None,
                     batch_size: int | None = None,
                     initial_env_states: Sequence[torch.Tensor] | None = None,
                     initial_observations: Any = None, initial_hidden: Any = None,
                     continue_from: Sessions | dict[str, Any] | None = None,
                     additional_outputs: Sequence[Layer] = (),
                     experience_replay: bool = False, burn_in: int = 0,
                     compiled: bool = False, **flags: Any) -> Sessions[ObsT, ActT, PolT]:
        """Play ``session_length`` ticks in a batch of sessions, differentiably (a live
        rollout, :mod:`agentnet.agent.rollout`), or replay recorded ones
        (``experience_replay=True``, :mod:`agentnet.agent.replay`).

        Args:
            environment: a :class:`~agentnet.environment.BaseEnvironment`; for a replay, a
                :class:`~agentnet.environment.SessionPoolEnvironment` or a batch of it.
            session_length: the number of ticks ``T`` (10 if not given); a replay plays the
                recorded sessions whole and accepts only their length.
            batch_size: sessions to start from ``environment.reset`` (given a start, or in a
                replay: only the batch size that start or the recorded sessions have).
            initial_env_states, initial_observations: where to start instead of a reset
                (lists of tensors ``[B, ...]``, given together). Live rollouts only.
            initial_hidden: the memories before the first tick (list or dict); zeros by default,
                in a replay the memories recorded before each session.
            continue_from: earlier sessions of this agent and environment (or their
                ``continuation()``) to go on from, detached, instead of the three arguments
                above. Live rollouts only.
            additional_outputs: more layers to record every tick (e.g. a target network's
                Q-values) in ``sessions.additional_outputs``, ``[B, T, ...]`` each.
            experience_replay: replay the recorded observations, force the recorded actions
                through the action layers and recompute policy and memories with today's
                weights, from the memories that preceded each session.
            burn_in: in a replay, the first ``burn_in`` ticks only refresh the memory, without
                gradient, and are left out of the result.
            compiled: run each tick (the agent's graph and the environment's step) as one
                ``torch.compile`` graph: the same sessions, faster once compiled (the first
                call compiles, for seconds). Live rollouts only.
            **flags: passed to every layer at every tick (``greedy=True``...).

        Returns :class:`~agentnet.agent.Sessions`, every field ``[B, T, ...]``; policy and
        memories carry gradients to the agent's parameters. An argument of the other mode
        (``burn_in`` live; a start, ``compiled``, another length or batch in a replay) raises
        a ValueError, as do two that contradict each other.
        """
        if flags:
            check_flags(flags, self._plan.layers, "Agent.get_sessions")
        additional = as_layer_list(additional_outputs, "additional_outputs")
        if experience_replay:
            if (initial_env_states is not None or initial_observations is not None
                    or continue_from is not None or compiled):
                checks.refuse("experience replay (experience_replay=True)",
                              initial_env_states=initial_env_states,
                              initial_observations=initial_observations,
                              continue_from=continue_from, compiled=compiled)
            return replay.replay_sessions(self, environment, burn_in, initial_hidden,
                                          additional, flags, session_length, batch_size)
        if burn_in:
            checks.refuse("a live rollout (experience_replay=False)", burn_in=burn_in)
        return rollout.play(self, environment, 10 if session_length is None else session_length,
                            batch_size, initial_env_states, initial_observations, initial_hidden,
                            continue_from, additional, flags, compiled)

    def as_recurrence(self, environment: BaseEnvironment, session_length: int = 10,
                      batch_size: int | None = None, initial_env_states: Any = "zeros",
                      initial_observations: Any = "zeros", initial_hidden: Any = "zeros",
                      recurrence_name: str = "AgentRecurrence",
                      unroll_scan: bool | None = None) -> Recurrence:
        """This agent playing ``environment``, as a :class:`~agentnet.agent.Recurrence` layer
        of a bigger graph (the original's method): outputs each memory, environment state,
        observation, policy and action ``[B, T, ...]``, in that order. See
        :func:`agentnet.agent.composition.environment_recurrence`."""
        return composition.environment_recurrence(
            self, environment, session_length, batch_size, initial_env_states,
            initial_observations, initial_hidden, recurrence_name, unroll_scan)

    def as_replay_recurrence(self, environment: SessionPoolEnvironment
                             | SessionBatchEnvironment, session_length: int | None = 10,
                             initial_hidden: Any = "zeros",
                             recurrence_name: str = "ReplayRecurrence",
                             unroll_scan: bool | None = None) -> Recurrence:
        """This agent replaying ``environment``'s recorded sessions (their first
        ``session_length`` ticks, the original's default 10; None for all), as a
        :class:`~agentnet.agent.Recurrence`: outputs each memory, policy and action
        ``[B, T, ...]``. See :func:`agentnet.agent.composition.replay_recurrence`."""
        return composition.replay_recurrence(self, environment, session_length,
                                             initial_hidden, recurrence_name, unroll_scan)


MDPAgent = Agent
