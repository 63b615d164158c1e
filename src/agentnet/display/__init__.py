"""Look at training: :class:`Metrics` (named curves with ``.plot()``) and :func:`print_sessions`.

Plotting needs matplotlib, imported only when a plot is drawn.
"""
from .metrics import Curve, Metrics, smooth
from .progress import TrainingLog
from .sessions import format_sessions, print_sessions

__all__ = ["Metrics", "Curve", "smooth", "print_sessions", "format_sessions", "TrainingLog"]
