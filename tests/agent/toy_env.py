"""A hand-built environment whose every tick is known, for alignment tests."""
from __future__ import annotations

import torch

from agentnet.environment import BaseEnvironment


class Stairs(BaseEnvironment):
    """Each session stands on a step; action 1 climbs one step, action 0 stays.

    State: float ``[B]`` height. Observations: ``[B, 1]`` the height and, with
    ``two_observations``, also ``[B, 2]`` (height, 2 * height). Reward: the action taken.
    A session stops once its height reaches ``top``. Sessions start at heights 0, 1, 2, ...
    """

    action_shapes = [()]
    action_dtypes = [torch.int64]
    state_shapes = [()]
    state_dtypes = [torch.float32]

    def __init__(self, top: float = 5.0, two_observations: bool = False):
        self.top = top
        self.two_observations = two_observations
        self.observation_shapes = [(1,), (2,)] if two_observations else [(1,)]
        self.observation_dtypes = [torch.float32] * len(self.observation_shapes)

    def observe(self, height: torch.Tensor) -> list[torch.Tensor]:
        first = height[:, None]
        return [first, torch.cat([first, 2 * first], 1)] if self.two_observations else [first]

    def reset(self, batch_size, device=None):
        height = torch.arange(batch_size or 1, dtype=torch.float32, device=device)
        return [height], self.observe(height)

    def get_action_results(self, last_states, actions):
        height = last_states[0] + actions[0].to(torch.float32)
        return [height], self.observe(height)

    def get_rewards(self, last_states, actions, new_states):
        return actions[0].to(torch.float32)

    def get_is_alive(self, states):
        return states[0] < self.top
