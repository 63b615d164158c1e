"""Stepping a Gymnasium pool's environments, one tick at a time, with Gymnasium's vector
autoreset modes emulated per environment, and the bookkeeping of episode ends and failures.

:class:`Stepper` keeps, per environment, whether the next tick is dead (after an episode's
end), whether its step only resets the environment (``NEXT_STEP``), and the first observation
of the next episode where the reset already happened. Each tick it steps the environments
(``"sync"``: one after another in this process, returns checked; ``"async"``: every step sent,
then the answers collected within ``step_timeout``), writes what they observe next and their
rewards, and settles what was not a plain step: crashes (the environment is recreated),
episode ends, dead ticks. See :mod:`agentnet.driving.pool` for the contract the sessions keep.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

from .checks import EnvOutputError
from .slots import CRASH, END, FIRST, RESET, EnvSlots

__all__ = ["Stepper"]

#: the types of rewards and of episode ends told by a quick test (any other: the whole check)
_REAL_TYPES = frozenset({float, int, np.float64, np.float32, np.int64, np.int32})
_BOOL_TYPES = frozenset({bool, np.bool_})


class Stepper:
    """Steps the environments of ``slots``, emulating Gymnasium's autoreset modes.

    Attributes:
        dead: bool ``[n_envs]``, the next tick is a dead tick (after an episode's end) ...
        reset_step: ... on which the environment takes its reset step (``NEXT_STEP``) ...
        first: ... or after which this observation starts the next episode.
        prev_alive: bool ``[n_envs]``, whether the last tick was alive.
        calm: every environment is alive on the next tick and none starts an episode.
    """

    def __init__(self, slots: EnvSlots):
        self.slots = slots
        n = slots.n_envs
        self.dead = np.zeros(n, dtype=bool)
        self.reset_step = np.zeros(n, dtype=bool)
        self.first: list[list[np.ndarray] | None] = [None] * n
        self.prev_alive = np.zeros(n, dtype=bool)
        self.calm = False

    def aliveness(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Bool ``[n_envs]`` arrays ``(alive, starts)`` of the next tick: which environments
        are alive, and which start a new episode (where memory restarts); None when every
        one is alive and none starts an episode."""
        if self.calm:
            return None
        alive = ~self.dead
        return alive, alive & ~self.prev_alive

    def step(self, t: int, actions: list[np.ndarray], alive: np.ndarray | None,
             seen: list[np.ndarray], rows: list[np.ndarray], rewards: np.ndarray,
             truncated_log: np.ndarray) -> None:
        """Tick ``t``: step the environments with ``actions`` (one array ``[n_envs, ...]`` per
        action layer; an environment gets a tuple of its actions from several), ``alive``
        from :meth:`aliveness`, ``seen`` what the tick observed; write what the environments
        observe next into ``rows``, their rewards into ``rewards`` (tick ``t``'s column of
        the call's rewards), the time limits into ``truncated_log[:, t]``."""
        alive_list = None if alive is None else alive.tolist()
        if self.slots.vectorization == "sync":
            given: Any = actions[0] if len(actions) == 1 else list(zip(*actions))
            events = self._tick_sync(t, given, alive_list, rows, rewards)
        else:
            given = actions
            events = self._tick_async(t, actions, alive_list, rows, rewards)
        if events:
            self._settle(t, events, seen, rows, truncated_log, given)
        if alive is not None:
            self.prev_alive = alive
        # no events: every environment was alive (prev_alive all True) and is
        self.calm = not events

    def _tick_sync(self, t: int, actions: Sequence[Any] | np.ndarray, alive: list[bool] | None,
                   rows: list[np.ndarray], rewards: np.ndarray) -> list[tuple[int, int, Any]]:
        """Step the environments of ``"sync"`` on tick ``t``: write what they observe next
        into ``rows`` and their rewards into ``rewards`` (tick ``t``'s column of the call's
        rewards); return the events (crashes, episode ends, dead ticks), in environment
        order, for :meth:`_settle`. ``alive`` None: every environment is alive.

        Each return is checked (an :class:`EnvOutputError` is a crash): first by a few
        identity tests for the common case (an array of a fitting dtype and the layout's shape,
        a float, False twice, a dict); anything else by the whole check
        (:class:`~agentnet.driving.checks.OutputCheck`).
        """
        events: list[tuple[int, int, Any]] = []
        consecutive = self.slots.consecutive
        failing = any(consecutive)  # some environment's last step failed
        single = len(rows) == 1
        row = rows[0]
        shape, dtype, dtypes, length = self.slots.quick
        if alive is None and single:  # the common tick: nothing but steps
            for i, (env, action) in enumerate(zip(self.slots.envs, actions)):
                try:
                    result = env.step(action)
                except Exception as error:  # noqa: BLE001 - any failure of user code
                    events.append((i, CRASH, error))
                    continue
                try:
                    observation, reward, terminated, truncated, info = result
                    if ((observation.dtype is dtype or observation.dtype in dtypes)
                            and (len(observation) == length if length
                                 else observation.shape == shape)
                            and (type(reward) is float or type(reward) in _REAL_TYPES)
                            and type(info) is dict):
                        if terminated is False and truncated is False:  # the common step
                            row[i] = observation  # raises for any other shape of that length
                            rewards[i] = reward
                            if failing:
                                consecutive[i] = 0
                            continue
                        common = (type(terminated) in _BOOL_TYPES
                                  and type(truncated) in _BOOL_TYPES
                                  and observation.shape == shape)
                    else:
                        common = False
                except (TypeError, ValueError, AttributeError):  # not five values, no array
                    common = False
                if not common:
                    problem = self.slots.step_problem(result)
                    if problem is not None:
                        events.append((i, CRASH, EnvOutputError(problem)))
                        continue
                row[i] = observation
                rewards[i] = reward
                if failing:
                    consecutive[i] = 0
                if terminated or truncated:
                    events.append((i, END, (terminated, truncated, None)))
            return events
        parts, fits = self.slots.parts, self.slots.fits
        for i, env in enumerate(self.slots.envs):
            if alive is not None and not alive[i]:
                if not self.reset_step[i]:
                    events.append((i, FIRST, None))
                    continue
                try:  # NEXT_STEP: the dead tick's step only resets
                    result = env.reset()
                except Exception as error:  # noqa: BLE001
                    events.append((i, RESET, error))
                    continue
                problem = self.slots.reset_problem(result)
                if problem is not None:
                    events.append((i, RESET, EnvOutputError(problem)))
                    continue
                observation = result[0]
                events.append((i, RESET, None))
            else:
                try:
                    result = env.step(actions[i])
                except Exception as error:  # noqa: BLE001 - any failure of user code
                    events.append((i, CRASH, error))
                    continue
                try:
                    observation, reward, terminated, truncated, info = result
                    common = (((observation.dtype is dtype or observation.dtype in dtypes)
                               and observation.shape == shape) if single
                              else fits(observation)) and (
                        (type(reward) is float or type(reward) in _REAL_TYPES)
                        and type(terminated) in _BOOL_TYPES
                        and type(truncated) in _BOOL_TYPES and type(info) is dict)
                except (TypeError, ValueError, AttributeError):  # not five values, no array
                    common = False
                if not common:
                    problem = self.slots.step_problem(result)
                    if problem is not None:
                        events.append((i, CRASH, EnvOutputError(problem)))
                        continue
                rewards[i] = reward
                if failing:
                    consecutive[i] = 0
                if terminated or truncated:
                    events.append((i, END, (terminated, truncated, None)))
            if single:
                row[i] = observation
            else:
                _write(rows, i, parts(observation))
        return events

    def _tick_async(self, t: int, actions: list[np.ndarray], alive: list[bool] | None,
                    rows: list[np.ndarray], rewards: np.ndarray) -> list[tuple[int, int, Any]]:
        """:meth:`_tick_sync` for ``"async"``: every environment's step is sent, then the
        answers collected (each within ``step_timeout``)."""
        n = self.slots.n_envs
        which = [alive is None or alive[i] or bool(self.reset_step[i]) for i in range(n)]
        results = self._step_async(actions, which)
        events: list[tuple[int, int, Any]] = []
        for i in range(n):
            if not (alive is None or alive[i]):
                if not self.reset_step[i]:
                    events.append((i, FIRST, None))
                elif isinstance(results[i], Exception):
                    events.append((i, RESET, results[i]))
                else:  # NEXT_STEP: this step only reset the environment
                    _write(rows, i, [part[0] for part in self.slots.parts(results[i][0])])
                    events.append((i, RESET, None))
                continue
            result = results[i]
            if isinstance(result, Exception):
                events.append((i, CRASH, result))
                continue
            self.slots.consecutive[i] = 0
            observations, reward, terminated, truncated, info = result
            rewards[i] = reward[0]
            observation = [part[0] for part in self.slots.parts(observations)]
            if not (terminated[0] or truncated[0]):
                _write(rows, i, observation)
                continue
            first = None
            if self.slots.autoreset_mode == AutoresetMode.SAME_STEP:
                first = [np.array(part) for part in observation]
                observation = self.slots.parts(info["final_obs"][0])
            _write(rows, i, observation)
            events.append((i, END, (bool(terminated[0]), bool(truncated[0]), first)))
        return events

    def _step_async(self, actions: list[np.ndarray], which: list[bool]) -> list[Any]:
        """Step the environments in ``which``: ``(obs, reward, term, trunc, info)`` (batches of
        one) per environment, or the exception it raised, or None where not stepped."""
        results: list[Any] = [None] * self.slots.n_envs
        waiting = []
        for i in range(self.slots.n_envs):
            if not which[i]:
                continue
            action = (actions[0][i:i + 1] if len(actions) == 1
                      else tuple(a[i:i + 1] for a in actions))
            try:
                self.slots.env(i).step_async(action)
                waiting.append(i)
            except Exception as error:  # noqa: BLE001
                results[i] = error
        limit = self.slots.step_timeout
        deadline = None if limit is None else time.monotonic() + limit
        for i in waiting:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                results[i] = self.slots.env(i).step_wait(timeout=timeout)
            except Exception as error:  # noqa: BLE001
                results[i] = error
        return results

    def _settle(self, t: int, events: list[tuple[int, int, Any]], seen: list[np.ndarray],
                rows: list[np.ndarray], truncated_log: np.ndarray, actions: Any) -> None:
        """The bookkeeping of tick ``t`` beyond plain steps: ``seen`` is what the tick
        observed, ``rows`` what the next one will, ``actions`` what the environments were
        given (as :meth:`_tick_sync` or :meth:`_tick_async` took them)."""
        if len(events) == self.slots.n_envs > 1:
            self.slots.fail_together(events, actions)
        for i, kind, payload in events:
            if kind == CRASH:
                # aborted: the episode ends here as if terminated (no bootstrap); the dead tick
                # shows the observation acted on; the next episode starts in a new environment
                self.slots.fail(i, "step", payload, self.slots.action_of(i, actions))
                self.first[i] = self.slots.restart(i)
                _write(rows, i, [part[i] for part in seen])
                self.dead[i], self.reset_step[i] = True, False
            elif kind == END:
                terminated, truncated, first = payload
                self.dead[i] = True
                truncated_log[i, t] = bool(truncated and not terminated)
                if self.slots.autoreset_mode == AutoresetMode.NEXT_STEP:
                    self.reset_step[i] = True
                elif first is not None:  # reset already (an asynchronous SAME_STEP)
                    self.first[i] = first
                else:  # SAME_STEP (synchronous) and DISABLED: reset now
                    self.first[i] = self.slots.reset_or_restart(i)
            elif kind == RESET:  # a dead tick whose step was the reset
                self.dead[i] = self.reset_step[i] = False
                if payload is not None:
                    self.slots.fail(i, "reset", payload)
                    _write(rows, i, self.slots.restart(i))
            else:  # FIRST: a dead tick after which the next episode's first observation comes
                self.dead[i] = False
                first, self.first[i] = self.first[i], None
                assert first is not None
                _write(rows, i, first)


def _write(rows: list[np.ndarray], i: int, parts: Sequence[Any]) -> None:
    """Write one environment's observation (one part per observation layer) into row ``i``."""
    for row, part in zip(rows, parts):
        row[i] = part
