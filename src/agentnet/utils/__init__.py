"""Helpers used across agentnet: copying and re-applying parts of a graph (``clone``), saving
agents and training checkpoints safely (``persistence``), a training run's folder (``runs``)
values that change with the training step (``schedules``), losses compiled with
``torch.compile`` (``compiled_loss``), and the original AgentNet's layer helpers
(``layers``)."""
from . import layers, persistence
from .clone import clone_network, reapply
from .compiled_loss import CompiledLoss, compile_loss
from .runs import RunDirectory
from .schedules import LinearSchedule

__all__ = ["clone_network", "reapply", "layers", "persistence", "RunDirectory", "LinearSchedule",
           "compile_loss", "CompiledLoss"]
