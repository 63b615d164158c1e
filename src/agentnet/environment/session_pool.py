"""Recorded sessions for experience replay: a bounded pool on the device, and batches of it.

``agent.get_sessions(pool_or_batch, experience_replay=True)`` replays the recorded
observations, forces the recorded actions through the action layers, and recomputes policy
and memory with today's weights, starting from the memory that preceded each session.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any, Protocol

import torch

from ..layers.base import Layer, as_torch_dtype, format_shape
from ..records import Sessions, as_list
from . import _pool_original as _original
from .sum_tree import SumTree

__all__ = ["SessionBatchEnvironment", "SessionPoolEnvironment", "RecordingAgent"]

Spec = tuple[tuple[int, ...], torch.dtype]


class RecordingAgent(Protocol):
    """What a session pool reads of an agent to store its sessions (an
    :class:`agentnet.Agent` has it): the layers whose values it records, and the device."""

    @property
    def observation_layers(self) -> Sequence[Layer]: ...
    @property
    def action_layers(self) -> Sequence[Layer]: ...
    @property
    def prev_state_layers(self) -> Sequence[Layer]: ...
    @property
    def device(self) -> torch.device: ...


class SessionBatchEnvironment:
    """A batch of recorded sessions, usable wherever a pool is (``experience_replay=True``).

    Args:
        observations: ``[B, T, ...]`` per observation input (a tensor or a list).
        actions: ``[B, T, ...]`` per action layer (int64 ``[B, T]`` for discrete actions).
        rewards: float ``[B, T]``. is_alive: bool ``[B, T]`` (all alive if None).
        is_truncated: bool ``[B, T]`` (no truncation if None).
        preceding_memories: ``[B, ...]`` per agent memory, the memory before tick 0
            (None: the replay starts from zeros).
        indices, weights: which pool entries these are and their importance weights
            (``[B]``, set by prioritized sampling; weights are ones otherwise).
    """

    def __init__(self, observations: Any, actions: Any, rewards: torch.Tensor,
                 is_alive: torch.Tensor | None = None, is_truncated: torch.Tensor | None = None,
                 preceding_memories: Sequence[torch.Tensor] | None = None,
                 indices: torch.Tensor | None = None, weights: torch.Tensor | None = None):
        self.observations = as_list(observations)
        self.actions = as_list(actions)
        self.rewards = rewards
        batch, length = rewards.shape[:2]
        self.is_alive = (torch.ones(batch, length, dtype=torch.bool, device=rewards.device)
                         if is_alive is None else is_alive.bool())
        self.is_truncated = (torch.zeros_like(self.is_alive) if is_truncated is None
                             else is_truncated.bool())
        self.preceding_memories = None if preceding_memories is None else list(
            preceding_memories)
        self.indices = indices
        self.weights = torch.ones(batch, device=rewards.device) if weights is None else weights
        for name, values in (("observations", self.observations), ("actions", self.actions),
                             ("is_alive", [self.is_alive]),
                             ("is_truncated", [self.is_truncated])):
            for i, value in enumerate(values):
                if tuple(value.shape[:2]) != (batch, length):
                    raise ValueError(f"SessionBatchEnvironment: {name}[{i}] has shape "
                                     f"{format_shape(tuple(value.shape))}, expected "
                                     f"[batch, time] = ({batch}, {length}, ...) like rewards")

    @property
    def batch_size(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def session_length(self) -> int:
        return int(self.rewards.shape[1])

    def __len__(self) -> int:
        return self.batch_size

    def to(self, device: Any) -> SessionBatchEnvironment:
        """A copy on ``device``."""
        def move(values: list[torch.Tensor] | None) -> list[torch.Tensor] | None:
            return None if values is None else [v.to(device) for v in values]

        return SessionBatchEnvironment(
            move(self.observations), move(self.actions), self.rewards.to(device),
            self.is_alive.to(device), self.is_truncated.to(device),
            move(self.preceding_memories),
            None if self.indices is None else self.indices.to(device), self.weights.to(device))


class SessionPoolEnvironment:
    """A bounded ring of recorded sessions ``[capacity, T, ...]``, preallocated on a device.

    Args:
        capacity: how many sessions it holds; appending more overwrites the oldest.
        session_length: T, the ticks of every stored session.
        agent: take the shapes and dtypes of observations, actions and memories from this
            agent's layers (and its device) ...
        observation_specs, action_specs, memory_specs: ... or give them: lists of
            ``(shape without batch and time, dtype)``; memories ``(shape without batch, dtype)``.
        device: where the tensors live (the agent's device by default, else CPU).
        prioritized: sample sessions in proportion to ``priority ** alpha`` (a sum tree) and
            return importance weights ``(N p)^-beta`` normalized by their maximum.
        alpha, beta: the prioritization exponents.

    >>> pool = SessionPoolEnvironment(capacity=3, session_length=2,
    ...                               observation_specs=[((4,), torch.float32)])
    >>> pool.append_sessions(torch.zeros(5, 2, 4), torch.zeros(5, 2, dtype=torch.int64),
    ...                      torch.ones(5, 2))
    >>> len(pool), pool.sample_session_batch(8).batch_size
    (3, 8)
    """

    def __init__(self, capacity: Any = None, session_length: Any = None,
                 agent: Any = None, observation_specs: Any = None,
                 action_specs: Sequence[Spec] | None = None,
                 memory_specs: Sequence[Spec] | None = None, device: Any = None,
                 prioritized: bool = False, alpha: float = 0.6, beta: float = 0.4, *,
                 observations: Any = None, actions: Any = None, agent_memories: Any = None,
                 default_action_dtype: Any = None, rng_seed: int | None = None):
        native = {"capacity": capacity, "session_length": session_length, "agent": agent,
                  "observation_specs": observation_specs, "action_specs": action_specs,
                  "memory_specs": memory_specs, "prioritized": prioritized or None}
        original = {"observations": observations, "actions": actions,
                    "agent_memories": agent_memories,
                    "default_action_dtype": default_action_dtype, "rng_seed": rng_seed}
        if capacity is not None and not _is_int(capacity):
            # the original's positional form: SessionPoolEnvironment(observation_layer, ...)
            positional = [capacity, session_length, agent, observation_specs, action_specs]
            for name, value in zip(_original.ORIGINAL_ARGS, positional):
                if value is not None and original[name] is not None:
                    raise TypeError(f"SessionPoolEnvironment: {name} given twice")
                original[name] = original[name] if value is None else value
            native.update(capacity=None, session_length=None, agent=None,
                          observation_specs=None, action_specs=None)
        given_native = [k for k, v in native.items() if v is not None]
        given_original = [k for k, v in original.items() if v is not None]
        if given_native and given_original:
            raise ValueError(
                f"SessionPoolEnvironment: either agentnet's arguments (capacity, "
                f"session_length, agent or *_specs, prioritized) or the original AgentNet's "
                f"(observations=, actions=, agent_memories=, default_action_dtype=, rng_seed=), "
                f"not both: got {', '.join(given_native)} with {', '.join(given_original)}")
        self._original = not given_native
        if self._original:
            self._init_original(device, **original)
            return
        if capacity is None or session_length is None:
            raise ValueError("SessionPoolEnvironment: give capacity and session_length (or "
                             "the original AgentNet's observations=, actions=, "
                             "agent_memories= by keyword)")
        if capacity < 1 or session_length < 1:
            raise ValueError(f"SessionPoolEnvironment: capacity and session_length must be "
                             f"positive, got {capacity} and {session_length}")
        if agent is not None:
            observation_specs = [(layer.output_shape[1:], layer.output_dtype)
                                 for layer in agent.observation_layers]
            action_specs = [(layer.output_shape[1:], layer.output_dtype)
                            for layer in agent.action_layers]
            memory_specs = [(layer.output_shape[1:], layer.output_dtype)
                            for layer in agent.prev_state_layers]
            device = agent.device if device is None else device
        if observation_specs is None:
            raise ValueError("SessionPoolEnvironment: give an agent or observation_specs")
        self.capacity, self.session_length = int(capacity), int(session_length)
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.observation_specs = _specs(observation_specs, "observation_specs")
        self.action_specs = _specs(action_specs or [((), torch.int64)], "action_specs")
        self.memory_specs = _specs(memory_specs or [], "memory_specs")
        self._allocate()
        self.prioritized, self.alpha, self.beta = prioritized, alpha, beta
        self._tree = SumTree(self.capacity, self.device) if prioritized else None
        self._max_priority = 1.0
        self._has_memories = True
        self._generator: torch.Generator | None = None

    def _allocate(self) -> None:
        """Zeroed storage for ``capacity`` sessions of the specs; the pool empty."""
        def storage(spec: Spec, per_tick: bool = True) -> torch.Tensor:
            lead = (self.capacity, self.session_length) if per_tick else (self.capacity,)
            return torch.zeros((*lead, *spec[0]), dtype=spec[1], device=self.device)

        self._observations = [storage(spec) for spec in self.observation_specs]
        self._actions = [storage(spec) for spec in self.action_specs]
        self._rewards = storage(((), torch.float32))
        self._is_alive = storage(((), torch.bool))
        self._is_truncated = storage(((), torch.bool))
        self._memories = [storage(spec, per_tick=False) for spec in self.memory_specs]
        self._position, self._size = 0, 0

    def _init_original(self, device: Any, observations: Any, actions: Any,
                       agent_memories: Any, default_action_dtype: Any,
                       rng_seed: int | None) -> None:
        """The original AgentNet's pool: fields described by counts or layers, holding
        exactly the sessions last loaded (any number, any length: see :meth:`load_sessions`)."""
        action_dtype = torch.int64 if default_action_dtype is None else as_torch_dtype(
            default_action_dtype)
        self._templates = (
            _original.templates(1 if observations is None else observations, "observations",
                                torch.float32),
            _original.templates(1 if actions is None else actions, "actions", action_dtype),
            _original.templates(1 if agent_memories is None else agent_memories,
                                "agent_memories", torch.float32))
        self.rng_seed = 1337 if rng_seed is None else int(rng_seed)  # the original's default
        self._generator = torch.Generator().manual_seed(self.rng_seed)
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.capacity, self.session_length = 0, 0

        def spec(template: _original.Template) -> Spec:
            return (template[0] or (), template[1])

        self.observation_specs = [spec(t) for t in self._templates[0]]
        self.action_specs = [spec(t) for t in self._templates[1]]
        self.memory_specs = [spec(t) for t in self._templates[2]]
        self._allocate()
        self.prioritized, self.alpha, self.beta = False, 0.6, 0.4
        self._tree = None
        self._max_priority = 1.0
        self._has_memories = False

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        """Bytes held by the pool's preallocated tensors (constant over its life)."""
        tensors = [*self._observations, *self._actions, self._rewards, self._is_alive,
                   self._is_truncated, *self._memories]
        if self._tree is not None:
            tensors.append(self._tree.nodes)
        return sum(t.numel() * t.element_size() for t in tensors)

    # --- the recorded sessions, as replay reads them ----------------------------------------
    @property
    def observations(self) -> list[torch.Tensor]:
        return [o[:self._size] for o in self._observations]

    @property
    def actions(self) -> list[torch.Tensor]:
        return [a[:self._size] for a in self._actions]

    @property
    def rewards(self) -> torch.Tensor:
        return self._rewards[:self._size]

    @property
    def is_alive(self) -> torch.Tensor:
        return self._is_alive[:self._size]

    @property
    def is_truncated(self) -> torch.Tensor:
        return self._is_truncated[:self._size]

    @property
    def preceding_memories(self) -> list[torch.Tensor] | None:
        """``[N, ...]`` per agent memory, the memory before each session's tick 0; None for
        a pool made the original way that was given no memories (a replay starts from
        zeros)."""
        return [m[:self._size] for m in self._memories] if self._has_memories else None

    #: the original AgentNet's name of :attr:`preceding_memories`
    preceding_agent_memories = preceding_memories

    @property
    def batch_size(self) -> int:
        """How many sessions the pool holds (the original's name; ``len(pool)``)."""
        return self._size

    pool_size = batch_size

    @property
    def sequence_length(self) -> int:
        """The original's name of :attr:`session_length`."""
        return self.session_length

    # --- writing ----------------------------------------------------------------------------
    def append_sessions(self, *args: Any, **kwargs: Any) -> None:
        """Store sessions ``[B, T, ...]``, overwriting the oldest when full.

        ``append_sessions(observations, actions, rewards, is_alive=None, is_truncated=None,
        preceding_memories=None)`` (``prev_memories=`` is accepted for
        ``preceding_memories``): give the fields (as :class:`SessionBatchEnvironment` takes
        them), or one :class:`~agentnet.agent.Sessions` from ``get_sessions`` as the only
        argument (its ``initial_agent_states`` become the preceding memories). Every field is
        checked before anything is written: a rejected append leaves the pool as it was.

        A pool made the original way (``observations=``...) takes the original's
        ``append_sessions(observation_sequences, action_sequences, reward_seq, is_alive=None,
        prev_memories=None, max_pool_size=None)``, numpy arrays or tensors cast to the
        stored dtypes: it grows by the new sessions and keeps the newest ``max_pool_size``
        (all if None).
        """
        if self._original:
            self._append_original(*args, **kwargs)
            return
        if kwargs.get("max_pool_size") is not None:
            raise ValueError(f"append_sessions: max_pool_size is for pools made the original "
                             f"way (observations=, actions=, agent_memories=); this pool "
                             f"holds its newest {self.capacity} sessions (its capacity)")
        kwargs.pop("max_pool_size", None)
        self._write(self._validated(*args, **kwargs))

    def _write(self, fields: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        batch = fields[0][1].shape[0]
        if batch > self.capacity:  # only the newest sessions fit
            fields = [(storage, value[-self.capacity:]) for storage, value in fields]
            batch = self.capacity
        slots = (self._position + torch.arange(batch, device=self.device)) % self.capacity
        # contiguous slice copies (the ring wraps at most once): much faster than a scatter
        first = min(batch, self.capacity - self._position)
        with torch.no_grad():
            for storage, value in fields:
                value = value.detach().to(self.device)
                storage[self._position:self._position + first] = value[:first]
                storage[:batch - first] = value[first:]
        if self._tree is not None:
            self._tree.update(slots, torch.full((batch,), self._max_priority ** self.alpha))
        self._position = (self._position + batch) % self.capacity
        self._size = min(self._size + batch, self.capacity)

    def load_sessions(self, *args: Any, **kwargs: Any) -> None:
        """Replace the pool's content by the given sessions (arguments as
        :meth:`append_sessions`); a rejected load leaves the pool as it was.

        A pool made the original way takes the original's ``load_sessions(
        observation_sequences, action_sequences, reward_seq, is_alive=None,
        prev_memories=None)`` (numpy arrays or tensors, cast to the stored dtypes) and then
        holds exactly these sessions, whatever their number and length."""
        if self._original:
            self._set_original(_original.fields(
                self._templates, _original.bind(args, kwargs, "load_sessions", False),
                "load_sessions", self.device))
            return
        fields = self._validated(*args, **kwargs)
        self._position, self._size = 0, 0
        if self._tree is not None:
            self._tree.update(torch.arange(self.capacity), torch.zeros(self.capacity))
        self._write(fields)

    def _set_original(self, fields: dict[str, Any]) -> None:
        """Hold exactly ``fields`` (from :func:`_original.fields`) and nothing else."""
        batch, length = fields["rewards"].shape
        self._observations, self._actions = fields["observations"], fields["actions"]
        self._rewards, self._is_alive = fields["rewards"], fields["is_alive"]
        self._is_truncated = fields["is_truncated"]
        self._has_memories = fields["memories"] is not None
        self._memories = fields["memories"] if self._has_memories else []
        self.capacity, self.session_length = batch, length
        self._position, self._size = 0, batch
        self.observation_specs = [(tuple(o.shape[2:]), o.dtype) for o in self._observations]
        self.action_specs = [(tuple(a.shape[2:]), a.dtype) for a in self._actions]
        self.memory_specs = [(tuple(m.shape[1:]), m.dtype) for m in self._memories]

    def _append_original(self, *args: Any, **kwargs: Any) -> None:
        bound = _original.bind(args, kwargs, "append_sessions", True)
        max_size = bound.pop("max_pool_size", None)
        new = _original.fields(self._templates, bound, "append_sessions", self.device)
        if self._size:
            if new["rewards"].shape[1] != self.session_length:
                raise ValueError(f"append_sessions: the pool holds sessions of "
                                 f"{self.session_length} ticks, got {new['rewards'].shape[1]}")
            if (new["memories"] is None) != (not self._has_memories):
                raise ValueError("append_sessions: give prev_memories every time or never "
                                 "(the pool holds sessions "
                                 f"{'with' if self._has_memories else 'without'} them)")
            old: dict[str, Any] = {"observations": self.observations, "actions": self.actions,
                   "rewards": self.rewards, "is_alive": self.is_alive,
                   "is_truncated": self.is_truncated, "memories": self.preceding_memories}
            for key in new:
                if key in ("observations", "actions", "memories"):
                    if new[key] is not None:
                        new[key] = [_joined(key, o, v) for o, v in zip(old[key], new[key])]
                else:
                    new[key] = _joined(key, old[key], new[key])
        if max_size is not None:
            if not _is_int(max_size) or max_size < 1:
                raise ValueError(f"append_sessions: max_pool_size must be a positive int, "
                                 f"got {max_size!r}")
            for key, value in new.items():
                if isinstance(value, list):
                    new[key] = [v[-max_size:] for v in value]
                elif value is not None:
                    new[key] = value[-max_size:]
        self._set_original(new)

    def _validated(self, observations: Any, actions: Any = None,
                   rewards: torch.Tensor | None = None, is_alive: torch.Tensor | None = None,
                   is_truncated: torch.Tensor | None = None,
                   preceding_memories: Sequence[torch.Tensor] | None = None, *,
                   prev_memories: Sequence[torch.Tensor] | None = None
                   ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if prev_memories is not None:  # the original's name
            if preceding_memories is not None:
                raise ValueError("append_sessions: give preceding_memories or prev_memories "
                                 "(the original's name), not both")
            preceding_memories = prev_memories
        if isinstance(observations, Sessions):  # from get_sessions or a pool
            sessions = observations
            if actions is not None:
                raise ValueError("append_sessions: give Sessions as the only argument, or "
                                 "the fields one by one")
            observations, actions = sessions.observations, sessions.actions
            rewards, is_alive = sessions.rewards, sessions.is_alive
            is_truncated = sessions.is_truncated
            preceding_memories = sessions.initial_agent_states or None
        if rewards is None:
            raise ValueError("append_sessions: rewards are required")
        batch = rewards.shape[0] if rewards.dim() >= 1 else 0
        expected_lead = (batch, self.session_length)
        fields: list[tuple[torch.Tensor, torch.Tensor]] = []

        def add(name: str, storages: list[torch.Tensor], values: Any, per_tick: bool) -> None:
            values = as_list(values)
            if len(values) != len(storages):
                raise ValueError(f"append_sessions: {len(values)} {name} given, the pool "
                                 f"stores {len(storages)}")
            for i, (storage, value) in enumerate(zip(storages, values)):
                label = f"{name}[{i}]" if len(storages) > 1 else name
                value = torch.as_tensor(value)
                lead = expected_lead if per_tick else expected_lead[:1]
                expected = (*lead, *storage.shape[len(lead):])
                if tuple(value.shape) != expected:
                    raise ValueError(f"append_sessions: {label} has shape "
                                     f"{format_shape(tuple(value.shape))}, the pool expects "
                                     f"{format_shape(expected)}")
                if value.dtype != storage.dtype:
                    raise ValueError(f"append_sessions: {label} has dtype {value.dtype}, the "
                                     f"pool stores {storage.dtype}")
                fields.append((storage, value))

        alive = torch.ones(expected_lead, dtype=torch.bool) if is_alive is None else is_alive
        truncated = torch.zeros_like(torch.as_tensor(alive), dtype=torch.bool) \
            if is_truncated is None else is_truncated
        add("observations", self._observations, observations, True)
        add("actions", self._actions, actions, True)
        add("rewards", [self._rewards], [rewards], True)
        add("is_alive", [self._is_alive], [torch.as_tensor(alive).bool()], True)
        add("is_truncated", [self._is_truncated], [torch.as_tensor(truncated).bool()], True)
        if preceding_memories is None:
            memories = [torch.zeros((batch, *m.shape[1:]), dtype=m.dtype) for m in self._memories]
        else:
            memories = list(preceding_memories)
        add("preceding_memories", self._memories, memories, False)
        return fields

    # --- checkpoints --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything stored, the write position and the priorities: what a training
        checkpoint needs to go on exactly (``load_state_dict`` restores it)."""
        state: dict[str, Any] = {
            "observations": list(self._observations), "actions": list(self._actions),
            "rewards": self._rewards, "is_alive": self._is_alive,
            "is_truncated": self._is_truncated, "memories": list(self._memories),
            "position": self._position, "size": self._size, "max_priority": self._max_priority}
        if self._tree is not None:
            state["priorities"] = self._tree.nodes
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` into a pool of the same capacity, length, specs and
        ``prioritized``.

        The whole state is checked before anything changes (a refused state leaves the pool
        as it was): exactly the keys :meth:`state_dict` gives; every tensor of the pool's
        shape and dtype; ``size`` an int in ``0..capacity`` and ``position`` one in
        ``0..capacity - 1``, equal to ``size`` until the ring is full (where appends leave
        it); ``max_priority`` a finite number > 0; the priorities finite, > 0 for stored
        sessions, 0 for empty slots, and their tree's inner nodes the sums of its leaves.
        Raises ``ValueError`` naming the field and what it holds.
        """
        where = "SessionPoolEnvironment.load_state_dict"
        if not isinstance(state, Mapping):
            raise ValueError(f"{where}: expected a dict from state_dict(), got "
                             f"{type(state).__name__}")
        expected_keys = set(self.state_dict())
        missing, unexpected = expected_keys - set(state), set(state) - expected_keys
        if missing or unexpected:
            raise ValueError(f"{where}: the state's keys do not match this pool's "
                             f"(prioritized={self.prioritized}): missing {sorted(missing)}, "
                             f"unexpected {sorted(unexpected)}")
        pairs: list[tuple[torch.Tensor, torch.Tensor]] = []

        def check(label: str, storage: torch.Tensor, value: Any) -> None:
            if not isinstance(value, torch.Tensor):
                raise ValueError(f"{where}: {label} must be a tensor, got "
                                 f"{type(value).__name__}")
            if value.shape != storage.shape or value.dtype != storage.dtype:
                raise ValueError(f"{where}: {label} has shape "
                                 f"{format_shape(tuple(value.shape))} and dtype {value.dtype}, "
                                 f"the pool stores {format_shape(tuple(storage.shape))} "
                                 f"{storage.dtype}")
            pairs.append((storage, value))

        for name, storages in (("observations", self._observations),
                               ("actions", self._actions), ("memories", self._memories)):
            values = state[name]
            if not isinstance(values, (list, tuple)) or len(values) != len(storages):
                got = (f"{len(values)}" if isinstance(values, (list, tuple))
                       else f"a {type(values).__name__}")
                raise ValueError(f"{where}: {name} must be a list of {len(storages)} tensors "
                                 f"(the pool stores {len(storages)}), got {got}")
            for i, (storage, value) in enumerate(zip(storages, values)):
                check(f"{name}[{i}]", storage, value)
        for name, storage in (("rewards", self._rewards), ("is_alive", self._is_alive),
                              ("is_truncated", self._is_truncated)):
            check(name, storage, state[name])
        size, position = state["size"], state["position"]
        if not _is_int(size) or not 0 <= size <= self.capacity:
            raise ValueError(f"{where}: size must be an int in 0..{self.capacity} (the "
                             f"capacity), got {size!r}")
        if not _is_int(position) or not 0 <= position < self.capacity:
            raise ValueError(f"{where}: position must be an int in 0..{self.capacity - 1}, "
                             f"got {position!r}")
        if size < self.capacity and position != size:
            raise ValueError(f"{where}: position must equal size until the pool is full "
                             f"(appends fill slots 0, 1, ... in order), got position "
                             f"{position!r} with size {size!r}")
        max_priority = state["max_priority"]
        if (isinstance(max_priority, bool) or not isinstance(max_priority, Real)
                or not 0 < float(max_priority) < math.inf):
            raise ValueError(f"{where}: max_priority must be a finite number > 0, got "
                             f"{max_priority!r}")
        if self._tree is not None:
            check("priorities", self._tree.nodes, state["priorities"])
            self._check_priorities(where, state["priorities"], int(size))
        with torch.no_grad():
            for storage, value in pairs:
                storage.copy_(value)
        self._position, self._size = int(position), int(size)
        self._max_priority = float(max_priority)

    def _check_priorities(self, where: str, nodes: torch.Tensor, size: int) -> None:
        """Raise ``ValueError`` unless ``nodes`` (a sum tree's, as :meth:`state_dict` gives)
        hold finite priorities, > 0 for the ``size`` stored sessions and 0 for the other
        slots, and inner nodes that are the sums of their leaves."""
        assert self._tree is not None
        tree = self._tree
        nodes = nodes.detach().to(tree.nodes.device)
        bad = ~torch.isfinite(nodes) | (nodes < 0)
        if bool(bad.any()):
            node = int(bad.nonzero()[0, 0])
            at = (f"slot {node - tree.leaves}" if node >= tree.leaves
                  else f"inner node {node} of the tree")
            raise ValueError(f"{where}: priorities must be finite and >= 0, got "
                             f"{float(nodes[node])} for {at}")
        leaves = nodes[tree.leaves:]
        if bool((leaves[:size] <= 0).any()):
            slot = int((leaves[:size] <= 0).nonzero()[0, 0])
            raise ValueError(f"{where}: priorities must be > 0 for the {size} stored "
                             f"sessions (one of 0 is never drawn), got {float(leaves[slot])} "
                             f"for slot {slot}")
        if bool((leaves[size:] != 0).any()):
            slot = size + int((leaves[size:] != 0).nonzero()[0, 0])
            raise ValueError(f"{where}: priorities must be 0 for the empty slots (from "
                             f"size = {size} on), got {float(leaves[slot])} for slot {slot}")
        mismatch = ~torch.isclose(nodes, tree.sums_of(leaves), rtol=1e-9, atol=0)
        mismatch[0] = False                                  # node 0 is unused
        if bool(mismatch.any()):
            node = int(mismatch.nonzero()[0, 0])
            raise ValueError(f"{where}: priorities are not a sum tree: inner node {node} "
                             f"holds {float(nodes[node])}, its leaves sum to "
                             f"{float(tree.sums_of(leaves)[node])}")

    # --- reading ----------------------------------------------------------------------------
    def select_session_batch(self, indices: torch.Tensor) -> SessionBatchEnvironment:
        """The sessions at ``indices`` (int64 ``[k]``, each below ``len(pool)``), copied."""
        indices = torch.as_tensor(indices, device=self.device, dtype=torch.int64)
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= self._size):
            raise IndexError(f"select_session_batch: indices must be in [0, {self._size}), got "
                             f"values from {int(indices.min())} to {int(indices.max())}")
        return self._take(indices)

    def _take(self, indices: torch.Tensor) -> SessionBatchEnvironment:
        """The sessions at ``indices`` (int64 ``[k]``, known to be in range), copied."""

        def take(values: list[torch.Tensor]) -> list[torch.Tensor]:
            return [v.index_select(0, indices) for v in values]

        return SessionBatchEnvironment(
            take(self._observations), take(self._actions),
            self._rewards.index_select(0, indices), self._is_alive.index_select(0, indices),
            self._is_truncated.index_select(0, indices),
            take(self._memories) if self._has_memories else None, indices)

    def sample_session_batch(self, n: int | None = None, replace: bool | None = None, *,
                             max_n_samples: int | None = None) -> SessionBatchEnvironment:
        """Sessions drawn uniformly (or by priority), as a :class:`SessionBatchEnvironment`
        whose ``indices`` say where they are in the pool and whose ``weights`` are their
        importance weights (ones when sampling uniformly).

        Args:
            n: how many to draw (``max_n_samples=``, the original's name, is accepted).
            replace: draw with replacement (``n`` sessions) or without (``min(n, len(pool))``
                distinct sessions: fewer than ``n`` when the pool holds fewer, as the
                original's). None, the default: without replacement for a pool made the
                original way (``observations=``..., the original's default), with it
                otherwise (always ``n`` sessions, as a training step wants; a prioritized
                pool only samples so).
        """
        if (n is None) == (max_n_samples is None):
            raise TypeError("sample_session_batch: give n (or max_n_samples, the original's "
                            "name), once")
        n = int(n if n is not None else max_n_samples)  # type: ignore[arg-type]
        if replace is None:
            replace = not self._original
        if self._size == 0:
            raise ValueError("sample_session_batch: the pool is empty")
        if self._tree is None:
            generator = self._generator
            on = self.device if generator is None else torch.device("cpu")
            indices = (torch.randint(self._size, (n,), device=on, generator=generator)
                       if replace else
                       torch.randperm(self._size, device=on, generator=generator)[:n])
            return self._take(indices.to(self.device))
        if not replace:
            raise ValueError("sample_session_batch: prioritized sampling draws with replacement")
        total = self._tree.total
        masses = (torch.arange(n, device=self.device, dtype=torch.float64)
                  + torch.rand(n, device=self.device, dtype=torch.float64)) * (total / n)
        indices = self._tree.sample(masses)
        probabilities = self._tree[indices] / total
        weights = (self._size * probabilities) ** -self.beta
        batch = self._take(indices)
        batch.weights = (weights / weights.max()).to(torch.float32)
        return batch

    def update_priorities(self, indices: torch.Tensor, priorities: torch.Tensor) -> None:
        """Set the priorities of the sessions at ``indices`` (int ``[k]``, each below
        ``len(pool)``) to ``priorities`` (float ``[k]``, finite and >= 0: e.g. their mean
        absolute TD error; below 1e-6 counts as 1e-6) for prioritized sampling. Everything is
        checked before anything changes: a refused update leaves the pool as it was."""
        if self._tree is None:
            raise ValueError("update_priorities: this pool was made with prioritized=False")
        indices = torch.as_tensor(indices, device=self.device)
        priorities = torch.as_tensor(priorities, device=self.device).detach()
        if (indices.dim() != 1 or priorities.shape != indices.shape
                or indices.is_floating_point() or indices.dtype == torch.bool):
            raise ValueError(f"update_priorities: expected integer indices [k] and priorities "
                             f"[k] of the same length, got indices "
                             f"{format_shape(tuple(indices.shape))} {indices.dtype} and "
                             f"priorities {format_shape(tuple(priorities.shape))}")
        if not indices.numel():
            return
        low, high = torch.aminmax(indices)
        if int(low) < 0 or int(high) >= self._size:
            raise IndexError(f"update_priorities: indices must be in [0, {self._size}), got "
                             f"values from {int(low)} to {int(high)}")
        priorities = priorities.to(torch.float64)
        low_priority, high_priority = (float(p) for p in torch.aminmax(priorities))
        if not 0 <= low_priority <= high_priority < math.inf:  # False for NaN too
            bad = priorities[~((priorities >= 0) & (priorities < math.inf))]
            raise ValueError(f"update_priorities: priorities must be finite and >= 0, got "
                             f"{bad.unique()[:8].tolist()}")
        self._max_priority = max(self._max_priority, high_priority)
        self._tree.update(indices, priorities.clamp(min=1e-6) ** self.alpha)


def _joined(name: str, old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    """``old`` then ``new`` along the session axis, or a ``ValueError`` naming the field."""
    if old.shape[1:] != new.shape[1:]:
        raise ValueError(f"append_sessions: {name} has shape {format_shape(tuple(new.shape))}, "
                         f"the pool holds {format_shape(tuple(old.shape))}")
    return torch.cat([old, new])


def _is_int(value: Any) -> bool:
    """Whether ``value`` is an integer (Python's or numpy's; not a bool)."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def _specs(specs: Sequence[Spec], what: str) -> list[Spec]:
    out = []
    for spec in specs:
        shape, dtype = spec
        if any(d is None for d in shape):
            raise ValueError(f"SessionPoolEnvironment: {what} need known shapes, got "
                             f"{format_shape(tuple(shape))}")
        out.append((tuple(int(d) for d in shape), as_torch_dtype(dtype)))
    return out
