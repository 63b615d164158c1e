"""The original AgentNet's argument names, accepted beside agentnet's own (internal).

An objective that renamed an argument takes the original name as a keyword-only argument
defaulting to None and resolves the pair with :func:`aliased`; the docstring lists the pair.
"""
from __future__ import annotations

from typing import Any

__all__ = ["aliased"]


def aliased(where: str, name: str, value: Any, default: Any, original_name: str,
            original_value: Any) -> Any:
    """The value of the argument ``name``: ``original_value`` if the caller used the original
    name (not None), else ``value``; giving both (``value`` not its default) raises.

    >>> aliased("f", "end_at_tmax", False, False, "force_end_at_last_tick", True)
    True
    >>> aliased("f", "end_at_tmax", True, False, "force_end_at_last_tick", True)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: f: got both end_at_tmax and force_end_at_last_tick (its original ...); give one
    """
    if original_value is None:
        return value
    if value is not default:
        raise TypeError(f"{where}: got both {name} and {original_name} (its original AgentNet "
                        f"name); give one")
    return original_value
