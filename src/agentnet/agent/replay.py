"""Experience replay: re-running recorded sessions through an agent with today's weights.

``Agent.get_sessions(recorded, experience_replay=True)`` lands here. It uses the agent's
public methods only: its replay plans (:meth:`~agentnet.agent.Agent.get_tick_plan` with
``replay=True``, :meth:`~agentnet.agent.Agent.get_replay_plans`), its memories
(:meth:`~agentnet.agent.Agent.get_initial_memories`) and its
:attr:`~agentnet.agent.Agent.layout`.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import torch

from ..layers.base import Layer
from ..layers.graph import GraphPlan
from ..layers.normalization import BatchNormLayer
from ..records import Sessions, as_list, restart_memories, stack_ticks
from . import checks

if TYPE_CHECKING:
    from .agent import Agent

__all__ = ["replay_sessions"]


def replay_sessions(agent: Agent, recorded: Any, burn_in: int = 0,
                    initial_hidden: Sequence[torch.Tensor] | None = None,
                    additional_outputs: Sequence[Layer] = (),
                    flags: Mapping[str, Any] | None = None, session_length: int | None = None,
                    batch_size: int | None = None) -> Sessions:
    """Replay ``recorded`` sessions (a session pool or batch): recorded observations in,
    recorded actions forced through the action layers, memories recomputed from the memory
    that preceded each session (or ``initial_hidden``) and restarted at zeros where a new
    episode begins; policy and memories are differentiable.

    The first ``burn_in`` ticks only refresh the memory, without gradient, and are left out
    of the result: it covers ticks ``burn_in .. T-1``. ``session_length`` and ``batch_size``,
    if given, must be the recorded sessions' (a replay plays them all, whole).

    Only what carries from tick to tick runs tick by tick: an agent's memory path
    (:meth:`~agentnet.agent.Agent.get_replay_plans`), then the rest of its graph runs once on
    all ``B * T`` ticks with the memories given (far fewer, larger kernels); an agent without
    memory runs its graph once. An agent holding a batch normalization that would then see
    other statistics (training mode) runs its whole tick, tick by tick, as it would live.
    """
    flags = dict(flags or {})
    observations, actions = as_list(recorded.observations), as_list(recorded.actions)
    checks.check_recorded(agent, observations, actions)
    alive = recorded.is_alive
    batch, length = alive.shape
    if (session_length is not None and session_length != length) or (
            batch_size is not None and batch_size != batch):
        name, given, what = (("session_length", session_length, f"{length} ticks")
                             if session_length is not None and session_length != length
                             else ("batch_size", batch_size, f"{batch} sessions"))
        raise ValueError(f"get_sessions: {name}={given}, but the replayed sessions are {what}; "
                         f"a replay plays the recorded sessions whole (burn_in=k leaves out "
                         f"their first k ticks)")
    if not 0 <= burn_in < length:
        raise ValueError(f"replay: burn_in must be in [0, {length}) for sessions of {length} "
                         f"ticks, got {burn_in}")
    if initial_hidden is not None:
        memories = agent.get_initial_memories(initial_hidden, batch)
    elif recorded.preceding_memories is not None and agent.state_layers:
        memories = list(recorded.preceding_memories)
    else:
        memories = agent.get_zeros_like_memory(batch, alive.device)
    plan = agent.get_tick_plan(additional_outputs, replay=True)
    kept = slice(burn_in, length)
    if not agent.state_layers and not _batch_statistics(plan, flags):
        outputs = _replay_all_ticks_at_once(plan, agent.layout.n_actions,
                                            [o[:, kept] for o in observations],
                                            [a[:, kept] for a in actions], flags)
        return _replayed(agent, recorded, observations, actions, kept, outputs, [])
    layout = agent.layout
    if _batch_statistics(plan, flags):  # the whole tick, tick by tick, as it ran live
        def tick(t: int, memories: list[torch.Tensor]) -> tuple[list[torch.Tensor], Any]:
            outputs = plan([o[:, t] for o in observations] + memories
                           + [a[:, t] for a in actions], flags)
            return layout.states_of(outputs), outputs[layout.n_actions:]

        initial, records = _unroll(memories, alive, burn_in, tick)
        outputs = [*(a[:, kept] for a in actions), *stack_ticks(records)]
        return _replayed(agent, recorded, observations, actions, kept, outputs, initial)
    # the memory path tick by tick; the rest once, on all the ticks kept
    memory_plan, rest_plan = agent.get_replay_plans(additional_outputs)

    def memory_step(t: int, memories: list[torch.Tensor]) -> tuple[list[torch.Tensor], Any]:
        new = memory_plan([o[:, t] for o in observations] + memories
                          + [a[:, t] for a in actions], flags)
        return new, (memories, new)

    initial, records = _unroll(memories, alive, burn_in, memory_step)
    inputs = ([x[:, kept] for x in observations] + stack_ticks([e for e, _ in records])
              + [a[:, kept] for a in actions] + stack_ticks([n for _, n in records]))
    rest = rest_plan([x.flatten(0, 1) for x in inputs], flags)[agent.layout.n_actions:]
    outputs = [*(a[:, kept] for a in actions),
               *(y.unflatten(0, (batch, length - burn_in)) for y in rest)]
    return _replayed(agent, recorded, observations, actions, kept, outputs, initial)


def _unroll(memories: list[torch.Tensor], alive: torch.Tensor, burn_in: int,
            step: Callable[[int, list[torch.Tensor]], tuple[list[torch.Tensor], Any]]
            ) -> tuple[list[torch.Tensor], list[Any]]:
    """Carry ``memories`` through the ticks of ``alive`` (bool ``[B, T]``): ``step(t,
    memories)`` returns the memories after tick t and what to keep of it. The memories
    restart at zeros where an episode starts (an alive tick after a dead one; the ticks where
    some row does are read once, one host sync); the first ``burn_in`` ticks run without
    gradient and keep nothing. Returns the memories entering tick ``burn_in`` and what was
    kept of each tick after."""
    starts = alive[:, 1:] & ~alive[:, :-1]
    any_starts = starts.any(0).tolist() if memories else [False] * starts.shape[1]
    initial, records = memories, []
    for t in range(alive.shape[1]):
        if t > 0 and any_starts[t - 1]:
            memories = restart_memories(memories, starts[:, t - 1])
        if t == burn_in:
            memories = [m.detach() for m in memories] if burn_in else memories
            initial = memories
        with torch.no_grad() if t < burn_in else nullcontext():
            memories, record = step(t, memories)
        if t >= burn_in:
            records.append(record)
    return initial, records


def _replay_all_ticks_at_once(plan: GraphPlan, n_actions: int,
                              observations: list[torch.Tensor], actions: list[torch.Tensor],
                              flags: Mapping[str, Any]) -> list[torch.Tensor]:
    """A memoryless agent's outputs on every tick of ``[B, T, ...]`` inputs, in one call (the
    actions, passed through the plan, as given)."""
    batch, length = observations[0].shape[:2]
    outputs = plan([x.flatten(0, 1) for x in observations + actions], flags)
    return [*actions, *(y.unflatten(0, (batch, length)) for y in outputs[n_actions:])]


def _batch_statistics(plan: GraphPlan, flags: Mapping[str, Any]) -> bool:
    """Whether some layer of ``plan`` normalizes with the statistics of its batch."""
    return not flags.get("deterministic") and any(isinstance(layer, BatchNormLayer)
                                                  for layer in plan.layers)


def _replayed(agent: Agent, recorded: Any, observations: list[torch.Tensor],
              actions: list[torch.Tensor], kept: slice, outputs: list[torch.Tensor],
              initial: list[torch.Tensor]) -> Sessions:
    """The replayed sessions: recorded fields cut to ``kept`` ticks, and the plan's outputs
    ``[B, T', ...]`` (the recorded actions in place of their passed-through copies)."""
    return agent.layout.sessions(
        [o[:, kept] for o in observations], outputs, recorded.rewards[:, kept],
        recorded.is_alive[:, kept], recorded.is_truncated[:, kept],
        actions=[a[:, kept] for a in actions], initial_agent_states=initial)
