"""Driving an agent against the outside world: the layer above :mod:`agentnet.agent` and
:mod:`agentnet.environment`.

- :class:`EnvPool` (alias ``GamePool``): Gymnasium environments played by an agent, recorded
  as sessions; its modules split its jobs: :mod:`~agentnet.driving.slots` (the environments:
  start, seed, reset, recreate, close), :mod:`~agentnet.driving.stepping` (stepping them with
  Gymnasium's autoreset modes emulated), :mod:`~agentnet.driving.recording` (the agent's
  ticks, recorded), :mod:`~agentnet.driving.evaluation` (greedy episodes, videos) and
  :mod:`~agentnet.driving.checks` (what the environments return);
- :func:`play_episodes`: an agent measured on a tensor-native environment;
- :func:`update`: any source of sessions (``EnvPool``, ``RayEnvPool``) into a replay pool;
- :class:`FlatObservations` and :class:`DiscreteActions`: Gymnasium wrappers that let one
  agent play many tasks (any observation as one float vector, MultiDiscrete actions as one
  Discrete).

``agentnet.environment.EnvPool``, ``GamePool``, ``EnvFailure`` and ``play_episodes`` still
name these (loaded when asked for). The names whose modules import Gymnasium (an optional
dependency) are loaded when first asked for, here too.
"""
from .common import SessionSource, update
from .episodes import play_episodes

__all__ = ["EnvPool", "GamePool", "EnvFailure", "EnvOutputError", "play_episodes", "update",
           "SessionSource", "FlatObservations", "DiscreteActions"]

#: names whose modules import gymnasium (an optional dependency): loaded when asked for
_GYMNASIUM_NAMES = {"EnvPool": "pool", "GamePool": "pool", "EnvFailure": "slots",
                    "EnvOutputError": "checks", "FlatObservations": "wrappers",
                    "DiscreteActions": "wrappers"}


def __getattr__(name: str):
    if name in _GYMNASIUM_NAMES:
        import importlib

        return getattr(importlib.import_module(f".{_GYMNASIUM_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
