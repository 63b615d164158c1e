"""agentnet: design your own reinforcement learning agent, one tick of its life at a time.

AgentNet rebuilt on PyTorch. The parts: ``layers`` (the one-tick graph), ``agent`` (``Agent``,
``Recurrence``), ``resolver`` (action pickers), ``memory`` (recurrent cells), ``environment``
(tensor-native environments).
"""
from . import agent, display, environment, layers, learning, memory, resolver, target_network, utils
from .agent import Agent, MDPAgent, Recurrence, Sessions

__version__ = "0.1.0"

__all__ = ["Agent", "MDPAgent", "Recurrence", "Sessions", "agent", "display", "environment",
           "layers", "learning", "memory", "resolver", "target_network", "utils", "__version__"]
