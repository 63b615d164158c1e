"""``RayEnvPool``: an ``EnvPool`` whose environments are played by collectors on Ray.

The learner's side of distributed session collection. ``n_collectors`` Ray actors each run a
:class:`~agentnet.distributed.Collector` (a Gymnasium ``EnvPool`` of ``n_envs`` environments
played by a CPU copy of the agent); the learner keeps one request in flight per collector,
so that they play while it trains, and takes their sessions into its replay:

- **The same API as** :class:`~agentnet.driving.EnvPool`: ``interact(n_steps)``,
  ``update(n_steps, session_pool)``, ``evaluate``, ``close`` and ``with``. A training loop
  written for a local pool runs unchanged on this one; count environment steps from what
  ``update`` returns (``sessions.rewards.numel()``), not from ``n_envs``.
- **Weights.** Every ``sync_every`` calls of ``interact``/``update``, if the learner's agent
  changed (an optimizer step, a new epsilon: its tensors' version counters moved), its CPU
  ``state_dict`` is put in Ray's object store once as a new version; every request names the
  newest version, and a collector whose weights are older loads it before its next batch.
  :meth:`RayEnvPool.sync_weights` does the same on demand. Each batch records the version it
  was played with; ``BatchInfo.staleness`` is how many versions behind it arrived
  (``pipeline=True``: usually 1, since a batch is played while the learner trains);
  ``max_staleness`` drops older ones.
- **Faults.** A collector whose request is lost (its process killed, ``os._exit``, a lost
  node: any of Ray's errors for a dead actor or a lost result) has failed. The pool kills
  what is left of its actor and replaces it with a new one (Ray itself never restarts a
  collector: the actors are made with ``max_restarts=0``), which sets itself up (agent,
  environments) with the weights current at that moment; its next batch is requested when
  that is done. The batch it was playing is lost whole (a batch is one Ray object: it
  arrives complete or not at all) and recorded in ``failures``; the learner does not wait
  for it: ``interact`` returns with the batches of the living collectors. The pool counts
  each collector's failures in a row (a replacement dying before it is set up is one more;
  a batch delivered resets the count): at more than ``max_restarts`` in a row it gives the
  collector up (status "dead", no more requests, ``permanent=True`` in that last failure).
  A collector that does not answer within ``timeout`` seconds is not waited for again until
  it delivers. Batches are numbered ``(collector_id, seq)`` by the learner, never requested
  twice (``max_task_retries=0``), and checked on arrival: none is duplicated.

Each ``interact`` takes at most one batch per collector: it waits for every collector in good
standing (so the learner keeps pace with the slowest healthy one), not for those being
replaced or late.
"""
from __future__ import annotations

import collections
import copy
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from ..agent import Agent
from ..driving import common
from ..driving.common import describe_error, warn_at_caller
from ..environment.episodes import EpisodeStats
from ..environment.session_pool import SessionPoolEnvironment
from ..records import Sessions
from ._ray import init_local, require_ray
from .collector import Batch, BatchInfo, Collector, CollectorSpec, concat_sessions, cpu_state_dict
from .collector import unpack_sessions as _unpack

__all__ = ["RayEnvPool", "CollectorFailure"]

_HERE = os.path.dirname(os.path.abspath(__file__))


class CollectorFailure(NamedTuple):
    """A failure of a collector: which collector, which request (``seq``: the batch lost
    with it; -1 if it died while being set up again, before any batch was asked of it), why
    (the Ray exception), and whether the pool gave the collector up at this failure
    (``permanent``: its failures in a row exceeded ``max_restarts``; it gets no more
    requests). ``permanent`` is True in that one failure only; after any other the
    collector is replaced with a new actor."""

    collector_id: int
    seq: int
    error: BaseException
    permanent: bool


class _Request(NamedTuple):
    ref: Any
    seq: int  # -1 for a revival
    n_steps: int
    weight_version: int


@dataclass
class _Slot:
    """The learner's view of one collector."""

    actor: Any
    collector_id: int
    status: str = "ok"  # "ok", "late" (timed out), "restarting" (being replaced), "dead"
    pending: _Request | None = None
    next_seq: int = 0
    last_seq: int = -1
    incarnation: str | None = None
    restarts: int = 0
    failures_in_a_row: int = 0  # since its last delivered batch


class RayEnvPool:
    """``n_collectors`` Ray actors, each playing ``n_envs`` Gymnasium environments with a copy
    of the agent, feeding one learner: an :class:`~agentnet.driving.EnvPool` spread out.

    Args:
        agent: the learner's :class:`agentnet.Agent`: its weights are sent to the collectors,
            and sessions come back shaped for it, on its device. Unless ``agent_factory`` is
            given, the collectors get a pickled CPU copy of it.
        env: a Gymnasium id or a zero-argument factory (pickled to the collectors).
        n_collectors: collector actors. n_envs: environments per collector; each
            ``interact`` returns up to ``n_collectors * n_envs`` rows.
        agent_factory: a zero-argument callable building the agent in each collector, for an
            agent that does not pickle; its weights are then set from ``agent``'s.
        seed: collector ``c`` seeds torch and its environments with ``seed + c * n_envs`` (so
            environment seeds run ``seed, seed + 1, ...`` across all collectors, as one big
            ``EnvPool`` would); None: unseeded. Which batch arrives first is up to timing,
            so a run is not reproducible bit for bit anyway.
        sync_every: push the agent's weights (if they changed) every this many calls of
            ``interact``/``update``; None: only when :meth:`sync_weights` is called.
        pipeline: True: as soon as a collector delivers, it is asked for its next batch with
            the newest weights, and plays it while the learner trains (batches arrive one
            version stale). False: requests go out when ``interact`` is called and it waits
            for them (staleness 0, collectors idle while the learner trains).
        timeout: seconds ``interact`` waits for the collectors it expects; after that it goes
            on with the batches that arrived (a late collector is not waited for again until
            it delivers). If none arrived, it raises ``TimeoutError``.
        max_restarts: how many failures in a row a collector is replaced after (-1: any
            number). A collector that fails (its actor dies, or its batch is lost) is
            replaced with a new actor, unless this failure is its ``max_restarts + 1``-th
            in a row: then it is given up (``collector_status`` "dead", no more requests,
            ``permanent=True`` in that failure's :class:`CollectorFailure`). Failures in a
            row: since the collector's last delivered batch (a replacement that dies while
            being set up counts). 0: given up at its first failure.
        max_staleness: drop batches that arrive more than this many weight versions behind
            (counted in ``dropped_stale``); None keeps all.
        actor_options: more ``ray.remote`` options for the collectors (default
            ``{"num_cpus": 1}``; e.g. ``{"num_cpus": 0.5}`` or a ``runtime_env``; the pool
            sets ``max_restarts=0`` and ``max_task_retries=0`` itself: it replaces failed
            collectors, Ray does not restart them).
        start_timeout: seconds to wait for every collector to start.
        history_size: how many ``BatchInfo`` records ``history`` keeps.
        **env_pool_kwargs: more ``EnvPool`` arguments for every collector
            (``vectorization``, ``autoreset_mode``, ``step_timeout``, react flags...).

    If Ray is not running in this process, a local runtime is started with
    :func:`~agentnet.distributed.init_local` (loopback only, ``num_cpus`` for the
    collectors) and stopped by :meth:`close`. To use a cluster, call
    ``ray.init(address=...)`` first.

    Attributes:
        weight_version: the version of the learner's weights the collectors are asked to use.
        last_batches: ``BatchInfo`` of the batches the last ``interact`` returned, in row
            order: rows ``[k * n_envs, (k + 1) * n_envs)`` come from ``last_batches[k]``.
        last_episodes: ``EpisodeStats`` of the episodes that finished in those batches,
            measured by each collector over its own rows (exact across calls and restarts).
        history: ``BatchInfo`` of every delivered batch (the newest ``history_size``).
        failures: a :class:`CollectorFailure` per failure of a collector (a batch lost
            with it, or a replacement lost before it was set up).
        restarts: collector actors replaced (seen as a new incarnation answering).
        env_steps: environment steps in the batches returned so far.
    """

    def __init__(self, agent: Agent, env: str | Callable[[], Any], n_collectors: int = 2,
                 n_envs: int = 8, *, agent_factory: Callable[[], Agent] | None = None,
                 seed: int | None = None, sync_every: int | None = 1, pipeline: bool = True,
                 timeout: float = 60.0, max_restarts: int = 3, max_staleness: int | None = None,
                 actor_options: dict[str, Any] | None = None, start_timeout: float = 120.0,
                 history_size: int = 100_000, **env_pool_kwargs: Any):
        ray = require_ray()
        if not isinstance(env, str) and not callable(env):
            raise TypeError(f"RayEnvPool: env must be a Gymnasium id or a zero-argument "
                            f"factory, got {type(env).__name__}")
        if int(n_collectors) < 1 or int(n_envs) < 1:
            raise ValueError(f"RayEnvPool: n_collectors and n_envs must be positive, got "
                             f"{n_collectors} and {n_envs}")
        if sync_every is not None and int(sync_every) < 1:
            raise ValueError(f"RayEnvPool: sync_every must be positive or None, got {sync_every}")
        if not timeout > 0 or not start_timeout > 0:
            raise ValueError(f"RayEnvPool: timeouts must be positive, got timeout={timeout}, "
                             f"start_timeout={start_timeout}")
        if int(max_restarts) < -1:
            raise ValueError(f"RayEnvPool: max_restarts must be -1 (always) or more, got "
                             f"{max_restarts}")
        if agent_factory is not None and not callable(agent_factory):
            raise TypeError("RayEnvPool: agent_factory must be a zero-argument callable")
        self.agent, self.env = agent, env
        self.n_collectors, self.n_envs = int(n_collectors), int(n_envs)
        self.seed = seed
        self.sync_every = None if sync_every is None else int(sync_every)
        self.pipeline, self.timeout = bool(pipeline), float(timeout)
        self.max_restarts = int(max_restarts)
        self.max_staleness = max_staleness
        self.env_pool_kwargs = env_pool_kwargs
        self.weight_version = 0
        self.last_batches: list[BatchInfo] = []
        self.last_episodes = EpisodeStats(torch.zeros(0), torch.zeros(0))
        self.history: collections.deque[BatchInfo] = collections.deque(maxlen=history_size)
        self.failures: list[CollectorFailure] = []
        self.restarts = 0
        self.env_steps = 0
        self.requested = 0
        """batches requested from the collectors so far"""
        self.dropped_stale = 0
        """batches dropped for arriving more than ``max_staleness`` versions behind"""
        self.discarded = 0
        """batches of another length, in flight when ``n_steps`` changed, not returned"""
        self.closed = False
        self._calls_since_sync = 0
        self._slots: list[_Slot] = []
        # the pool replaces failed collectors itself (counting failures in a row): Ray's
        # max_restarts would count restarts over an actor's whole life
        options = {"num_cpus": 1, **(actor_options or {}), "max_restarts": 0,
                   "max_task_retries": 0}
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            init_local(num_cpus=max(1, math.ceil(self.n_collectors * options["num_cpus"])))
        try:
            self._fingerprint = _fingerprint(agent)
            self._weights_ref = ray.put(cpu_state_dict(agent))
            spec = CollectorSpec(agent_factory if agent_factory is not None else _cpu_copy(agent),
                                 env, self.n_envs, seed, 1, env_pool_kwargs)
            try:
                self._spec_ref = ray.put(spec)
            except Exception as error:  # noqa: BLE001 - any pickling failure
                raise TypeError(f"RayEnvPool: the agent or env could not be pickled for the "
                                f"collectors ({error!r}); give agent_factory (a zero-argument "
                                f"function that builds the agent) or an env factory defined "
                                f"at module level") from error
            self._remote = ray.remote(Collector).options(**options)
            self._slots = [_Slot(self._remote.remote(c), c) for c in range(self.n_collectors)]
            self._start(ray, float(start_timeout), options)
        except BaseException:
            self.close()
            raise

    # --- starting ---------------------------------------------------------------------------
    def _start(self, ray: Any, start_timeout: float, options: dict[str, Any]) -> None:
        """Set every collector up (agent, environments, weights version 0) and wait."""
        refs = {slot.actor.setup.remote(self._spec_ref, 0, [self._weights_ref]): slot
                for slot in self._slots}
        ready, waiting = ray.wait(list(refs), num_returns=len(refs), timeout=start_timeout)
        for ref in ready:
            slot = refs[ref]
            try:
                slot.incarnation = ray.get(ref)["incarnation"]
            except Exception as error:  # noqa: BLE001 - the collector's own error, re-raised
                raise RuntimeError(f"RayEnvPool: collector {slot.collector_id} could not "
                                   f"start: {describe_error(error)} (its traceback is in the "
                                   f"exception's __cause__)") from error
        if waiting:
            late = sorted(refs[ref].collector_id for ref in waiting)
            raise TimeoutError(
                f"RayEnvPool: collectors {late} did not start within start_timeout="
                f"{start_timeout} s; each asks for {options.get('num_cpus')} CPU, Ray has "
                f"{ray.cluster_resources().get('CPU', 0)} in all (actor_options="
                f"{{'num_cpus': ...}} or fewer collectors)")

    # --- weights ----------------------------------------------------------------------------
    def sync_weights(self, force: bool = False) -> int:
        """Publish the learner agent's current weights as a new version if they changed
        since the last one (or ``force``); collectors load it before their next batch.
        Returns the current version."""
        self._check_open()
        fingerprint = _fingerprint(self.agent)
        if force or fingerprint != self._fingerprint:
            ray = require_ray()
            self._weights_ref = ray.put(cpu_state_dict(self.agent))
            self._fingerprint = fingerprint
            self.weight_version += 1
        self._calls_since_sync = 0
        return self.weight_version

    # --- sessions ---------------------------------------------------------------------------
    def interact(self, n_steps: int = 100) -> Sessions:
        """Sessions of ``n_steps`` ticks from the collectors, as ``EnvPool.interact`` gives.

        Waits (at most ``timeout`` s) for a batch from every collector that is expected to
        deliver, and takes any other batch that is ready.

        Returns:
            :class:`~agentnet.agent.Sessions` on the learner agent's device with rows
            ``[n_delivered * n_envs, n_steps, ...]`` (``n_delivered``: batches returned, in
            collector order; see ``last_batches``): observations, actions, policy,
            agent_states, rewards, is_alive, is_truncated, initial_agent_states (the memory
            before tick 0 of each row) and next_observations.

        Raises:
            TimeoutError: no batch arrived within ``timeout``.
            RuntimeError: every collector is dead, or a collector raised (its error and
                traceback are in the message).
        """
        self._check_open()
        n_steps = int(n_steps)
        if n_steps < 1:
            raise ValueError(f"RayEnvPool.interact: n_steps must be at least 1, got {n_steps}")
        if self.sync_every is not None and self._calls_since_sync >= self.sync_every:
            self.sync_weights()
        self._calls_since_sync += 1
        for slot in self._slots:
            if slot.pending is None and slot.status != "dead":
                self._submit(slot, n_steps)
        batches = sorted(self._gather(n_steps), key=lambda b: (b.info.collector_id, b.info.seq))
        self.last_batches = [batch.info for batch in batches]
        self.last_episodes = EpisodeStats(torch.cat([b.episodes.returns for b in batches]),
                                          torch.cat([b.episodes.lengths for b in batches]))
        self.env_steps += sum(info.env_steps for info in self.last_batches)
        return _unpack(concat_sessions([batch.fields for batch in batches]), self.agent)

    def update(self, n_steps: int, session_pool: SessionPoolEnvironment) -> Sessions:
        """:meth:`interact` for ``n_steps`` ticks and append the sessions to ``session_pool``
        (see :func:`agentnet.driving.common.update`); returns the sessions."""
        return common.update(self, n_steps, session_pool)

    def _submit(self, slot: _Slot, n_steps: int) -> None:
        seq, slot.next_seq = slot.next_seq, slot.next_seq + 1
        ref = slot.actor.collect.remote(n_steps, seq, self.weight_version, [self._weights_ref],
                                        [self._spec_ref])
        slot.pending = _Request(ref, seq, n_steps, self.weight_version)
        self.requested += 1

    def _replace(self, slot: _Slot, n_steps: int) -> None:
        """Replace a collector that failed with a new actor and ask it to set itself up (Ray
        runs the request once the actor has started); its next batch is requested when that
        is done, with the weights current then (not those of the time it failed)."""
        slot.actor = self._remote.remote(slot.collector_id)
        ref = slot.actor.revive.remote(self._spec_ref, self.weight_version, [self._weights_ref])
        slot.pending = _Request(ref, -1, n_steps, self.weight_version)

    def _gather(self, n_steps: int) -> list[Batch]:
        """At most one batch per collector: wait for every collector expected to deliver
        (status "ok") until ``timeout``, or, if none delivered, for the first batch of any."""
        ray = require_ray()
        deadline = time.monotonic() + self.timeout
        expected = {s.collector_id for s in self._slots if s.pending and s.status == "ok"}
        batches: list[Batch] = []
        taken: set[int] = set()
        while True:
            by_ref = {s.pending.ref: s for s in self._slots
                      if s.pending is not None and s.collector_id not in taken}
            waiting = bool(expected) or not batches
            remaining = deadline - time.monotonic()
            if not by_ref or (waiting and remaining <= 0):
                break
            if waiting:
                ray.wait(list(by_ref), num_returns=1, timeout=remaining)
            ready, _ = ray.wait(list(by_ref), num_returns=len(by_ref), timeout=0)
            lost, delivered = False, False
            for ref in ready:
                slot = by_ref[ref]
                batch = self._receive(slot, n_steps)
                if batch is not None or slot.status != "ok":
                    expected.discard(slot.collector_id)  # (a stale batch: wait for the next)
                if batch is not None:
                    batches.append(batch)
                    taken.add(slot.collector_id)
                    delivered = True
                lost = lost or slot.status in ("restarting", "dead")
            if not waiting:
                break
            if lost and not delivered:
                time.sleep(0.05)  # a replacement's failures may come at once: do not spin
        for slot in self._slots:
            if slot.collector_id in expected:
                slot.status = "late"
                _warn(f"RayEnvPool: collector {slot.collector_id} delivered nothing within "
                      f"timeout={self.timeout} s; going on without it")
        if not batches:
            if all(slot.status == "dead" for slot in self._slots):
                last = f"; last failure: {self.failures[-1].error!r}" if self.failures else ""
                raise RuntimeError(f"RayEnvPool: every collector is dead (each failed more "
                                   f"often in a row than max_restarts={self.max_restarts})"
                                   f"{last}")
            raise TimeoutError(f"RayEnvPool: no collector delivered a batch within timeout="
                               f"{self.timeout} s (collectors: {self.collector_status})")
        return batches

    def _receive(self, slot: _Slot, n_steps: int) -> Batch | None:
        """Take the finished request of ``slot``: its batch, or None (a revival, a lost
        batch, a stale one or one of another length). Sends the collector its next request
        where it should get one."""
        ray = require_ray()
        request, slot.pending = slot.pending, None
        assert request is not None
        what = "setting up again" if request.seq < 0 else f"playing batch {request.seq}"
        try:
            result = ray.get(request.ref)
        except _lost_errors() as error:
            self._lose(slot, request, error, n_steps)
            return None
        except Exception as error:  # noqa: BLE001 - an error raised inside the collector
            raise RuntimeError(f"RayEnvPool: collector {slot.collector_id} raised while "
                               f"{what}: {describe_error(error)} (its traceback is in the "
                               f"exception's __cause__)") from error
        if request.seq < 0:  # replaced and set up: count the restart, ask for a batch (its
            self._new_life(slot, result["incarnation"])  # failures in a row go on until then)
            slot.status = "ok"
            self._submit(slot, n_steps)
            return None
        batch: Batch = result
        info = batch.info
        if (info.collector_id, info.seq) != (slot.collector_id, request.seq) or \
                info.seq <= slot.last_seq:
            raise RuntimeError(f"RayEnvPool: collector {slot.collector_id} answered request "
                               f"{request.seq} with batch ({info.collector_id}, {info.seq}) "
                               f"after batch {slot.last_seq}")
        slot.last_seq = info.seq
        slot.failures_in_a_row = 0
        self._new_life(slot, info.incarnation)
        slot.status = "ok"
        info = info._replace(staleness=self.weight_version - info.weight_version)
        self.history.append(info)
        keep = True
        if info.n_steps != n_steps:
            self.discarded += 1
            keep = False
        elif self.max_staleness is not None and info.staleness > self.max_staleness:
            self.dropped_stale += 1
            keep = False
        if self.pipeline or not keep:
            self._submit(slot, n_steps)
        return batch._replace(info=info) if keep else None

    def _new_life(self, slot: _Slot, incarnation: str) -> None:
        if slot.incarnation is not None and incarnation != slot.incarnation:
            slot.restarts += 1
            self.restarts += 1
        slot.incarnation = incarnation

    def _lose(self, slot: _Slot, request: _Request, error: BaseException, n_steps: int) -> None:
        """A failure of ``slot``'s collector: record it, kill what is left of its actor, and
        replace it, or give it up after more than ``max_restarts`` failures in a row."""
        ray = require_ray()
        slot.failures_in_a_row += 1
        permanent = 0 <= self.max_restarts < slot.failures_in_a_row
        slot.status = "dead" if permanent else "restarting"
        self.failures.append(CollectorFailure(slot.collector_id, request.seq, error, permanent))
        then = (f"given up: it failed {slot.failures_in_a_row} times in a row, more than "
                f"max_restarts={self.max_restarts}" if permanent
                else "it is replaced with a new actor")
        if request.seq >= 0:
            _warn(f"RayEnvPool: collector {slot.collector_id} died while playing batch "
                  f"{request.seq} ({type(error).__name__}); the batch is dropped; {then}")
        else:
            _warn(f"RayEnvPool: collector {slot.collector_id} died again (a replacement) before "
                  f"it was set up ({type(error).__name__}); {then}")
        try:  # an actor that lost a request without dying (an unreachable one) is not kept
            ray.kill(slot.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
        if not permanent:
            self._replace(slot, n_steps)

    # --- evaluation -------------------------------------------------------------------------
    def evaluate(self, n_games: int = 1, record_video: str | None = None,
                 max_steps: int | None = None, seed: int | None = None) -> EpisodeStats:
        """``EnvPool.evaluate`` in this process, with the learner's agent: ``n_games`` greedy
        episodes on new environments (at most ``n_envs`` at a time)."""
        self._check_open()
        from ..driving.pool import EnvPool

        n = max(1, min(int(n_games), self.n_envs))
        with EnvPool(self.agent, self.env, n_envs=n, **self.env_pool_kwargs) as pool:
            return pool.evaluate(n_games, record_video=record_video, max_steps=max_steps,
                                 seed=seed)

    # --- state ------------------------------------------------------------------------------
    @property
    def actors(self) -> list[Any]:
        """The collectors' Ray actor handles, by collector id."""
        return [slot.actor for slot in self._slots]

    @property
    def collector_status(self) -> dict[int, str]:
        """``{collector_id: "ok" | "late" | "restarting" | "dead"}``."""
        return {slot.collector_id: slot.status for slot in self._slots}

    @property
    def in_flight(self) -> dict[int, int]:
        """``{collector_id: seq}`` of the requests under way."""
        return {slot.collector_id: slot.pending.seq for slot in self._slots
                if slot.pending is not None}

    @property
    def collector_restarts(self) -> dict[int, int]:
        """``{collector_id: restarts seen}``."""
        return {slot.collector_id: slot.restarts for slot in self._slots}

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("RayEnvPool: the pool is closed")

    # --- closing ----------------------------------------------------------------------------
    def close(self, timeout: float = 5.0) -> None:
        """Ask every collector to close its environments (waiting at most ``timeout`` s,
        after the batch it is playing), then kill the actors; stop Ray if this pool started
        it. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        ray = sys.modules.get("ray")
        if ray is None or not ray.is_initialized():
            return
        try:
            refs = []
            for slot in self._slots:
                if slot.status != "dead":
                    try:
                        refs.append(slot.actor.close.remote())
                    except Exception:  # noqa: BLE001 - a dead actor: nothing to close
                        pass
            if refs:
                ray.wait(refs, num_returns=len(refs), timeout=timeout)
            for slot in self._slots:
                try:
                    ray.kill(slot.actor, no_restart=True)
                except Exception:  # noqa: BLE001 - already gone
                    pass
        finally:
            self._slots = [_Slot(None, slot.collector_id, "dead") for slot in self._slots]
            if self._owns_ray:
                ray.shutdown()

    def __enter__(self) -> RayEnvPool:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        what = self.env if isinstance(self.env, str) else getattr(
            self.env, "__name__", type(self.env).__name__)
        return (f"RayEnvPool({what}, n_collectors={self.n_collectors}, n_envs={self.n_envs}, "
                f"weight_version={self.weight_version}, restarts={self.restarts}, "
                f"dropped={len(self.failures)})")


def _lost_errors() -> tuple[type[BaseException], ...]:
    """Ray's errors for a result lost with its worker (as opposed to one the task raised)."""
    from ray import exceptions as e

    return tuple(getattr(e, name) for name in (
        "RayActorError", "WorkerCrashedError", "ObjectLostError", "OwnerDiedError",
        "NodeDiedError", "LocalRayletDiedError") if hasattr(e, name))


def _cpu_copy(agent: Agent) -> Agent:
    """The agent as the collectors get it: itself if on the CPU (Ray pickles a snapshot),
    else a CPU copy (so that a collector without a GPU can unpickle it)."""
    return agent if agent.device.type == "cpu" else copy.deepcopy(agent).cpu()


def _fingerprint(module: torch.nn.Module) -> Any:
    """Changes whenever a parameter or buffer is modified in place (optimizer steps,
    ``load_state_dict``, ``epsilon.set_value``) or replaced: torch's version counters."""
    try:
        return tuple((name, id(t), t._version)
                     for name, t in module.state_dict(keep_vars=True).items())
    except AttributeError:  # no version counters: treat every call as a change
        return object()


def _warn(message: str) -> None:
    """A RuntimeWarning pointing at the first caller outside this package."""
    warn_at_caller(message, _HERE)
