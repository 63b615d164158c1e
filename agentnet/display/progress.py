"""Progress of a training run: periodic lines on the terminal, and the curves behind them."""
from __future__ import annotations

import sys
import time
from typing import TextIO

import torch

from .metrics import Metrics

__all__ = ["TrainingLog"]


class TrainingLog:
    """Collects a run's curves in :attr:`metrics` and prints a line every ``every_seconds``:
    steps done, mean return of the recent finished episodes, speed, and the last scalars.

    Args:
        total_steps: the run's length in environment steps (for the percentage).
        verbose: print lines (curves are collected either way).
        every_seconds: minimum time between two lines.
        recent: how many of the latest finished episodes the mean return covers.

    >>> log = TrainingLog(100, verbose=False)
    >>> log.record(50, torch.tensor([10., 20.]), loss=0.5)
    >>> log.mean_recent_return
    15.0
    """

    def __init__(self, total_steps: int, verbose: bool = True, every_seconds: float = 2.0,
                 recent: int = 100, file: TextIO | None = None):
        self.total_steps, self.verbose = total_steps, verbose
        self.every_seconds, self.recent = every_seconds, recent
        self.file = file or sys.stdout
        self.metrics = Metrics()
        self._returns: list[float] = []
        self._start = self._last_print = time.perf_counter()
        self._steps = self._resumed_at = 0

    @property
    def mean_recent_return(self) -> float:
        """The mean return of the last ``recent`` finished episodes (nan before any)."""
        recent = self._returns[-self.recent:]
        return sum(recent) / len(recent) if recent else float("nan")

    @property
    def steps_per_second(self) -> float:
        return (self._steps - self._resumed_at) / max(time.perf_counter() - self._start, 1e-9)

    def record(self, step: int, episode_returns: torch.Tensor, **scalars: float) -> None:
        """Note the state at ``step``: returns of episodes finished since the last call and
        any scalars (loss, epsilon...)."""
        self._steps = step
        self._returns.extend(episode_returns.tolist())
        values = dict(scalars)
        if self._returns:
            values["return"] = self.mean_recent_return
        self.metrics.log(step, values)
        now = time.perf_counter()
        if self.verbose and (now - self._last_print >= self.every_seconds
                             or step >= self.total_steps):
            self._last_print = now
            extras = "  ".join(f"{name} {value:.3g}" for name, value in scalars.items())
            print(f"step {step:>9,} ({100 * step / self.total_steps:3.0f}%)  "
                  f"return {self.mean_recent_return:7.1f}  "
                  f"{self.steps_per_second:>9,.0f} steps/s  {extras}", file=self.file, flush=True)

    def state(self) -> dict:
        """What :meth:`restore` needs to go on (steps done, curves, recent returns)."""
        return {"steps": self._steps, "returns": self._returns[-self.recent:],
                "metrics": {name: [list(map(float, point)) for point in curve.points()]
                            for name, curve in self.metrics.items()}}

    def restore(self, state: dict) -> None:
        """Go on from :meth:`state` (e.g. kept in a checkpoint)."""
        self._steps = int(state["steps"])
        self._returns = list(state["returns"])
        self.metrics = Metrics({name: [tuple(p) for p in points]
                                for name, points in state["metrics"].items()})
        self._start = time.perf_counter()
        self._resumed_at = self._steps

    def finish(self, evaluation_returns: torch.Tensor, what: str = "greedy evaluation") -> None:
        """Print the evaluation's summary and keep it in the curves as ``eval_return``."""
        mean = evaluation_returns.float().mean().item()
        self.metrics.log(self._steps, eval_return=mean)
        if self.verbose:
            print(f"{what}: mean return {mean:.1f} over {len(evaluation_returns)} episodes "
                  f"(min {evaluation_returns.min().item():.0f}, max "
                  f"{evaluation_returns.max().item():.0f}); trained {self._steps:,} steps in "
                  f"{time.perf_counter() - self._start:.1f} s", file=self.file, flush=True)

    def __repr__(self) -> str:
        return f"TrainingLog(steps={self._steps}, mean_recent_return={self.mean_recent_return})"
