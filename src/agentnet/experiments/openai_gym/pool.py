"""The original's ``agentnet.experiments.openai_gym.pool``: :class:`agentnet.driving.EnvPool`
(and its alias ``GamePool``)."""
from ...driving.pool import EnvPool, GamePool

__all__ = ["EnvPool", "GamePool"]
