"""Environments: the tensor-native contract, the native environments built on it, and the
store of recorded sessions.

Nothing here imports :mod:`agentnet.agent`: what drives an agent (Gymnasium pools,
``play_episodes``) is in :mod:`agentnet.driving`, and its names are also given here, loaded
from there when asked for (``agentnet.environment.EnvPool`` is ``agentnet.driving.EnvPool``).
"""
from .acrobot import Acrobot
from .base import BaseEnvironment, EnvironmentStepLayer
from .boolean_reasoning import BooleanReasoning
from .cartpole import CartPole
from .episodes import EpisodeStats, EpisodeTracker
from .masked import MaskedObservations
from .mountain_car import MountainCar
from .mountain_car_continuous import MountainCarContinuous
from .pendulum import Pendulum
from .session_pool import SessionBatchEnvironment, SessionPoolEnvironment
from .sum_tree import SumTree
from .tmaze import TMaze

__all__ = ["BaseEnvironment", "EnvironmentStepLayer", "CartPole", "EpisodeTracker", "EpisodeStats",
           "SessionPoolEnvironment", "SessionBatchEnvironment", "SumTree", "TMaze",
           "BooleanReasoning", "MaskedObservations",
           "Acrobot", "MountainCar", "MountainCarContinuous", "Pendulum", "NativeVectorEnv",
           "make_atari"]

#: names loaded when asked for: modules here that import gymnasium (an optional dependency),
#: and the drivers' names of agentnet.driving (a layer above this one: never imported here)
_LAZY_NAMES = {"NativeVectorEnv": ".vector_adapter", "make_atari": ".atari",
               "EnvPool": "agentnet.driving", "GamePool": "agentnet.driving",
               "EnvFailure": "agentnet.driving", "play_episodes": "agentnet.driving"}


def __getattr__(name: str):
    if name in _LAZY_NAMES:
        import importlib

        return getattr(importlib.import_module(_LAZY_NAMES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
