"""Training curves: log named values against a step, save them as CSV, plot them.

>>> metrics = Metrics()
>>> for step in range(3):
...     metrics.log(step, loss=1.0 / (step + 1), ret=10.0 * step)
>>> metrics.names
['loss', 'ret']
>>> steps, values = metrics["ret"]
>>> steps.tolist(), values.tolist()
([0, 1, 2], [0.0, 10.0, 20.0])
"""
from __future__ import annotations

import csv
import difflib
import math
import os
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Metrics", "Curve", "smooth"]

_CSV_HEADER = ["name", "step", "value"]


def _as_number(value: Any, what: str) -> float:
    """A Python float from a float, int, numpy scalar or one-element tensor."""
    try:
        if hasattr(value, "item"):
            value = value.item()
        return float(value)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{what} must be a single number, got {value!r}") from error


def _as_step(step: Any) -> int | float:
    if hasattr(step, "item"):
        step = step.item()
    if isinstance(step, bool) or not isinstance(step, (int, float)):
        raise ValueError(f"a step must be an int or a float, got {step!r}")
    return step


def smooth(values: Sequence[float] | np.ndarray, smoothing: float | int | None) -> np.ndarray:
    """Smoothed copy of ``values`` (a float array of the same length).

    Args:
        values: float ``[N]``, in step order.
        smoothing: a float ``a`` in ``[0, 1)`` for an exponential moving average with weight
            ``a`` on the past, debiased so early points are not pulled toward zero:
            ``s_t = sum_k a**k x_{t-k} / sum_k a**k`` (pandas' ``ewm(alpha=1-a, adjust=True)``);
            an int ``w >= 1`` for the mean of the last ``w`` values (fewer at the start);
            ``None`` or ``0`` for no smoothing.

    >>> smooth([0.0, 10.0, 10.0], 0.5).round(3).tolist()   # 0, 10/1.5, 15/1.75
    [0.0, 6.667, 8.571]
    >>> smooth([0.0, 10.0, 10.0, 20.0], 2).tolist()         # window of 2
    [0.0, 5.0, 10.0, 15.0]
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"smooth: values must be one-dimensional, got shape {x.shape}")
    if smoothing is None or (not isinstance(smoothing, bool) and smoothing == 0):
        return x.copy()
    if isinstance(smoothing, bool):
        raise ValueError(f"smoothing must be a float in [0, 1) or an int >= 1, got {smoothing!r}")
    if isinstance(smoothing, (int, np.integer)):
        if smoothing < 1:
            raise ValueError(f"smoothing window must be >= 1, got {smoothing}")
        cumsum = np.concatenate([[0.0], np.cumsum(x)])
        upper = np.arange(1, len(x) + 1)
        lower = np.maximum(upper - int(smoothing), 0)
        return (cumsum[upper] - cumsum[lower]) / (upper - lower)
    a = float(smoothing)
    if not 0.0 <= a < 1.0:
        raise ValueError(f"smoothing must be a float in [0, 1) or an int >= 1, got {smoothing!r}")
    out = np.empty_like(x)
    weighted, weight = 0.0, 0.0
    for t, x_t in enumerate(x):
        weighted = a * weighted + x_t
        weight = a * weight + 1.0
        out[t] = weighted / weight
    return out


class Curve:
    """One named curve: ``(step, value)`` points in the order they were logged.

    ``steps, values = curve`` unpacks into two numpy arrays; ``len(curve)`` is the number of
    points. ``curve[step] = value`` sets the value at ``step`` (replacing it if that step was
    already logged), as the original AgentNet's ``metrics["y"][step] = value`` did.

    >>> curve = Curve("loss")
    >>> curve.append((0, 0.5))
    >>> curve.append(1, 0.25)
    >>> curve[1] = 0.2
    >>> len(curve), curve.last
    (2, 0.2)
    """

    __slots__ = ("name", "_steps", "_values")

    def __init__(self, name: str = "", points: Iterable[tuple[Any, Any]] = ()):
        self.name = name
        self._steps: list[int | float] = []
        self._values: list[float] = []
        self.extend(points)

    def append(self, step_or_point: Any, value: Any = None) -> None:
        """Add one point: ``append((step, value))`` or ``append(step, value)``."""
        if value is None:
            try:
                step_or_point, value = step_or_point
            except (TypeError, ValueError) as error:
                raise ValueError(f"curve {self.name!r}: append((step, value)) or "
                                 f"append(step, value), got {step_or_point!r}") from error
        step, number = _as_step(step_or_point), _as_number(value, f"the value of {self.name!r}")
        self._steps.append(step)
        self._values.append(number)

    def extend(self, points: Iterable[tuple[Any, Any]]) -> None:
        """Add several ``(step, value)`` points."""
        for point in points:
            self.append(point)

    def __setitem__(self, step: Any, value: Any) -> None:
        step = _as_step(step)
        value = _as_number(value, f"the value of {self.name!r}")
        for i in range(len(self._steps) - 1, -1, -1):
            if self._steps[i] == step:
                self._values[i] = value
                return
        self._steps.append(step)
        self._values.append(value)

    @property
    def steps(self) -> np.ndarray:
        """The steps ``[N]``, int64 when every step is an int, else float64."""
        if all(isinstance(s, int) for s in self._steps):
            return np.asarray(self._steps, dtype=np.int64)
        return np.asarray(self._steps, dtype=np.float64)

    @property
    def values(self) -> np.ndarray:
        """The values ``[N]``, float64."""
        return np.asarray(self._values, dtype=np.float64)

    @property
    def last(self) -> float:
        """The most recently logged value."""
        if not self._values:
            raise IndexError(f"curve {self.name!r} is empty")
        return self._values[-1]

    def points(self) -> list[tuple[int | float, float]]:
        """The ``(step, value)`` pairs, in logged order."""
        return list(zip(self._steps, self._values))

    def smoothed(self, smoothing: float | int | None = 0.9) -> np.ndarray:
        """The values in step order, smoothed as in :func:`smooth`."""
        order = np.argsort(self.steps, kind="stable")
        return smooth(self.values[order], smoothing)

    def __len__(self) -> int:
        return len(self._steps)

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.steps, self.values))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Curve):
            return NotImplemented
        return self.name == other.name and self.points() == other.points()

    def __repr__(self) -> str:
        if not self._steps:
            return f"Curve({self.name!r}, empty)"
        return (f"Curve({self.name!r}, {len(self)} points, steps {self._steps[0]}.."
                f"{self._steps[-1]}, last {self.last:.4g})")


class Metrics(MutableMapping[str, Curve]):
    """Named curves to log into while training, save as CSV and plot.

    ``metrics[name]`` creates an empty :class:`Curve` the first time (so
    ``metrics["return"].append((step, value))`` just works); iteration goes over names in the
    order they first appeared; ``len(metrics)`` counts curves.

    >>> metrics = Metrics()
    >>> metrics.log(0, loss=0.5)
    >>> metrics.log(10, loss=0.25, ret=3.0)
    >>> metrics["ret"].append((20, 5.0))
    >>> len(metrics), list(metrics), metrics.last()
    (2, ['loss', 'ret'], {'loss': 0.25, 'ret': 5.0})
    """

    def __init__(self, curves: Mapping[str, Iterable[tuple[Any, Any]]] | None = None):
        self._curves: dict[str, Curve] = {}
        for name, points in (curves or {}).items():
            self[name] = points

    # --- logging ----------------------------------------------------------------------
    def log(self, step: Any, values: Mapping[str, Any] | None = None, **named: Any) -> None:
        """Add one point to each named curve: ``log(step, loss=0.3, ret=20.0)``.

        Names that are not identifiers go in a dict: ``log(step, {"loss/td": 0.3})``.
        Values may be floats, ints, numpy scalars or one-element tensors.
        """
        step = _as_step(step)
        checked = {name: _as_number(value, f"the value of {name!r}")
                   for name, value in {**(values or {}), **named}.items()}
        for name, number in checked.items():  # nothing is logged unless every value is valid
            self[name].append(step, number)

    append = log

    def last(self) -> dict[str, float]:
        """The latest value of every non-empty curve."""
        return {name: curve.last for name, curve in self._curves.items() if len(curve)}

    @property
    def names(self) -> list[str]:
        return list(self._curves)

    # --- mapping ----------------------------------------------------------------------
    def __getitem__(self, name: str) -> Curve:
        if not isinstance(name, str):
            raise TypeError(f"metric names are strings, got {name!r}")
        if name not in self._curves:
            self._curves[name] = Curve(name)
        return self._curves[name]

    def __setitem__(self, name: str, points: Iterable[tuple[Any, Any]]) -> None:
        if not isinstance(name, str):
            raise TypeError(f"metric names are strings, got {name!r}")
        source = points.points() if isinstance(points, Curve) else points
        self._curves[name] = Curve(name, source)

    def __delitem__(self, name: str) -> None:
        del self._curves[name]

    def __contains__(self, name: object) -> bool:
        return name in self._curves

    def get(self, name: str, default: Any = None) -> Any:
        return self._curves.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._curves))

    def __len__(self) -> int:
        return len(self._curves)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Metrics):
            return NotImplemented
        return self._curves == other._curves

    def __repr__(self) -> str:
        parts = [f"{name}: {len(c)} points" + (f", last {c.last:.4g}" if len(c) else "")
                 for name, c in self._curves.items()]
        return f"Metrics({'; '.join(parts)})"

    # --- CSV --------------------------------------------------------------------------
    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write every point as a ``name,step,value`` row (long format, one header line).

        Values are written exactly (``repr``), so :meth:`from_csv` gives back equal metrics.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(_CSV_HEADER)
            for name, curve in self._curves.items():
                for step, value in curve.points():
                    writer.writerow([name, repr(step), repr(value)])

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> Metrics:
        """Read metrics written by :meth:`to_csv`."""
        metrics = cls()
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header != _CSV_HEADER:
                raise ValueError(f"{path}: expected the header {','.join(_CSV_HEADER)}, "
                                 f"got {header}")
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != 3:
                    raise ValueError(f"{path}, line {line}: expected name,step,value, got {row}")
                name, step, value = row
                try:
                    parsed_step: int | float = int(step)
                except ValueError:
                    parsed_step = float(step)
                metrics[name].append(parsed_step, float(value))
        return metrics

    # --- plotting ---------------------------------------------------------------------
    def _select(self, names: str | Sequence[str] | None) -> list[str]:
        if names is None:
            return [name for name, curve in self._curves.items() if len(curve)]
        names = [names] if isinstance(names, str) else list(names)
        for name in names:
            if name not in self._curves:
                close = difflib.get_close_matches(name, list(self._curves), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise KeyError(f"no metric named {name!r} (have {list(self._curves)}){hint}")
        return names

    def plot(self, path_or_axes: Any = None, names: str | Sequence[str] | None = None,
             smoothing: float | int | None = 0.9, *, figsize: tuple[float, float] | None = None,
             dpi: float = 100, ncols: int | None = None) -> Any:
        """Plot the curves: raw values faint, their smoothed line on top.

        Args:
            path_or_axes: None to only build the figure; a file path to also save it (the
                format follows the suffix: ``.png``, ``.svg``, ``.pdf``); one matplotlib
                ``Axes`` to draw every selected curve on it, with a legend; or a sequence of
                ``Axes``, one per selected curve.
            names: which curves (default: every non-empty one, in logged order).
            smoothing: see :func:`smooth`: an EMA weight in ``[0, 1)``, a window size, or
                None for raw values only.
            figsize: inches ``(width, height)`` of a new figure; by default 4 x 3 per subplot.
            dpi: dots per inch of a new figure, so a saved PNG is
                ``figsize[0] * dpi`` by ``figsize[1] * dpi`` pixels.
            ncols: subplots per row of a new figure (default: up to 3).

        Returns:
            The matplotlib ``Figure``. A new figure is drawn on matplotlib's non-interactive
            Agg canvas, without touching pyplot's global state, so this runs headless.
        """
        try:  # imported here: agentnet itself does not need matplotlib
            from matplotlib.axes import Axes
        except ImportError as error:
            raise ImportError("Metrics.plot needs matplotlib: pip install matplotlib") from error

        selected = self._select(names)
        smooth([0.0], smoothing)  # a bad smoothing raises before anything is drawn

        if path_or_axes is not None and not isinstance(path_or_axes, (str, os.PathLike)):
            if isinstance(path_or_axes, Axes):
                for i, name in enumerate(selected):
                    self._draw(path_or_axes, name, smoothing, color=f"C{i % 10}")
                if selected:
                    path_or_axes.legend(loc="best")
                return path_or_axes.figure
            axes = list(np.ravel(np.asarray(path_or_axes, dtype=object)))
            if len(axes) != len(selected) or not all(isinstance(a, Axes) for a in axes):
                raise ValueError(f"plot: got {len(axes)} axes for {len(selected)} curves "
                                 f"{selected}; pass one Axes, one Axes per curve, or a path")
            for ax, name in zip(axes, selected):
                self._draw(ax, name, smoothing, color="C0")
                ax.set_title(self._title(name))
            return axes[0].figure if axes else None

        figure = self._new_figure(selected, smoothing, figsize, dpi, ncols)
        if path_or_axes is not None:
            path = Path(path_or_axes)
            path.parent.mkdir(parents=True, exist_ok=True)
            figure.savefig(path, dpi=dpi)
        return figure

    def _new_figure(self, selected: list[str], smoothing: float | int | None,
                    figsize: tuple[float, float] | None, dpi: float, ncols: int | None) -> Any:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        n = max(len(selected), 1)
        ncols = min(n, 3) if ncols is None else max(1, min(int(ncols), n))
        nrows = math.ceil(n / ncols)
        if figsize is None:
            figsize = (4.0 * ncols, 3.0 * nrows)
        figure = Figure(figsize=figsize, dpi=dpi, layout="constrained")
        FigureCanvasAgg(figure)
        grid = figure.subplots(nrows, ncols, squeeze=False)
        cells = list(grid.ravel())
        if not selected:
            cells[0].text(0.5, 0.5, "no metrics logged yet", ha="center", va="center")
            cells[0].set_axis_off()
        for ax, name in zip(cells, selected):
            self._draw(ax, name, smoothing, color="C0")
            ax.set_title(self._title(name))
        for ax in cells[len(selected):] if selected else []:
            ax.set_axis_off()
        return figure

    def _title(self, name: str) -> str:
        curve = self._curves[name]
        return f"{name} (last {curve.last:.4g})" if len(curve) else name

    def _draw(self, ax: Any, name: str, smoothing: float | int | None, color: str) -> None:
        curve = self._curves[name]
        order = np.argsort(curve.steps, kind="stable")
        steps, values = curve.steps[order], curve.values[order]
        finite = np.isfinite(values)  # e.g. a loss logged as nan before learning starts
        steps, values = steps[finite], values[finite]
        marker = "o" if len(steps) == 1 else None  # a lone point draws no line
        if smoothing is None or (not isinstance(smoothing, bool) and smoothing == 0):
            ax.plot(steps, values, color=color, marker=marker, label=name)
        else:
            ax.plot(steps, values, color=color, alpha=0.3, linewidth=1)
            ax.plot(steps, smooth(values, smoothing), color=color, linewidth=2, marker=marker,
                    label=name)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
