"""The Agent abstraction and the lower-level Recurrence unroller."""
from .agent import Agent, MDPAgent
from .recurrence import Recurrence
from .sessions import Reaction, Sessions

__all__ = ["Agent", "MDPAgent", "Recurrence", "Sessions", "Reaction"]
