"""What every driver of an agent shares (with no Gymnasium needed): filling a replay pool from
a source of sessions, and warnings that point at the user's code."""
from __future__ import annotations

import os
import sys
import warnings
from typing import Any, Protocol

from ..environment.session_pool import SessionPoolEnvironment
from ..records import Sessions

__all__ = ["SessionSource", "update", "warn_at_caller", "describe_error"]


class SessionSource(Protocol):
    """Anything that plays sessions on demand (``EnvPool``, ``RayEnvPool``)."""

    def interact(self, n_steps: int = ...) -> Sessions[Any, Any, Any]: ...


def update(source: SessionSource, n_steps: int,
           session_pool: SessionPoolEnvironment) -> Sessions[Any, Any, Any]:
    """``source.interact(n_steps)``, the sessions appended to ``session_pool`` (a
    :class:`~agentnet.environment.SessionPoolEnvironment` of ``session_length`` equal to
    ``n_steps``, on any device); returns the sessions.

    Sessions follow each other without overlapping: replayed with ``crop_last`` (the
    objectives' default), a session's last tick is only the bootstrap value of the ticks
    before it, so one transition in ``n_steps`` is never trained on (longer sessions lose
    fewer)."""
    if session_pool.session_length != n_steps:
        raise ValueError(f"{type(source).__name__}.update: the session pool stores sessions of "
                         f"{session_pool.session_length} ticks, got n_steps={n_steps}")
    sessions = source.interact(n_steps)
    session_pool.append_sessions(sessions)
    return sessions


def warn_at_caller(message: str, inside: str) -> None:
    """A ``RuntimeWarning`` pointing at the first caller whose file is not in the directory
    ``inside`` (a package's: its frames are the library's, not the user's)."""
    inside = os.path.join(os.path.abspath(inside), "")
    frame: Any = sys._getframe(1)
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(inside):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, RuntimeWarning, stacklevel=level)


def describe_error(error: BaseException) -> str:
    """``Type: message`` of an exception (its repr if it has no message); for the exception a
    Ray task raised, of its ``cause``."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        error = cause
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else repr(error)
