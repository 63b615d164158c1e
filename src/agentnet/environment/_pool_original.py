"""The original AgentNet's way of making and filling a :class:`SessionPoolEnvironment`:
``SessionPoolEnvironment(observations=, actions=, agent_memories=)`` describing the stored
fields (counts or layers), ``load_sessions`` replacing the whole pool by numpy (or torch)
arrays of any size and length, ``append_sessions(..., max_pool_size=)`` growing it and keeping
the newest sessions. Helpers of :mod:`agentnet.environment.session_pool`."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..layers.base import Layer, as_torch_dtype, format_shape
from ..records import Sessions, as_list

__all__: list[str] = []

#: ``(per-tick shape without batch and time (None: taken from the first data), dtype)``
Template = tuple[tuple[int, ...] | None, torch.dtype]

#: the original constructor's arguments, in its positional order
ORIGINAL_ARGS = ("observations", "actions", "agent_memories", "default_action_dtype", "rng_seed")


def templates(value: Any, what: str, default_dtype: torch.dtype) -> list[Template]:
    """What the original constructor took for ``observations``, ``actions`` or
    ``agent_memories``: a count of fields (shapes from the first data), a layer, a list of
    layers, or a dict whose keys are layers (``agent.agent_states``)."""
    if isinstance(value, bool) or value is None:
        raise TypeError(f"SessionPoolEnvironment: {what} must be a count or layers, got {value!r}")
    if isinstance(value, (int, np.integer)):
        if value < 0:
            raise ValueError(f"SessionPoolEnvironment: {what} must be >= 0, got {value}")
        return [(None, default_dtype)] * int(value)
    if isinstance(value, Mapping):
        value = list(value.keys())
    layers = as_list(value)
    out: list[Template] = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise TypeError(f"SessionPoolEnvironment: {what}[{i}] must be a layer, got "
                            f"{type(layer).__name__}")
        shape = tuple(layer.output_shape[1:])
        out.append((None if any(d is None for d in shape) else tuple(int(d) for d in shape),
                    as_torch_dtype(layer.output_dtype)))
    return out


def bind(args: Sequence[Any], kwargs: dict[str, Any], method: str,
         with_max_size: bool) -> dict[str, Any]:
    """The original ``load_sessions(observation_sequences, action_sequences, reward_seq,
    is_alive=None, prev_memories=None)`` (``append_sessions`` adds ``max_pool_size=None``)
    arguments by name; agentnet's names (``observations``, ``actions``, ``rewards``,
    ``preceding_memories``) and ``is_truncated`` are accepted by keyword too."""
    names = ["observation_sequences", "action_sequences", "reward_seq", "is_alive",
             "prev_memories"] + (["max_pool_size"] if with_max_size else [])
    aliases = {"observations": "observation_sequences", "actions": "action_sequences",
               "rewards": "reward_seq", "preceding_memories": "prev_memories"}
    if len(args) > len(names):
        raise TypeError(f"{method}: takes at most {len(names)} positional arguments "
                        f"({', '.join(names)}), got {len(args)}")
    bound: dict[str, Any] = dict(zip(names, args))
    for key, value in kwargs.items():
        name = aliases.get(key, key)
        if name not in names and name != "is_truncated":
            raise TypeError(f"{method}: unexpected argument {key!r}")
        if name in bound:
            raise TypeError(f"{method}: {name} given twice (as {key!r})")
        bound[name] = value
    if len(bound) == 1 and isinstance(bound.get("observation_sequences"), Sessions):
        sessions = bound["observation_sequences"]
        bound = {"observation_sequences": sessions.observations,
                 "action_sequences": sessions.actions, "reward_seq": sessions.rewards,
                 "is_alive": sessions.is_alive, "is_truncated": sessions.is_truncated,
                 "prev_memories": sessions.initial_agent_states or None}
    for name in names[:3]:
        if bound.get(name) is None:
            raise TypeError(f"{method}: {name} is required")
    return bound


def field(value: Any, template: Template, lead: tuple[int, ...], label: str,
          method: str, device: torch.device) -> torch.Tensor:
    """``value`` (numpy or torch) as a tensor of the template's dtype on ``device`` (cast as
    the original's shared variables did), checked to be ``[*lead, *shape]``."""
    tensor = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
    tensor = tensor.detach().to(device=device, dtype=template[1])
    shape = template[0]
    if tuple(tensor.shape[:len(lead)]) != lead or (
            shape is not None and tuple(tensor.shape[len(lead):]) != shape):
        expected = (*lead, *(shape if shape is not None else ("...",)))
        raise ValueError(f"{method}: {label} has shape {format_shape(tuple(tensor.shape))}, "
                         f"expected {format_shape(expected)}")
    return tensor


def fields(pool_templates: tuple[list[Template], list[Template], list[Template]],
           bound: dict[str, Any], method: str, device: torch.device
           ) -> dict[str, Any]:
    """Every field of ``bound`` (from :func:`bind`) checked against the pool's templates and
    converted: ``observations``, ``actions``, ``memories`` (lists; memories None when not
    given) and ``rewards``, ``is_alive``, ``is_truncated`` tensors ``[B, T]``."""
    observation_templates, action_templates, memory_templates = pool_templates
    rewards = field(bound["reward_seq"], (None, torch.float32), (), "reward_seq", method, device)
    if rewards.dim() != 2:
        raise ValueError(f"{method}: reward_seq must be [batch, time], got shape "
                         f"{format_shape(tuple(rewards.shape))}")
    lead = tuple(rewards.shape)

    def group(values: Any, group_templates: list[Template], name: str,
              group_lead: tuple[int, ...]) -> list[torch.Tensor]:
        values = as_list(values)
        if len(values) != len(group_templates):
            raise ValueError(f"{method}: {len(values)} {name} given, the pool stores "
                             f"{len(group_templates)}")
        return [field(v, t, group_lead, f"{name}[{i}]" if len(values) > 1 else name, method,
                      device) for i, (v, t) in enumerate(zip(values, group_templates))]

    def flag(value: Any, default: bool, name: str) -> torch.Tensor:
        if value is None:
            return torch.full(lead, default, dtype=torch.bool, device=device)
        return field(value, ((), torch.bool), lead, name, method, device)

    memories = bound.get("prev_memories")
    return {
        "observations": group(bound["observation_sequences"], observation_templates,
                              "observation_sequences", lead),
        "actions": group(bound["action_sequences"], action_templates, "action_sequences", lead),
        "rewards": rewards,
        "is_alive": flag(bound.get("is_alive"), True, "is_alive"),
        "is_truncated": flag(bound.get("is_truncated"), False, "is_truncated"),
        "memories": None if memories is None else group(memories, memory_templates,
                                                        "prev_memories", lead[:1]),
    }
