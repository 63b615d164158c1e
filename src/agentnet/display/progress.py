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
            percent = min(100.0, 100 * step / self.total_steps)  # the last batch may overshoot
            print(f"step {step:>9,} ({percent:3.0f}%)  "
                  f"return {self.mean_recent_return:7.1f}  "
                  f"{self.steps_per_second:>9,.0f} steps/s  {extras}", file=self.file, flush=True)

    def state(self) -> dict:
        """What :meth:`restore` needs to go on (steps done, curves, recent returns)."""
        return {"steps": self._steps, "returns": self._returns[-self.recent:],
                "metrics": {name: [list(map(float, point)) for point in curve.points()]
                            for name, curve in self.metrics.items()}}

    def restore(self, state: dict) -> None:
        """Go on from :meth:`state` (e.g. kept in a checkpoint). A state of another form
        raises ValueError and changes nothing."""
        if not isinstance(state, dict) or set(state) != {"steps", "returns", "metrics"}:
            raise ValueError("TrainingLog.restore: the state must hold steps, returns and "
                             "metrics")
        steps, returns, curves = state["steps"], state["returns"], state["metrics"]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"TrainingLog.restore: steps must be an int >= 0, got {steps!r}")
        if not isinstance(returns, list) or not all(_is_number(r) for r in returns):
            raise ValueError("TrainingLog.restore: returns must be a list of numbers")
        if not isinstance(curves, dict) or not all(
                isinstance(name, str) and isinstance(points, list)
                and all(isinstance(p, (list, tuple)) and len(p) == 2
                        and all(_is_number(v) for v in p) for p in points)
                for name, points in curves.items()):
            raise ValueError("TrainingLog.restore: metrics must map names to lists of "
                             "[step, value] pairs")
        metrics = Metrics({name: [tuple(p) for p in points] for name, points in curves.items()})
        self._steps, self._returns, self.metrics = steps, list(returns), metrics
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


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
