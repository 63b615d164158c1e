"""The environments of a Gymnasium pool, one slot each: started, seeded, reset, recreated
after a failure, discarded and closed, each on its own so that one can fail, hang or die
without touching the others; and the bookkeeping of their failures."""
from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
from gymnasium.vector import AsyncVectorEnv, VectorEnv

from ..layers.base import Layer
from .checks import (
    EnvOutputError,
    OutputCheck,
    check_spaces,
    checked_env,
    describe,
    normalize_failure,
)
from .common import describe_error, warn_at_caller

__all__ = ["EnvFailure", "EnvSlots", "CRASH", "END", "RESET", "FIRST"]

_HERE = os.path.dirname(os.path.abspath(__file__))

#: what happened to one environment on one tick, when it was not a plain step: events
#: ``(env_index, kind, payload)`` (see :class:`~agentnet.driving.stepping.Stepper`)
CRASH, END, RESET, FIRST = range(4)


class EnvFailure(NamedTuple):
    """One failure of one environment: which, when (the pool's tick count), in what, and why.

    ``phase`` is ``"step"``, ``"reset"`` or ``"start"`` (making the environment again).
    """

    env_index: int
    tick: int
    phase: str
    error: BaseException


class EnvSlots:
    """``n_envs`` environments made by ``make_env``: a ``gymnasium.Env`` each (``"sync"``) or
    an ``AsyncVectorEnv`` of one each (``"async"``); arguments as
    :class:`~agentnet.driving.EnvPool` takes them. The first environment made is checked
    against ``observation_layers`` (:func:`~agentnet.driving.checks.check_spaces`); it sets
    :attr:`check`, which every ``"sync"`` return is checked with."""

    def __init__(self, make_env: Callable[[], Any], env_id: str | None, n_envs: int,
                 vectorization: str, autoreset_mode: Any, max_consecutive_failures: int,
                 step_timeout: float | None, seed: int | None, vector_kwargs: dict[str, Any],
                 observation_layers: Sequence[Layer], n_action_layers: int):
        self.make_env, self.env_id, self.n_envs = make_env, env_id, n_envs
        self.vectorization, self.autoreset_mode = vectorization, autoreset_mode
        self.max_consecutive_failures = max_consecutive_failures
        self.step_timeout, self.seed, self.vector_kwargs = step_timeout, seed, vector_kwargs
        self.observation_layers, self.n_action_layers = observation_layers, n_action_layers
        self.envs: list[Any] = [None] * n_envs
        self.restarts = 0
        self.env_restarts = [0] * n_envs
        self.failures: list[EnvFailure] = []
        self.ticks = 0
        """ticks played so far (the pool's clock, stamped on failures)"""
        self.consecutive = [0] * n_envs
        """each environment's failures since its last successful step"""
        self.check: OutputCheck | None = None
        self.layout: list[tuple[tuple[int, ...], np.dtype]] = []  # per observation layer
        #: what a "sync" tick's common case tests: shape, dtype, fitting dtypes, and the length
        #: of a one-dimensional layout longer than 1 (of an array of a fitting dtype, that
        #: length and any other shape, no row can be written); set with layout
        self.quick: tuple[tuple[int, ...], np.dtype, frozenset[np.dtype], int] = (
            (), np.dtype(float), frozenset(), 0)
        self.action_space: Any = None
        self.names = [layer.name for layer in observation_layers]

    def fits(self, observation: Any) -> bool:
        """Whether an observation is of the common, quickly told kind (see
        :meth:`OutputCheck.fits`); False before the first environment is made."""
        return self.check is not None and self.check.fits(observation)

    def parts(self, observation: Any) -> list[Any]:
        """An observation (or a batch of them) as a list, one entry per observation layer."""
        return [observation] if self.check is None else self.check.parts(observation)

    def _seed_for(self, i: int) -> int | None:
        if self.seed is None:
            return None
        k = self.env_restarts[i]
        if k == 0:
            return self.seed + i
        return int(np.random.SeedSequence([self.seed, i, k]).generate_state(1)[0])

    def start(self, i: int, tolerate: bool = True) -> list[np.ndarray]:
        """(Re)create environment ``i`` and reset it; returns its first observation. Without
        ``tolerate`` (building the pool) a failure is a mistake and raises as it is."""
        while True:
            phase = "start"
            try:
                if self.vectorization == "async":  # checked in the worker process
                    checked = functools.partial(checked_env, self.make_env, self.names)
                    self.envs[i] = AsyncVectorEnv([checked], autoreset_mode=self.autoreset_mode,
                                                  **self.vector_kwargs)
                else:
                    self.envs[i] = self.make_env()
                if not self.layout:  # the first environment made
                    self.check, self.action_space = check_spaces(self.envs[i],
                                                                 self.observation_layers)
                    self.layout = self.check.layout
                    shape, dtype = self.layout[0]
                    self.quick = (shape, dtype, self.check.dtypes[0],
                                  shape[0] if len(shape) == 1 and shape[0] > 1 else 0)
                phase = "reset"
                return self.reset(i, self._seed_for(i))
            except Exception as error:  # noqa: BLE001 - any failure of user code is a crash
                self.discard(i)
                if not tolerate:
                    raise
                self.fail(i, phase, error)

    def env(self, i: int) -> Any:
        """Environment ``i`` (raises if closed)."""
        env = self.envs[i]
        if env is None:
            raise RuntimeError(f"EnvPool: environment {i} is closed")
        return env

    def reset(self, i: int, seed: int | None) -> list[np.ndarray]:
        """Reset environment ``i``: its observation, one (copied) array per observation layer."""
        env = self.env(i)
        if isinstance(env, AsyncVectorEnv):
            env.reset_async(seed=seed)
            observations, _ = env.reset_wait(timeout=self.step_timeout)
            return [np.array(part[0]) for part in self.parts(observations)]
        result = env.reset(seed=seed)
        problem = self.reset_problem(result)
        if problem is not None:
            raise EnvOutputError(problem)
        return [np.array(part) for part in self.parts(result[0])]

    def step_problem(self, result: Any) -> str | None:
        """What is wrong with a ``step``'s return (None: nothing)."""
        if self.check is None:
            raise RuntimeError("EnvPool: no environment was made yet")
        return self.check.step(result)

    def reset_problem(self, result: Any) -> str | None:
        """What is wrong with a ``reset``'s return (None: nothing)."""
        if self.check is None:
            raise RuntimeError("EnvPool: no environment was made yet")
        return self.check.reset(result)

    def restart(self, i: int) -> list[np.ndarray]:
        """Recreate environment ``i`` (after a failure); its first observation."""
        self.discard(i)
        return self.start(i)

    def reset_or_restart(self, i: int) -> list[np.ndarray]:
        """Reset environment ``i``, or recreate it if the reset fails."""
        try:
            return self.reset(i, None)
        except Exception as error:  # noqa: BLE001
            self.fail(i, "reset", error)
            return self.restart(i)

    def fail(self, i: int, phase: str, error: BaseException, action: Any = None) -> None:
        """Count a failure of environment ``i`` (in ``step``: given ``action``); raise after too
        many in a row."""
        error, _ = normalize_failure(error, self.step_timeout)
        self.failures.append(EnvFailure(i, self.ticks, phase, error))
        self.consecutive[i] += 1
        if self.consecutive[i] >= self.max_consecutive_failures:
            diagnosis = f" {self.diagnose(i, action)}" if phase == "step" else ""
            raise RuntimeError(f"EnvPool: environment {i} failed {self.consecutive[i]} times in "
                               f"a row (max_consecutive_failures="
                               f"{self.max_consecutive_failures}); last in {phase}: "
                               f"{describe_error(error)}.{diagnosis}") from error
        self.restarts += 1
        self.env_restarts[i] += 1
        warn_at_caller(f"EnvPool: environment {i} failed in {phase} at tick {self.ticks} "
                       f"({describe_error(error)}); recreated it from its factory "
                       f"{self.factory_name()} (restart {self.env_restarts[i]} of this "
                       f"environment, {self.restarts} in all)", _HERE)

    def fail_together(self, events: list[tuple[int, int, Any]], actions: Any) -> None:
        """Raise if every environment failed in ``step`` on this tick with the same exception
        type (not a hang or a dead worker): a mistake shared by all, not a fault of one."""
        errors = [(i, normalize_failure(payload, self.step_timeout))
                  for i, kind, payload in events if kind == CRASH]
        if len(errors) < self.n_envs or any(infrastructure for _, (_, infrastructure) in errors):
            return
        kinds = {type(error) for _, (error, _) in errors}
        if len(kinds) > 1:
            return
        for i, (error, _) in errors:
            self.failures.append(EnvFailure(i, self.ticks, "step", error))
        i, (error, _) = errors[0]
        raise RuntimeError(
            f"EnvPool: all {self.n_envs} environments failed in step at tick {self.ticks} with "
            f"the same {type(error).__name__}, a mistake shared by all of them rather than a "
            f"fault of one (none was recreated; the pool is now broken: close it). Environment "
            f"{i}: {describe_error(error)}. {self.diagnose(i, self.action_of(i, actions))}"
        ) from error

    def action_of(self, i: int, actions: Any) -> Any:
        """Environment ``i``'s action of a tick: ``actions`` as the stepper gives them (one
        per environment for ``"sync"``, one array per action layer for ``"async"``)."""
        if self.vectorization == "sync":
            return actions[i]
        return actions[0][i] if len(actions) == 1 else tuple(a[i] for a in actions)

    def diagnose(self, i: int, action: Any) -> str:
        """What ``action``, given to environment ``i``, says about a failing step."""
        space = self.action_space
        try:
            fits = bool(space.contains(action))
        except Exception:  # noqa: BLE001 - a value the space cannot even look at
            fits = False
        given = f"environment {i} was given {describe(action)}, the action space is {space}"
        if fits:
            return (f"The action fits the action space ({given}): the environment (or its "
                    f"factory) fails by itself.")
        n_layers = self.n_action_layers
        layers = (f"; the agent has {n_layers} action layers, whose actions each environment "
                  f"gets as a tuple" if n_layers > 1 else "")
        return (f"Likely cause: the actions given do not fit the action space ({given}{layers}); "
                f"check the agent's action layers against the environment.")

    def factory_name(self) -> str:
        """The environment's id, or its factory's name."""
        if self.env_id is not None:
            return self.env_id
        factory: Any = self.make_env
        while isinstance(factory, functools.partial):
            factory = factory.func
        return str(getattr(factory, "__qualname__", type(factory).__name__))

    def discard(self, i: int) -> None:
        """Shut environment ``i`` down at once (its worker process terminated)."""
        env, self.envs[i] = self.envs[i], None
        if env is not None:
            _shutdown(env, force=True)

    def close(self) -> None:
        """Close every environment; no worker process is left behind."""
        for i, env in enumerate(self.envs):
            self.envs[i] = None
            if env is not None:
                _shutdown(env, force=False, timeout=self.step_timeout)


def _shutdown(env: Any, force: bool, timeout: float | None = None) -> None:
    """Close an environment or an asynchronous vector environment; for the latter ``force``
    (or a failing close) terminates its workers, and ``timeout`` bounds the wait for a step
    still under way."""
    if not isinstance(env, VectorEnv):
        try:
            env.close()
        except Exception:  # noqa: BLE001 - a broken environment may fail to close
            pass
        return
    if getattr(env, "closed", False):
        return
    if not force:
        try:
            if isinstance(env, AsyncVectorEnv):
                env.close(timeout=timeout)
            else:
                env.close()
            return
        except Exception:  # noqa: BLE001 - fall through to terminating the workers
            pass
    processes = list(getattr(env, "processes", ()))
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join()
    for pipe in getattr(env, "parent_pipes", ()):
        if pipe is not None and not pipe.closed:
            pipe.close()
    if not processes:
        try:
            env.close()
        except Exception:  # noqa: BLE001 - a broken environment may fail to close
            pass
    env.closed = True
