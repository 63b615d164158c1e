"""Fake environments, agents and references that the EnvPool tests of this folder share (this is
no test file: the tests import from it, as ``tests/learning`` imports ``brute_force``).

A plain module: pytest's default ("prepend") import mode puts this folder on ``sys.path`` when it
collects the test files here, so ``fake_envs`` is the module's name in the test process and in
the pool's worker processes alike (spawned and forkserver workers get the parent's ``sys.path``),
and the environments below pickle by reference to it.

``CountingEnv`` episodes are known tick by tick (``reference`` gives them); ``CrashingEnv``
crashes at seeded random steps, recording every crash in ``CRASHES``.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from agentnet import Agent
from agentnet import layers as L
from agentnet.resolver import GreedyResolver

# ---------------------------------------------------------------- counting environments

# episode k of the environment reset with seed `tag` lasts SCHEDULE[(k + tag) % 4] steps
SCHEDULE = [(3, "term"), (2, "trunc"), (4, "both"), (1, "term")]


class CountingEnv(gym.Env):
    """Observes ``[t, episode, tag, signal]``: steps taken in this episode, the episode's index,
    the seed of the first reset, and 1 (or 1e30 all through episode 0 when ``poison``).
    Step ``t -> t + 1`` with action ``a`` earns ``10 * episode + t + 1 + a / 2``."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}
    schedule = SCHEDULE

    def __init__(self, poison: bool = False, render_mode: str | None = None):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.poison, self.render_mode = poison, render_mode
        self.tag, self.episode, self.t = 0, -1, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self.tag, self.episode = seed, 0
        else:
            self.episode += 1
        self.t = 0
        return self._observation(), {}

    def _observation(self):
        signal = 1e30 if self.poison and self.episode == 0 else 1.0
        return np.array([self.t, self.episode, self.tag, signal], dtype=np.float32)

    def step(self, action):
        self.t += 1
        length, end = self.schedule[(self.episode + self.tag) % len(self.schedule)]
        done = self.t >= length
        reward = 10.0 * self.episode + self.t + 0.5 * int(action)
        return self._observation(), reward, done and end != "trunc", done and end != "term", {}

    def render(self):
        frame = np.zeros((16, 16, 3), dtype=np.uint8)
        frame[:, : self.t] = 255
        return frame


class DictCountingEnv(CountingEnv):
    """CountingEnv observed as ``{"position": [t, episode], "signal": [tag, signal]}``."""

    def __init__(self):
        super().__init__()
        box = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.observation_space = gym.spaces.Dict({"position": box, "signal": box})

    def _observation(self):
        o = super()._observation()
        return {"position": o[:2], "signal": o[2:]}


def reference(tag: int, n_steps: int) -> list[tuple]:
    """CountingEnv's sessions for any tag, tick by tick, when acting ``t % 2``: rows of
    (t observed, episode, reward, is_alive, is_truncated), every episode's steps, then one dead
    tick."""
    rows: list[tuple] = []
    episode = 0
    while len(rows) < n_steps:
        length, end = SCHEDULE[(episode + tag) % len(SCHEDULE)]
        for t in range(length):
            last = t == length - 1
            rows.append((t, episode, 10.0 * episode + t + 1 + 0.5 * (t % 2), True,
                         last and end == "trunc"))
        rows.append((length, episode, 0.0, False, False))
        episode += 1
    return rows[:n_steps]


def counting_agent():
    """Acts t % 2; memories: ticks of this episode, and the sum of its signals."""
    obs = L.InputLayer((None, 4), name="observation")
    prev_count = L.InputLayer((None, 1), name="prev_count")
    count = L.LambdaLayer(prev_count, lambda c: c + 1, name="count")
    prev_total = L.InputLayer((None, 1), name="prev_total")
    total = L.LambdaLayer([prev_total, obs], lambda s, o: s + o[:, 3:], name="total")
    q = L.LambdaLayer([obs, total], lambda o, s: torch.cat([1 - o[:, :1] % 2, o[:, :1] % 2], 1)
                      + 1e-3 * torch.tanh(s), name="q")
    return Agent(obs, {count: prev_count, total: prev_total}, q, GreedyResolver(q)), count, total


def check_against_reference(sessions, count, total, tags, n_steps, start=0):
    for row, tag in enumerate(tags):
        expected = reference(tag, start + n_steps)[start:]
        t, episode, reward, alive, truncated = (torch.tensor(c) for c in zip(*expected))
        observed = sessions.observations[row]
        assert torch.equal(observed[:, 0], t.float()), (row, observed[:, 0])
        assert torch.equal(observed[:, 1], episode.float())
        assert torch.equal(observed[:, 2], torch.full((n_steps,), float(tag)))
        assert torch.equal(sessions.rewards[row], reward.float())
        assert torch.equal(sessions.is_alive[row], alive)
        assert torch.equal(sessions.is_truncated[row], truncated)
        assert torch.equal(sessions.actions[row], t % 2)
        # memory restarts at each episode's first tick and runs through the dead tick
        assert torch.equal(sessions.agent_states[count][row, :, 0], t.float() + 1)
        assert torch.equal(sessions.agent_states[total][row, :, 0], t.float() + 1)


# ---------------------------------------------------------------- crashing environments

SAFE_TAGS = (6, 7)        # with seed=0, environments 6 and 7 never crash
CRASHES: list[int] = []   # the tag of every crash, in order (sync environments only)


class EnvCrash(Exception):
    pass


class CrashingEnv(gym.Env):
    """Observes ``[t, episode, tag]``; episodes alternate between 40 steps ending in a
    termination and 25 ending in a truncation; each step draws from the seeded generator and
    crashes when the draw is below ``p`` (never for SAFE_TAGS). ``[t, episode, tag]`` as in
    CountingEnv; the tag is the first reset's seed."""

    def __init__(self, p: float = 1e-3):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.p, self.tag, self.episode, self.t = p, 0, -1, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self.tag, self.episode = seed, 0
        else:
            self.episode += 1
        self.t = 0
        return self._observation(), {}

    def _observation(self):
        return np.array([self.t, self.episode, self.tag % 1000], dtype=np.float32)

    def length(self, episode=None):
        return (40, 25)[((self.episode if episode is None else episode) + self.tag) % 2]

    def step(self, action):
        draw = self.np_random.random()            # drawn whatever p is: runs stay comparable
        if draw < self.p and self.tag not in SAFE_TAGS:
            CRASHES.append(self.tag)
            raise EnvCrash(f"environment {self.tag} crashed at step {self.t}")
        self.t += 1
        done = self.t >= self.length()
        reward = 1.0 + self.t % 3 + 0.5 * int(action)
        truncates = self.length() == 25
        return self._observation(), reward, done and not truncates, done and truncates, {}


class AlwaysCrashing(CrashingEnv):
    def step(self, action):
        raise EnvCrash("always")


def agent_with_memory():
    obs = L.InputLayer((None, 3), name="observation")
    prev = L.InputLayer((None, 1), name="prev_count")
    count = L.LambdaLayer(prev, lambda c: c + 1, name="count")
    q = L.LambdaLayer([obs, count], lambda o, c: torch.cat([(o[:, :1] + c) % 2,
                                                            1 - (o[:, :1] + c) % 2], 1), name="q")
    return Agent(obs, {count: prev}, q, GreedyResolver(q)), count
