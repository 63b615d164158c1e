"""The original AgentNet's ``agentnet.experiments`` import paths, kept for code written for it:
:mod:`~agentnet.experiments.boolean_reasoning` (the environment lives in
:mod:`agentnet.environment`), :mod:`~agentnet.experiments.openai_gym.pool` (``EnvPool``, in
:mod:`agentnet.driving`) and :mod:`~agentnet.experiments.openai_gym.wrappers` (Gymnasium
wrappers). The top floor: it imports the drivers."""
__all__: list[str] = []
