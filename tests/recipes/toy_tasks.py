"""Small Gymnasium tasks a user might register, for the recipe tests: a plain module (pytest
puts this folder on ``sys.path``; subprocesses get it through ``PYTHONPATH``).

Both last eight ticks and need no memory; chance scores about half the maximum.
"""
import gymnasium
import numpy as np


class Cue(gymnasium.Env):
    """A reward of 1 for the action (0 or 1) matching the sign of the observation's first
    number: return 8 at best, about 4 by chance."""

    observation_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gymnasium.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._observe(), {}

    def _observe(self):
        self.cue = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return self.cue

    def step(self, action):
        reward = float(int(action) == int(self.cue[0] > 0))
        self.t += 1
        return self._observe(), reward, False, self.t >= 8, {}


class Steer(Cue):
    """A reward of ``1 - |a - x|`` for an action ``a`` in [-1, 1] and the observation's first
    number ``x``: return 8 at best, about 5.3 by chance."""

    action_space = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def step(self, action):
        reward = 1.0 - abs(float(np.asarray(action).reshape(-1)[0]) - float(self.cue[0]))
        self.t += 1
        return self._observe(), reward, False, self.t >= 8, {}
