"""The Agent: a one-tick graph packed with its memory, unrolled against an environment."""
from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..environment.base import BaseEnvironment
from ..environment.session_pool import SessionBatchEnvironment, SessionPoolEnvironment
from ..layers.base import InputLayer, Layer, check_flags, fits_shape, format_shape
from ..layers.graph import GraphPlan, as_layer_list, get_all_layers, get_all_params, register_layers
from . import compiled as compiling
from .replay import replay_sessions
from .sessions import Reaction, Sessions

__all__ = ["Agent", "MDPAgent"]

class Agent(nn.Module):
    """An agent built around a one-tick graph.

    A tick: see the observation, read the previous memory, commit an action, update memory.

    Args:
        observation_layers: InputLayer(s) where observations arrive, ``[None, ...]``.
        agent_states: ``{new_state_layer: prev_state_input_layer}``: each memory's update and
            the InputLayer where its previous value arrives (same shape). None for no memory.
        policy_estimators: layer(s) whose outputs are recorded as ``policy`` (Q-values,
            probabilities, state values...).
        action_layers: layer(s) picking actions, usually resolvers: int64 ``[None]``.

    Single layers in mean single tensors out (actions, policy, observations); lists in mean
    lists out. The graph is resolved into a plan here, once; mistakes (a memory without its
    input, mismatched shapes, an input the agent cannot feed, layers reading from each other
    in a cycle) raise here, naming the layers. Memory is not such a cycle: a new state reaches
    the next tick through its previous-state InputLayer, not through ``input_layers``.

    >>> import numpy as np
    >>> from agentnet import layers as L
    >>> from agentnet.resolver import EpsilonGreedyResolver
    >>> obs = L.InputLayer((None, 4), name="observation")
    >>> q = L.DenseLayer(obs, num_units=2, nonlinearity=None, name="q")
    >>> agent = Agent(obs, policy_estimators=q, action_layers=EpsilonGreedyResolver(q))
    >>> agent.get_react_function()(np.zeros((3, 4))).actions.shape
    (3,)
    """

    def __init__(self, observation_layers: Layer | Sequence[Layer],
                 agent_states: Mapping[Layer, Layer] | None = None,
                 policy_estimators: Layer | Sequence[Layer] = (),
                 action_layers: Layer | Sequence[Layer] = ()):
        super().__init__()
        self._device: torch.device | None = None
        self.single_observation = isinstance(observation_layers, Layer)
        self.single_policy = isinstance(policy_estimators, Layer)
        self.single_action = isinstance(action_layers, Layer)
        self.observation_layers = as_layer_list(observation_layers, "observation_layers")
        self.policy_layers = as_layer_list(policy_estimators, "policy_estimators")
        self.action_layers = as_layer_list(action_layers, "action_layers")
        agent_states = dict(agent_states or {})
        self.state_layers = as_layer_list(list(agent_states.keys()), "agent_states keys")
        self.prev_state_layers = as_layer_list(list(agent_states.values()), "agent_states values")
        self._check_layers()
        outputs = self.action_layers + self.state_layers + self.policy_layers
        self._plan = GraphPlan(outputs, self.observation_layers + self.prev_state_layers)
        self._extended_plans: dict[tuple[Any, ...], GraphPlan] = {}
        self._compiled_ticks: dict[tuple[Any, ...], Callable[..., Any]] = {}
        # (shape, dtype, device) of each record of a tick, per environment, plan, flags, batch
        self._column_specs: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
        # session lengths with a graph of their own, per environment, plan and flags
        self._static_lengths: dict[tuple[Any, ...], list[int]] = {}
        self.layers = register_layers(get_all_layers(outputs))

    def _check_layers(self) -> None:
        if not self.action_layers:
            raise ValueError("Agent needs at least one action layer (action_layers=...)")
        if not self.observation_layers:
            raise ValueError("Agent needs at least one observation layer")
        for layer in self.observation_layers:
            if not isinstance(layer, InputLayer):
                raise TypeError(f"observation layer {layer.describe()} must be an InputLayer")
        for new, prev in zip(self.state_layers, self.prev_state_layers):
            if not isinstance(prev, InputLayer):
                raise TypeError(f"agent_states: the previous state of {new.describe()} must be "
                                f"an InputLayer, got {prev.describe()}")
            if prev in self.observation_layers:
                raise ValueError(f"agent_states: {prev.describe()} is also an observation layer")
            if tuple(new.output_shape[1:]) != tuple(prev.output_shape[1:]):
                raise ValueError(
                    f"agent_states: {new.describe()} has shape {format_shape(new.output_shape)} "
                    f"but its previous state {prev.describe()} has "
                    f"{format_shape(prev.output_shape)}")
        for layer in self.prev_state_layers:
            if any(d is None for d in layer.output_shape[1:]):
                raise ValueError(f"memory input {layer.describe()} needs a known shape after "
                                 f"the batch axis, got {format_shape(layer.output_shape)}")
        if len(set(map(id, self.prev_state_layers))) != len(self.prev_state_layers):
            raise ValueError("agent_states: two memories share one previous-state InputLayer")

    # --- parameters -------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        """Where the agent's parameters live (CPU for an agent without any); looked up once
        and again after every ``.to()``/``.cuda()`` (walking the modules costs on every tick)."""
        if self._device is None:
            tensor = next(itertools.chain(self.parameters(), self.buffers()), None)
            self._device = torch.device("cpu") if tensor is None else tensor.device
        return self._device

    def _apply(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Agent:
        self._device = None  # .to(), .cuda(), .half()...: the device may change
        return super()._apply(fn, *args, **kwargs)

    def get_all_params(self, **tags: bool) -> list[nn.Parameter]:
        """The agent's parameters, each once; tags as in :func:`agentnet.layers.get_all_params`."""
        return get_all_params(self.action_layers + self.state_layers + self.policy_layers, **tags)

    def get_all_param_values(self, **tags: bool) -> list[torch.Tensor]:
        """Detached copies of :meth:`get_all_params`."""
        return [p.detach().clone() for p in self.get_all_params(**tags)]

    def set_all_param_values(self, values: Sequence[Any], **tags: bool) -> None:
        """Load values in :meth:`get_all_params` order; checks every shape first."""
        from ..layers.graph import set_all_param_values
        set_all_param_values(self.action_layers + self.state_layers + self.policy_layers,
                             values, **tags)

    # --- one tick ---------------------------------------------------------------------
    def get_zeros_like_memory(self, batch_size: int, device: Any = None) -> list[torch.Tensor]:
        """Zero memories ``[batch_size, ...]``, one per agent state, on the agent's device."""
        device = self.device if device is None else device
        return [torch.zeros((batch_size, *layer.output_shape[1:]), dtype=layer.output_dtype,
                            device=device) for layer in self.prev_state_layers]

    def get_agent_reaction(self, prev_states: Any = None, current_observations: Any = (),
                           **flags: Any) -> Reaction:
        """One differentiable tick.

        Args:
            prev_states: previous memories, a list in ``agent_states`` order, a dict keyed by
                new-state layer, or None for zeros.
            current_observations: a tensor ``[B, ...]`` or a list, one per observation layer.
            **flags: passed to every layer (``deterministic=True``, ``greedy=True``...).

        Returns:
            :class:`Reaction` ``(actions, new_states, policy)``.

        Raises:
            ValueError: an observation or memory does not have its InputLayer's shape, or
                they disagree on the batch size (see :meth:`get_react_function`).
        """
        observations = self._as_list(current_observations, len(self.observation_layers),
                                     "observations")
        observations, memories = self._tick_inputs(observations, prev_states,
                                                   "Agent.get_agent_reaction")
        if flags:
            check_flags(flags, self._plan.layers, "Agent.get_agent_reaction")
        return self._react(observations, memories, flags)

    def _react(self, observations: list[torch.Tensor], memories: list[torch.Tensor],
               flags: Mapping[str, Any]) -> Reaction:
        outputs = self._plan(observations + memories, flags)
        n_actions, n_states = len(self.action_layers), len(self.state_layers)
        actions = outputs[:n_actions]
        policy = outputs[n_actions + n_states:]
        return Reaction(actions[0] if self.single_action else actions,
                        outputs[n_actions:n_actions + n_states],
                        policy[0] if self.single_policy else policy)

    def get_react_function(self, **flags: Any) -> Callable[..., Reaction]:
        """A function for deployment: one tick under ``torch.inference_mode``.

        ``react(observations, prev_states=None)`` takes observations ``[B, ...]`` (a tensor or
        array, or a list for several observation layers) and previous memories (a list, or
        None for zeros) and returns a :class:`Reaction`. Numpy in gives numpy out; tensors
        in give tensors out. Inputs are moved to the agent's device and cast to the input
        layers' dtypes, once. ``flags`` (e.g. ``greedy=True``) apply to every call.

        Each observation and memory must have its InputLayer's shape, batch axis included
        (a single observation ``(4,)`` for an InputLayer ``(None, 4)`` is ``obs[None]``), and
        all must share one batch size: otherwise ``react`` raises a ValueError naming the
        InputLayer, the shape it expects (``None`` for any size) and the shape it got.

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
        n_observations = len(self.observation_layers)

        def react(observations: Any, prev_states: Any = None) -> Reaction:
            observations = self._as_list(observations, n_observations, "observations")
            as_numpy = not isinstance(observations[0], torch.Tensor)
            observations, memories = self._tick_inputs(observations, prev_states, "Agent react",
                                                       self.device)
            with torch.inference_mode():
                reaction = self._react(observations, memories, flags)
            if as_numpy:
                reaction = Reaction(*[_to_numpy(part) for part in reaction])
            return reaction

        return react

    def _as_list(self, values: Any, count: int, what: str) -> list[Any]:
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        if len(values) != count:
            raise ValueError(f"Agent: got {len(values)} {what}, the agent has {count}")
        return values

    def _tick_inputs(self, observations: list[Any], prev_states: Any, where: str,
                     device: torch.device | None = None) -> tuple[list[Any], list[Any]]:
        """The observations and memories of one tick, checked by :meth:`_check_inputs`;
        zero memories if ``prev_states`` is None. With ``device``, every one is made a tensor
        of its InputLayer's dtype on ``device`` first."""
        if device is not None:
            observations = [torch.as_tensor(o, dtype=layer.output_dtype, device=device)
                            for o, layer in zip(observations, self.observation_layers)]
        if prev_states is None:
            self._check_inputs(observations, (), where)
            return observations, self.get_zeros_like_memory(observations[0].shape[0], device)
        memories = self._given_memories(prev_states)
        if device is not None:
            memories = [torch.as_tensor(m, dtype=layer.output_dtype, device=device)
                        for m, layer in zip(memories, self.prev_state_layers)]
        self._check_inputs(observations, memories, where)
        return observations, memories

    def _check_inputs(self, observations: Sequence[Any], memories: Sequence[Any],
                      where: str) -> None:
        """Raise a ValueError unless each observation and memory fits its InputLayer's shape
        (:func:`~agentnet.layers.base.fits_shape`, as :meth:`get_sessions` checks an
        environment's observations) and all have one batch size (their first axis)."""
        layers = self._plan.given  # the observation layers, then the previous-state ones
        first, batch = -1, 0  # the first value with a batch axis, and its batch size
        for index, (value, layer) in enumerate(zip([*observations, *memories], layers)):
            shape = tuple(value.shape)
            if not fits_shape(shape, layer.output_shape):
                expected = layer.output_shape
                unbatched = len(shape) + 1 == len(expected) and fits_shape(shape, expected[1:])
                raise ValueError(
                    f"{where}: the {self._input_role(index)} has shape {format_shape(shape)}; "
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
                    f"{where}: batch sizes differ: the {self._input_role(first)} "
                    f"({layers[first].describe()}) has {batch} rows, the "
                    f"{self._input_role(index)} ({layer.describe()}) has {shape[0]}; every "
                    f"observation and memory needs the same batch size (the first axis)")

    def _input_role(self, index: int) -> str:
        """How errors name the ``index``-th of the observations and then memories."""
        n_observations = len(self.observation_layers)
        if index < n_observations:
            return "observation" if n_observations == 1 else f"observation #{index}"
        return f"previous state of {self.state_layers[index - n_observations].describe()}"

    def _memory_list(self, prev_states: Any, batch_size: int) -> list[Any]:
        """The previous memories as a list in ``agent_states`` order (zeros ``[batch_size,
        ...]`` for None), unchecked."""
        if prev_states is None:
            return self.get_zeros_like_memory(batch_size)
        return self._given_memories(prev_states)

    def _given_memories(self, prev_states: Any) -> list[Any]:
        """``prev_states`` (a list in ``agent_states`` order or a dict keyed by new-state
        layer) as a list in ``agent_states`` order."""
        if isinstance(prev_states, Mapping):
            missing = [layer.describe() for layer in self.state_layers if layer not in prev_states]
            if missing:
                raise ValueError(f"Agent: no previous value for memory {', '.join(missing)}")
            return [prev_states[layer] for layer in self.state_layers]
        return self._as_list(prev_states, len(self.state_layers), "memory states")

    # --- sessions ---------------------------------------------------------------------
    def get_sessions(self, environment: BaseEnvironment | SessionPoolEnvironment
                     | SessionBatchEnvironment, session_length: int = 10,
                     batch_size: int | None = None,
                     initial_env_states: Sequence[torch.Tensor] | None = None,
                     initial_observations: Any = None, initial_hidden: Any = None,
                     continue_from: Sessions | dict[str, Any] | None = None,
                     additional_outputs: Sequence[Layer] = (),
                     experience_replay: bool = False, burn_in: int = 0,
                     compiled: bool = False, **flags: Any) -> Sessions:
        """Play ``session_length`` ticks in a batch of sessions, differentiably.

        Args:
            environment: a :class:`~agentnet.environment.BaseEnvironment`.
            session_length: the number of ticks ``T``.
            batch_size: sessions to start from ``environment.reset``; ignored when
                ``initial_env_states`` are given.
            initial_env_states, initial_observations: where to start instead of a reset
                (lists of tensors ``[B, ...]``, given together).
            initial_hidden: the memories before the first tick (list or dict); zeros by default.
            continue_from: earlier sessions of this agent and environment to go on from: their
                ``next_env_states``, ``next_observations`` and last memories (detached: no
                gradient flows back into them), or their ``continuation()``. Replaces the
                three arguments above.
            additional_outputs: more layers to record every tick, e.g. a target network's
                Q-values (computed from the same observations and previous memories); they
                come back in ``sessions.additional_outputs``, ``[B, T, ...]`` each.
            experience_replay: ``environment`` is a
                :class:`~agentnet.environment.SessionPoolEnvironment` or
                :class:`~agentnet.environment.SessionBatchEnvironment`: replay its recorded
                observations, force its recorded actions through the action layers and
                recompute policy and memories with today's weights, starting from the
                memories that preceded each session (``initial_hidden`` overrides them).
            burn_in: with ``experience_replay``, the first ``burn_in`` ticks only refresh the
                memory, without gradient, and are left out of the result.
            compiled: run each tick (the agent's graph and the environment's step) as one
                ``torch.compile`` graph: the same sessions (random draws included, in the
                same order; float results up to the last bit), faster once compiled. The
                first call for an environment, set of flags and batch size compiles, which
                takes seconds (up to ~15 s with a cold cache). Without gradient
                (``torch.no_grad()``) ticks run four per graph and write their records
                straight into the sessions' tensors; each of the first two session lengths
                gets a graph of its own, later ones share one (a little slower).
            **flags: passed to every layer at every tick (``greedy=True``...).

        Returns:
            :class:`~agentnet.agent.Sessions`, every field ``[B, T, ...]``; policy and
            memories carry gradients to the agent's parameters.
        """
        if flags:
            check_flags(flags, self._plan.layers, "Agent.get_sessions")
        if experience_replay:
            return replay_sessions(self, environment, burn_in, initial_hidden,
                                   as_layer_list(additional_outputs, "additional_outputs"), flags)
        if not isinstance(environment, BaseEnvironment):
            raise TypeError(f"get_sessions: {type(environment).__name__} is not a "
                            f"BaseEnvironment; to replay recorded sessions pass "
                            f"experience_replay=True")
        env = environment
        self._check_environment(env)
        prev_alive = None
        if continue_from is not None:
            if initial_env_states is not None or initial_hidden is not None:
                raise ValueError("get_sessions: continue_from replaces initial_env_states, "
                                 "initial_observations and initial_hidden; give one or the other")
            carry = (continue_from.continuation() if isinstance(continue_from, Sessions)
                     else continue_from)
            initial_env_states = carry["next_env_states"]
            initial_observations = carry["next_observations"]
            initial_hidden = carry["last_agent_states"]
            (prev_alive,) = carry["last_is_alive"]
        if (initial_env_states is None) != (initial_observations is None):
            raise ValueError("get_sessions: give initial_env_states and initial_observations "
                             "together (or neither, to reset the environment)")
        if initial_env_states is None:
            states, observations = env.reset(batch_size, device=self.device)
        else:
            states = list(initial_env_states)
            observations = self._as_list(initial_observations, len(self.observation_layers),
                                         "initial observations")
        memories = self._memory_list(initial_hidden, observations[0].shape[0])

        n_actions, n_states = len(self.action_layers), len(self.state_layers)
        plan = self._plan_with(as_layer_list(additional_outputs, "additional_outputs"))
        # memory restarts where a new episode begins: a dead tick followed by an alive one
        initial_memories = memories
        if bool(memories) and env.autoreset:
            is_alive = env.get_is_alive(states)
            if prev_alive is not None:  # going on from earlier sessions: restart here too
                memories = initial_memories = _restart_memories(memories, is_alive, prev_alive)
            prev_alive = is_alive  # the first tick restarts nothing more
        else:
            prev_alive = None  # the tick never restarts memory
        if compiled and not torch.is_grad_enabled():
            return self._compiled_sessions(env, plan, flags, session_length, states,
                                           observations, memories, prev_alive,
                                           initial_memories)
        tick = self._tick(env, plan, flags, compiled)
        records: list[tuple[Any, ...]] = []
        for _ in range(session_length):
            is_alive, outputs, new_states, new_observations, rewards = tick(
                states, observations, memories, prev_alive)
            actions = outputs[:n_actions]
            memories = outputs[n_actions:n_actions + n_states]
            records.append((states, observations, memories, actions,
                            outputs[n_actions + n_states:], rewards, is_alive))
            states, observations = new_states, new_observations
            if prev_alive is not None:
                prev_alive = is_alive
        return self._stack_sessions(records, env, states, observations, initial_memories)

    def _tick(self, env: BaseEnvironment, plan: GraphPlan, flags: Mapping[str, Any],
              compiled: bool) -> Callable[..., Any]:
        """One tick: whether each session is alive, the memories restarted where an episode
        begins (if ``prev_alive``, the last tick's aliveness, is given), the agent's graph, then
        the environment's step and rewards.

        ``compiled``: the whole tick is one ``torch.compile`` graph (compiled once per
        environment, plan and flags; shapes static), with inductor's ``fallback_random``:
        random numbers come from the same ATen generators in the same order as eagerly, so
        the compiled sessions are the eager ones (up to the last bit of a few ``sin``/``cos``),
        and they are faster to draw than inductor's own per-element Philox. Its bool results
        leave the graph as uint8 and are viewed as bool outside (see
        :func:`~agentnet.agent.compiled.tick_with_bools_as_bytes`).
        """
        n_actions = len(self.action_layers)

        def tick(states: list[torch.Tensor], observations: list[torch.Tensor],
                 memories: list[torch.Tensor], prev_alive: torch.Tensor | None
                 ) -> tuple[Any, ...]:
            is_alive = env.get_is_alive(states)
            if prev_alive is not None:
                memories = _restart_memories(memories, is_alive, prev_alive)
            outputs = plan(observations + memories, flags)
            actions = outputs[:n_actions]
            new_states, new_observations = env.get_action_results(states, actions)
            rewards = env.get_rewards(states, actions, new_states)
            return is_alive, outputs, new_states, new_observations, rewards

        if not compiled:
            return tick
        key = (id(env), id(plan), tuple(sorted(flags.items())))
        if key not in self._compiled_ticks:  # compiled once per environment, plan and flags
            graph = compiling.compile_tick(compiling.tick_with_bools_as_bytes(tick))
            self._compiled_ticks[key] = compiling.tick_with_bools_from_bytes(graph)
        return self._compiled_ticks[key]

    def _compiled_sessions(self, env: BaseEnvironment, plan: GraphPlan,
                           flags: Mapping[str, Any], session_length: int,
                           states: list[torch.Tensor], observations: list[torch.Tensor],
                           memories: list[torch.Tensor], prev_alive: torch.Tensor | None,
                           initial_memories: list[torch.Tensor]) -> Sessions:
        """:meth:`get_sessions` without gradient, compiled: ticks run in compiled graphs of
        ``compiling.TICKS_PER_GRAPH`` ticks each, which also write each tick's record into its
        column ``[:, t]`` of the sessions' ``[B, T, ...]`` tensors: no per-tick records to
        keep and stack at the end, so less copying and half the fresh memory (whose first
        touch costs a page fault each 4 KiB).

        The columns' shapes and dtypes come from a first tick played eagerly, the first time
        for an environment, plan, flags and batch; ticks left over at the end (fewer than a
        graph's) are played one by one, compiled as in :meth:`_tick`.
        """
        if session_length < 1:
            raise ValueError("get_sessions: session_length must be at least 1")
        n_actions, n_states = len(self.action_layers), len(self.state_layers)
        n_env_states, n_observations = len(states), len(observations)
        tick = self._tick(env, plan, flags, compiled=False)
        # a graph for this session length (the sessions' tensors' shapes are static), or,
        # past a few lengths, one graph for any length (dynamic: ~15-20% slower per tick)
        lengths = self._static_lengths.setdefault((id(env), id(plan), tuple(sorted(
            flags.items()))), [])
        if (session_length not in lengths and len(lengths) < compiling.STATIC_LENGTHS
                and session_length >= compiling.TICKS_PER_GRAPH):  # (shorter ones use no graph)
            lengths.append(session_length)
        length = session_length if session_length in lengths else None
        ticks_into = self._compiled_ticks_into(env, plan, flags, n_env_states, n_observations,
                                               length)
        device = observations[0].device
        specs_key = (id(env), id(plan), tuple(sorted(flags.items())),
                     observations[0].shape[0], device)
        specs = self._column_specs.get(specs_key)
        columns = (None if specs is None
                   else compiling.make_columns(specs, session_length, dynamic=length is None))
        times = torch.arange(session_length, device=device)
        t = 0
        while t < session_length:
            if columns is not None and t + compiling.TICKS_PER_GRAPH <= session_length:
                states, observations, memories, is_alive = ticks_into(
                    states, observations, memories, prev_alive, columns,
                    times[t:t + compiling.TICKS_PER_GRAPH])
                t += compiling.TICKS_PER_GRAPH
            else:  # the first tick ever, eager (it gives the columns' shapes), or one left
                # over at the end, compiled alone
                one_tick = tick if columns is None else self._tick(env, plan, flags, True)
                is_alive, outputs, new_states, new_observations, rewards = one_tick(
                    states, observations, memories, prev_alive)
                fields = [*states, *observations, *outputs, rewards, is_alive,
                          is_alive & env.get_is_truncated(new_states)]
                if columns is None:
                    specs = self._column_specs[specs_key] = [
                        (f.shape[0], tuple(f.shape[1:]), f.dtype, f.device) for f in fields]
                    columns = compiling.make_columns(specs, session_length, dynamic=length is None)
                for column, field in zip(columns, fields):
                    column[:, t] = field
                states, observations = new_states, new_observations
                memories = outputs[n_actions:n_actions + n_states]
                t += 1
            if prev_alive is not None:
                prev_alive = is_alive
        assert specs is not None and columns is not None  # set by the first tick at the latest
        bools = [dtype == torch.bool for _, _, dtype, _ in specs]
        columns = [c.view(torch.bool) if b else c for c, b in zip(columns, bools)]
        env_states = columns[:n_env_states]
        observation_columns = columns[n_env_states:n_env_states + n_observations]
        output_columns = columns[n_env_states + n_observations:-3]
        policy = output_columns[n_actions + n_states:][:len(self.policy_layers)]
        return Sessions(
            env_states=env_states,
            observations=(observation_columns[0] if self.single_observation
                          else observation_columns),
            agent_states=dict(zip(self.state_layers,
                                  output_columns[n_actions:n_actions + n_states])),
            actions=(output_columns[0] if self.single_action
                     else output_columns[:n_actions]),
            policy=(policy[0] if self.single_policy else policy) if self.policy_layers else [],
            rewards=columns[-3],
            is_alive=columns[-2],
            is_truncated=columns[-1],
            next_env_states=states,
            next_observations=observations,
            additional_outputs=output_columns[n_actions + n_states + len(self.policy_layers):],
            initial_agent_states=initial_memories,
        )

    def _compiled_ticks_into(self, env: BaseEnvironment, plan: GraphPlan,
                             flags: Mapping[str, Any], n_env_states: int, n_observations: int,
                             length: int | None) -> Callable[..., Any]:
        """The compiled graph of :meth:`_compiled_sessions`: ``(states, observations,
        memories, prev_alive, columns, times) -> (new_states, new_observations, new_memories,
        is_alive)`` after ``compiling.TICKS_PER_GRAPH`` ticks, writing the record of the i-th
        into ``columns[j][:, times[i]]`` (``times`` an int64 tensor, so that one graph serves every
        tick), for sessions of ``length`` ticks, or of any length if None."""
        key = ("into", id(env), id(plan), tuple(sorted(flags.items())), length)
        if key not in self._compiled_ticks:  # once per environment, plan, flags and length
            n_actions, n_states = len(self.action_layers), len(self.state_layers)
            tick = self._tick(env, plan, flags, compiled=False)

            def ticks_into(states: list[torch.Tensor], observations: list[torch.Tensor],
                           memories: list[torch.Tensor], prev_alive: torch.Tensor | None,
                           columns: list[torch.Tensor], times: torch.Tensor
                           ) -> tuple[Any, ...]:
                for i in range(compiling.TICKS_PER_GRAPH):
                    is_alive, outputs, new_states, new_observations, rewards = tick(
                        states, observations, memories, prev_alive)
                    fields = [*states, *observations, *outputs, rewards, is_alive,
                              is_alive & env.get_is_truncated(new_states)]
                    for column, field in zip(columns, fields):
                        field = compiling.as_bytes(field)
                        if (field.dtype != column.dtype
                                or tuple(field.shape[1:]) != tuple(column.shape[2:])):
                            raise ValueError(  # checked while tracing only
                                f"get_sessions(compiled=True): a tick gave a {field.dtype} "
                                f"{tuple(field.shape)} where an earlier one gave "
                                f"{column.dtype} {tuple(column.shape[:1] + column.shape[2:])}")
                        column.index_copy_(1, times[i:i + 1], field.unsqueeze(1))
                    states, observations = new_states, new_observations
                    memories = outputs[n_actions:n_actions + n_states]
                    if prev_alive is not None:
                        prev_alive = is_alive
                carried = [*states, *observations, *memories, is_alive]
                bools = tuple(c.dtype == torch.bool for c in carried)
                return [compiling.as_bytes(c) for c in carried], bools

            # static shapes (another batch size compiles anew); the columns' time axis is
            # dynamic in the graph for any length (see _compiled_sessions)
            graph = compiling.compile_tick(ticks_into)
            states_end = n_env_states + n_observations

            def run(*args: Any) -> tuple[Any, ...]:
                carried, bools = graph(*args)
                carried = [c.view(torch.bool) if b else c for c, b in zip(carried, bools)]
                return (carried[:n_env_states], carried[n_env_states:states_end],
                        carried[states_end:-1], carried[-1])

            self._compiled_ticks[key] = run
        return self._compiled_ticks[key]

    def _plan_with(self, additional_outputs: list[Layer]) -> GraphPlan:
        """The tick's plan, extended with more outputs (plans are made once per set)."""
        if not additional_outputs:
            return self._plan
        key = tuple(additional_outputs)
        if key not in self._extended_plans:
            self._extended_plans[key] = GraphPlan(self._plan.outputs + additional_outputs,
                                                  self._plan.given)
        return self._extended_plans[key]

    def _check_environment(self, env: BaseEnvironment) -> None:
        if len(env.observation_shapes) != len(self.observation_layers):
            raise ValueError(f"{type(env).__name__} gives {len(env.observation_shapes)} "
                             f"observations, the agent has {len(self.observation_layers)} "
                             f"observation layers")
        for shape, layer in zip(env.observation_shapes, self.observation_layers):
            if not fits_shape(tuple(shape), layer.output_shape[1:]):
                raise ValueError(f"{type(env).__name__} observations have shape "
                                 f"{format_shape((None, *shape))}, {layer.describe()} expects "
                                 f"{format_shape(layer.output_shape)}")
        if len(env.action_shapes) != len(self.action_layers):
            raise ValueError(f"{type(env).__name__} takes {len(env.action_shapes)} actions, the "
                             f"agent has {len(self.action_layers)} action layers")
        for shape, dtype, layer in zip(env.action_shapes, env.action_dtypes, self.action_layers):
            if tuple(layer.output_shape[1:]) != tuple(shape) or layer.output_dtype != dtype:
                raise ValueError(f"{type(env).__name__} takes actions "
                                 f"{format_shape((None, *shape))} {dtype}, {layer.describe()} "
                                 f"gives {format_shape(layer.output_shape)} "
                                 f"{layer.output_dtype}")

    def _stack_sessions(self, records: list[tuple[Any, ...]], env: BaseEnvironment,
                        next_states: list[torch.Tensor], next_observations: list[torch.Tensor],
                        initial_memories: list[torch.Tensor]) -> Sessions:
        if not records:
            raise ValueError("get_sessions: session_length must be at least 1")

        def stack(index: int) -> list[torch.Tensor]:
            return [torch.stack(seq, dim=1) for seq in zip(*(r[index] for r in records))]

        env_states, observations, memories, actions, outputs = (stack(i) for i in range(5))
        policy, additional = outputs[:len(self.policy_layers)], outputs[len(self.policy_layers):]
        is_alive = torch.stack([r[6] for r in records], dim=1)
        # which ends were time limits, asked once for all ticks: the state after tick t is
        # env_states[:, t + 1], or next_states after the last tick
        batch, length = is_alive.shape
        after = [torch.cat([s[:, 1:], n[:, None]], dim=1).flatten(0, 1)
                 for s, n in zip(env_states, next_states)]
        is_truncated = is_alive & env.get_is_truncated(after).view(batch, length)
        return Sessions(
            env_states=env_states,
            observations=observations[0] if self.single_observation else observations,
            agent_states=dict(zip(self.state_layers, memories)),
            actions=actions[0] if self.single_action else actions,
            policy=(policy[0] if self.single_policy else policy) if self.policy_layers else [],
            rewards=torch.stack([r[5] for r in records], dim=1),
            is_alive=is_alive,
            is_truncated=is_truncated,
            next_env_states=next_states,
            next_observations=next_observations,
            additional_outputs=additional,
            initial_agent_states=initial_memories,
        )


MDPAgent = Agent


def _restart_memories(memories: list[torch.Tensor], is_alive: torch.Tensor,
                      prev_alive: torch.Tensor) -> list[torch.Tensor]:
    """Zero memory where a new episode begins: alive now, not alive at the last tick."""
    first = is_alive & ~prev_alive
    return [m.masked_fill(first.view((-1,) + (1,) * (m.dim() - 1)), 0) for m in memories]


def _to_numpy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.cpu().numpy()
    if isinstance(value, list):
        return [_to_numpy(v) for v in value]
    return value

