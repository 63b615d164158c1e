"""The original's ``agentnet.experiments.boolean_reasoning``: the boolean reasoning task,
:class:`agentnet.environment.BooleanReasoning` (``BooleanReasoningEnvironment``, the original's
name, is the same class)."""
from ...environment.boolean_reasoning import BooleanReasoning

BooleanReasoningEnvironment = BooleanReasoning

__all__ = ["BooleanReasoning", "BooleanReasoningEnvironment"]
