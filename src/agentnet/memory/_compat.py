"""Accepting the original AgentNet's keyword names next to agentnet's own (private)."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def original_names(**aliases: str) -> Callable[[F], F]:
    """Let ``__init__`` take the original's keyword ``old`` for its own ``new``
    (``original_names(than_branch="if_true")``); giving both is an error."""

    def decorate(init: F) -> F:
        @functools.wraps(init)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            for old, new in aliases.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{type(self).__name__}: got both {old}= (the original "
                                        f"AgentNet's name) and {new}=; give one")
                    kwargs[new] = kwargs.pop(old)
            return init(self, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
