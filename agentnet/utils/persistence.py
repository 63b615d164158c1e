"""Saving and loading agents, layers and training checkpoints in a format that cannot run code.

Files are `safetensors <https://github.com/huggingface/safetensors>`_: raw tensors behind a
JSON header, read without ``pickle`` or ``torch.load``, so a hostile file can at worst be
refused. The tensors are named by ``state_dict`` keys (``layers.q.weight``), so a file from
:func:`save` is also readable by any safetensors reader; agentnet adds one metadata entry, a
JSON header with the format's name and version, the agentnet version, every tensor's shape
and dtype, and the layers' names and classes.

Writes are atomic: the file is written beside its destination under a temporary name, synced
to disk and renamed over it, so a crash mid-save leaves the previous file intact (and, at
worst, a stray ``.<name>.<random>.tmp``). Loads check everything (the file, then every name,
shape and dtype against the model) before changing anything, and raise one
:class:`PersistenceError` that names the file and lists every difference.
"""
from __future__ import annotations

import math
import os
import random
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from ..layers.base import Layer, format_shape
from ..layers.graph import as_layer_list, get_all_layers, register_layers
from .safetensors_file import (
    FORMAT,
    FORMAT_VERSION,
    PathLike,
    PersistenceError,
    dtype_name,
    new_header,
    read,
    write,
)

__all__ = ["PersistenceError", "save", "load", "save_checkpoint", "load_checkpoint",
           "FORMAT", "FORMAT_VERSION"]

_MAX_DEPTH = 64  # nesting of the JSON structures (optimizer state, extra)


# --- the public functions -------------------------------------------------------------------
def save(agent_or_layers: nn.Module | Layer | Iterable[Layer], path: PathLike) -> None:
    """Save the parameters and buffers of an agent, any module, or a graph of layers.

    Args:
        agent_or_layers: an ``nn.Module`` (``Agent``, a target network...): its
            ``state_dict``; or a layer or list of layers: the state of every layer they
            depend on, keyed as an Agent keys it (``layers.<unique name>.<param>``).
        path: the file to write (``.safetensors`` by convention); replaced atomically.

    Resolver settings held in buffers (``epsilon``) are saved too.

    >>> import os, tempfile, torch
    >>> from agentnet import layers as L
    >>> def build():
    ...     x = L.InputLayer((None, 3), name="x")
    ...     return L.DenseLayer(x, 2, name="h")
    >>> h, other = build(), build()
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "h.safetensors")
    ...     save(h, path)
    ...     load(other, path)
    >>> torch.equal(other.weight, h.weight)
    True
    """
    module = _as_module(agent_or_layers)
    tensors = _state_tensors(module, "")
    header = {**new_header("module"), "module": _describe(module)}
    write(path, tensors, header)


def load(agent_or_layers: nn.Module | Layer | Iterable[Layer], path: PathLike) -> None:
    """Load what :func:`save` wrote into an agent, a module or a graph of layers, in place.

    Args:
        agent_or_layers: as in :func:`save`, built with the same architecture.
        path: a file from :func:`save`, the agent of a :func:`save_checkpoint` file, or a
            plain safetensors file of ``state_dict`` tensors.

    Tensors go to each parameter's current device and dtype (a float file loads into a
    float64 or float16 model; an integer tensor never loads into a float one). Nothing
    changes unless everything fits.

    Raises:
        FileNotFoundError: no file at ``path``.
        PersistenceError: not a safetensors file (a pickle, ``torch.save`` output, a
            truncated or corrupt file...), or a file from another architecture: the message
            lists the missing, unexpected and mis-shaped tensors.
    """
    module = _as_module(agent_or_layers)
    tensors, header = read(path)
    if header is not None and header["kind"] == "checkpoint":
        tensors = _part(tensors, "agent/")
    saved_from = None
    if header is not None:
        saved_from = header.get("module") if header["kind"] == "module" else \
            (header.get("parts") or {}).get("agent")
    values = _match(module, tensors, path, "the model", saved_from)
    module.load_state_dict(values)


def save_checkpoint(path: PathLike, agent: nn.Module, *, target_network: nn.Module | None = None,
                    optimizer: torch.optim.Optimizer | None = None, step: int = 0,
                    extra: Any = None) -> None:
    """Save everything a training run needs to go on exactly where it stopped.

    Args:
        path: the file to write, replaced atomically.
        agent: the agent (any ``nn.Module``): parameters and buffers, epsilon included.
        target_network: a module whose state is saved as well, or None.
        optimizer: a ``torch.optim`` optimizer: its ``state_dict`` (tensors as tensors,
            hyperparameters and step counts as JSON), or None.
        step: the training step counter, an int.
        extra: anything made of dicts, lists, tuples, str, int, float, bool, None and
            tensors (e.g. a schedule's state); returned by :func:`load_checkpoint`.

    The global random states are saved too: torch's CPU generator (and CUDA's when CUDA is
    initialized), numpy's global ``RandomState`` and Python's ``random``.
    """
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
        raise TypeError(f"save_checkpoint: step must be an int, got {step!r}")
    tensors: dict[str, torch.Tensor] = {}
    parts: dict[str, Any] = {"agent": _describe(agent)}
    tensors.update(_state_tensors(agent, "agent/"))
    if target_network is not None:
        parts["target_network"] = _describe(target_network)
        tensors.update(_state_tensors(target_network, "target_network/"))
    if optimizer is not None:
        parts["optimizer"] = {"class": type(optimizer).__name__, "state_dict": _encode(
            optimizer.state_dict(), tensors, "optimizer", "optimizer.state_dict()", 0)}
    header = {**new_header("checkpoint"), "parts": parts, "step": int(step),
              "extra": _encode(extra, tensors, "extra", "extra", 0), "rng": _get_rng(tensors)}
    write(path, tensors, header)


def load_checkpoint(path: PathLike, agent: nn.Module, *, target_network: nn.Module | None = None,
                    optimizer: torch.optim.Optimizer | None = None,
                    restore_rng: bool = True) -> dict[str, Any]:
    """Restore a :func:`save_checkpoint` file into freshly built (or existing) objects.

    Args:
        path: the checkpoint.
        agent, target_network, optimizer: built as for the saved run (the optimizer over the
            same parameters, in the same order). The ones given are restored; a part given but
            absent from the file raises; a part in the file but not given is skipped.
        restore_rng: also set torch's, numpy's and Python's global random states.

    Returns:
        ``{"step": int, "extra": ...}`` as saved.

    Everything is checked (file, shapes, optimizer class and parameter groups, random states)
    before anything changes; a mismatch raises one :class:`PersistenceError`.
    """
    tensors, header = read(path)
    if header is None or header["kind"] != "checkpoint":
        raise PersistenceError(f"{os.fspath(path)}: not a checkpoint (written by "
                               f"{'save' if header else 'another program'}); use load()")
    try:
        parts, rng = dict(header["parts"]), dict(header["rng"])
        step = header["step"]
        if isinstance(step, bool) or not isinstance(step, int):
            raise TypeError(f"step is {step!r}")
        extra = _decode(header["extra"], tensors, "extra", 0)
    except (KeyError, TypeError, ValueError) as error:
        raise PersistenceError(f"{os.fspath(path)}: invalid checkpoint header: {error}") from error
    updates: list[tuple[Any, Any]] = []
    for name, module in [("agent", agent), ("target_network", target_network)]:
        if module is None:
            continue
        if name not in parts:
            raise PersistenceError(f"{os.fspath(path)}: the checkpoint has no {name}")
        values = _match(module, _part(tensors, name + "/"), path, f"the {name}", parts[name])
        updates.append((module, values))
    if optimizer is not None:
        if "optimizer" not in parts:
            raise PersistenceError(f"{os.fspath(path)}: the checkpoint has no optimizer state")
        updates.append((optimizer, _optimizer_state(optimizer, parts["optimizer"], tensors,
                                                    path)))
    set_rng = _check_rng(rng, tensors, path) if restore_rng else None
    # everything fits: apply
    for target, values in updates:
        target.load_state_dict(values)
    if set_rng is not None:
        set_rng()
    return {"step": step, "extra": extra}


# --- what is saved --------------------------------------------------------------------------
class _LayerGraph(nn.Module):
    """The layers below some layers, registered as an Agent registers them."""

    def __init__(self, layers: list[Layer]):
        super().__init__()
        self.layers = register_layers(get_all_layers(layers))


def _as_module(target: Any) -> nn.Module:
    if isinstance(target, Layer):
        return _LayerGraph([target])
    if isinstance(target, nn.Module):
        return target
    if isinstance(target, Iterable) and not isinstance(target, (str, bytes, os.PathLike)):
        return _LayerGraph(as_layer_list(list(target), "agent_or_layers"))
    raise TypeError(f"expected an nn.Module, a Layer or a list of Layers, "
                    f"got {type(target).__name__}")


def _class_name(module: nn.Module) -> str:
    return "layers" if isinstance(module, _LayerGraph) else type(module).__name__


def _describe(module: nn.Module) -> dict[str, Any]:
    return {"class": _class_name(module),
            "layers": [{"name": name, "class": type(m).__name__}
                       for name, m in module.named_modules() if isinstance(m, Layer)]}


def _state_tensors(module: nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    tensors = {}
    for key, value in module.state_dict().items():
        if not isinstance(value, torch.Tensor):
            raise PersistenceError(f"cannot save {key!r} of {type(module).__name__}: a "
                                   f"{type(value).__name__}, not a tensor")
        tensors[prefix + key] = value
    return tensors


# --- matching a file to a model --------------------------------------------------------------
def _part(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {name[len(prefix):]: t for name, t in tensors.items() if name.startswith(prefix)}


def _kind(dtype: torch.dtype) -> str:
    if dtype == torch.bool:
        return "bool"
    return "complex" if dtype.is_complex else "float" if dtype.is_floating_point else "integer"


def _match(module: nn.Module, tensors: dict[str, torch.Tensor], path: PathLike, what: str,
           saved_from: Any) -> dict[str, torch.Tensor]:
    """The file's tensors on each model tensor's device and dtype; raises listing every
    missing, unexpected, mis-shaped and mis-typed name."""
    own = module.state_dict()
    missing = [name for name in own if name not in tensors]
    unexpected = [name for name in tensors if name not in own]
    shapes, dtypes = [], []
    for name, mine in own.items():
        if name in tensors:
            theirs = tensors[name]
            if theirs.shape != mine.shape:
                shapes.append(f"{name}: file {format_shape(tuple(theirs.shape))} vs model "
                              f"{format_shape(tuple(mine.shape))}")
            if _kind(theirs.dtype) != _kind(mine.dtype):
                dtypes.append(f"{name}: file {dtype_name(theirs.dtype)} vs model "
                              f"{dtype_name(mine.dtype)}")
    if missing or unexpected or shapes or dtypes:
        origin = ""
        if isinstance(saved_from, dict) and isinstance(saved_from.get("class"), str):
            origin = f" (saved from {saved_from['class']})"
        lines = [f"{os.fspath(path)}{origin} does not fit {what} ({_class_name(module)}); "
                 f"nothing was loaded:"]
        for title, names in [("missing (in the model, not in the file)", missing),
                             ("unexpected (in the file, not in the model)", unexpected),
                             ("mis-shaped", shapes), ("mis-typed", dtypes)]:
            if names:
                lines.append(f"  {title}: " + ", ".join(names))
        raise PersistenceError("\n".join(lines))
    return {name: tensors[name].to(device=mine.device, dtype=mine.dtype)
            for name, mine in own.items()}


# --- JSON with tensors: optimizer state, extra ---------------------------------------------
# JSON-native values stay as they are; the rest becomes a one-key object with a "$" tag:
# {"$tensor": name}, {"$tuple": [...]}, {"$float": "nan"}, {"$dict": [[key, value], ...]} (for
# dicts whose keys are not all strings, or start with "$").
def _encode(value: Any, tensors: dict[str, torch.Tensor], name: str, where: str,
            depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise PersistenceError(f"cannot save {where}: nested more than {_MAX_DEPTH} deep")
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, torch.Tensor):
        key, n = name, 1
        while key in tensors:
            n += 1
            key = f"{name}#{n}"
        tensors[key] = value
        return {"$tensor": key}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, tensors, f"{name}/{i}", f"{where}[{i}]", depth + 1)
                 for i, v in enumerate(value)]
        return {"$tuple": items} if isinstance(value, tuple) else items
    if isinstance(value, Mapping):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: _encode(v, tensors, f"{name}/{k}", f"{where}[{k!r}]", depth + 1)
                    for k, v in value.items()}
        return {"$dict": [[_encode(k, tensors, f"{name}/key", f"{where} key", depth + 1),
                           _encode(v, tensors, f"{name}/{k}", f"{where}[{k!r}]", depth + 1)]
                          for k, v in value.items()]}
    raise PersistenceError(f"cannot save {where}: a {type(value).__name__}; checkpoints hold "
                           f"tensors, numbers, str, bool, None, lists, tuples and dicts")


def _decode(value: Any, tensors: dict[str, torch.Tensor], where: str, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise ValueError(f"{where}: nested more than {_MAX_DEPTH} deep")
    if isinstance(value, list):
        return [_decode(v, tensors, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    if len(value) == 1 and next(iter(value)).startswith("$"):
        ((tag, body),) = value.items()
        if tag == "$tensor" and isinstance(body, str) and body in tensors:
            return tensors[body]
        if tag == "$tuple" and isinstance(body, list):
            return tuple(_decode(body, tensors, where, depth + 1))
        if tag == "$float" and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "$dict" and isinstance(body, list) and all(
                isinstance(pair, list) and len(pair) == 2 for pair in body):
            return {_decode(k, tensors, f"{where} key", depth + 1):
                    _decode(v, tensors, f"{where}[{i}]", depth + 1)
                    for i, (k, v) in enumerate(body)}
        raise ValueError(f"{where}: invalid {tag} entry {body!r:.80}")
    return {k: _decode(v, tensors, f"{where}[{k!r}]", depth + 1) for k, v in value.items()}


def _optimizer_state(optimizer: torch.optim.Optimizer, saved: Any,
                     tensors: dict[str, torch.Tensor], path: PathLike) -> dict[str, Any]:
    where = f"{os.fspath(path)}: optimizer"
    try:
        state_dict = _decode(saved["state_dict"], tensors, "optimizer", 0)
        saved_class = saved["class"]
        groups, state = state_dict["param_groups"], state_dict["state"]
        sizes = [len(group["params"]) for group in groups]
        ids = [i for group in groups for i in group["params"]]
        if not isinstance(state, dict) or not set(state) <= set(ids):
            raise ValueError("state refers to parameters outside the groups")
    except (KeyError, TypeError, ValueError) as error:
        raise PersistenceError(f"{where} state is invalid: {error}") from error
    if saved_class != type(optimizer).__name__:
        raise PersistenceError(f"{where}: saved from {saved_class}, loading into "
                               f"{type(optimizer).__name__}")
    current = optimizer.state_dict()["param_groups"]
    if sizes != [len(group["params"]) for group in current]:
        raise PersistenceError(f"{where}: parameter groups of sizes {sizes} in the file, "
                               f"{[len(g['params']) for g in current]} in the optimizer")
    for i, (theirs, mine) in enumerate(zip(groups, current)):
        if set(theirs) != set(mine):
            raise PersistenceError(f"{where}: group {i} has settings {sorted(theirs)} in the "
                                   f"file, {sorted(mine)} in the optimizer")
    return state_dict


# --- random states ---------------------------------------------------------------------------
def _get_rng(tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    tensors["rng/torch"] = torch.get_rng_state()
    algorithm, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["rng/numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    version, internal, gauss_next = random.getstate()
    cuda = []
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = state
            cuda.append(f"rng/cuda/{i}")
    return {"torch": "rng/torch", "cuda": cuda,
            "numpy": {"algorithm": algorithm, "keys": "rng/numpy", "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
            "python": {"version": version, "internal": list(internal),
                       "gauss_next": gauss_next}}


def _check_rng(rng: dict[str, Any], tensors: dict[str, torch.Tensor], path: PathLike) -> Any:
    """A function that sets the saved random states, after trying each on a spare generator."""
    try:
        torch_state = tensors[rng["torch"]]
        if torch_state.dtype != torch.uint8:
            raise TypeError(f"torch's state is {torch_state.dtype}, not uint8")
        torch.Generator().set_state(torch_state)
        np_saved = rng["numpy"]
        np_keys = tensors[np_saved["keys"]]
        if np_keys.dtype != torch.int64 or np_keys.shape != (624,) or not bool(
                ((np_keys >= 0) & (np_keys < 2**32)).all()):
            raise ValueError(f"numpy's keys are {np_keys.dtype} {tuple(np_keys.shape)}, not "
                             f"624 int64 values in [0, 2**32)")
        np_state = (np_saved["algorithm"], np_keys.numpy().astype(np.uint32),
                    np_saved["pos"], np_saved["has_gauss"], np_saved["cached_gaussian"])
        np.random.RandomState().set_state(np_state)
        py_saved = rng["python"]
        py_state = (py_saved["version"], tuple(py_saved["internal"]), py_saved["gauss_next"])
        random.Random().setstate(py_state)
        cuda = [tensors[name] for name in rng["cuda"]]
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError,
            OverflowError) as error:
        raise PersistenceError(f"{os.fspath(path)}: invalid random state: {error}") from error

    def set_rng() -> None:
        torch.set_rng_state(torch_state)
        np.random.set_state(np_state)
        random.setstate(py_state)
        if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)

    return set_rng
