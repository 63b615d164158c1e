"""The agent's side of a Gymnasium pool: each tick, its observations gathered into one
preallocated array and converted to the agent's device once, the agent's plan run on them
with its memory per environment, its actions handed to the environments, and everything
recorded as :class:`~agentnet.agent.Sessions` ``[n_envs, n_steps, ...]``."""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..agent import Agent
from ..records import Sessions, restart_memories, stack_ticks
from .slots import EnvSlots
from .stepping import Stepper

__all__ = ["Recorder"]


class Recorder:
    """Plays ``agent`` (its plan, with ``flags``) in the environments of ``stepper`` and
    records what happened. Sessions carry on across :meth:`interact` calls: it keeps each
    environment's pending observation (``first``: the environments' first ones, one array
    per observation layer each) and the agent's memory."""

    def __init__(self, agent: Agent, flags: Mapping[str, Any], stepper: Stepper,
                 first: Sequence[Sequence[np.ndarray]]):
        self.agent, self.flags, self.stepper = agent, dict(flags), stepper
        slots: EnvSlots = stepper.slots
        self.memory: list[torch.Tensor] = agent.get_zeros_like_memory(slots.n_envs)
        # what the next tick sees: one array [n_envs, ...] per observation layer, in the
        # observation space's dtype (as a Gymnasium vector environment would batch it)
        self.pending = [np.empty((slots.n_envs, *shape), dtype) for shape, dtype in slots.layout]
        for i, parts in enumerate(first):
            for row, part in zip(self.pending, parts):
                row[i] = part

    def interact(self, n_steps: int) -> Sessions:
        """Play ``n_steps`` ticks in every environment and return them as sessions (see
        :meth:`EnvPool.interact <agentnet.driving.EnvPool.interact>`)."""
        agent, stepper = self.agent, self.stepper
        slots, layout = stepper.slots, agent.layout
        n, device = slots.n_envs, agent.device
        obs_dtypes = [layer.output_dtype for layer in agent.observation_layers]
        # every observation of this call, tick-major: row t is what tick t sees (row n_steps
        # what the next call's tick 0 will); the agent gets row t without a copy on the CPU
        log = [np.empty((n_steps + 1, n, *shape), dtype) for shape, dtype in slots.layout]
        for part, pending in zip(log, self.pending):
            part[0] = pending
        converters = [_converter(dtype, np_dtype, device)
                      for dtype, (_, np_dtype) in zip(obs_dtypes, slots.layout)]
        single_obs = len(log) == 1
        log_rows = list(log[0])  # each tick's row (views made at once)
        rewards = np.zeros((n, n_steps), dtype=np.float32)
        reward_columns = list(rewards.T)  # each tick's column
        alive_log = np.ones((n, n_steps), dtype=bool)
        truncated_log = np.zeros((n, n_steps), dtype=bool)
        to_numpy = _numpy_converter(device)
        plan, flags = agent.get_tick_plan(), self.flags
        single_action = layout.n_actions == 1
        memories = self.memory
        initial = memories
        output_log: list[list[torch.Tensor]] = []
        completed, kept = 0, memories  # ticks done, the memory after them
        try:
            with torch.inference_mode():
                for t in range(n_steps):
                    aliveness = stepper.aliveness()
                    alive = None
                    if aliveness is not None:
                        alive, starts = aliveness
                        if memories and starts.any():  # a new episode: memory restarts
                            memories = restart_memories(memories,
                                                        torch.as_tensor(starts, device=device))
                        alive_log[:, t] = alive
                    if t == 0:
                        initial = memories
                    if single_obs:  # (no comprehensions: each is a call)
                        seen = [log_rows[t]]
                        observations = [converters[0](seen[0])]
                        rows = [log_rows[t + 1]]
                    else:
                        seen = [part[t] for part in log]
                        observations = [c(o) for c, o in zip(converters, seen)]
                        rows = [part[t + 1] for part in log]
                    outputs = plan(observations + memories, flags)
                    memories = layout.states_of(outputs)
                    actions = ([to_numpy(outputs[0])] if single_action
                               else [to_numpy(a) for a in layout.actions_of(outputs)])
                    stepper.step(t, actions, alive, seen, rows, reward_columns[t], truncated_log)
                    output_log.append(outputs)
                    slots.ticks += 1
                    completed, kept = t + 1, memories
        finally:  # also when interrupted: the next call goes on from the last whole tick
            self.memory = kept
            self.pending = [part[completed].copy() for part in log]
        # (outside inference mode: the result is made of ordinary tensors, usable in a loss)
        observation_seqs = [torch.as_tensor(np.ascontiguousarray(part[:n_steps].swapaxes(0, 1)),
                                            dtype=dtype, device=device)
                            for part, dtype in zip(log, obs_dtypes)]
        next_observations = [torch.as_tensor(part[n_steps], dtype=dtype, device=device)
                             for part, dtype in zip(log, obs_dtypes)]
        return layout.sessions(observation_seqs, stack_ticks(output_log),
                               torch.as_tensor(rewards, device=device),
                               torch.as_tensor(alive_log, device=device),
                               torch.as_tensor(truncated_log, device=device),
                               next_observations=next_observations,
                               initial_agent_states=[m.clone() for m in initial])


def _converter(dtype: torch.dtype, np_dtype: np.dtype,
               device: torch.device) -> Callable[[np.ndarray], torch.Tensor]:
    """numpy observations ``[n_envs, ...]`` to the tensor an observation layer takes: without
    a copy when they already are (on the CPU, in its dtype)."""
    if device.type == "cpu":
        try:
            same = torch.from_numpy(np.empty(0, np_dtype)).dtype == dtype
        except TypeError:  # a dtype torch does not share with numpy
            same = False
        if same:
            return torch.from_numpy
    return functools.partial(torch.as_tensor, dtype=dtype, device=device)


def _numpy_converter(device: torch.device) -> Callable[[torch.Tensor], np.ndarray]:
    if device.type == "cpu":
        return torch.Tensor.numpy
    return lambda tensor: tensor.cpu().numpy()
