"""Saving and loading agents, layers and training checkpoints in a format that cannot run code.

Files are `safetensors <https://github.com/huggingface/safetensors>`_: raw tensors behind a
JSON header, read without ``pickle`` or ``torch.load``, so a hostile file can at worst be
refused. The tensors are named by ``state_dict`` keys (``layers.q.weight``), so a file from
:func:`save` is also readable by any safetensors reader; agentnet adds one metadata entry, a
JSON header with the format's name and version, the agentnet version, every tensor's shape
and dtype, and the layers' names and classes.

Writes are atomic: the file is written beside its destination under a temporary name, synced
to disk and renamed over it, so a crash mid-save leaves the previous file intact (and, at
worst, a stray ``.<name>.<random>.tmp``, which the next save to the same file removes). Loads
check everything (the file's header against its size, every name, shape and dtype against the
model before the tensors are read, then the optimizer state and random states) before changing
anything, and raise one :class:`PersistenceError` that names the file and lists every
difference.
"""
from __future__ import annotations

import copy
import math
import os
import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

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
    Specs,
    dtype_name,
    new_header,
    read,
    write,
)

__all__ = ["PersistenceError", "save", "load", "save_checkpoint", "load_checkpoint",
           "read_checkpoint", "FORMAT", "FORMAT_VERSION"]

_MAX_DEPTH = 64  # nesting of the JSON structures (optimizer state, extra)
_T = TypeVar("_T")


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
    float64 or float16 model; an integer tensor never loads into a float one). Names, shapes
    and dtypes are checked from the file's header, before its tensors are read; nothing
    changes unless everything fits.

    Raises:
        FileNotFoundError: no file at ``path``.
        PersistenceError: not a safetensors file (a pickle, ``torch.save`` output, a
            truncated or corrupt file...), or a file from another architecture: the message
            lists the missing, unexpected and mis-shaped tensors.
    """
    module = _as_module(agent_or_layers)

    def check(specs: Specs, header: dict[str, Any] | None) -> None:
        saved_from = None
        if header is not None and header["kind"] == "checkpoint":
            specs = _part(specs, "agent/")
            parts = header.get("parts")
            saved_from = parts.get("agent") if isinstance(parts, dict) else None
        elif header is not None:
            saved_from = header.get("module")
        _match(module, specs, path, "the model", saved_from)

    tensors, header = read(path, check)
    if header is not None and header["kind"] == "checkpoint":
        tensors = _part(tensors, "agent/")
    module.load_state_dict(_values(module, tensors))


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
                    optimizer: torch.optim.Optimizer | None = None, restore_rng: bool = True,
                    validate: Callable[[dict[str, Any]], Any] | None = None) -> dict[str, Any]:
    """Restore a :func:`save_checkpoint` file into freshly built (or existing) objects.

    Args:
        path: the checkpoint.
        agent, target_network, optimizer: built as for the saved run (the optimizer over the
            same parameters, in the same order, with settings of the same types). The ones
            given are restored; a part given but absent from the file raises; a part in the
            file but not given is skipped.
        restore_rng: also set torch's, numpy's and Python's global random states.
        validate: None, or a function called with ``{"step": int, "extra": ...}`` once the
            file and every part are checked, before anything changes: if it raises (any
            ``Exception``), nothing is restored and a :class:`PersistenceError` naming the
            file and giving its message is raised, the original as ``__cause__``.

    Returns:
        ``{"step": int, "extra": ...}`` as saved.

    Everything is checked before anything changes, and a mismatch raises one
    :class:`PersistenceError`: the file; the agent's and target network's names and shapes
    (from the header, before the tensors are read); the optimizer's class, parameter groups,
    settings (each of the type the optimizer has: a number stays a finite number, a tuple a
    tuple as long, a bool a bool, None None) and per-parameter state (``step`` a finite
    number >= 0, every other tensor shaped as its parameter, floating if it is; NAdam's and
    ASGD's per-parameter scalars 0-d, Adafactor's row and column statistics the parameter's
    shape with dimensions of 1; LBFGS's state, flattened over all parameters, is not
    shape-checked); every field of every random state.
    """
    where = os.fspath(path)
    modules = {name: module for name, module in [("agent", agent),
                                                 ("target_network", target_network)]
               if module is not None}

    def check(specs: Specs, header: dict[str, Any] | None) -> None:
        parts = _checkpoint_parts(header, where)
        for name, module in modules.items():
            if name not in parts:
                raise PersistenceError(f"{where}: the checkpoint has no {name}")
            _match(module, _part(specs, name + "/"), path, f"the {name}", parts[name])
        if optimizer is not None and "optimizer" not in parts:
            raise PersistenceError(f"{where}: the checkpoint has no optimizer state")

    tensors, header = read(path, check)
    assert header is not None  # check() refuses files without one
    step, extra, parts, rng = _checkpoint_fields(header, tensors, where)
    updates: list[tuple[Any, Any]] = [(module, _values(module, _part(tensors, name + "/")))
                                      for name, module in modules.items()]
    if optimizer is not None:
        optimizer_state = _optimizer_state(optimizer, parts["optimizer"], tensors, path)
        _trial_step(optimizer, optimizer_state, path)
        updates.append((optimizer, optimizer_state))
    set_rng = _check_rng(rng, tensors, path) if restore_rng else None
    info = {"step": step, "extra": extra}
    if validate is not None:
        try:
            validate(info)
        except Exception as error:
            raise PersistenceError(f"{where}: refused by validate: "
                                   f"{error or type(error).__name__}") from error
    # everything fits: apply
    for target, values in updates:
        target.load_state_dict(values)
    if set_rng is not None:
        set_rng()
    return info


def read_checkpoint(path: PathLike) -> tuple[int, Any]:
    """Read a :func:`save_checkpoint` file's step and ``extra`` without restoring anything.

    Returns:
        ``(step, extra)`` as saved (``extra``'s tensors on the CPU).

    Raises:
        FileNotFoundError: no file at ``path``.
        PersistenceError: not a checkpoint, or a damaged one.
    """
    where = os.fspath(path)

    def check(specs: Specs, header: dict[str, Any] | None) -> None:
        _checkpoint_parts(header, where)

    tensors, header = read(path, check)
    assert header is not None  # the check refuses files without one
    step, extra, _, _ = _checkpoint_fields(header, tensors, where)
    return step, extra


def _checkpoint_parts(header: dict[str, Any] | None, where: str) -> dict[str, Any]:
    """The ``parts`` of a checkpoint's header; refuses a file that is not a checkpoint."""
    if header is None or header["kind"] != "checkpoint":
        raise PersistenceError(f"{where}: not a checkpoint (written by "
                               f"{'save' if header else 'another program'}); use load()")
    parts = header.get("parts")
    if not isinstance(parts, dict):
        raise PersistenceError(f"{where}: invalid checkpoint header: parts is {parts!r:.80}")
    return parts


def _checkpoint_fields(header: dict[str, Any], tensors: dict[str, torch.Tensor], where: str
                       ) -> tuple[int, Any, dict[str, Any], dict[str, Any]]:
    """``(step, extra, parts, rng)`` of a checkpoint's header, each checked for its type."""
    try:
        parts, rng = dict(header["parts"]), dict(header["rng"])
        step = header["step"]
        if isinstance(step, bool) or not isinstance(step, int):
            raise TypeError(f"step is {step!r}")
        extra = _decode(header["extra"], tensors, "extra", 0)
    except (KeyError, TypeError, ValueError) as error:
        raise PersistenceError(f"{where}: invalid checkpoint header: {error}") from error
    return step, extra, parts, rng


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
def _part(items: dict[str, _T], prefix: str) -> dict[str, _T]:
    return {name[len(prefix):]: t for name, t in items.items() if name.startswith(prefix)}


def _kind(dtype: torch.dtype) -> str:
    if dtype == torch.bool:
        return "bool"
    return "complex" if dtype.is_complex else "float" if dtype.is_floating_point else "integer"


def _match(module: nn.Module, specs: Specs, path: PathLike, what: str, saved_from: Any) -> None:
    """Raise, listing every missing, unexpected, mis-shaped and mis-typed name, unless the
    file's tensors (``specs``: each one's dtype and shape) fit the model's state."""
    own = module.state_dict()
    missing = [name for name in own if name not in specs]
    unexpected = [name for name in specs if name not in own]
    shapes, dtypes = [], []
    for name, mine in own.items():
        if name in specs:
            dtype, shape = specs[name]
            if shape != tuple(mine.shape):
                shapes.append(f"{name}: file {format_shape(shape)} vs model "
                              f"{format_shape(tuple(mine.shape))}")
            if _kind(dtype) != _kind(mine.dtype):
                dtypes.append(f"{name}: file {dtype_name(dtype)} vs model "
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


def _values(module: nn.Module, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The file's tensors (already :func:`_match` ed) on each model tensor's device and dtype."""
    return {name: tensors[name].to(device=mine.device, dtype=mine.dtype)
            for name, mine in module.state_dict().items()}


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
    """The saved ``state_dict``, once it fits ``optimizer`` (see :func:`load_checkpoint`)."""
    where = f"{os.fspath(path)}: optimizer"
    try:
        state_dict = _decode(saved["state_dict"], tensors, "optimizer", 0)
        saved_class = saved["class"]
        groups, state = state_dict["param_groups"], state_dict["state"]
        sizes = [len(group["params"]) for group in groups]
        ids = [i for group in groups for i in group["params"]]
        if not all(map(_is_int, ids)) or len(set(ids)) != len(ids):
            raise ValueError("the groups' parameter ids are not distinct integers")
        if not isinstance(state, dict) or not set(state) <= set(ids):
            raise ValueError("state refers to parameters outside the groups")
    except (KeyError, TypeError, ValueError) as error:
        raise PersistenceError(f"{where} state is invalid: {error}") from error
    if saved_class != type(optimizer).__name__:
        raise PersistenceError(f"{where}: saved from {saved_class}, loading into "
                               f"{type(optimizer).__name__}")
    current = optimizer.param_groups
    if sizes != [len(group["params"]) for group in current]:
        raise PersistenceError(f"{where}: parameter groups of sizes {sizes} in the file, "
                               f"{[len(g['params']) for g in current]} in the optimizer")
    for g, (theirs, mine) in enumerate(zip(groups, current)):
        if set(theirs) != set(mine):
            raise PersistenceError(f"{where}: group {g} has settings {sorted(theirs)} in the "
                                   f"file, {sorted(mine)} in the optimizer")
        for key in sorted(set(mine) - {"params"}):
            problem = _setting_problem(theirs[key], mine[key])
            if problem:
                raise PersistenceError(f"{where}: group {g}, setting {key!r}: {problem}")
    flat = isinstance(optimizer, torch.optim.LBFGS)  # one state for all parameters, flattened
    for g, (theirs, mine) in enumerate(zip(groups, current)):
        for j, (index, param) in enumerate(zip(theirs["params"], mine["params"])):
            entries = state.get(index, {})
            if not isinstance(entries, dict):
                raise PersistenceError(f"{where}: group {g}, parameter {j}: the state is a "
                                       f"{type(entries).__name__}, not a dict")
            for key, value in entries.items():
                problem = _state_problem(key, value, param, flat)
                if problem:
                    raise PersistenceError(f"{where}: group {g}, parameter {j}, state "
                                           f"{key!r}: {problem}")
    return state_dict


def _trial_step(optimizer: torch.optim.Optimizer, state_dict: dict[str, Any],
                path: PathLike) -> None:
    """Load ``state_dict`` into a copy of ``optimizer`` over copies of its parameters and take
    one step with zero gradients: refuse a state that makes the step raise (a number where a
    tensor belongs, ``amsgrad`` without its statistics, ``capturable`` on a CPU...) or turns
    finite parameters non-finite (NaN moments, a negative second moment). LBFGS (its step
    needs a closure) and optimizers that cannot be deep-copied are checked by
    :func:`_optimizer_state` alone."""
    if isinstance(optimizer, torch.optim.LBFGS):
        return
    try:
        trial = copy.deepcopy(optimizer)  # the parameters are copied with it
    except Exception:  # noqa: BLE001 - a custom optimizer that cannot be copied
        return
    params = [p for group in trial.param_groups for p in group["params"]]
    finite = [bool(torch.isfinite(p).all()) for p in params]
    try:
        with torch.no_grad():
            for p in params:
                p.grad = torch.zeros_like(p)
        trial.load_state_dict(copy.deepcopy(state_dict))  # the step writes into its tensors
        trial.step()
    except Exception as error:  # noqa: BLE001 - any failure of the step is the state's fault
        raise PersistenceError(f"{os.fspath(path)}: optimizer state fails a trial step: "
                               f"{type(error).__name__}: {error}") from error
    for i, (p, was_finite) in enumerate(zip(params, finite)):
        if was_finite and not bool(torch.isfinite(p).all()):
            raise PersistenceError(f"{os.fspath(path)}: optimizer state would make parameter "
                                   f"{i} non-finite at the next step")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    """Whether ``value`` is a finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


def _setting_problem(value: Any, current: Any) -> str | None:
    """Why the saved setting ``value`` cannot replace the optimizer's ``current``, or None."""
    if isinstance(current, (tuple, list)):
        if not isinstance(value, (tuple, list)) or len(value) != len(current):
            return f"the file has {value!r:.80}, the optimizer {len(current)} values"
        for k, (item, mine) in enumerate(zip(value, current)):
            problem = _setting_problem(item, mine)
            if problem:
                return f"item {k}: {problem}"
        return None
    if isinstance(current, torch.Tensor):
        if not isinstance(value, torch.Tensor) or value.shape != current.shape:
            return f"the file has {value!r:.80}, the optimizer a tensor of shape " \
                   f"{format_shape(tuple(current.shape))}"
        return None if bool(torch.isfinite(value).all()) else "not finite in the file"
    if _is_int(current) or isinstance(current, float):
        return None if _is_finite(value) else f"the file has {value!r:.80}, not a finite number"
    if type(value) is not type(current):
        return f"the file has {value!r:.80}, the optimizer {current!r:.80}"
    return None


#: per-parameter state that is not shaped as its parameter: NAdam's and ASGD's scalars
_SCALAR_STATE = {"mu_product", "eta", "mu"}
#: Adafactor's statistics: its parameter's shape with dimensions reduced to 1
_FACTORED_STATE = {"row_var", "col_var"}


def _state_problem(key: Any, value: Any, param: torch.Tensor, flat: bool) -> str | None:
    """Why ``value``, saved as state ``key`` of ``param``, cannot be loaded, or None."""
    if key == "step":
        if isinstance(value, torch.Tensor):
            if value.numel() != 1 or value.dim() > 1 or value.is_complex():
                return f"a tensor of shape {format_shape(tuple(value.shape))}, not one number"
            value = value.item()
        ok = _is_finite(value) and value >= 0
        return None if ok else f"{value!r:.80} is not a finite number >= 0"
    if not isinstance(value, torch.Tensor) or flat:
        return None
    shape, mine = tuple(value.shape), tuple(param.shape)
    fits = shape == mine or (key in _SCALAR_STATE and shape == ()) or (
        key in _FACTORED_STATE and len(shape) == len(mine)
        and all(n in (1, m) for n, m in zip(shape, mine)))
    if not fits:
        return f"shape {format_shape(shape)} in the file, the parameter's is " \
               f"{format_shape(mine)}"
    if param.is_floating_point() and not value.is_floating_point():
        return f"{dtype_name(value.dtype)} in the file for a {dtype_name(param.dtype)} parameter"
    return None


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
    """A function that sets the saved random states, once every field of each is checked
    (values out of range can crash numpy's generator, or make it draw garbage)."""
    try:
        torch_state = _rng_tensor(tensors[rng["torch"]], torch.get_rng_state(), "torch's")
        torch.Generator().set_state(torch_state)  # torch checks its fields too
        np_state = _numpy_state(rng["numpy"], tensors)
        np.random.RandomState().set_state(np_state)
        py_state = _python_state(rng["python"])
        random.Random().setstate(py_state)
        cuda = [tensors[name] for name in rng["cuda"]]
        set_cuda = bool(cuda) and torch.cuda.is_available() and \
            len(cuda) == torch.cuda.device_count()
        if set_cuda:
            for i, state in enumerate(cuda):
                _rng_tensor(state, torch.cuda.get_rng_state(i), f"CUDA device {i}'s")
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError,
            OverflowError) as error:
        raise PersistenceError(f"{os.fspath(path)}: invalid random state: {error}") from error

    def set_rng() -> None:
        torch.set_rng_state(torch_state)
        np.random.set_state(np_state)
        random.setstate(py_state)
        if set_cuda:
            torch.cuda.set_rng_state_all(cuda)

    return set_rng


def _rng_tensor(state: torch.Tensor, like: torch.Tensor, whose: str) -> torch.Tensor:
    if state.dtype != torch.uint8 or state.shape != like.shape:
        raise ValueError(f"{whose} state is {dtype_name(state.dtype)} "
                         f"{format_shape(tuple(state.shape))}, not uint8 "
                         f"{format_shape(tuple(like.shape))}")
    return state


def _numpy_state(saved: dict[str, Any], tensors: dict[str, torch.Tensor]) -> tuple[Any, ...]:
    """numpy's ``get_state()`` tuple from its saved fields, each checked."""
    keys = tensors[saved["keys"]]
    if keys.dtype != torch.int64 or keys.shape != (624,) or not bool(
            ((keys >= 0) & (keys < 2**32)).all()):
        raise ValueError(f"numpy's keys are {keys.dtype} {tuple(keys.shape)}, not 624 int64 "
                         f"values in [0, 2**32)")
    if _degenerate_mt19937(keys.tolist()):
        raise ValueError("numpy's keys are degenerate (all zeros: the generator would draw "
                         "0.0 forever and never return a normal variate)")
    algorithm, pos = saved["algorithm"], saved["pos"]
    has_gauss, cached = saved["has_gauss"], saved["cached_gaussian"]
    if algorithm != "MT19937":
        raise ValueError(f"numpy's algorithm is {algorithm!r:.80}, not 'MT19937'")
    if not _is_int(pos) or not 0 <= pos <= 624:
        raise ValueError(f"numpy's pos is {pos!r:.80}, not an int in 0..624")
    if not _is_int(has_gauss) or has_gauss not in (0, 1):
        raise ValueError(f"numpy's has_gauss is {has_gauss!r:.80}, not 0 or 1")
    if not _is_finite(cached):
        raise ValueError(f"numpy's cached_gaussian is {cached!r:.80}, not a finite number")
    return algorithm, keys.numpy().astype(np.uint32), pos, has_gauss, float(cached)


def _degenerate_mt19937(keys: list[int]) -> bool:
    """Whether 624 Mersenne Twister words are the one state it never leaves: only the top bit
    of the first word and the other 623 words take part in the recurrence."""
    return keys[0] & 0x80000000 == 0 and not any(keys[1:])


def _python_state(saved: dict[str, Any]) -> tuple[Any, ...]:
    """``random.getstate()``'s tuple from its saved fields, each checked."""
    version, internal, gauss_next = saved["version"], saved["internal"], saved["gauss_next"]
    if not _is_int(version) or version != 3:
        raise ValueError(f"Python's random state version is {version!r:.80}, not 3")
    if not isinstance(internal, list) or len(internal) != 625 or not all(
            _is_int(x) and 0 <= x < 2**32 for x in internal) or internal[-1] > 624:
        raise ValueError("Python's random state is not 625 ints in [0, 2**32), the last one "
                         "a position in 0..624")
    if _degenerate_mt19937(internal[:624]):
        raise ValueError("Python's random state is degenerate (all zeros: it would draw 0.0 "
                         "forever and never return a normal variate)")
    if gauss_next is not None and not _is_finite(gauss_next):
        raise ValueError(f"Python's gauss_next is {gauss_next!r:.80}, not None or a finite "
                         f"number")
    return version, tuple(internal), gauss_next
