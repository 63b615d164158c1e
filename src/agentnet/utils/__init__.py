"""Helpers used across agentnet: copying and re-applying parts of a graph (``clone``), and
saving agents and training checkpoints safely (``persistence``)."""
from . import persistence
from .clone import clone_network, reapply
from .runs import RunDirectory

__all__ = ["clone_network", "reapply", "persistence", "RunDirectory"]
