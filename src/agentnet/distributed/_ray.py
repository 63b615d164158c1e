"""Importing Ray on demand, and a small local Ray runtime bound to the loopback interface."""
from __future__ import annotations

import contextlib
import ipaddress
import os
import warnings
from typing import Any

__all__ = ["require_ray", "init_local"]

INSTALL_HINT = "pip install 'agentnet-torch[ray]'"


def require_ray() -> Any:
    """The ``ray`` module, or an ``ImportError`` saying how to install it."""
    try:
        import ray
    except ImportError as error:
        raise ImportError(f"agentnet.distributed needs Ray, which is not installed: "
                          f"{INSTALL_HINT}") from error
    return ray


def init_local(num_cpus: int = 2, object_store_memory: int = 128 * 2**20,
               **ray_init_kwargs: Any) -> Any:
    """Start a Ray runtime on this machine only: every Ray server listens on 127.0.0.1.

    For tests, benchmarks and one-machine runs. Ray's dashboard is off and its usage
    statistics are not sent (``RAY_USAGE_STATS_ENABLED=0`` unless set). Ray (up to at
    least 2.60) turns ``_node_ip_address="127.0.0.1"`` into the machine's network address
    unless it runs in single-machine mode (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``), which
    is set here while Ray starts (its processes keep it; this process gets its old value back).

    Args:
        num_cpus: CPUs Ray may schedule on (each collector takes one by default).
        object_store_memory: bytes of Ray's shared object store (sessions and weights pass
            through it; 128 MB is plenty for small agents).
        **ray_init_kwargs: more ``ray.init`` arguments (e.g. ``log_to_driver=False``).

    Returns:
        what ``ray.init`` returns. Stop it with ``ray.shutdown()``.

    Raises:
        RuntimeError: Ray is already running in this process.
    """
    ray = require_ray()
    if ray.is_initialized():
        raise RuntimeError("init_local: Ray is already initialized in this process")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    with _single_machine_mode(ray):
        context = ray.init(address="local", include_dashboard=False, num_cpus=num_cpus,
                           object_store_memory=object_store_memory,
                           _node_ip_address="127.0.0.1", **ray_init_kwargs)
    address = ray.util.get_node_ip_address()
    if not ipaddress.ip_address(address).is_loopback:
        warnings.warn(f"init_local: this Ray version bound the local runtime to {address}, not "
                      f"127.0.0.1: its ports may be reachable from the network",
                      RuntimeWarning, stacklevel=2)
    return context


@contextlib.contextmanager
def _single_machine_mode(ray: Any) -> Any:
    name = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
    old_env = os.environ.get(name)
    constants: Any = getattr(getattr(ray, "_private", None), "ray_constants", None)
    old_flag = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    os.environ[name] = "0"  # read by the processes Ray starts
    if old_flag is not None:
        constants.ENABLE_RAY_CLUSTER = False  # read by this one, computed at import
    try:
        yield
    finally:
        if old_env is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old_env
        if old_flag is not None:
            constants.ENABLE_RAY_CLUSTER = old_flag
