"""EnvPool fault tolerance: crashing, dying and hanging environments are recreated; the others'
data is untouched; too many failures in a row raise with the original exception."""
from __future__ import annotations

import multiprocessing
import os
import time
import warnings

import pytest
import torch
from fake_envs import (
    CRASHES,
    SAFE_TAGS,
    AlwaysCrashing,
    CrashingEnv,
    EnvCrash,
    agent_with_memory,
)

from agentnet.driving import EnvPool


def collect(pool, calls, n_steps):
    parts = [pool.interact(n_steps) for _ in range(calls)]
    return {field: torch.cat([getattr(p, field) for p in parts], dim=1)
            for field in ("observations", "actions", "rewards", "is_alive", "is_truncated")} | {
        "memory": torch.cat([next(iter(p.agent_states.values())) for p in parts], dim=1)}


def aborted_episodes(data, row):
    """Walk one row: every episode counts 0, 1, 2, ... and ends in a dead tick; returns the
    ticks where episodes were aborted (the dead tick repeats the last observation)."""
    obs, alive, rewards = data["observations"][row], data["is_alive"][row], data["rewards"][row]
    aborted, expected_t = [], 0
    for tick in range(alive.shape[0]):
        if alive[tick]:
            assert obs[tick, 0] == expected_t, (row, tick)          # nothing lost or repeated
            expected_t += 1
        elif tick > 0 and alive[tick - 1]:
            if torch.equal(obs[tick], obs[tick - 1]):               # aborted: no final state
                assert rewards[tick - 1] == 0 and not data["is_truncated"][row, tick - 1]
                aborted.append(tick - 1)
            else:                                                   # ended as scheduled
                assert obs[tick, 0] == expected_t
            expected_t = 0
        else:
            raise AssertionError(f"two dead ticks in a row at {row}, {tick}")
    return aborted


def test_crashing_environments_are_recreated_and_the_others_untouched():
    agent, _ = agent_with_memory()
    CRASHES.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with EnvPool(agent, CrashingEnv, n_envs=8, seed=0) as pool:
            data = collect(pool, calls=10, n_steps=500)
    assert len(CRASHES) >= 20
    assert pool.restarts == len(CRASHES) == len(pool.failures)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == len(CRASHES)
    assert all("recreated it from its factory" in m and "EnvCrash" in m for m in messages)
    first_crash = {}
    for row in range(8):
        aborted = aborted_episodes(data, row)
        failures = [f for f in pool.failures if f.env_index == row]
        assert aborted == [f.tick for f in failures]                # every crash is in the data
        assert all(f.phase == "step" and isinstance(f.error, EnvCrash) for f in failures)
        assert pool.env_restarts[row] == len(failures)
        if failures:
            first_crash[row] = failures[0].tick
    assert set(range(8)) - set(first_crash) == set(SAFE_TAGS)

    with EnvPool(agent, lambda: CrashingEnv(p=0.0), n_envs=8, seed=0) as pool:
        clean = collect(pool, calls=10, n_steps=500)
    assert pool.restarts == 0
    for row in range(8):
        # bit-identical up to the crash tick (where the agent acted on the same observation)
        end = first_crash.get(row, 5000 - 1) + 1
        for field in ("observations", "actions", "memory"):
            assert torch.equal(data[field][row, :end], clean[field][row, :end]), (row, field)
        for field in ("rewards", "is_alive", "is_truncated"):
            assert torch.equal(data[field][row, :end - 1], clean[field][row, :end - 1])
    safe = list(SAFE_TAGS)
    for field in data:
        assert torch.equal(data[field][safe], clean[field][safe]), field


class ResetCrashing(CrashingEnv):
    """Its unseeded resets (the resets between episodes) fail."""

    def length(self, episode=None):
        return 3

    def reset(self, *, seed=None, options=None):
        if seed is None:
            raise EnvCrash("cannot reset")
        return super().reset(seed=seed)


def test_too_many_consecutive_failures_raise_with_the_original_exception():
    agent, _ = agent_with_memory()
    with EnvPool(agent, AlwaysCrashing, n_envs=1, seed=0, max_consecutive_failures=3) as pool:
        with pytest.warns(RuntimeWarning, match="environment 0 failed in step"):
            with pytest.raises(RuntimeError, match="failed 3 times in a row") as raised:
                pool.interact(10)
    assert isinstance(raised.value.__cause__, EnvCrash)
    assert pool.restarts == 2


@pytest.mark.parametrize("mode", ["NextStep", "SameStep", "Disabled"])
def test_a_failing_reset_between_episodes_starts_a_new_environment(mode):
    agent, _ = agent_with_memory()
    with pytest.warns(RuntimeWarning, match="failed in reset"):
        with EnvPool(agent, lambda: ResetCrashing(p=0.0), n_envs=1, seed=0,
                     autoreset_mode=mode) as pool:
            s = pool.interact(12)
    # 3 steps, the final state, then a new environment (episode 0 again) every time
    assert s.is_alive[0].tolist() == [True, True, True, False] * 3
    assert s.observations[0, :, 0].tolist() == [0, 1, 2, 3] * 3
    assert s.observations[0, :, 1].tolist() == [0.0] * 12
    assert pool.restarts == 3 and not s.is_truncated.any()
    # with NEXT_STEP the reset is the dead tick's step; with SAME_STEP and DISABLED it follows
    # the last step, which is kept as it was (the pool steps "sync" environments directly)
    ticks = [3, 7, 11] if mode == "NextStep" else [2, 6, 10]
    assert [(f.tick, f.phase) for f in pool.failures] == [(t, "reset") for t in ticks]


class TroubleEnv(CrashingEnv):
    """Tag 1 raises at its 4th step, tag 2's process dies at its 6th, tag 3 hangs at its 8th
    (in episode 0 only; recreated environments have other tags)."""

    def length(self, episode=None):
        return 12

    def step(self, action):
        if self.episode == 0 and (self.tag, self.t) == (1, 4):
            raise EnvCrash("boom")
        if self.episode == 0 and (self.tag, self.t) == (2, 6):
            os._exit(3)
        if self.episode == 0 and (self.tag, self.t) == (3, 8):
            time.sleep(60)
        return super().step(action)


def test_async_crashes_dead_workers_and_hangs_are_detected():
    agent, _ = agent_with_memory()
    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with EnvPool(agent, lambda: TroubleEnv(p=0.0), n_envs=4, vectorization="async",
                     step_timeout=1.0, seed=0) as pool:
            s = pool.interact(20)
    assert time.monotonic() - started < 15
    assert [(f.env_index, f.tick, f.phase) for f in pool.failures] == [
        (1, 4, "step"), (2, 6, "step"), (3, 8, "step")]
    assert "boom" in repr(pool.failures[0].error)
    assert "worker process died" in str(pool.failures[1].error)
    assert isinstance(pool.failures[2].error, TimeoutError)
    assert pool.restarts == 3 and pool.env_restarts == [0, 1, 1, 1]
    assert sum("recreated it from its factory" in str(w.message) for w in caught) == 3
    for row, tick in ((1, 4), (2, 6), (3, 8)):
        assert s.is_alive[row, tick] and not s.is_alive[row, tick + 1]
        assert s.rewards[row, tick] == 0
        assert torch.equal(s.observations[row, tick + 1], s.observations[row, tick])
        assert s.observations[row, tick + 2, 0] == 0 and s.is_alive[row, tick + 2]
        assert s.observations[row, tick + 2, 2] != row                # a new environment
    assert multiprocessing.active_children() == []
    # the healthy environment's data equals a synchronous run's
    with EnvPool(agent, lambda: TroubleEnv(p=0.0), n_envs=1, seed=0) as pool:
        alone = pool.interact(20)
    for field in ("observations", "actions", "rewards", "is_alive", "is_truncated"):
        assert torch.equal(getattr(s, field)[:1], getattr(alone, field)), field


def test_an_environment_that_cannot_start_fails_the_construction_at_once():
    agent, _ = agent_with_memory()

    def broken():
        raise EnvCrash("no such game")

    with pytest.raises(EnvCrash, match="no such game"):
        EnvPool(agent, broken, n_envs=2)
