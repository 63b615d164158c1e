"""Live rollouts: an agent played against a tensor-native environment, tick by tick.

``Agent.get_sessions(env, T)`` lands here. Eagerly, each tick runs the agent's plan and the
environment's step, and the ticks' records are stacked at the end. With ``compiled=True``
the whole tick is one ``torch.compile`` graph, with inductor's ``fallback_random``: random
numbers come from the same ATen generators in the same order as eagerly, so the compiled
sessions are the eager ones (up to the last bit of a few ``sin``/``cos``). Without gradient
(``torch.no_grad()``) ticks run :data:`~agentnet.agent.compiled.TICKS_PER_GRAPH` per graph
and write their records straight into the sessions' tensors; each of the first
:data:`~agentnet.agent.compiled.STATIC_LENGTHS` session lengths gets a graph of its own,
later ones share one (a little slower).

The compiled graphs, and what they need (the shapes of a tick's records, the lengths seen),
are kept here, per agent and environment, not on the agent: an agent stays picklable and
deep-copyable after a compiled rollout, and an agent or environment that is gone takes its
entries with it (the graphs take the environment as an argument, so they do not keep it
alive).
"""
from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from ..environment.base import BaseEnvironment, as_tensor_list
from ..layers.base import Layer
from ..layers.graph import GraphPlan
from ..records import Sessions, TickLayout, restart_memories, stack_ticks
from . import checks
from . import compiled as compiling

if TYPE_CHECKING:
    from .agent import Agent

__all__ = ["play"]

Tick = Callable[..., Any]


def play(agent: Agent, env: Any, session_length: int, batch_size: int | None,
         initial_env_states: Sequence[torch.Tensor] | None, initial_observations: Any,
         initial_hidden: Any, continue_from: Sessions | dict[str, Any] | None,
         additional_outputs: list[Layer], flags: Mapping[str, Any],
         compiled: bool) -> Sessions:
    """``session_length`` ticks of ``agent`` in ``env``: the live mode of
    :meth:`Agent.get_sessions <agentnet.agent.Agent.get_sessions>` (arguments as there)."""
    if not isinstance(env, BaseEnvironment):
        raise TypeError(f"get_sessions: {type(env).__name__} is not a BaseEnvironment; to "
                        f"replay recorded sessions pass experience_replay=True")
    checks.check_environment(agent, env)
    if session_length < 1:
        raise ValueError("get_sessions: session_length must be at least 1")
    prev_alive = None
    if continue_from is not None:
        if (initial_env_states is not None or initial_observations is not None
                or initial_hidden is not None):
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
        states, observations = env.reset(batch_size, device=agent.device)
    else:
        states = list(initial_env_states)
        observations = checks.as_count(initial_observations, agent.layout.n_observations,
                                       "initial observations")
        if batch_size is not None and batch_size != observations[0].shape[0]:
            raise ValueError(f"get_sessions: batch_size={batch_size}, but the sessions start "
                             f"from {observations[0].shape[0]} given states (continue_from or "
                             f"initial_env_states); give one or the other")
    memories = agent.get_initial_memories(initial_hidden, observations[0].shape[0])
    plan = agent.get_tick_plan(additional_outputs)
    # memory restarts where a new episode begins: a dead tick followed by an alive one
    initial_memories = memories
    if bool(memories) and env.autoreset:
        is_alive = env.get_is_alive(states)
        if prev_alive is not None:  # going on from earlier sessions: restart here too
            memories = initial_memories = restart_memories(memories, is_alive & ~prev_alive)
        prev_alive = is_alive  # the first tick restarts nothing more
    else:
        prev_alive = None  # the tick never restarts memory
    start = (states, observations, memories, prev_alive)
    if compiled and not torch.is_grad_enabled():
        return _compiled_sessions(agent, env, plan, flags, session_length, start,
                                  initial_memories)
    tick = _compiled_tick(agent, env, plan, flags) if compiled else _tick(plan, agent.layout,
                                                                          flags)
    return _eager_sessions(agent.layout, env, tick, session_length, start, initial_memories)


def _tick(plan: GraphPlan, layout: TickLayout, flags: Mapping[str, Any]) -> Tick:
    """One tick ``(env, states, observations, memories, prev_alive) -> (is_alive, outputs,
    new_states, new_observations, rewards)``: whether each session is alive, the memories
    restarted where an episode begins (if ``prev_alive``, the last tick's aliveness, is
    given), the agent's plan, then the environment's step and rewards."""
    def tick(env: BaseEnvironment, states: list[torch.Tensor],
             observations: list[torch.Tensor], memories: list[torch.Tensor],
             prev_alive: torch.Tensor | None) -> tuple[Any, ...]:
        is_alive = env.get_is_alive(states)
        if prev_alive is not None:
            memories = restart_memories(memories, is_alive & ~prev_alive)
        outputs = plan(observations + memories, flags)
        actions = layout.actions_of(outputs)
        new_states, new_observations = env.get_action_results(states, actions)
        new_states, new_observations = as_tensor_list(new_states), as_tensor_list(new_observations)
        rewards = env.get_rewards(states, actions, new_states)
        return is_alive, outputs, new_states, new_observations, rewards

    return tick


def _eager_sessions(layout: TickLayout, env: BaseEnvironment, tick: Tick, session_length: int,
                    start: tuple[Any, ...], initial_memories: list[torch.Tensor]) -> Sessions:
    """The ticks one by one, their records stacked at the end."""
    states, observations, memories, prev_alive = start
    records: list[tuple[Any, ...]] = []
    for _ in range(session_length):
        is_alive, outputs, new_states, new_observations, rewards = tick(
            env, states, observations, memories, prev_alive)
        records.append((states, observations, outputs, rewards, is_alive))
        memories = layout.states_of(outputs)
        states, observations = new_states, new_observations
        if prev_alive is not None:
            prev_alive = is_alive
    env_states, observation_seqs, output_seqs = (stack_ticks([r[i] for r in records])
                                                 for i in range(3))
    is_alive = torch.stack([r[4] for r in records], dim=1)
    # which ends were time limits, asked once for all ticks: the state after tick t is
    # env_states[:, t + 1], or the next states after the last tick
    batch, length = is_alive.shape
    after = [torch.cat([s[:, 1:], n[:, None]], dim=1).flatten(0, 1)
             for s, n in zip(env_states, states)]
    is_truncated = is_alive & env.get_is_truncated(after).view(batch, length)
    return layout.sessions(observation_seqs, output_seqs,
                           torch.stack([r[3] for r in records], dim=1), is_alive, is_truncated,
                           env_states=env_states, next_env_states=states,
                           next_observations=observations,
                           initial_agent_states=initial_memories)


# --- compiled rollouts -------------------------------------------------------------------------
@dataclass
class _Compiled:
    """What compiled rollouts of one agent in one environment keep, per plan and flags."""

    ticks: dict[tuple[Any, ...], Tick] = field(default_factory=dict)
    """one tick, compiled: per (plan, flags)"""
    ticks_into: dict[tuple[Any, ...], Tick] = field(default_factory=dict)
    """TICKS_PER_GRAPH ticks writing into the sessions' tensors: per (plan, flags, length)"""
    specs: dict[tuple[Any, ...], list[tuple[Any, ...]]] = field(default_factory=dict)
    """(batch, shape, dtype, device) of each record of a tick: per (plan, flags, batch, device)"""
    lengths: dict[tuple[Any, ...], list[int]] = field(default_factory=dict)
    """session lengths with a graph of their own: per (plan, flags)"""


#: (id of the agent, id of the environment) -> what their compiled rollouts keep; an entry
#: goes when either of them does (weakref.finalize), so that an id is never met again
_CACHE: dict[tuple[int, int], _Compiled] = {}


def _cached(agent: Agent, env: BaseEnvironment) -> _Compiled:
    key = (id(agent), id(env))
    entry = _CACHE.get(key)
    if entry is None:
        entry = _CACHE[key] = _Compiled()
        weakref.finalize(agent, _CACHE.pop, key, None)
        weakref.finalize(env, _CACHE.pop, key, None)
    return entry


def _flags_key(plan: GraphPlan, flags: Mapping[str, Any]) -> tuple[Any, ...]:
    return (plan, tuple(sorted(flags.items())))


def _compiled_tick(agent: Agent, env: BaseEnvironment, plan: GraphPlan,
                   flags: Mapping[str, Any]) -> Tick:
    """:func:`_tick` as one ``torch.compile`` graph (compiled once per agent, environment,
    plan and flags; shapes static). Its bool results leave the graph as uint8 and are viewed
    as bool outside (see :func:`~agentnet.agent.compiled.tick_with_bools_as_bytes`)."""
    cache = _cached(agent, env).ticks
    key = _flags_key(plan, flags)
    if key not in cache:
        graph = compiling.compile_tick(compiling.tick_with_bools_as_bytes(
            _tick(plan, agent.layout, flags)))
        cache[key] = compiling.tick_with_bools_from_bytes(graph)
    return cache[key]


def _record(states: list[torch.Tensor], observations: list[torch.Tensor],
            outputs: list[torch.Tensor], rewards: torch.Tensor, is_alive: torch.Tensor,
            is_truncated: torch.Tensor) -> list[torch.Tensor]:
    """A tick's record as the columns of the compiled sessions hold it, flat."""
    return [*states, *observations, *outputs, rewards, is_alive, is_truncated]


def _compiled_sessions(agent: Agent, env: BaseEnvironment, plan: GraphPlan,
                       flags: Mapping[str, Any], session_length: int, start: tuple[Any, ...],
                       initial_memories: list[torch.Tensor]) -> Sessions:
    """A rollout without gradient, compiled: ticks run in compiled graphs of
    ``compiling.TICKS_PER_GRAPH`` ticks each, which also write each tick's record into its
    column ``[:, t]`` of the sessions' ``[B, T, ...]`` tensors: no per-tick records to
    keep and stack at the end, so less copying and half the fresh memory (whose first
    touch costs a page fault each 4 KiB).

    The columns' shapes and dtypes come from a first tick played eagerly, the first time
    for an agent, environment, plan, flags and batch; ticks left over at the end (fewer than a
    graph's) are played one by one, compiled as in :func:`_compiled_tick`.
    """
    states, observations, memories, prev_alive = start
    layout = agent.layout
    n_env_states, n_observations = len(states), len(observations)
    cache, key = _cached(agent, env), _flags_key(plan, flags)
    tick = _tick(plan, layout, flags)
    # a graph for this session length (the sessions' tensors' shapes are static), or,
    # past a few lengths, one graph for any length (dynamic: ~15-20% slower per tick)
    lengths = cache.lengths.setdefault(key, [])
    if (session_length not in lengths and len(lengths) < compiling.STATIC_LENGTHS
            and session_length >= compiling.TICKS_PER_GRAPH):  # (shorter ones use no graph)
        lengths.append(session_length)
    length = session_length if session_length in lengths else None
    ticks_into = _compiled_ticks_into(agent, env, plan, flags, n_env_states, n_observations,
                                      length)
    device = observations[0].device
    specs_key = (*key, observations[0].shape[0], device)
    specs = cache.specs.get(specs_key)
    columns = (None if specs is None
               else compiling.make_columns(specs, session_length, dynamic=length is None))
    times = torch.arange(session_length, device=device)
    t = 0
    while t < session_length:
        if columns is not None and t + compiling.TICKS_PER_GRAPH <= session_length:
            states, observations, memories, is_alive = ticks_into(
                env, states, observations, memories, prev_alive, columns,
                times[t:t + compiling.TICKS_PER_GRAPH])
            t += compiling.TICKS_PER_GRAPH
        else:  # the first tick ever, eager (it gives the columns' shapes), or one left
            # over at the end, compiled alone
            one_tick = tick if columns is None else _compiled_tick(agent, env, plan, flags)
            is_alive, outputs, new_states, new_observations, rewards = one_tick(
                env, states, observations, memories, prev_alive)
            fields = _record(states, observations, outputs, rewards, is_alive,
                             is_alive & env.get_is_truncated(new_states))
            if columns is None:
                specs = cache.specs[specs_key] = [
                    (f.shape[0], tuple(f.shape[1:]), f.dtype, f.device) for f in fields]
                columns = compiling.make_columns(specs, session_length, dynamic=length is None)
            for column, value in zip(columns, fields):
                column[:, t] = value
            states, observations = new_states, new_observations
            memories = layout.states_of(outputs)
            t += 1
        if prev_alive is not None:
            prev_alive = is_alive
    if specs is None or columns is None:  # (set by the first tick at the latest)
        raise RuntimeError("get_sessions(compiled=True): no tick was played")
    columns = [c.view(torch.bool) if dtype == torch.bool else c
               for c, (_, _, dtype, _) in zip(columns, specs)]
    observations_end = n_env_states + n_observations
    return layout.sessions(columns[n_env_states:observations_end],
                           columns[observations_end:-3], *columns[-3:],
                           env_states=columns[:n_env_states], next_env_states=states,
                           next_observations=observations,
                           initial_agent_states=initial_memories)


def _compiled_ticks_into(agent: Agent, env: BaseEnvironment, plan: GraphPlan,
                         flags: Mapping[str, Any], n_env_states: int, n_observations: int,
                         length: int | None) -> Tick:
    """The compiled graph of :func:`_compiled_sessions`: ``(env, states, observations,
    memories, prev_alive, columns, times) -> (new_states, new_observations, new_memories,
    is_alive)`` after ``compiling.TICKS_PER_GRAPH`` ticks, writing the record of the i-th
    into ``columns[j][:, times[i]]`` (``times`` an int64 tensor, so that one graph serves every
    tick), for sessions of ``length`` ticks, or of any length if None."""
    cache = _cached(agent, env).ticks_into
    key = (*_flags_key(plan, flags), length)
    if key in cache:  # once per agent, environment, plan, flags and length
        return cache[key]
    layout = agent.layout
    tick = _tick(plan, layout, flags)

    def ticks_into(env: BaseEnvironment, states: list[torch.Tensor],
                   observations: list[torch.Tensor], memories: list[torch.Tensor],
                   prev_alive: torch.Tensor | None, columns: list[torch.Tensor],
                   times: torch.Tensor) -> tuple[Any, ...]:
        for i in range(compiling.TICKS_PER_GRAPH):
            is_alive, outputs, new_states, new_observations, rewards = tick(
                env, states, observations, memories, prev_alive)
            fields = _record(states, observations, outputs, rewards, is_alive,
                             is_alive & env.get_is_truncated(new_states))
            for column, value in zip(columns, fields):
                value = compiling.as_bytes(value)
                if (value.dtype != column.dtype
                        or tuple(value.shape[1:]) != tuple(column.shape[2:])):
                    raise ValueError(  # checked while tracing only
                        f"get_sessions(compiled=True): a tick gave a {value.dtype} "
                        f"{tuple(value.shape)} where an earlier one gave "
                        f"{column.dtype} {tuple(column.shape[:1] + column.shape[2:])}")
                column.index_copy_(1, times[i:i + 1], value.unsqueeze(1))
            states, observations = new_states, new_observations
            memories = layout.states_of(outputs)
            if prev_alive is not None:
                prev_alive = is_alive
        carried = [*states, *observations, *memories, is_alive]
        bools = tuple(c.dtype == torch.bool for c in carried)
        return [compiling.as_bytes(c) for c in carried], bools

    # static shapes (another batch size compiles anew); the columns' time axis is dynamic
    # in the graph for any length (see _compiled_sessions)
    graph = compiling.compile_tick(ticks_into)
    states_end = n_env_states + n_observations

    def run(*args: Any) -> tuple[Any, ...]:
        carried, bools = graph(*args)
        carried = [c.view(torch.bool) if b else c for c, b in zip(carried, bools)]
        return (carried[:n_env_states], carried[n_env_states:states_end],
                carried[states_end:-1], carried[-1])

    cache[key] = run
    return run
