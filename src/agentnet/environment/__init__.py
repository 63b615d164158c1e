"""Environments: the tensor-native contract and the native environments built on it."""
from .acrobot import Acrobot
from .base import BaseEnvironment
from .boolean_reasoning import BooleanReasoning
from .cartpole import CartPole
from .episodes import EpisodeStats, EpisodeTracker, play_episodes
from .masked import MaskedObservations
from .mountain_car import MountainCar
from .mountain_car_continuous import MountainCarContinuous
from .pendulum import Pendulum
from .session_pool import SessionBatchEnvironment, SessionPoolEnvironment
from .sum_tree import SumTree
from .tmaze import TMaze

__all__ = ["BaseEnvironment", "CartPole", "EpisodeTracker", "EpisodeStats", "play_episodes",
           "SessionPoolEnvironment", "SessionBatchEnvironment", "SumTree", "TMaze",
           "BooleanReasoning", "MaskedObservations",
           "Acrobot", "MountainCar", "MountainCarContinuous", "Pendulum", "NativeVectorEnv",
           "EnvPool", "GamePool", "EnvFailure", "make_atari"]

#: names whose modules import gymnasium (an optional dependency): loaded when asked for
_GYMNASIUM_NAMES = {"NativeVectorEnv": "vector_adapter", "EnvPool": "gym", "GamePool": "gym",
                    "EnvFailure": "gym", "make_atari": "atari"}


def __getattr__(name: str):
    if name in _GYMNASIUM_NAMES:
        import importlib

        return getattr(importlib.import_module(f".{_GYMNASIUM_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
