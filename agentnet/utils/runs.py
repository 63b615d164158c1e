"""A training run's folder: its settings, curves, learning-curve plot and resumable checkpoint."""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import torch

from . import persistence

__all__ = ["RunDirectory"]


class RunDirectory:
    """Where an example keeps a run, so that it can be resumed and evaluated later::

        DIR/config.json               which example, with which settings
        DIR/metrics.csv               the curves (name, step, value)
        DIR/learning_curve.png        their plot
        DIR/checkpoint.safetensors    agent, optimizer, RNG states, step and what the loop carries

    Args:
        path: the folder (created if needed).
        example: the example's module name, e.g. ``"agentnet.examples.cartpole_a2c"``.
        config: the example's settings dataclass (written to ``config.json``).
    """

    def __init__(self, path: str | os.PathLike[str], example: str, config: Any):
        self.path = Path(path)
        self.example, self.config = example, config
        self.path.mkdir(parents=True, exist_ok=True)
        settings = {"example": example, "config": dataclasses.asdict(config)}
        (self.path / "config.json").write_text(json.dumps(settings, indent=2) + "\n")

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint.safetensors"

    @staticmethod
    def read_settings(path: str | os.PathLike[str]) -> tuple[str, dict[str, Any]]:
        """``(example module, config fields)`` of the run saved in ``path``."""
        settings_file = Path(path) / "config.json"
        if not settings_file.is_file():
            raise FileNotFoundError(f"{path} holds no agentnet run (no config.json)")
        settings = json.loads(settings_file.read_text())
        return settings["example"], settings["config"]

    def save(self, step: int, agent: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
             log: Any, carry: Any = None) -> None:
        """Write the checkpoint (atomically), the curves of ``log`` (a
        :class:`~agentnet.display.TrainingLog`) and their plot."""
        persistence.save_checkpoint(self.checkpoint, agent, optimizer=optimizer, step=step,
                                    extra={"carry": carry, "log": log.state()})
        log.metrics.to_csv(self.path / "metrics.csv")
        if len(log.metrics):
            try:
                figure = log.metrics.plot(self.path / "learning_curve.png")
            except ImportError:  # plotting is optional (matplotlib)
                return
            figure.clear()

    def load(self, agent: torch.nn.Module, optimizer: torch.optim.Optimizer, log: Any) -> tuple[
            int, Any]:
        """Restore agent, optimizer, RNG states and the log; return ``(step, carry)``."""
        saved = persistence.load_checkpoint(self.checkpoint, agent, optimizer=optimizer)
        log.restore(saved["extra"]["log"])
        return saved["step"], saved["extra"]["carry"]
