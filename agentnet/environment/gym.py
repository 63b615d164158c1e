"""Gymnasium pools: an agent playing many Gymnasium environments, recorded as sessions.

:class:`EnvPool` (alias ``GamePool``, the original's names) runs ``n_envs`` Gymnasium
environments, each on its own so that one environment can fail, hang or die and be recreated
without touching the others: with ``vectorization="sync"`` the ``gymnasium.Env`` objects are
stepped directly in this process (the pool emulates Gymnasium's vector autoreset modes itself),
with ``"async"`` each sits in its own ``AsyncVectorEnv`` of one (a worker process). Each tick it
asks the agent for actions (observations gathered into one preallocated array and converted to
the agent's device once), keeps the agent's memory per environment, and records sessions
``[n_envs, n_steps, ...]`` that follow :class:`~agentnet.agent.Sessions`' episode-end
contract, so that every objective and the replay take them as they are:

- an episode's last tick ``t`` is alive; tick ``t + 1`` is dead and observes the state the
  episode ended in (for a time limit, the bootstrap target); tick ``t + 2`` starts the next
  episode, where memory restarts at zeros. Dead ticks earn 0.
- ``is_truncated[t]`` is ``truncated and not terminated`` (both at once counts as terminated).
- Gymnasium's autoreset modes say when an environment is reset after an episode's end: with
  ``NEXT_STEP`` (its default) on the dead tick (the step after the end only resets; its action
  is ignored and it is never recorded as a transition), with ``SAME_STEP`` (the final
  observation from ``info["final_obs"]``) and ``DISABLED`` (an explicit reset) right after the
  last step. The sessions are the same in every mode; only when a reset runs (and when a
  failing one is counted) differs.
- A failure (an exception in ``step``/``reset``, a dead worker process, a step slower than
  ``step_timeout``) aborts that environment's episode: the tick is its last (reward 0, ended as a
  termination, no bootstrap), the next tick is dead and shows the observation the agent acted on,
  and a new episode starts from an environment recreated from the factory. A reset failing
  after a completed last step (``DISABLED``, and ``SAME_STEP`` in ``"sync"``) keeps that step
  as recorded and starts the next episode in a recreated environment. Other environments are
  untouched. ``pool.restarts`` counts recreations, ``pool.failures`` says what happened.

>>> import torch
>>> from agentnet import Agent, layers as L
>>> from agentnet.resolver import EpsilonGreedyResolver
>>> obs = L.InputLayer((None, 4), name="observation")
>>> q = L.DenseLayer(obs, num_units=2, nonlinearity=None, name="q")
>>> agent = Agent(obs, policy_estimators=q, action_layers=EpsilonGreedyResolver(q))
>>> with EnvPool(agent, "CartPole-v1", n_envs=2, seed=0) as pool:
...     sessions = pool.interact(5)
>>> sessions.observations.shape, sessions.actions.shape, sessions.is_alive.dtype
(torch.Size([2, 5, 4]), torch.Size([2, 5]), torch.bool)
"""
from __future__ import annotations

import functools
import multiprocessing
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import gymnasium
import numpy as np
import torch
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, VectorEnv

from ..agent.sessions import Sessions
from ..layers.base import format_shape
from ..layers.graph import get_all_layers
from .episodes import EpisodeStats

__all__ = ["EnvPool", "GamePool", "EnvFailure"]

# what happened to one environment on one tick, when it was not a plain step (see _settle)
_CRASH, _END, _RESET, _FIRST = range(4)
#: EnvPool._tick_sync or _tick_async: (t, actions, alive, rows, rewards) -> events; the actions
#: are one per environment (sync) or one array per action layer (async)
_Tick = Callable[[int, Any, "list[bool] | None", "list[np.ndarray]", np.ndarray],
                 "list[tuple[int, int, Any]]"]


class EnvFailure(NamedTuple):
    """One failure of one environment: which, when (the pool's tick count), in what, and why.

    ``phase`` is ``"step"``, ``"reset"`` or ``"start"`` (making the environment again).
    """

    env_index: int
    tick: int
    phase: str
    error: BaseException


class EnvPool:
    """``n_envs`` Gymnasium environments played by an agent, recorded as sessions.

    Args:
        agent: an :class:`agentnet.Agent`; its observation layers take the environments'
            observations (a Tuple space in layer order, a Dict space by layer name), its
            action layers give the actions.
        env: a Gymnasium id (``"CartPole-v1"``) or a zero-argument factory returning a
            ``gymnasium.Env`` (picklable by cloudpickle for ``"async"``, e.g. a
            ``functools.partial``).
        n_envs: how many environments (rows of the sessions).
        vectorization: ``"sync"`` (stepped one after another in this process) or ``"async"``
            (one worker process each).
        autoreset_mode: a ``gymnasium.vector.AutoresetMode`` or its name; None for Gymnasium's
            default, ``NEXT_STEP``.
        max_consecutive_failures: an environment failing this many times in a row (without
            a successful step between) raises ``RuntimeError`` from the last exception (the
            pool is then broken: close it); 1 never recreates. While the pool is being built,
            an environment that cannot be made or reset is a mistake and raises at once.
        step_timeout: seconds an ``"async"`` environment may take to step or reset before it
            counts as hung (its worker is terminated and it is recreated). None waits forever.
        seed: environment ``i`` is first reset with seed ``seed + i`` (Gymnasium's vector
            convention); its ``k``-th recreation with a seed drawn from ``(seed, i, k)``. None
            for unseeded environments.
        vector_kwargs: more arguments for each ``AsyncVectorEnv`` (e.g. ``context="spawn"``,
            ``shared_memory=False``); ``"async"`` only.
        **flags: passed to the agent's react function (e.g. ``greedy=True``).

    Sessions carry on across :meth:`interact` calls: the pool remembers each environment's
    pending observation, the agent's memory and whether the last tick was alive.
    """

    def __init__(self, agent: Any, env: str | Callable[[], gymnasium.Env], n_envs: int = 8,
                 vectorization: str = "sync", autoreset_mode: Any = None,
                 max_consecutive_failures: int = 5, step_timeout: float | None = None,
                 seed: int | None = None, vector_kwargs: dict[str, Any] | None = None,
                 **flags: Any):
        if isinstance(env, str):
            self.env_id: str | None = env
            self.make_env: Callable[[], gymnasium.Env] = functools.partial(gymnasium.make, env)
        elif callable(env):
            self.env_id, self.make_env = None, env
        else:
            raise TypeError(f"EnvPool: env must be a Gymnasium id or a zero-argument factory, "
                            f"got {type(env).__name__}")
        if vectorization not in ("sync", "async"):
            raise ValueError(f"EnvPool: vectorization must be 'sync' or 'async', "
                             f"got {vectorization!r}")
        if int(n_envs) < 1 or int(max_consecutive_failures) < 1:
            raise ValueError(f"EnvPool: n_envs and max_consecutive_failures must be positive, "
                             f"got {n_envs} and {max_consecutive_failures}")
        if step_timeout is not None and vectorization != "async":
            raise ValueError("EnvPool: step_timeout needs vectorization='async' (a step in this "
                             "process cannot be interrupted)")
        if step_timeout is not None and not step_timeout > 0:
            raise ValueError(f"EnvPool: step_timeout must be positive, got {step_timeout}")
        if vector_kwargs and vectorization != "async":
            raise ValueError(f"EnvPool: vector_kwargs ({', '.join(vector_kwargs)}) need "
                             f"vectorization='async' (with 'sync' the environments are stepped "
                             f"directly, in no vector environment)")
        self.agent = agent
        self.n_envs = int(n_envs)
        self.vectorization = vectorization
        self.autoreset_mode = (AutoresetMode.NEXT_STEP if autoreset_mode is None
                               else AutoresetMode(autoreset_mode))
        self.max_consecutive_failures = int(max_consecutive_failures)
        self.step_timeout = step_timeout
        self.seed = seed
        self.vector_kwargs = dict(vector_kwargs or {})
        self.flags = flags
        self._react = agent.get_react_function(**flags)  # checks the flags
        self.restarts = 0
        """How many times an environment was recreated after a failure, in all."""
        self.env_restarts = [0] * self.n_envs
        """The same, per environment."""
        self.failures: list[EnvFailure] = []
        """Every failure, in order."""
        self.ticks = 0
        """Ticks played so far (the time axis of all sessions joined)."""
        self.closed = False
        n = self.n_envs
        # an environment of "sync", an AsyncVectorEnv of one of "async"
        self._slots: list[Any] = [None] * n
        self._consecutive = [0] * n
        self._dead = np.zeros(n, dtype=bool)          # the next tick is a dead tick
        self._reset_step = np.zeros(n, dtype=bool)    # ... on which the env takes its reset step
        self._first: list[list[np.ndarray] | None] = [None] * n  # ... or after which this obs
        self._prev_alive = np.zeros(n, dtype=bool)
        self._calm = False  # all alive on the next tick, none starting an episode
        self._memory = agent.get_zeros_like_memory(n)
        self._evaluations = 0
        self._layout: list[tuple[tuple[int, ...], np.dtype]] = []  # per observation layer
        try:
            first = [self._start(i, tolerate=False) for i in range(n)]
            # what the next tick sees: one array [n_envs, ...] per observation layer, in the
            # observation space's dtype (as a Gymnasium vector environment would batch it)
            self._pending = [np.empty((n, *shape), dtype) for shape, dtype in self._layout]
            for i, parts in enumerate(first):
                _write(self._pending, i, parts)
        except BaseException:
            self.close()
            raise

    # --- the environments -------------------------------------------------------------------
    def _seed_for(self, i: int) -> int | None:
        if self.seed is None:
            return None
        k = self.env_restarts[i]
        if k == 0:
            return self.seed + i
        return int(np.random.SeedSequence([self.seed, i, k]).generate_state(1)[0])

    def _start(self, i: int, tolerate: bool = True) -> list[np.ndarray]:
        """(Re)create environment ``i`` and reset it; returns its first observation. Without
        ``tolerate`` (building the pool) a failure is a mistake and raises as it is."""
        while True:
            phase = "start"
            try:
                if self.vectorization == "async":
                    self._slots[i] = AsyncVectorEnv([self.make_env],
                                                    autoreset_mode=self.autoreset_mode,
                                                    **self.vector_kwargs)
                else:
                    self._slots[i] = self.make_env()
                if not self._layout:  # the first environment made
                    self._layout = self._check_spaces(self._slots[i])
                phase = "reset"
                return self._reset_slot(i, self._seed_for(i))
            except Exception as error:  # noqa: BLE001 - any failure of user code is a crash
                self._discard(i)
                if not tolerate:
                    raise
                self._fail(i, phase, error)

    def _slot(self, i: int) -> Any:
        slot = self._slots[i]
        if slot is None:
            raise RuntimeError(f"EnvPool: environment {i} is closed")
        return slot

    def _reset_slot(self, i: int, seed: int | None) -> list[np.ndarray]:
        """Reset environment ``i``: its observation, one (copied) array per observation layer."""
        slot = self._slot(i)
        if isinstance(slot, AsyncVectorEnv):
            slot.reset_async(seed=seed)
            observations, _ = slot.reset_wait(timeout=self.step_timeout)
            return [np.array(part[0]) for part in self._parts(observations)]
        observation, _ = slot.reset(seed=seed)
        return [np.array(part) for part in self._parts(observation)]

    def _restart(self, i: int) -> list[np.ndarray]:
        self._discard(i)
        return self._start(i)

    def _reset_or_restart(self, i: int) -> list[np.ndarray]:
        try:
            return self._reset_slot(i, None)
        except Exception as error:  # noqa: BLE001
            self._fail(i, "reset", error)
            return self._restart(i)

    def _fail(self, i: int, phase: str, error: BaseException) -> None:
        """Count a failure of environment ``i``; raise after too many in a row."""
        if isinstance(error, multiprocessing.TimeoutError):
            error = TimeoutError(f"no answer within step_timeout={self.step_timeout} s "
                                 f"({error})")
        elif isinstance(error, (EOFError, BrokenPipeError, ConnectionResetError)):
            error = RuntimeError(f"the worker process died ({type(error).__name__})")
        self.failures.append(EnvFailure(i, self.ticks, phase, error))
        self._consecutive[i] += 1
        if self._consecutive[i] >= self.max_consecutive_failures:
            raise RuntimeError(f"EnvPool: environment {i} failed {self._consecutive[i]} times in "
                               f"a row (max_consecutive_failures="
                               f"{self.max_consecutive_failures}); last in {phase}: "
                               f"{error!r}") from error
        self.restarts += 1
        self.env_restarts[i] += 1
        warnings.warn(f"EnvPool: environment {i} failed in {phase} at tick {self.ticks} "
                      f"({error!r}); recreated it from its factory (restart "
                      f"{self.env_restarts[i]} of this environment, {self.restarts} in all)",
                      RuntimeWarning, stacklevel=4)

    def _discard(self, i: int) -> None:
        slot, self._slots[i] = self._slots[i], None
        if slot is not None:
            _shutdown(slot, force=True)

    def _check_spaces(self, slot: Any) -> list[tuple[tuple[int, ...], np.dtype]]:
        """Check the observation space against the observation layers; returns the shape and
        dtype of each layer's part of an observation."""
        space = (slot.single_observation_space if isinstance(slot, VectorEnv)
                 else slot.observation_space)
        if isinstance(space, gymnasium.spaces.Dict):
            names = [layer.name for layer in self.agent.observation_layers]
            missing = [name for name in names if name not in space.spaces]
            if missing:
                raise ValueError(f"EnvPool: the observation space is a Dict with keys "
                                 f"{list(space.spaces)}; observation layers {missing} match none")
            parts = [space[name] for name in names]
        elif isinstance(space, gymnasium.spaces.Tuple):
            parts = list(space.spaces)
        else:
            parts = [space]
        layers = self.agent.observation_layers
        if len(parts) != len(layers):
            raise ValueError(f"EnvPool: the environment gives {len(parts)} observations, the "
                             f"agent has {len(layers)} observation layers")
        layout = []
        for part, layer in zip(parts, layers):
            shape, expected = tuple(part.shape or ()), tuple(layer.output_shape[1:])
            if len(shape) != len(expected) or any(e is not None and e != s
                                                  for e, s in zip(expected, shape)):
                raise ValueError(f"EnvPool: observations have shape "
                                 f"{format_shape((None, *shape))}, {layer.describe()} expects "
                                 f"{format_shape(layer.output_shape)}")
            if part.dtype is None:
                raise ValueError(f"EnvPool: the observation space {part} has no array dtype; "
                                 f"{layer.describe()} needs arrays")
            layout.append((shape, np.dtype(part.dtype)))
        return layout

    def _parts(self, observation: Any) -> list[Any]:
        """An observation (or a batch of them) as a list, one entry per observation layer."""
        if isinstance(observation, dict):
            return [observation[layer.name] for layer in self.agent.observation_layers]
        if isinstance(observation, tuple):
            return list(observation)
        return [observation]

    # --- one tick -----------------------------------------------------------------------------
    def _tick_sync(self, t: int, actions: Sequence[Any] | np.ndarray, alive: list[bool] | None,
                   rows: list[np.ndarray], rewards: np.ndarray) -> list[tuple[int, int, Any]]:
        """Step the environments of ``"sync"`` on tick ``t``: write what they observe next
        into ``rows`` and their rewards into ``rewards[:, t]``; return the events (crashes,
        episode ends, dead ticks), in environment order, for :meth:`_settle`. ``alive`` None:
        every environment is alive."""
        events: list[tuple[int, int, Any]] = []
        rewards = rewards[:, t]
        consecutive = self._consecutive
        single = len(rows) == 1
        row = rows[0]
        if alive is None and single:  # the common tick: nothing but steps
            for i, (env, action) in enumerate(zip(self._slots, actions)):
                try:
                    observation, reward, terminated, truncated, _ = env.step(action)
                except Exception as error:  # noqa: BLE001 - any failure of user code
                    events.append((i, _CRASH, error))
                    continue
                row[i] = observation
                rewards[i] = reward
                if consecutive[i]:
                    consecutive[i] = 0
                if terminated or truncated:
                    events.append((i, _END, (terminated, truncated, None)))
            return events
        parts = self._parts
        for i, env in enumerate(self._slots):
            if alive is not None and not alive[i]:
                if not self._reset_step[i]:
                    events.append((i, _FIRST, None))
                    continue
                try:  # NEXT_STEP: the dead tick's step only resets
                    observation = env.reset()[0]
                except Exception as error:  # noqa: BLE001
                    events.append((i, _RESET, error))
                    continue
                events.append((i, _RESET, None))
            else:
                try:
                    observation, reward, terminated, truncated, _ = env.step(actions[i])
                except Exception as error:  # noqa: BLE001 - any failure of user code
                    events.append((i, _CRASH, error))
                    continue
                rewards[i] = reward
                if consecutive[i]:
                    consecutive[i] = 0
                if terminated or truncated:
                    events.append((i, _END, (terminated, truncated, None)))
            if single:
                row[i] = observation
            else:
                _write(rows, i, parts(observation))
        return events

    def _tick_async(self, t: int, actions: list[np.ndarray], alive: list[bool] | None,
                    rows: list[np.ndarray], rewards: np.ndarray) -> list[tuple[int, int, Any]]:
        """:meth:`_tick_sync` for ``"async"``: every environment's step is sent, then the
        answers collected (each within ``step_timeout``)."""
        n = self.n_envs
        which = [alive is None or alive[i] or bool(self._reset_step[i]) for i in range(n)]
        results = self._step_async(actions, which)
        events: list[tuple[int, int, Any]] = []
        for i in range(n):
            if not (alive is None or alive[i]):
                if not self._reset_step[i]:
                    events.append((i, _FIRST, None))
                elif isinstance(results[i], Exception):
                    events.append((i, _RESET, results[i]))
                else:  # NEXT_STEP: this step only reset the environment
                    _write(rows, i, [part[0] for part in self._parts(results[i][0])])
                    events.append((i, _RESET, None))
                continue
            result = results[i]
            if isinstance(result, Exception):
                events.append((i, _CRASH, result))
                continue
            self._consecutive[i] = 0
            observations, reward, terminated, truncated, info = result
            rewards[i, t] = reward[0]
            observation = [part[0] for part in self._parts(observations)]
            if not (terminated[0] or truncated[0]):
                _write(rows, i, observation)
                continue
            first = None
            if self.autoreset_mode == AutoresetMode.SAME_STEP:
                first = [np.array(part) for part in observation]
                observation = self._parts(info["final_obs"][0])
            _write(rows, i, observation)
            events.append((i, _END, (bool(terminated[0]), bool(truncated[0]), first)))
        return events

    def _step_async(self, actions: list[np.ndarray], which: list[bool]) -> list[Any]:
        """Step the environments in ``which``: ``(obs, reward, term, trunc, info)`` (batches of
        one) per environment, or the exception it raised, or None where not stepped."""
        results: list[Any] = [None] * self.n_envs
        waiting = []
        for i in range(self.n_envs):
            if not which[i]:
                continue
            action = (actions[0][i:i + 1] if len(actions) == 1
                      else tuple(a[i:i + 1] for a in actions))
            try:
                self._slot(i).step_async(action)
                waiting.append(i)
            except Exception as error:  # noqa: BLE001
                results[i] = error
        deadline = None if self.step_timeout is None else time.monotonic() + self.step_timeout
        for i in waiting:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                results[i] = self._slot(i).step_wait(timeout=timeout)
            except Exception as error:  # noqa: BLE001
                results[i] = error
        return results

    def _settle(self, t: int, events: list[tuple[int, int, Any]], seen: list[np.ndarray],
                rows: list[np.ndarray], truncated_log: np.ndarray) -> None:
        """The bookkeeping of tick ``t`` beyond plain steps: ``seen`` is what the tick
        observed, ``rows`` what the next one will."""
        for i, kind, payload in events:
            if kind == _CRASH:
                # aborted: the episode ends here as if terminated (no bootstrap); the dead tick
                # shows the observation acted on; the next episode starts in a new environment
                self._fail(i, "step", payload)
                self._first[i] = self._restart(i)
                _write(rows, i, [part[i] for part in seen])
                self._dead[i], self._reset_step[i] = True, False
            elif kind == _END:
                terminated, truncated, first = payload
                self._dead[i] = True
                truncated_log[i, t] = bool(truncated and not terminated)
                if self.autoreset_mode == AutoresetMode.NEXT_STEP:
                    self._reset_step[i] = True
                elif first is not None:  # reset already (an asynchronous SAME_STEP)
                    self._first[i] = first
                else:  # SAME_STEP (synchronous) and DISABLED: reset now
                    self._first[i] = self._reset_or_restart(i)
            elif kind == _RESET:  # a dead tick whose step was the reset
                self._dead[i] = self._reset_step[i] = False
                if payload is not None:
                    self._fail(i, "reset", payload)
                    _write(rows, i, self._restart(i))
            else:  # _FIRST: a dead tick after which the next episode's first observation comes
                self._dead[i] = False
                first, self._first[i] = self._first[i], None
                assert first is not None
                _write(rows, i, first)

    # --- sessions ---------------------------------------------------------------------------
    def interact(self, n_steps: int = 100) -> Sessions:
        """Play ``n_steps`` ticks in every environment and return them as sessions.

        Returns:
            :class:`~agentnet.agent.Sessions` on the agent's device: observations
            ``[n_envs, n_steps, ...]`` (what the agent acted on), actions, policy, agent_states
            (memory after each tick), rewards float32, is_alive and is_truncated bool
            ``[n_envs, n_steps]``, ``initial_agent_states`` (the memory entering tick 0, after a
            restart there) and ``next_observations`` (what the next call's tick 0 will see).
        """
        if self.closed:
            raise RuntimeError("EnvPool: interact on a closed pool")
        if int(n_steps) < 1:
            raise ValueError(f"EnvPool.interact: n_steps must be at least 1, got {n_steps}")
        agent, n, n_steps = self.agent, self.n_envs, int(n_steps)
        device = agent.device
        obs_dtypes = [layer.output_dtype for layer in agent.observation_layers]
        # every observation of this call, tick-major: row t is what tick t sees (row n_steps
        # what the next call's tick 0 will); the agent gets row t without a copy on the CPU
        log = [np.empty((n_steps + 1, n, *shape), dtype) for shape, dtype in self._layout]
        for part, pending in zip(log, self._pending):
            part[0] = pending
        converters = [_converter(dtype, np_dtype, device)
                      for dtype, (_, np_dtype) in zip(obs_dtypes, self._layout)]
        single_obs = len(log) == 1
        rewards = np.zeros((n, n_steps), dtype=np.float32)
        alive_log = np.ones((n, n_steps), dtype=bool)
        truncated_log = np.zeros((n, n_steps), dtype=bool)
        sync = self.vectorization == "sync"
        tick: _Tick = self._tick_sync if sync else self._tick_async
        to_numpy = _numpy_converter(device)
        react, flags = agent._react, self.flags
        single_action, n_actions = agent.single_action, len(agent.action_layers)
        memories = self._memory
        views = [(-1,) + (1,) * (m.dim() - 1) for m in memories]
        initial = memories
        action_log: list[Any] = []
        memory_log: list[list[torch.Tensor]] = []
        policy_log: list[Any] = []
        completed, kept = 0, memories  # ticks done, the memory after them
        try:
            with torch.inference_mode():
                for t in range(n_steps):
                    alive_list: list[bool] | None = None
                    if not self._calm:
                        alive = ~self._dead
                        first = alive & ~self._prev_alive  # a new episode: memory restarts
                        if memories and first.any():
                            mask = torch.as_tensor(first, device=device)
                            memories = [m.masked_fill(mask.view(view), 0)
                                        for m, view in zip(memories, views)]
                        alive_log[:, t] = alive
                        alive_list = alive.tolist()
                    if t == 0:
                        initial = memories
                    seen = [part[t] for part in log]
                    if single_obs:
                        observations = [converters[0](seen[0])]
                    else:
                        observations = [c(o) for c, o in zip(converters, seen)]
                    actions, memories, policy = react(observations, memories, flags)
                    if single_action:
                        actions_np = [to_numpy(actions)]
                        step_actions: Sequence[Any] | np.ndarray = actions_np[0]
                    else:
                        actions_np = [to_numpy(a) for a in actions]
                        step_actions = (list(zip(*actions_np)) if n_actions > 1
                                        else actions_np[0])
                    rows = [part[t + 1] for part in log]
                    events = tick(t, step_actions if sync else actions_np, alive_list, rows,
                                  rewards)
                    if events:
                        self._settle(t, events, seen, rows, truncated_log)
                    if alive_list is not None:
                        self._prev_alive = alive
                    # no events: every environment was alive (_prev_alive all True) and is
                    self._calm = not events
                    action_log.append(actions)
                    memory_log.append(memories)
                    policy_log.append(policy)
                    self.ticks += 1
                    completed, kept = t + 1, memories
        finally:  # also when interrupted: the next call goes on from the last whole tick
            self._memory = kept
            self._pending = [part[completed].copy() for part in log]
        return self._sessions(log, obs_dtypes, action_log, memory_log, policy_log,
                              [m.clone() for m in initial], rewards, alive_log, truncated_log)

    def _sessions(self, log: list[np.ndarray], obs_dtypes: list[torch.dtype],
                  action_log: list[Any], memory_log: list[list[torch.Tensor]],
                  policy_log: list[Any], initial: list[torch.Tensor], rewards: np.ndarray,
                  alive_log: np.ndarray, truncated_log: np.ndarray) -> Sessions:
        """Assemble the sessions of one :meth:`interact` (outside inference mode: the result
        is made of ordinary tensors, usable in a loss)."""
        agent = self.agent
        device = agent.device
        n_steps = rewards.shape[1]

        def stack(sequence: list[Any], single: bool) -> Any:
            if single:
                return torch.stack(sequence, dim=1)
            return [torch.stack(parts, dim=1) for parts in zip(*sequence)]

        observations = [torch.as_tensor(np.ascontiguousarray(part[:n_steps].swapaxes(0, 1)),
                                        dtype=dtype, device=device)
                        for part, dtype in zip(log, obs_dtypes)]
        next_observations = [torch.as_tensor(part[n_steps], dtype=dtype, device=device)
                             for part, dtype in zip(log, obs_dtypes)]
        memory_seq = stack(memory_log, False) if agent.state_layers else []
        return Sessions(
            env_states=[],
            observations=observations[0] if agent.single_observation else observations,
            agent_states=dict(zip(agent.state_layers, memory_seq)),
            actions=stack(action_log, agent.single_action),
            policy=stack(policy_log, agent.single_policy) if agent.policy_layers else [],
            rewards=torch.as_tensor(rewards, device=device),
            is_alive=torch.as_tensor(alive_log, device=device),
            is_truncated=torch.as_tensor(truncated_log, device=device),
            next_env_states=[],
            next_observations=next_observations,
            additional_outputs=[],
            initial_agent_states=initial,
        )


    def update(self, n_steps: int, session_pool: Any) -> Sessions:
        """:meth:`interact` for ``n_steps`` ticks and append the sessions to ``session_pool``
        (a :class:`~agentnet.environment.SessionPoolEnvironment` of ``session_length`` equal
        to ``n_steps``); returns the sessions.

        Sessions follow each other without overlapping: replayed with ``crop_last`` (the
        objectives' default), a session's last tick is only the bootstrap value of the ticks
        before it, so one transition in ``n_steps`` is never trained on (longer sessions lose
        fewer)."""
        if session_pool.session_length != n_steps:
            raise ValueError(f"EnvPool.update: the session pool stores sessions of "
                             f"{session_pool.session_length} ticks, got n_steps={n_steps}")
        sessions = self.interact(n_steps)
        session_pool.append_sessions(sessions)
        return sessions

    # --- evaluation -------------------------------------------------------------------------
    def evaluate(self, n_games: int = 1, record_video: str | None = None,
                 max_steps: int | None = None, seed: int | None = None) -> EpisodeStats:
        """Play ``n_games`` whole episodes greedily on new environments (the pool's own are
        left as they are) and measure them.

        Args:
            n_games: episodes to play (at most ``n_envs`` at a time, one per environment).
            record_video: a directory: record every episode there with
                ``gymnasium.wrappers.RecordVideo`` (needs ``moviepy``, and a factory making
                environments with ``render_mode="rgb_array"``; an id is made so).
            max_steps: cut episodes longer than this (None: play until the environment ends).
            seed: game ``g`` is reset with ``seed + g`` (None: unseeded).

        Returns:
            :class:`~agentnet.environment.EpisodeStats`: float32 ``returns`` and ``lengths [n]``.
        """
        layers = get_all_layers(self.agent.action_layers + self.agent.state_layers)
        greedy = {"greedy": True} if any("greedy" in layer.accepted_flags
                                         for layer in layers) else {}
        react = self.agent.get_react_function(**{**self.flags, **greedy})
        self._evaluations += 1
        returns: list[float] = []
        lengths: list[int] = []
        for start in range(0, int(n_games), self.n_envs):
            games = range(start, min(int(n_games), start + self.n_envs))
            envs: list[gymnasium.Env] = []
            try:
                for game in games:
                    envs.append(self._make_eval_env(record_video, game))
                played = self._play(react, envs, [None if seed is None else seed + g
                                                  for g in games], max_steps)
            finally:
                for env in envs:
                    env.close()
            returns += played[0]
            lengths += played[1]
        return EpisodeStats(torch.tensor(returns, dtype=torch.float32),
                            torch.tensor(lengths, dtype=torch.float32))

    def _make_eval_env(self, record_video: str | None, game: int) -> gymnasium.Env:
        if record_video is None:
            return self.make_env()
        env = (gymnasium.make(self.env_id, render_mode="rgb_array") if self.env_id is not None
               else self.make_env())
        if env.render_mode != "rgb_array":
            env.close()
            raise ValueError(f"EnvPool.evaluate: record_video needs environments made with "
                             f"render_mode='rgb_array', the factory's have {env.render_mode!r}")
        return gymnasium.wrappers.RecordVideo(
            env, record_video, episode_trigger=lambda _: True, disable_logger=True,
            name_prefix=f"evaluation-{self._evaluations}-game-{game}")

    def _play(self, react: Callable[..., Any], envs: list[gymnasium.Env],
              seeds: Sequence[int | None], max_steps: int | None
              ) -> tuple[list[float], list[int]]:
        """One episode in each of ``envs``, in lockstep."""
        observations = [self._parts(env.reset(seed=s)[0]) for env, s in zip(envs, seeds)]
        memories: list[torch.Tensor] = self.agent.get_zeros_like_memory(len(envs))
        running = np.ones(len(envs), dtype=bool)
        returns, lengths = [0.0] * len(envs), [0] * len(envs)
        while running.any() and (max_steps is None or max(lengths) < max_steps):
            batch = [np.stack([o[k] for o in observations]) for k in range(len(observations[0]))]
            reaction = react(batch, memories)
            memories = reaction.new_states
            actions = _as_list(reaction.actions)
            for i in np.flatnonzero(running):
                action = actions[0][i] if len(actions) == 1 else tuple(a[i] for a in actions)
                observation, reward, terminated, truncated, _ = envs[i].step(action)
                observations[i] = self._parts(observation)
                returns[i] += float(reward)
                lengths[i] += 1
                if terminated or truncated:
                    running[i] = False
        return returns, lengths

    # --- closing ----------------------------------------------------------------------------
    def close(self) -> None:
        """Close every environment; no worker process is left behind."""
        for i, slot in enumerate(self._slots):
            self._slots[i] = None
            if slot is not None:
                _shutdown(slot, force=False, timeout=self.step_timeout)
        self.closed = True

    def __enter__(self) -> EnvPool:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        what = self.env_id or getattr(self.make_env, "__name__", type(self.make_env).__name__)
        return (f"EnvPool({what}, n_envs={self.n_envs}, vectorization={self.vectorization!r}, "
                f"autoreset_mode={self.autoreset_mode.value}, restarts={self.restarts})")


GamePool = EnvPool


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _write(rows: list[np.ndarray], i: int, parts: Sequence[Any]) -> None:
    """Write one environment's observation (one part per observation layer) into row ``i``."""
    for row, part in zip(rows, parts):
        row[i] = part


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


def _shutdown(slot: Any, force: bool, timeout: float | None = None) -> None:
    """Close an environment or an asynchronous vector environment; for the latter ``force``
    (or a failing close) terminates its workers, and ``timeout`` bounds the wait for a step
    still under way."""
    if not isinstance(slot, VectorEnv):
        try:
            slot.close()
        except Exception:  # noqa: BLE001 - a broken environment may fail to close
            pass
        return
    if getattr(slot, "closed", False):
        return
    if not force:
        try:
            if isinstance(slot, AsyncVectorEnv):
                slot.close(timeout=timeout)
            else:
                slot.close()
            return
        except Exception:  # noqa: BLE001 - fall through to terminating the workers
            pass
    processes = list(getattr(slot, "processes", ()))
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join()
    for pipe in getattr(slot, "parent_pipes", ()):
        if pipe is not None and not pipe.closed:
            pipe.close()
    if not processes:
        try:
            slot.close()
        except Exception:  # noqa: BLE001 - a broken environment may fail to close
            pass
    slot.closed = True
