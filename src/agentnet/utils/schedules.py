"""Values that change with the training step: exploration, step sizes, noise.

A schedule is a function of the step alone, so a resumed run (which knows only its step)
picks it up exactly where it was.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

__all__ = ["LinearSchedule"]


@dataclass(frozen=True)
class LinearSchedule:
    """A value that goes linearly from ``start`` to ``end`` over the first ``steps`` steps,
    then stays at ``end``::

        schedule(step) = start + step / steps * (end - start)    while step < steps
                       = end                                     from then on

    Call it with the step (an int or float ``>= 0``, e.g. environment steps so far); it
    returns a float. ``steps=0`` gives ``end`` from the first step.

    >>> epsilon = LinearSchedule(1.0, 0.2, steps=1_000)
    >>> epsilon(0), epsilon(500), epsilon(1_000), epsilon(5_000)
    (1.0, 0.6, 0.2, 0.2)

    A step size annealed to zero, as a factor of the base one (``lr * (1 - step / total)``):

    >>> anneal = LinearSchedule(1.0, 0.0, steps=200)
    >>> [3e-3 * anneal(step) for step in (0, 100, 200)]
    [0.003, 0.0015, 0.0]
    >>> LinearSchedule(1.0, 0.0, steps=-5)
    Traceback (most recent call last):
    ...
    ValueError: LinearSchedule: steps must be a finite number >= 0, got -5
    """

    start: float
    """the value at step 0"""
    end: float
    """the value from step ``steps`` on"""
    steps: float
    """how many steps the change takes (need not be whole: e.g. a fraction of a budget)"""

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value):
                raise ValueError(f"LinearSchedule: {name} must be a finite number, got "
                                 f"{value!r}")
        if not _is_number(self.steps) or not math.isfinite(self.steps) or self.steps < 0:
            raise ValueError(f"LinearSchedule: steps must be a finite number >= 0, got "
                             f"{self.steps!r}")

    def __call__(self, step: float) -> float:
        if not _is_number(step) or not step >= 0:  # `not >=` also refuses NaN
            raise ValueError(f"LinearSchedule: step must be a number >= 0, got {step!r}")
        if step >= self.steps:
            return float(self.end)
        return self.start + step / self.steps * (self.end - self.start)


def _is_number(value: object) -> bool:
    """int or float (numpy's too), not bool."""
    return isinstance(value, Real) and not isinstance(value, bool)
