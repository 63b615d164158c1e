"""The file format under :mod:`agentnet.utils.persistence`: safetensors with an agentnet header,
written atomically and read with every check made before anything is trusted.

A file is raw tensors behind a JSON header (no ``pickle``, no ``torch.load``: a hostile file can
at worst be refused). agentnet adds one metadata entry, a JSON header with the format's name
and version, the agentnet version, the kind of file (``"module"`` or ``"checkpoint"``) and every
tensor's shape and dtype.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from typing import Any

import safetensors.torch
import torch

__all__ = ["PersistenceError", "FORMAT", "FORMAT_VERSION", "new_header", "write", "read",
           "dtype_name"]

FORMAT = "agentnet"
#: the newest layout this module writes and reads; files from a newer one are refused
FORMAT_VERSION = 1
_METADATA_KEY = "agentnet"
_MAX_HEADER_BYTES = 100_000_000  # the safetensors library's own limit
_PICKLE_PROTOCOLS = range(2, 6)  # pickles of protocol 2+ start with b"\x80" + protocol

PathLike = str | os.PathLike


class PersistenceError(ValueError):
    """A file that cannot be loaded (not safetensors, corrupt, from another architecture or
    optimizer) or a state that cannot be saved. The message names the file."""


def new_header(kind: str) -> dict[str, Any]:
    """The agentnet header of a new file of ``kind``; ``write`` adds the tensor list."""
    from .. import __version__

    return {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind,
            "agentnet_version": __version__}


def _unshare(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Contiguous CPU tensors, each owning its storage (safetensors refuses shared memory:
    tied weights, or a target network that shares layers with its agent)."""
    out, seen = {}, set()
    for name, tensor in tensors.items():
        tensor = tensor.detach().to("cpu").contiguous()
        storage = tensor.untyped_storage()
        if storage.data_ptr() in seen or storage.nbytes() != tensor.nbytes:
            tensor = tensor.clone()
        seen.add(tensor.untyped_storage().data_ptr())
        out[name] = tensor
    return out


def write(path: PathLike, tensors: dict[str, torch.Tensor], header: dict[str, Any]) -> None:
    """Write ``tensors`` (any device; shared storage is copied) with ``header``, atomically."""
    tensors = _unshare(tensors)
    header["tensors"] = {name: {"dtype": dtype_name(t.dtype), "shape": list(t.shape)}
                         for name, t in tensors.items()}
    metadata = {_METADATA_KEY: json.dumps(header, allow_nan=False, separators=(",", ":"))}
    data = safetensors.torch.save(tensors, metadata=metadata)  # all in memory, file untouched
    _write_atomic(path, data)


def _write_atomic(path: PathLike, data: bytes) -> None:
    """Write ``data`` to a new file beside ``path``, sync it, rename it over ``path``."""
    target = os.path.realpath(os.fspath(path))  # through symlinks, as open() would write
    if os.path.isdir(target):
        raise PersistenceError(f"{os.fspath(path)}: is a directory")
    directory, name = os.path.split(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temporary = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(temporary, flags, 0o666)  # the umask applies, as for open()
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
        with contextlib.suppress(OSError):
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


def read(path: PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """The tensors of a valid safetensors file and its agentnet header (None if it has none)."""
    where = os.fspath(path)
    try:
        fd = os.open(where, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise FileNotFoundError(2, "no such file", where) from None
    except IsADirectoryError:
        raise PersistenceError(f"{where}: is a directory, not a file") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise PersistenceError(f"{where}: is a directory, not a file")
        if not stat.S_ISREG(mode):  # a FIFO or /dev/zero would block or never end
            raise PersistenceError(f"{where}: not a regular file")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as file:
        data = file.read()
    _check_layout(data, where)
    try:
        tensors = safetensors.torch.load(data)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # noqa: BLE001 - a Rust panic is a BaseException
        raise PersistenceError(f"{where}: not a valid safetensors file: {error}") from error
    length = int.from_bytes(data[:8], "little")
    raw = _parse_json(data[8:8 + length], where, "safetensors header")
    metadata = raw.get("__metadata__") or {}
    if _METADATA_KEY not in metadata:
        return tensors, None
    header = _parse_json(metadata[_METADATA_KEY], where, "agentnet header")
    _check_header(header, tensors, where)
    return {name: tensors[name] for name in header["tensors"]}, header  # in state_dict order


def _check_layout(data: bytes, where: str) -> None:
    """Refuse what is plainly not safetensors before the library sees it, saying what it is."""
    if not data:
        raise PersistenceError(f"{where}: the file is empty")
    if data[:1] == b"\x80" and len(data) > 1 and data[1] in _PICKLE_PROTOCOLS:
        raise PersistenceError(f"{where}: a pickle (e.g. torch.save output); agentnet never "
                               f"loads pickles, which can run code: re-save it as safetensors")
    if data[:4] == b"PK\x03\x04":
        raise PersistenceError(f"{where}: a zip archive (torch.save output?), not safetensors; "
                               f"agentnet never loads pickles, which can run code")
    if len(data) < 8:
        raise PersistenceError(f"{where}: truncated ({len(data)} bytes), not safetensors")
    length = int.from_bytes(data[:8], "little")
    if length > min(len(data) - 8, _MAX_HEADER_BYTES):
        raise PersistenceError(f"{where}: not safetensors or truncated: the header claims "
                               f"{length} bytes, the file holds {len(data) - 8} after it")
    if length < 2 or data[8:9] != b"{":
        raise PersistenceError(f"{where}: not safetensors: no JSON object after the header length")


def _parse_json(text: bytes | str, where: str, what: str) -> dict[str, Any]:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"duplicate keys {sorted({k for k in keys if keys.count(k) > 1})}")
        return dict(pairs)

    try:
        value = json.loads(text, object_pairs_hook=no_duplicates,
                           parse_constant=_refuse_constant)
    except (ValueError, RecursionError, UnicodeDecodeError) as error:
        raise PersistenceError(f"{where}: invalid {what}: {error}") from error
    if not isinstance(value, dict):
        raise PersistenceError(f"{where}: invalid {what}: a JSON {type(value).__name__}, "
                               f"not an object")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _check_header(header: dict[str, Any], tensors: dict[str, torch.Tensor], where: str) -> None:
    if header.get("format") != FORMAT:
        raise PersistenceError(f"{where}: unknown format {header.get('format')!r}")
    version = header.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise PersistenceError(f"{where}: invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise PersistenceError(f"{where}: format version {version} is newer than this agentnet "
                               f"reads ({FORMAT_VERSION}); written by agentnet "
                               f"{header.get('agentnet_version')!r}")
    if header.get("kind") not in ("module", "checkpoint"):
        raise PersistenceError(f"{where}: unknown kind {header.get('kind')!r}")
    listed = header.get("tensors")
    actual = {name: {"dtype": dtype_name(t.dtype), "shape": list(t.shape)}
              for name, t in tensors.items()}
    if listed != actual:
        raise PersistenceError(f"{where}: corrupt: the agentnet header's tensor list does not "
                               f"match the file's tensors")


def dtype_name(dtype: torch.dtype) -> str:
    """``"float32"`` for ``torch.float32``."""
    return str(dtype).removeprefix("torch.")
