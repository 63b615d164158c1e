"""One collector: an :class:`~agentnet.driving.EnvPool` played by a CPU copy of the agent.

:class:`Collector` is the body of a collector actor: :class:`~agentnet.distributed.RayEnvPool`
wraps it with ``ray.remote``. It is plain Python (no Ray needed to build or call it), so what
it does can be read, and tested, in one process:

- :meth:`Collector.setup` builds its agent (a pickled copy of the learner's agent, or a
  zero-argument factory) on the CPU, with ``torch.set_num_threads(1)``, and its pool;
- :meth:`Collector.collect` first loads the learner's weights if their version differs from
  the ones it holds, then plays ``n_steps`` ticks of its pool and returns them as one
  :class:`Batch`: arrays ``[n_envs, n_steps, ...]`` plus a :class:`BatchInfo` saying
  which collector, which request (``seq``), which life of the actor (``incarnation``) and
  which weights (``weight_version``) made it. One batch is played by one version of the
  weights, and it travels as one object: it arrives whole or not at all.

Sessions travel as plain lists of numpy arrays (:func:`pack_sessions`; Ray moves those
without copying them through pickle, several times faster than torch tensors), not as
:class:`~agentnet.agent.Sessions`, whose ``agent_states`` are keyed by layers (modules, with
their weights); :func:`unpack_sessions` rebuilds them with the learner's own layers, on its
device.
"""
from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch

from ..agent import Agent
from ..environment.episodes import EpisodeStats, EpisodeTracker
from ..records import Sessions

if TYPE_CHECKING:
    from ..driving.pool import EnvPool

__all__ = ["Batch", "BatchInfo", "Collector", "CollectorSpec", "cpu_state_dict", "pack_sessions",
           "unpack_sessions", "concat_sessions"]


class BatchInfo(NamedTuple):
    """Where one batch of sessions came from.

    ``(collector_id, seq)`` names a batch uniquely: the learner numbers its requests to each
    collector 0, 1, 2, ... and never sends one twice, so a number that never arrives is a
    batch lost whole (its collector died while playing it). ``incarnation`` changes when the
    learner replaces the collector's actor with a new one (after a failure).
    ``weight_version`` is the version of the learner's weights the whole batch was played
    with; ``staleness`` is filled in by the learner on delivery (its version then, minus
    ``weight_version``; -1 until delivered).
    """

    collector_id: int
    seq: int
    incarnation: str
    weight_version: int
    n_envs: int
    n_steps: int
    seconds: float
    """time spent playing the batch (weight loading excluded)"""
    env_restarts: int
    """environments this collector's pool recreated after failures, in this incarnation"""
    staleness: int = -1

    @property
    def env_steps(self) -> int:
        """Environment steps in the batch: ``n_envs * n_steps``."""
        return self.n_envs * self.n_steps


class Batch(NamedTuple):
    """One collector's sessions ``[n_envs, n_steps, ...]`` as :func:`pack_sessions` packs
    them, what made them, and the episodes that finished in them."""

    info: BatchInfo
    fields: dict[str, list[Any]]
    episodes: EpisodeStats


def cpu_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``module.state_dict()`` as detached CPU copies (what travels to the collectors)."""
    return {name: value.detach().to("cpu", copy=True)
            for name, value in module.state_dict().items()}


_NUMPY_DTYPES = {torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
                 torch.float16, torch.float32, torch.float64}


def _to_wire(tensor: torch.Tensor) -> Any:
    """A CPU numpy array (a torch tensor for dtypes numpy lacks, e.g. bfloat16)."""
    tensor = tensor.detach().cpu()
    return tensor.numpy() if tensor.dtype in _NUMPY_DTYPES else tensor


def pack_sessions(sessions: Sessions) -> dict[str, list[Any]]:
    """The tensors of sessions from :meth:`EnvPool.interact` as ``{field: [array, ...]}``:
    numpy arrays on the CPU (torch CPU tensors for dtypes numpy lacks); agent states in the
    agent's ``state_layers`` order.

    Fields: ``observations``, ``actions``, ``policy`` (one array per layer), ``agent_states``
    ``[B, T, ...]`` per memory, ``rewards``, ``is_alive``, ``is_truncated`` ``[B, T]``,
    ``initial_agent_states`` and ``next_observations`` ``[B, ...]``.
    """
    def wire(values: list[torch.Tensor]) -> list[Any]:
        return [_to_wire(v) for v in values]

    return {"observations": wire(sessions.observation_list),
            "actions": wire(sessions.action_list), "policy": wire(sessions.policy_list),
            "agent_states": wire(list(sessions.agent_states.values())),
            "rewards": wire([sessions.rewards]), "is_alive": wire([sessions.is_alive]),
            "is_truncated": wire([sessions.is_truncated]),
            "initial_agent_states": wire(sessions.initial_agent_states),
            "next_observations": wire(sessions.next_observations)}


def concat_sessions(packed: Sequence[Mapping[str, list[Any]]]) -> dict[str, list[torch.Tensor]]:
    """Packed sessions of several batches joined along the batch axis, in the given order,
    as new (writable) CPU tensors."""
    if not packed:
        raise ValueError("concat_sessions: no batches")

    def join(parts: Sequence[Any]) -> torch.Tensor:
        if all(isinstance(p, np.ndarray) for p in parts):
            return torch.from_numpy(np.concatenate(parts))  # a new array, owned by torch
        return torch.cat([torch.as_tensor(p) for p in parts])

    return {name: [join(parts) for parts in zip(*(p[name] for p in packed))]
            for name in packed[0]}


def unpack_sessions(fields: Mapping[str, list[Any]], agent: Agent,
                    device: Any = None) -> Sessions:
    """:class:`~agentnet.agent.Sessions` from :func:`pack_sessions`' or
    :func:`concat_sessions`' fields, on ``device`` (default: the agent's), shaped as
    ``agent`` (the learner's) would get them from an :class:`~agentnet.driving.EnvPool`:
    single tensors for single layers, agent states keyed by its ``state_layers``."""
    device = agent.device if device is None else torch.device(device)

    def move(name: str) -> list[torch.Tensor]:
        return [torch.as_tensor(t).to(device) for t in fields[name]]

    states = move("agent_states")
    if len(states) != len(agent.state_layers):
        raise ValueError(f"unpack_sessions: {len(states)} agent states received, the agent has "
                         f"{len(agent.state_layers)} memories")
    outputs = agent.layout.join(move("actions"), states, move("policy"))
    (rewards,), (is_alive,), (is_truncated,) = (move(name) for name in (
        "rewards", "is_alive", "is_truncated"))
    return agent.layout.sessions(move("observations"), outputs, rewards, is_alive, is_truncated,
                                 next_observations=move("next_observations"),
                                 initial_agent_states=move("initial_agent_states"))


class CollectorSpec(NamedTuple):
    """What every collector is built from (sent once, through Ray's object store).

    ``agent``: an :class:`agentnet.Agent` (a pickled copy) or a zero-argument factory making
    one; ``env``: a Gymnasium id or a zero-argument factory; ``n_envs``: environments per
    collector; ``seed``: collector ``c`` seeds torch and its ``EnvPool`` with
    ``seed + c * n_envs`` (None: unseeded); ``num_threads``: ``torch.set_num_threads`` in the
    collector's process (None: leave it); ``env_pool_kwargs``: more ``EnvPool`` arguments.
    """

    agent: Agent | Callable[[], Agent]
    env: str | Callable[[], Any]
    n_envs: int
    seed: int | None = None
    num_threads: int | None = 1
    env_pool_kwargs: Mapping[str, Any] = {}


class Collector:
    """An :class:`~agentnet.driving.EnvPool` played by a CPU copy of an agent.

    Args:
        collector_id: this collector's number (0, 1, ...), stamped on its batches.
        spec: a :class:`CollectorSpec` to :meth:`setup` from at once; None to wait for
            :meth:`setup` or for the first :meth:`collect`.

    Under Ray the actor is built with its id only, and gets its spec by reference: from
    :meth:`setup` when the pool starts, from :meth:`revive` when the pool replaces a failed
    collector with a new actor, and again with every :meth:`collect` request, so that an
    actor that is not set up (a new one, or one Ray restarted: it runs ``__init__`` again,
    and has no pool) sets itself up from the request, loads the newest weights, and plays
    on. An actor's constructor takes no object-store arguments, which Ray cannot always
    recover for a restart (ray-project/ray#53727). A replacement (restarted) collector plays
    unseeded, so that it does not replay the episodes of its first life.
    """

    def __init__(self, collector_id: int, spec: CollectorSpec | None = None):
        self.collector_id = int(collector_id)
        self.incarnation = uuid.uuid4().hex[:12]
        """random, new in every life of the actor"""
        self.restarted = False
        self.weight_version = -1
        self.agent: Agent | None = None
        self.pool: EnvPool | None = None
        self.episodes = EpisodeTracker()
        if spec is not None:
            self.setup(spec)

    def setup(self, spec: CollectorSpec, weight_version: int = 0,
              weights: Sequence[Any] = ()) -> dict[str, Any]:
        """Build the agent (on the CPU) and the ``EnvPool``; load ``weights[0]`` (a state dict
        or a Ray reference to one) as ``weight_version`` if given. Returns :meth:`info`."""
        from ..driving.pool import EnvPool  # gymnasium is needed here, not to import

        if self.pool is not None:
            raise RuntimeError(f"Collector {self.collector_id}: already set up")
        if spec.num_threads is not None:
            torch.set_num_threads(int(spec.num_threads))
        seed = None if spec.seed is None or self.restarted else (
            int(spec.seed) + self.collector_id * int(spec.n_envs))
        if seed is not None:
            torch.manual_seed(seed)
        agent = spec.agent
        if not isinstance(agent, Agent):
            if not callable(agent):
                raise TypeError(f"Collector: agent must be an agentnet.Agent or a zero-argument "
                                f"factory making one, got {type(agent).__name__}")
            agent = agent()
        agent.to("cpu")  # (in place)
        self.agent = agent
        self._load(weight_version, weights)
        self.pool = EnvPool(agent, spec.env, n_envs=spec.n_envs, seed=seed,
                            **dict(spec.env_pool_kwargs))
        return self.info()

    def revive(self, spec: CollectorSpec, weight_version: int,
               weights: Sequence[Any] = ()) -> dict[str, Any]:
        """After a failure: :meth:`setup` again if this is a new process (the actor that
        replaces a failed one: it has no pool), else only load the weights. Returns
        :meth:`info`."""
        if self.pool is None:
            self.restarted = True
            return self.setup(_resolve(spec), weight_version, weights)
        self._load(weight_version, weights)
        return self.info()

    def info(self) -> dict[str, Any]:
        """Who this is: ``collector_id``, ``incarnation``, ``pid``, ``restarted``,
        ``weight_version``, ``n_envs`` (None before setup)."""
        return {"collector_id": self.collector_id, "incarnation": self.incarnation,
                "pid": os.getpid(), "restarted": self.restarted,
                "weight_version": self.weight_version,
                "n_envs": None if self.pool is None else self.pool.n_envs}

    def collect(self, n_steps: int, seq: int, weight_version: int, weights: Sequence[Any] = (),
                spec: Sequence[Any] = ()) -> Batch:
        """Play ``n_steps`` ticks in every environment and return them as one :class:`Batch`.

        Args:
            n_steps: ticks to play. seq: the learner's number for this request (echoed).
            weight_version: the learner's current weights version; if it differs from the
                collector's, ``weights[0]`` (a state dict, or a Ray reference to one, wrapped
                in a list so that Ray only fetches it when it is needed) is loaded first.
            spec: ``[CollectorSpec or a Ray reference to one]``, used only by a collector
                that is not set up (a new or restarted actor).
        """
        if self.pool is None:
            if not len(spec):
                raise RuntimeError(f"Collector {self.collector_id}: collect before setup")
            self.restarted = True
            self.setup(_resolve(spec[0]), weight_version, weights)
        self._load(weight_version, weights)
        pool = self._pool()
        start = time.perf_counter()
        sessions = pool.interact(n_steps)
        seconds = time.perf_counter() - start
        finished = self.episodes.update(sessions.rewards, sessions.is_alive)
        info = BatchInfo(self.collector_id, int(seq), self.incarnation, self.weight_version,
                         pool.n_envs, int(n_steps), seconds, pool.restarts)
        return Batch(info, pack_sessions(sessions), finished)

    def _pool(self) -> EnvPool:
        if self.pool is None:
            raise RuntimeError(f"Collector {self.collector_id}: not set up")
        return self.pool

    def _load(self, weight_version: int, weights: Sequence[Any]) -> None:
        if int(weight_version) != self.weight_version and len(weights):
            if self.agent is None:
                raise RuntimeError(f"Collector {self.collector_id}: not set up")
            self.agent.load_state_dict(_resolve(weights[0]))
            self.weight_version = int(weight_version)

    def close(self) -> None:
        """Close the environments (no worker process of an async pool is left behind)."""
        if self.pool is not None:
            self.pool.close()


def _resolve(value: Any) -> Any:
    """A Ray ObjectRef's value (fetched here), anything else as it is."""
    if type(value).__name__ == "ObjectRef":
        import ray

        return ray.get(value)
    return value
