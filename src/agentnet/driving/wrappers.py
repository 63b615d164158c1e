"""Gymnasium wrappers that let one agent play many tasks: any observation as one float
vector, several discrete choices as one.

>>> import gymnasium
>>> env = FlatObservations(gymnasium.make("FrozenLake-v1"))   # Discrete(16), one-hot
>>> env.observation_space
Box(0.0, 1.0, (16,), float32)
>>> env.reset(seed=0)[0].argmax()
np.int64(0)
"""
from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np

__all__ = ["DiscreteActions", "FlatObservations"]


class FlatObservations(gymnasium.ObservationWrapper):
    """Any observation space Gymnasium can flatten (Box, Discrete, MultiDiscrete,
    MultiBinary, Tuple and Dict of them) as one float32 vector ``[O]``: Discrete parts
    one-hot, the rest as they are. Raises ValueError naming the space when it does not
    flatten to a vector (a Graph, a Sequence)."""

    def __init__(self, env: gymnasium.Env):
        super().__init__(env)
        self.original_space = env.observation_space
        try:
            flat = gymnasium.spaces.flatten_space(env.observation_space)
        except (NotImplementedError, TypeError, ValueError) as error:
            raise ValueError(f"FlatObservations: the observation space "
                             f"{env.observation_space} cannot be flattened ({error})") from None
        if not isinstance(flat, gymnasium.spaces.Box):
            raise ValueError(f"FlatObservations: the observation space "
                             f"{env.observation_space} flattens to {flat}, not a vector")
        self.observation_space = gymnasium.spaces.Box(
            flat.low.astype(np.float32), flat.high.astype(np.float32), dtype=np.float32)

    def observation(self, observation: Any) -> np.ndarray:
        return np.asarray(gymnasium.spaces.flatten(self.original_space, observation),
                          dtype=np.float32)


class DiscreteActions(gymnasium.ActionWrapper):
    """A MultiDiscrete action space ``nvec`` played as one Discrete over its
    ``prod(nvec)`` combinations (action ``i`` is ``np.unravel_index(i, nvec)``).

    >>> space = gymnasium.spaces.MultiDiscrete([2, 3])
    >>> class Two(gymnasium.Env):
    ...     action_space, observation_space = space, gymnasium.spaces.Discrete(1)
    >>> env = DiscreteActions(Two())
    >>> env.action_space, env.action(5).tolist()
    (Discrete(6), [1, 2])
    """

    def __init__(self, env: gymnasium.Env):
        super().__init__(env)
        if not isinstance(env.action_space, gymnasium.spaces.MultiDiscrete):
            raise ValueError(f"DiscreteActions: the action space {env.action_space} is not "
                             f"MultiDiscrete")
        self.nvec = np.asarray(env.action_space.nvec).reshape(-1)
        self.action_space = gymnasium.spaces.Discrete(int(np.prod(self.nvec)))

    def action(self, action: Any) -> np.ndarray:
        return np.asarray(np.unravel_index(int(action), self.nvec), dtype=np.int64)
