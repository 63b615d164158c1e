"""Experience replay: re-running recorded sessions through an agent with today's weights."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import torch

from ..layers.base import Layer, format_shape
from ..layers.graph import GraphPlan
from ..layers.normalization import BatchNormLayer
from .sessions import Sessions

if TYPE_CHECKING:
    from .agent import Agent

__all__ = ["replay_sessions"]


def replay_sessions(agent: Agent, recorded: Any, burn_in: int = 0,
                    initial_hidden: Sequence[torch.Tensor] | None = None,
                    additional_outputs: Sequence[Layer] = (),
                    flags: Mapping[str, Any] | None = None) -> Sessions:
    """Replay ``recorded`` sessions (a session pool or batch): recorded observations in,
    recorded actions forced through the action layers, memories recomputed from the memory
    that preceded each session (or ``initial_hidden``) and restarted at zeros where a new
    episode begins; policy and memories are differentiable.

    The first ``burn_in`` ticks only refresh the memory, without gradient, and are left out
    of the result: it covers ticks ``burn_in .. T-1``.

    An agent without memory has nothing to carry from tick to tick: its graph runs once on all
    ``B * T`` ticks (far fewer, larger kernels), unless it holds a batch normalization that
    would then see other statistics (training mode), which runs tick by tick as it would live.
    """
    flags = dict(flags or {})
    observations, actions = list(recorded.observations), list(recorded.actions)
    _check_recorded(agent, observations, actions)
    alive = recorded.is_alive
    batch, length = alive.shape
    if not 0 <= burn_in < length:
        raise ValueError(f"replay: burn_in must be in [0, {length}) for sessions of {length} "
                         f"ticks, got {burn_in}")
    if initial_hidden is not None:
        memories = agent._memory_list(initial_hidden, batch)
    elif recorded.preceding_memories is not None and agent.state_layers:
        memories = list(recorded.preceding_memories)
    else:
        memories = agent.get_zeros_like_memory(batch, alive.device)
    plan = _replay_plan(agent, list(additional_outputs))
    kept = slice(burn_in, length)
    if not agent.state_layers and not _batch_statistics(plan, flags):
        outputs_seqs = _replay_all_ticks_at_once(plan, [o[:, kept] for o in observations],
                                                 [a[:, kept] for a in actions], flags)
        return _replayed(agent, recorded, observations, actions, kept, [], outputs_seqs, [])
    n_states = len(agent.state_layers)
    views = [(-1,) + (1,) * (m.dim() - 1) for m in memories]
    records: list[tuple[list[torch.Tensor], list[torch.Tensor]]] = []
    initial = memories
    for t in range(length):
        if t > 0 and memories:  # a dead tick followed by an alive one starts a new episode
            first = alive[:, t] & ~alive[:, t - 1]
            memories = [m.masked_fill(first.view(view), 0) for m, view in zip(memories, views)]
        if t == burn_in:
            memories = [m.detach() for m in memories] if burn_in else memories
            initial = memories
        with torch.no_grad() if t < burn_in else nullcontext():
            outputs = plan([o[:, t] for o in observations] + memories
                           + [a[:, t] for a in actions], flags)
        memories = outputs[:n_states]
        if t >= burn_in:
            records.append((memories, outputs[n_states:]))

    def stack(index: int) -> list[torch.Tensor]:
        return [torch.stack(seq, dim=1) for seq in zip(*(r[index] for r in records))]

    return _replayed(agent, recorded, observations, actions, kept, stack(0), stack(1), initial)


def _replay_all_ticks_at_once(plan: GraphPlan, observations: list[torch.Tensor],
                              actions: list[torch.Tensor], flags: Mapping[str, Any]
                              ) -> list[torch.Tensor]:
    """A memoryless agent's outputs on every tick of ``[B, T, ...]`` inputs, in one call."""
    batch, length = observations[0].shape[:2]
    outputs = plan([x.flatten(0, 1) for x in observations + actions], flags)
    return [y.unflatten(0, (batch, length)) for y in outputs]


def _batch_statistics(plan: GraphPlan, flags: Mapping[str, Any]) -> bool:
    """Whether some layer of ``plan`` normalizes with the statistics of its batch."""
    return not flags.get("deterministic") and any(isinstance(layer, BatchNormLayer)
                                                  for layer in plan.layers)


def _replayed(agent: Agent, recorded: Any, observations: list[torch.Tensor],
              actions: list[torch.Tensor], kept: slice, memory_seqs: list[torch.Tensor],
              outputs_seqs: list[torch.Tensor], initial: list[torch.Tensor]) -> Sessions:
    """The replayed sessions: recorded fields cut to ``kept`` ticks, recomputed memories
    ``[B, T', ...]``, policy and additional outputs."""
    n_policy = len(agent.policy_layers)
    policy = outputs_seqs[:n_policy]
    observations = [o[:, kept] for o in observations]
    actions = [a[:, kept] for a in actions]
    alive = recorded.is_alive
    return Sessions(
        env_states=[],
        observations=observations[0] if agent.single_observation else observations,
        agent_states=dict(zip(agent.state_layers, memory_seqs)),
        actions=actions[0] if agent.single_action else actions,
        policy=(policy[0] if agent.single_policy else policy) if agent.policy_layers else [],
        rewards=recorded.rewards[:, kept],
        is_alive=alive[:, kept],
        is_truncated=recorded.is_truncated[:, kept],
        next_env_states=[], next_observations=[],
        additional_outputs=outputs_seqs[n_policy:],
        initial_agent_states=initial,
    )


def _replay_plan(agent: Agent, additional_outputs: list[Layer]) -> GraphPlan:
    """Observations, previous memories and the actions given; memories and policy out."""
    key = ("replay", *additional_outputs)
    plan = agent._extended_plans.get(key)
    if plan is None:
        plan = GraphPlan(agent.state_layers + agent.policy_layers + additional_outputs,
                         agent.observation_layers + agent.prev_state_layers + agent.action_layers)
        agent._extended_plans[key] = plan
    return plan


def _check_recorded(agent: Agent, observations: list[torch.Tensor],
                    actions: list[torch.Tensor]) -> None:
    for name, values, layers in (("observations", observations, agent.observation_layers),
                                 ("actions", actions, agent.action_layers)):
        if len(values) != len(layers):
            raise ValueError(f"replay: the sessions hold {len(values)} {name}, the agent has "
                             f"{len(layers)} {name[:-1]} layers")
        for value, layer in zip(values, layers):
            expected = layer.output_shape[1:]
            got = tuple(value.shape[2:])
            if len(got) != len(expected) or any(e is not None and e != g
                                                for e, g in zip(expected, got)):
                raise ValueError(f"replay: recorded {name} have shape "
                                 f"{format_shape(tuple(value.shape))}, {layer.describe()} "
                                 f"expects {format_shape((None, None, *expected))}")
            if value.dtype != layer.output_dtype:
                raise ValueError(f"replay: recorded {name} are {value.dtype}, "
                                 f"{layer.describe()} gives {layer.output_dtype}")
