"""Rewards computed from sessions: :class:`BaseObjective`, the original AgentNet's contract.

An objective says what reward an agent gets for its actions in the environment's states;
subclass it and implement ``get_reward`` for one session, or ``get_reward_sequences`` for the
whole batch at once.
"""
from .base import BaseObjective

__all__ = ["BaseObjective"]
