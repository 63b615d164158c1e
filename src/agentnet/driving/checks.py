"""What Gymnasium environments return, checked: observations against the observation space
(as the agent's observation layers take it), rewards, episode ends and infos.

:class:`OutputCheck` tells the common case (an array of the right shape and dtype, a float,
two bools, a dict) cheaply and describes anything else (an :class:`EnvOutputError`'s message);
``"async"`` workers check in their own process through :class:`_CheckedEnv`.
:func:`check_spaces` checks an environment's spaces against an agent once, when a pool or an
evaluation starts.
"""
from __future__ import annotations

import multiprocessing
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium.vector import VectorEnv

from ..layers.base import Layer, fits_shape, format_shape

__all__ = ["EnvOutputError", "OutputCheck", "check_spaces", "describe", "normalize_failure",
           "checked_env"]


class EnvOutputError(ValueError):
    """An environment's ``reset`` or ``step`` returned something that does not fit (see
    :class:`~agentnet.driving.EnvPool`); the message says what was received and what was
    expected. The pool counts it as that environment's failure."""


def check_spaces(env: Any, observation_layers: Sequence[Layer]) -> tuple[OutputCheck, Any]:
    """Check ``env``'s observation space (a ``gymnasium.Env``'s or a vector environment's
    single one) against the agent's observation layers (a Dict space's parts by layer name,
    a Tuple's in layer order); returns the check of what the environment returns, whose
    ``layout`` is the shape and dtype of each layer's part of an observation, and the
    action space."""
    vector = isinstance(env, VectorEnv)
    space = env.single_observation_space if vector else env.observation_space
    action_space = env.single_action_space if vector else env.action_space
    names = [layer.name for layer in observation_layers]
    if isinstance(space, gymnasium.spaces.Dict):
        missing = [name for name in names if name not in space.spaces]
        if missing:
            raise ValueError(f"EnvPool: the observation space is a Dict with keys "
                             f"{list(space.spaces)}; observation layers {missing} match none")
    parts = _space_parts(space, names)
    if len(parts) != len(observation_layers):
        raise ValueError(f"EnvPool: the environment gives {len(parts)} observations, the "
                         f"agent has {len(observation_layers)} observation layers")
    for part, layer in zip(parts, observation_layers):
        shape = tuple(part.shape or ())
        if not fits_shape(shape, layer.output_shape[1:]):
            raise ValueError(f"EnvPool: observations have shape "
                             f"{format_shape((None, *shape))}, {layer.describe()} expects "
                             f"{format_shape(layer.output_shape)}")
        if part.dtype is None:
            raise ValueError(f"EnvPool: the observation space {part} has no array dtype; "
                             f"{layer.describe()} needs arrays")
    return OutputCheck(space, names), action_space


# --- checking what environments return -----------------------------------------------------
#: the dtype kinds an observation may have, per kind of its space's dtype (other kinds: equal)
_FITTING_KINDS = {"f": "biuf", "i": "biu", "u": "biu", "b": "b", "c": "biufc"}
_KIND_NAMES = {"b": "bool", "i": "integer", "u": "integer", "f": "float", "c": "complex"}


def _space_parts(space: gymnasium.Space, names: Sequence[Any]) -> list[Any]:
    """The parts of an observation space, one per observation layer (``names``: a Dict's)."""
    if isinstance(space, gymnasium.spaces.Dict):
        return [space[name] for name in names]
    if isinstance(space, gymnasium.spaces.Tuple):
        return list(space.spaces)
    return [space]


class OutputCheck:
    """Checks what an environment's ``reset`` and ``step`` return against its observation
    space, as the observation layers (``names``: which parts of a Dict space) take it. Each
    check returns None where everything fits, else what does not (an :class:`EnvOutputError`'s
    message). ``"async"`` workers make their own (see :class:`_CheckedEnv`)."""

    def __init__(self, space: gymnasium.Space, names: Sequence[str | None]):
        self.structure = ("dict" if isinstance(space, gymnasium.spaces.Dict) else
                          "tuple" if isinstance(space, gymnasium.spaces.Tuple) else "single")
        self.names = list(names)
        self.layout = [(tuple(part.shape or ()), np.dtype(part.dtype))
                       for part in _space_parts(space, names)]
        #: per part: numpy's dtypes of a kind that fits (a quick test; the kinds decide)
        self.dtypes = [frozenset(np.dtype(code) for code in np.typecodes["All"]
                                 if np.dtype(code).kind in _FITTING_KINDS.get(dtype.kind, ""))
                       for _, dtype in self.layout]

    def _split(self, observation: Any) -> list[Any] | str:
        """The observation's parts, or what was expected if it is not made of them."""
        if self.structure == "dict":
            if not isinstance(observation, dict):
                return f"a dict with keys {self.names}"
            missing = [name for name in self.names if name not in observation]
            if missing:
                return f"a dict with keys {self.names} (missing {missing})"
            return [observation[name] for name in self.names]
        if self.structure == "tuple":
            if not (isinstance(observation, tuple) and len(observation) == len(self.layout)):
                return f"a tuple of {len(self.layout)}"
            return list(observation)
        return [observation]

    def parts(self, observation: Any) -> list[Any]:
        """An observation (or a batch of them) as a list, one entry per observation layer
        (unchecked)."""
        if self.structure == "dict":
            return [observation[name] for name in self.names]
        if self.structure == "tuple":
            return list(observation)
        return [observation]

    def fits(self, observation: Any) -> bool:
        """Whether every part of ``observation`` is an array of exactly its part's shape and
        of a fitting dtype (the common case, told cheaply; False does not mean malformed)."""
        parts = self._split(observation)
        return not isinstance(parts, str) and all(
            type(part) is np.ndarray and part.shape == shape and part.dtype in dtypes
            for part, (shape, _), dtypes in zip(parts, self.layout, self.dtypes))

    def observation(self, observation: Any, phase: str) -> str | None:
        parts = self._split(observation)
        if isinstance(parts, str):
            return (f"{phase} returned a malformed observation: got {describe(observation)}, "
                    f"expected {parts}")
        for k, (part, (shape, dtype)) in enumerate(zip(parts, self.layout)):
            if _array_fits(part, shape, dtype):
                continue
            where = {"dict": f" {self.names[k]!r}", "tuple": f" part {k}"}.get(self.structure, "")
            kinds = _FITTING_KINDS.get(dtype.kind)
            other = ("" if kinds is None else " (or another dtype of kind "
                     + " or ".join(dict.fromkeys(_KIND_NAMES[kind] for kind in kinds)) + ")")
            return (f"{phase} returned a malformed observation{where}: got {describe(part)}, "
                    f"expected an array of shape {shape} and dtype {dtype}{other}")
        return None

    def step(self, result: Any) -> str | None:
        """What is wrong with ``(observation, reward, terminated, truncated, info)``."""
        if not (isinstance(result, tuple) and len(result) == 5):
            return (f"step returned {describe(result)}, expected a tuple (observation, reward, "
                    f"terminated, truncated, info)")
        observation, reward, terminated, truncated, info = result
        problem = self.observation(observation, "step")
        if problem is not None:
            return problem
        if not _is_real(reward):
            return (f"step returned a malformed reward: got {describe(reward)}, expected a "
                    f"real scalar (a Python or numpy int, float or bool, or a 0-d array of one)")
        for name, value in (("terminated", terminated), ("truncated", truncated)):
            if not _is_bool(value):
                return (f"step returned a malformed {name}: got {describe(value)}, expected "
                        f"a bool (Python, numpy, or a 0-d bool array)")
        return _info_problem(info, "step")

    def reset(self, result: Any) -> str | None:
        """What is wrong with ``(observation, info)``."""
        if type(result) is tuple and len(result) == 2 and type(result[1]) is dict and (
                self.fits(result[0])):
            return None
        if not (isinstance(result, tuple) and len(result) == 2):
            return f"reset returned {describe(result)}, expected a tuple (observation, info)"
        return self.observation(result[0], "reset") or _info_problem(result[1], "reset")


def _array_fits(value: Any, shape: tuple[int, ...], dtype: np.dtype) -> bool:
    """Whether ``value`` is (or converts to) an array of ``shape`` exactly and of a dtype of a
    kind fitting ``dtype``'s."""
    try:
        array = value if type(value) is np.ndarray else np.asarray(value)
    except Exception:  # noqa: BLE001 - not even an array
        return False
    if array.shape != shape:
        return False
    kinds = _FITTING_KINDS.get(dtype.kind)
    return array.dtype.kind in kinds if kinds is not None else array.dtype == dtype


def _is_real(value: Any) -> bool:
    return isinstance(value, (numbers.Real, np.bool_)) or (
        isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "biuf")


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_)) or (
        isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind == "b")


def _info_problem(info: Any, phase: str) -> str | None:
    if isinstance(info, dict):
        return None
    return f"{phase} returned a malformed info: got {describe(info)}, expected a dict"


def describe(value: Any) -> str:
    """What a value is, for a message: its type and shape, and a short repr."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, np.generic):
        return f"a numpy {value.dtype} scalar {value} (shape ())"
    if isinstance(value, numbers.Number):
        return f"a Python {type(value).__name__} {text} (shape ())"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}, {text}"
    if isinstance(value, dict):
        return f"a dict with keys {list(value)}"
    return "None" if value is None else f"an object of type {type(value).__name__}, {text}"


def normalize_failure(error: BaseException, step_timeout: float | None
                      ) -> tuple[BaseException, bool]:
    """An environment's failure as the pool records it, and whether it is a hang or a dead
    worker process rather than an exception of the environment's."""
    if isinstance(error, multiprocessing.TimeoutError):
        return TimeoutError(f"no answer within step_timeout={step_timeout} s ({error})"), True
    if isinstance(error, (EOFError, BrokenPipeError, ConnectionResetError)):
        return RuntimeError(f"the worker process died ({type(error).__name__})"), True
    if len(error.args) == 1 and type(error.args[0]) is type(error):
        return error.args[0], False  # AsyncVectorEnv raises a worker's error wrapped in its type
    return error, False


def checked_env(make_env: Callable[[], Any], names: Sequence[str | None]) -> Any:
    """``make_env()`` (in an ``"async"`` worker process) with its returns checked."""
    env = make_env()
    return _CheckedEnv(env, names) if isinstance(env, gymnasium.Env) else env


class _CheckedEnv(gymnasium.Wrapper):
    """An environment whose ``reset`` and ``step`` raise :class:`EnvOutputError` where their
    returns do not fit (see :class:`OutputCheck`)."""

    def __init__(self, env: gymnasium.Env, names: Sequence[str | None]):
        super().__init__(env)
        self._names = list(names)
        self._check: OutputCheck | None = None  # made at the first use: the pool has checked
        # the observation space against the observation layers by then

    def _raise_if_malformed(self, result: Any, phase: str) -> None:
        if self._check is None:
            self._check = OutputCheck(self.env.observation_space, self._names)
        problem = self._check.step(result) if phase == "step" else self._check.reset(result)
        if problem is not None:
            raise EnvOutputError(problem)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        result = self.env.reset(seed=seed, options=options)
        self._raise_if_malformed(result, "reset")
        return result

    def step(self, action: Any) -> Any:
        result = self.env.step(action)
        self._raise_if_malformed(result, "step")
        return result

