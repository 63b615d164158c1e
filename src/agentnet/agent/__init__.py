"""The Agent abstraction and the lower-level Recurrence unroller.

``Sessions`` and ``Reaction`` are defined in :mod:`agentnet.records` and importable from here.
"""
from ..records import AgentReaction, Reaction, Sessions
from .agent import Agent, MDPAgent
from .recurrence import Recurrence

__all__ = ["Agent", "MDPAgent", "Recurrence", "Sessions", "Reaction", "AgentReaction"]
