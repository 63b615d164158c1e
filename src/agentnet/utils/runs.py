"""A training run's folder: its settings, curves, learning-curve plot and resumable checkpoint.

A run folder is data, never code: reading one (``agentnet evaluate DIR``, ``agentnet train
--resume DIR``) accepts only the names of agentnet's own examples and settings whose names and
types match that example's ``Config``; everything else is refused with a
:class:`RunFolderError` that names the folder, before anything is built or changed.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import signal
import threading
import time
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..display.progress import TrainingLog
from . import persistence
from .safetensors_file import PersistenceError, write_atomic

__all__ = ["RunDirectory", "RunFolderError", "TrainingInterrupted", "config_from_dict",
           "settings_from_assignments"]

_CONFIG_FILE, _CHECKPOINT_FILE = "config.json", "checkpoint.safetensors"


class RunFolderError(PersistenceError):
    """A run folder that cannot be used as asked: not a run, a broken or foreign
    ``config.json``, a folder that already holds a run, a budget already spent. The message
    names the folder and says what to do."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run with a folder: the run saved a checkpoint at ``step`` in ``path``
    and stopped. A ``KeyboardInterrupt``, so that code that does not know it stops as usual.
    ``resumable`` says whether ``agentnet train --resume`` can go on from it."""

    def __init__(self, step: int, path: Path, resumable: bool):
        super().__init__(f"interrupted: saved step {step:,} in {path}")
        self.step, self.path, self.resumable = step, path, resumable


def config_from_dict(config_class: type, values: Any, where: str) -> Any:
    """An instance of the dataclass ``config_class`` from ``values`` (a dict of JSON values),
    every name and type checked against its fields; fields not given keep their defaults.

    Accepted: bool for ``bool``; int for ``int``; int or float for ``float`` (finite); str
    for ``str``; null for ``X | None``; a list for ``tuple[X, ...]``. Raises ValueError
    naming ``where``, the field, the value and the valid fields.

    >>> import dataclasses
    >>> @dataclasses.dataclass
    ... class C:
    ...     steps: int = 10
    ...     rate: float = 0.5
    >>> config_from_dict(C, {"rate": 1}, "example")
    C(steps=10, rate=1.0)
    >>> config_from_dict(C, {"stepz": 3}, "example")
    Traceback (most recent call last):
    ...
    ValueError: example: unknown setting 'stepz' (valid: rate, steps)
    """
    if not isinstance(values, dict):
        raise ValueError(f"{where}: settings must be a JSON object, got "
                         f"{type(values).__name__}")
    hints = typing.get_type_hints(config_class)
    fields = {f.name: hints[f.name] for f in dataclasses.fields(config_class) if f.init}
    checked = {}
    for name, value in values.items():
        if name not in fields:
            raise ValueError(f"{where}: unknown setting {name!r} (valid: "
                             f"{', '.join(sorted(fields))})")
        ok, converted = _convert(value, fields[name])
        if not ok:
            raise ValueError(f"{where}: setting {name!r} must be {_type_name(fields[name])}, "
                             f"got {json.dumps(value)[:60]}")
        checked[name] = converted
    return config_class(**checked)


def settings_from_assignments(config_class: type, assignments: list[str], where: str
                              ) -> dict[str, Any]:
    """Settings of the dataclass ``config_class`` from ``NAME=VALUE`` texts (the command
    line's ``--set``), each checked against its field: VALUE is read as JSON (``3``,
    ``1e-3``, ``true``, ``[64, 64]``, ``null``), or taken as it is where the field wants a
    string (``memory=window``). Raises ValueError naming ``where``, the text and the valid
    settings.

    >>> import dataclasses
    >>> @dataclasses.dataclass
    ... class C:
    ...     steps: int = 10
    ...     memory: str = "gru"
    >>> settings_from_assignments(C, ["steps=20", "memory=window"], "--set")
    {'steps': 20, 'memory': 'window'}
    >>> settings_from_assignments(C, ["steps=2.5"], "--set")
    Traceback (most recent call last):
    ...
    ValueError: --set steps=2.5: steps must be an integer (settings: memory, steps)
    """
    hints = typing.get_type_hints(config_class)
    fields = {f.name: hints[f.name] for f in dataclasses.fields(config_class) if f.init}
    valid = f"(settings: {', '.join(sorted(fields))})"
    settings = {}
    for assignment in assignments:
        name, equals, text = assignment.partition("=")
        name = name.strip()
        if not equals or not name:
            raise ValueError(f"{where} {assignment!r}: expected NAME=VALUE {valid}")
        if name not in fields:
            raise ValueError(f"{where} {assignment}: unknown setting {name!r} {valid}")
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        for candidate in (parsed, text):  # JSON first; the text itself for a string field
            ok, value = _convert(candidate, fields[name])
            if ok:
                settings[name] = value
                break
        else:
            raise ValueError(f"{where} {assignment}: {name} must be "
                             f"{_type_name(fields[name])} {valid}")
    return settings


def _convert(value: Any, annotation: Any) -> tuple[bool, Any]:
    """``(fits, value converted)`` for a JSON value and a field's type."""
    options = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for option in options:
            ok, converted = _convert(value, option)
            if ok:
                return True, converted
        return False, None
    if annotation is type(None):
        return value is None, None
    if annotation is bool:
        return isinstance(value, bool), value
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if annotation is float:
        fits = (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
        return fits, float(value) if fits else None
    if annotation is str:
        return isinstance(value, str), value
    if typing.get_origin(annotation) is tuple and len(options) == 2 and options[1] is ...:
        if not isinstance(value, (list, tuple)):  # a list in JSON, a tuple in a checkpoint
            return False, None
        items = [_convert(item, options[0]) for item in value]
        return all(ok for ok, _ in items), tuple(item for _, item in items)
    raise TypeError(f"config_from_dict: fields of type {annotation!r} are not supported")


def _type_name(annotation: Any) -> str:
    if annotation is type(None):
        return "null"
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(option) for option in typing.get_args(annotation))
    if typing.get_origin(annotation) is tuple:
        return f"a list, each item {_type_name(typing.get_args(annotation)[0])}"
    return {bool: "true or false", int: "an integer", float: "a number",
            str: "a string"}.get(annotation, repr(annotation))


class RunDirectory:
    """Where an example keeps a run, so that it can be resumed and evaluated later::

        DIR/config.json               which example, with which settings
        DIR/metrics.csv               the curves (name, step, value)
        DIR/learning_curve.png        their plot (with matplotlib)
        DIR/checkpoint.safetensors    agent, optimizer, RNG states, step, the settings and
                                      what the loop carries

    Nothing but the folder is written before the first :meth:`save`, which writes the
    checkpoint, then ``config.json`` (each atomically), then the curves: a run stopped
    before its first save leaves a folder as it found it. The checkpoint keeps the settings
    too, and they win over a ``config.json`` edited by hand.

    Args:
        path: the folder (created if needed), or None for a run kept nowhere: then nothing
            is ever :meth:`due`, :meth:`start` starts at step 0, and Ctrl-C stops the loop
            as it would without a run (an example's loop reads the same either way).
        example: the example's module name, e.g. ``"agentnet.examples.cartpole_a2c"``.
        config: the example's settings dataclass (with a ``total_steps`` field).
        resume: go on with the run in ``path`` (it must hold a checkpoint).
        overwrite: replace whatever run ``path`` holds. Without ``resume`` or
            ``overwrite``, a folder that holds files is refused (:class:`RunFolderError`):
            nothing a user saved is replaced unless they ask.
        save_every_seconds: :meth:`due` is also True when this long has passed since the
            last save (long runs keep a recent checkpoint).

    Use it as a context manager around the training loop: inside, Ctrl-C asks the loop to
    stop; the next :meth:`save` (:meth:`due` says True at once) saves and raises
    :class:`TrainingInterrupted`. A second Ctrl-C stops at once, without saving. An
    example's loop::

        run = RunDirectory.open(out_dir, __name__, config, resume, overwrite)
        step, carry = run.start(agent, optimizer, log, {"episodes": episodes})
        with run:
            while step < config.total_steps:
                ...  # play, learn, step += ...
                if run.due(step, every_steps):
                    run.save(step, agent, optimizer, log, {"episodes": episodes.state_dict()})
    """

    def __init__(self, path: str | os.PathLike[str] | None, example: str, config: Any, *,
                 resume: bool = False, overwrite: bool = False,
                 save_every_seconds: float = 120.0, resumable: bool = True):
        self.path = None if path is None else Path(path)
        self.example, self.config, self.resume = example, config, resume
        self.save_every_seconds, self.resumable = save_every_seconds, resumable
        self.stop_requested = False
        self._last_save, self._saved_step = time.monotonic(), 0
        if self.path is None:
            if resume:
                raise ValueError(f"{example}: resume=True needs the run's folder (out_dir)")
        else:
            _check_folder(self.path, resume, overwrite)
        if resume and not resumable:
            raise RunFolderError(f"{example.rsplit('.', 1)[-1]} cannot resume (it keeps only "
                                 f"the trained agent); train it again with --overwrite")

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None, example: str, config: Any,
             resume: bool = False, overwrite: bool = False,
             resumable: bool = True) -> RunDirectory:
        """What an example's ``main`` calls (its arguments in the order ``main`` takes
        them): the run in the folder ``path``, or a run kept nowhere for ``path=None`` (then
        ``resume`` is refused: there is nothing to resume from)."""
        return cls(path, example, config, resume=resume, overwrite=overwrite,
                   resumable=resumable)

    @property
    def checkpoint(self) -> Path:
        return self._folder() / _CHECKPOINT_FILE

    def _folder(self) -> Path:
        if self.path is None:
            raise ValueError(f"{self.example}: this run is kept nowhere (no out_dir)")
        return self.path

    # --- reading a run folder: data only -------------------------------------------------
    @staticmethod
    def read_settings(path: str | os.PathLike[str]) -> tuple[str, dict[str, Any]]:
        """``(example module, config fields)`` of the run saved in ``path``, its
        ``config.json`` checked for form (a JSON object with ``example``, a string, and
        ``config``, an object). Raises :class:`RunFolderError` naming the file."""
        settings_file = _within(Path(path), _CONFIG_FILE)
        if not settings_file.is_file():
            raise RunFolderError(f"{path} holds no agentnet run (no {_CONFIG_FILE})")
        try:
            text = settings_file.read_text(encoding="utf-8")
            settings = json.loads(text, parse_constant=_no_constant)
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
            raise RunFolderError(f"{settings_file}: not a valid config file: "
                                 f"{error}") from None
        return _check_settings(settings, settings_file)

    def saved_settings(self) -> dict[str, Any] | None:
        """The config fields kept in the checkpoint: the settings the run was trained with,
        whatever ``config.json`` says (None for a checkpoint from before agentnet kept
        them). A checkpoint of another example raises :class:`RunFolderError`."""
        _, extra = persistence.read_checkpoint(self.checkpoint)
        if not isinstance(extra, dict) or "settings" not in extra:
            return None
        example, config = _check_settings(extra["settings"], self.checkpoint)
        if example != self.example:
            raise RunFolderError(f"{self.path}: config.json names {self.example}, but the "
                                 f"checkpoint was trained by {example}")
        return config

    # --- writing -------------------------------------------------------------------------
    def due(self, step: int, every_steps: int) -> bool:
        """Whether to :meth:`save` at ``step``: every ``every_steps`` environment steps, at
        the end, after ``save_every_seconds``, or at once after Ctrl-C; never for a run kept
        nowhere."""
        if self.path is None:
            return False
        return (self.stop_requested or step >= self.config.total_steps
                or step // every_steps > self._saved_step // every_steps
                or time.monotonic() - self._last_save >= self.save_every_seconds)

    def save(self, step: int, agent: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
             log: Any, carry: Any = None) -> None:
        """Write the checkpoint, ``config.json``, the curves of ``log`` (a
        :class:`~agentnet.display.TrainingLog`) and their plot. After Ctrl-C, raise
        :class:`TrainingInterrupted` once it is all written."""
        folder = self._folder()
        folder.mkdir(parents=True, exist_ok=True)
        settings = {"example": self.example, "config": dataclasses.asdict(self.config)}
        persistence.save_checkpoint(self.checkpoint, agent, optimizer=optimizer, step=step,
                                    extra={"carry": carry, "log": log.state(),
                                           "settings": settings})
        write_atomic(folder / _CONFIG_FILE, (json.dumps(settings, indent=2) + "\n").encode())
        log.metrics.to_csv(folder / "metrics.csv")
        self._last_save, self._saved_step = time.monotonic(), step
        if len(log.metrics):
            with contextlib.suppress(ImportError):  # plotting is optional (matplotlib)
                log.metrics.plot(folder / "learning_curve.png").clear()
        if self.stop_requested:
            raise TrainingInterrupted(step, folder, self.resumable)

    # --- resuming: all or nothing --------------------------------------------------------
    def start(self, agent: torch.nn.Module, optimizer: torch.optim.Optimizer,
              log: TrainingLog, restore: Mapping[str, Any] | None = None,
              batch_size: int | None = None) -> tuple[int, dict[str, Any]]:
        """Where the training loop starts: ``(0, {})`` for a new run; for one opened with
        ``resume=True``, what :meth:`load` restores (the same arguments), ``(step, carry)``.
        """
        if not self.resume:
            return 0, {}
        return self.load(agent, optimizer, log, restore, batch_size)

    def load(self, agent: torch.nn.Module, optimizer: torch.optim.Optimizer, log: TrainingLog,
             restore: Mapping[str, Any] | None = None,
             batch_size: int | None = None) -> tuple[int, Any]:
        """Restore agent, optimizer, RNG states, the log and the loop's carried objects;
        return ``(step, carry)``.

        Args:
            restore: ``{name: object}`` for objects saved in the carry by their
                ``state_dict()`` (an episode tracker, a target network, a second optimizer,
                a session pool...): each is restored with ``load_state_dict``.
            batch_size: if the carry holds ``"sessions"`` (a
                :meth:`~agentnet.Sessions.continuation`), the batch it must have.

        Everything (the file, every part, the log, every carried state tried on a copy of
        its object, the sessions' form, the step against ``total_steps``) is checked before
        anything changes; a refusal raises :class:`RunFolderError` or
        :class:`~agentnet.utils.persistence.PersistenceError` and changes nothing.
        """
        restore = dict(restore or {})

        def validate(saved: dict[str, Any]) -> None:
            extra = saved["extra"]
            if not isinstance(extra, dict) or not {"carry", "log"} <= set(extra):
                raise ValueError("the run's state (carry, log) is missing")
            if saved["step"] >= self.config.total_steps:
                raise RunFolderError(
                    f"{self.path}: the run has already trained {saved['step']:,} of its "
                    f"{self.config.total_steps:,} steps: give a larger budget (--steps) to "
                    f"train on")
            TrainingLog(1, verbose=False).restore(extra["log"])  # a trial on a blank log
            carry = extra["carry"]
            if not isinstance(carry, dict) or not set(restore) <= set(carry):
                missing = sorted(set(restore) - set(carry if isinstance(carry, dict) else {}))
                raise ValueError(f"the carry lacks {missing}")
            for name, target in restore.items():
                try:
                    copy.deepcopy(target).load_state_dict(carry[name])
                except Exception as error:
                    raise ValueError(f"carry[{name!r}]: {error}") from error
            if "sessions" in carry and carry["sessions"] is not None:
                _check_continuation(carry["sessions"], batch_size)

        try:
            saved = persistence.load_checkpoint(self.checkpoint, agent, optimizer=optimizer,
                                                validate=validate)
        except PersistenceError as error:
            if isinstance(error.__cause__, RunFolderError):
                raise error.__cause__ from None
            raise
        log.restore(saved["extra"]["log"])
        for name, target in restore.items():
            target.load_state_dict(saved["extra"]["carry"][name])
        self._saved_step = saved["step"]
        return saved["step"], saved["extra"]["carry"]

    # --- Ctrl-C --------------------------------------------------------------------------
    def __enter__(self) -> RunDirectory:
        self._previous_handler = None
        if self.path is not None and threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGINT, self._on_interrupt)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)

    def _on_interrupt(self, signum: int, frame: Any) -> None:
        if self.stop_requested:  # the second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.stop_requested = True
        print("\nagentnet: stopping after this iteration to save a checkpoint "
              "(Ctrl-C again to stop at once, without saving)", flush=True)

def _within(folder: Path, name: str) -> Path:
    """``folder / name``, refusing a folder that cannot be read (a symlink loop...)."""
    try:
        folder.is_dir()
        return folder / name
    except OSError as error:
        raise RunFolderError(f"{folder}: cannot be read: {error.strerror or error}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _check_settings(settings: Any, where: Path) -> tuple[str, dict[str, Any]]:
    if not isinstance(settings, dict):
        raise RunFolderError(f"{where}: not a run's settings (a JSON object with 'example' "
                             f"and 'config')")
    missing = [key for key in ("example", "config") if key not in settings]
    if missing:
        raise RunFolderError(f"{where}: missing {' and '.join(map(repr, missing))}")
    unknown = sorted(set(settings) - {"example", "config"})
    if unknown:
        raise RunFolderError(f"{where}: unknown keys {unknown} (a run's settings hold "
                             f"'example' and 'config')")
    example, config = settings["example"], settings["config"]
    if not isinstance(example, str):
        raise RunFolderError(f"{where}: 'example' must be a string, got "
                             f"{json.dumps(example)[:60]}")
    if not isinstance(config, dict):
        raise RunFolderError(f"{where}: 'config' must be a JSON object, got "
                             f"{json.dumps(config)[:60]}")
    return example, config


def _check_folder(path: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to start a new run over files, or to resume what is not a run."""
    try:
        exists = path.exists()
        if exists and not path.is_dir():
            raise RunFolderError(f"{path}: not a folder")
        present = sorted(p.name for p in path.iterdir()) if exists else []
    except OSError as error:
        raise RunFolderError(f"{path}: cannot be read: {error.strerror or error}") from None
    if resume:
        if not (path / _CHECKPOINT_FILE).is_file():
            raise RunFolderError(f"{path}: no {_CHECKPOINT_FILE} in it")
    elif present and not overwrite:
        shown = ", ".join(present[:4]) + (", ..." if len(present) > 4 else "")
        raise RunFolderError(f"{path} already holds files ({shown}): resume that run "
                             f"(--resume), overwrite it (--overwrite) or choose another "
                             f"folder")
    else:
        path.mkdir(parents=True, exist_ok=True)  # an unwritable place fails now, not later
        if not os.access(path, os.W_OK):
            raise RunFolderError(f"{path}: cannot be written")


def _check_continuation(value: Any, batch_size: int | None) -> None:
    """The form of :meth:`Sessions.continuation` output: four lists of ``[B, ...]``
    tensors, ``last_is_alive`` one bool ``[B]``."""
    keys = {"next_env_states", "next_observations", "last_agent_states", "last_is_alive"}
    if not isinstance(value, dict) or set(value) != keys:
        raise ValueError(f"carry['sessions'] must hold {sorted(keys)}")
    for key in sorted(keys):
        tensors = value[key]
        if not isinstance(tensors, list) or not all(isinstance(t, torch.Tensor) and t.dim()
                                                    for t in tensors):
            raise ValueError(f"carry['sessions'][{key!r}] must be a list of tensors")
        for tensor in tensors:
            if batch_size is not None and tensor.shape[0] != batch_size:
                raise ValueError(f"carry['sessions'][{key!r}] holds {tensor.shape[0]} rows, "
                                 f"the run plays {batch_size}")
    alive = value["last_is_alive"]
    if len(alive) != 1 or alive[0].dtype != torch.bool or alive[0].dim() != 1:
        raise ValueError("carry['sessions']['last_is_alive'] must be one bool [B] tensor")
