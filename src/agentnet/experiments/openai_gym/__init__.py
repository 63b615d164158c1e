"""The original's ``agentnet.experiments.openai_gym``: :mod:`.pool` (``EnvPool``) and
:mod:`.wrappers` (``PreprocessImage``, ``FrameBuffer``), both needing Gymnasium."""
__all__: list[str] = []
