"""Environments for the Ray tests: every tick observable as unique, and one-time faults.

Ray's workers cannot import this file (tests/ is not a package on their path): the tests
register it with ``ray.cloudpickle.register_pickle_by_value`` so that it travels by value.
"""
from __future__ import annotations

import os
import time

import gymnasium as gym
import numpy as np


def _claim(marker: str | None) -> bool:
    """True for the first caller, in any process, that creates ``marker`` (atomically)."""
    if marker is None:
        return False
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


class TickEnv(gym.Env):
    """Observes ``[instance, t, episode, 0]``: ``instance`` a random id of this environment
    object, ``t`` its steps so far, ``episode`` its resets so far, so that every alive tick
    of every environment is a distinct observation. Episodes last ``episode_length`` steps
    (terminated), reward 1.

    Faults, once per marker file: at its step ``fault_at``, the first environment to claim
    ``crash_marker`` kills its process (``os._exit``), the first to claim ``hang_marker``
    sleeps for an hour. ``crashes=k``: ``k`` crash markers (``crash_marker.0``, ...), so
    that up to ``k`` environments (each at its own step ``fault_at``, e.g. one per life of a
    collector) kill their process. ``sleep``: seconds per step (a slow simulator).
    """

    observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, episode_length: int = 10, crash_marker: str | None = None,
                 hang_marker: str | None = None, fault_at: int = 20, sleep: float = 0.0,
                 crashes: int = 1):
        self.instance = float(int.from_bytes(os.urandom(3), "little"))  # exact in float32
        self.episode_length, self.fault_at, self.sleep = episode_length, fault_at, sleep
        self.crash_marker, self.hang_marker = crash_marker, hang_marker
        self.crash_markers = [crash_marker] if crashes == 1 or crash_marker is None else [
            f"{crash_marker}.{k}" for k in range(crashes)]
        self.t, self.episode, self.episode_t = 0, -1, 0

    def _observation(self) -> np.ndarray:
        return np.array([self.instance, self.t, self.episode, 0.0], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode += 1
        self.episode_t = 0
        return self._observation(), {}

    def step(self, action):
        if self.sleep:
            time.sleep(self.sleep)
        if self.t == self.fault_at:
            if any(_claim(marker) for marker in self.crash_markers):  # claims one at most
                os._exit(1)
            if _claim(self.hang_marker):
                time.sleep(3600)
        self.t += 1
        self.episode_t += 1
        return self._observation(), 1.0, self.episode_t >= self.episode_length, False, {}


def gru_agent(units: int = 8):
    """A small GRU agent for TickEnv (memory travels with the sessions); built in the
    collectors by this factory (``RayEnvPool(agent_factory=...)``)."""
    from agentnet import Agent
    from agentnet import layers as L
    from agentnet.memory import GRUCell
    from agentnet.resolver import EpsilonGreedyResolver

    obs = L.InputLayer((None, 4), name="observation")
    prev = L.InputLayer((None, units), name="prev_gru")
    gru = GRUCell(prev, obs, name="gru")
    q = L.DenseLayer(gru, 2, nonlinearity=None, name="q")
    return Agent(obs, agent_states={gru: prev}, policy_estimators=q,
                 action_layers=EpsilonGreedyResolver(q, epsilon=0.5, name="resolver"))
