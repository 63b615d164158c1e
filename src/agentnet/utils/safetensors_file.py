"""The file format under :mod:`agentnet.utils.persistence`: safetensors with an agentnet header,
written atomically and read with every check made before anything is trusted.

A file is raw tensors behind a JSON header (no ``pickle``, no ``torch.load``: a hostile file can
at worst be refused). agentnet adds one metadata entry, a JSON header with the format's name
and version, the agentnet version, the kind of file (``"module"`` or ``"checkpoint"``) and every
tensor's shape and dtype.
"""
from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

import safetensors.torch
import torch

try:
    import fcntl
except ImportError:  # Windows: stray temporaries are then recognized by their age
    fcntl = None  # type: ignore[assignment]

__all__ = ["PersistenceError", "FORMAT", "FORMAT_VERSION", "new_header", "write", "read",
           "dtype_name", "Specs"]

FORMAT = "agentnet"
#: the newest layout this module writes and reads; files from a newer one are refused
FORMAT_VERSION = 1
_METADATA_KEY = "agentnet"
_MAX_HEADER_BYTES = 100_000_000  # the safetensors library's own limit
_PICKLE_PROTOCOLS = range(2, 6)  # pickles of protocol 2+ start with b"\x80" + protocol
#: the safetensors dtype codes that ``safetensors.torch`` reads, and the torch dtypes they are
_DTYPES = {code: getattr(torch, name) for code, name in [
    ("F64", "float64"), ("F32", "float32"), ("F16", "float16"), ("BF16", "bfloat16"),
    ("I64", "int64"), ("I32", "int32"), ("I16", "int16"), ("I8", "int8"), ("U8", "uint8"),
    ("U16", "uint16"), ("U32", "uint32"), ("U64", "uint64"), ("BOOL", "bool"),
    ("C64", "complex64"), ("F8_E4M3", "float8_e4m3fn"), ("F8_E4M3FNUZ", "float8_e4m3fnuz"),
    ("F8_E5M2", "float8_e5m2"), ("F8_E5M2FNUZ", "float8_e5m2fnuz")] if hasattr(torch, name)}
#: without ``fcntl`` (no locks), a temporary nobody wrote to for this long is a dead save's
_STALE_SECONDS = 3600

PathLike = str | os.PathLike
#: each tensor's ``(dtype, shape)``, by name, as a file's header declares them
Specs = dict[str, tuple[torch.dtype, tuple[int, ...]]]


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


# --- writing ---------------------------------------------------------------------------------
def write(path: PathLike, tensors: dict[str, torch.Tensor], header: dict[str, Any]) -> None:
    """Write ``tensors`` (any device; shared storage is copied) with ``header``, atomically."""
    tensors = _unshare(tensors)
    header["tensors"] = {name: {"dtype": dtype_name(t.dtype), "shape": list(t.shape)}
                         for name, t in tensors.items()}
    metadata = {_METADATA_KEY: json.dumps(header, allow_nan=False, separators=(",", ":"))}
    data = safetensors.torch.save(tensors, metadata=metadata)  # all in memory, file untouched
    write_atomic(path, data)


def write_atomic(path: PathLike, data: bytes) -> None:
    """Write ``data`` to a new file beside ``path``, sync it, rename it over ``path``.

    The temporary file, ``.<name>.<random>.tmp``, is locked while it is written (where
    ``fcntl`` exists); those of saves to the same destination that were killed are removed.
    """
    where = os.fspath(path)
    target = _destination(where)
    if os.path.isdir(target):
        raise PersistenceError(f"{where}: is a directory")
    directory, name = os.path.split(target)
    fd, temporary = _new_temporary(directory, name)
    try:
        _remove_dead_temporaries(directory, name, temporary)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
            if fcntl is not None:  # renamed while locked: no other save takes it for dead
                os.replace(temporary, target)
        if fcntl is None:  # Windows cannot rename an open file
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


def _destination(where: str) -> str:
    """``where`` through its symlinks, as ``open()`` would write it."""
    try:
        return os.path.realpath(where, strict=True)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _loop_error(where) from error
        return os.path.realpath(where)  # a new file, or a symlink to one


def _loop_error(where: str) -> PersistenceError:
    return PersistenceError(f"{where}: a loop of symbolic links (or a chain too long to "
                            f"follow)")


def _temporary_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(name)}\.[0-9a-f]{{12}}\.tmp")


def _new_temporary(directory: str, name: str) -> tuple[int, str]:
    """A new file ``.<name>.<random>.tmp`` in ``directory``, open for writing and, where
    ``fcntl`` exists, locked (no other save removes it while it is open)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temporary = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(temporary, flags, 0o666)  # the umask applies, as for open()
        except FileExistsError:
            continue
        if fcntl is None:
            return fd, temporary
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # waits while another save looks at it
            if os.path.samestat(os.fstat(fd), os.stat(temporary)):
                return fd, temporary
        except FileNotFoundError:  # removed as dead between creation and lock: another name
            pass
        except OSError:  # a file system without locks, where no save removes it either
            return fd, temporary
        os.close(fd)


def _remove_dead_temporaries(directory: str, name: str, mine: str) -> None:
    """Remove the temporaries of killed saves to ``directory/name``: its other
    ``.<name>.<random>.tmp`` files that no live save holds locked (without ``fcntl``: that
    nobody wrote to for an hour). Best effort: a file that cannot be handled stays."""
    pattern = _temporary_pattern(name)
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        path = os.path.join(directory, entry)
        if path != mine and pattern.fullmatch(entry):
            with contextlib.suppress(OSError):
                _remove_if_dead(path)


def _remove_if_dead(path: str) -> None:
    if fcntl is None:
        info = os.lstat(path)
        if stat.S_ISREG(info.st_mode) and time.time() - info.st_mtime > _STALE_SECONDS:
            os.unlink(path)
        return
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if a live save holds it
            if os.path.samestat(info, os.lstat(path)):
                os.unlink(path)
    finally:
        os.close(fd)


# --- reading ---------------------------------------------------------------------------------
def read(path: PathLike, check: Callable[[Specs, dict[str, Any] | None], None] | None = None
         ) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """The tensors of a valid safetensors file and its agentnet header (None if it has none).

    The 8-byte length and the JSON header are read first, and the sizes they declare (each
    tensor's byte range the size of its dtype and shape, the ranges tiling the data with no
    gap or overlap) must add up to the file's size exactly. Then ``check(specs, header)``
    (``specs``: each tensor's ``(dtype, shape)``), if given, may refuse the file by raising;
    only then is the data read.
    """
    where = os.fspath(path)
    with _open(where) as file:
        size = os.fstat(file.fileno()).st_size
        start = file.read(8)
        length = int.from_bytes(start, "little")
        raw_header = b""
        if len(start) == 8 and 2 <= length <= min(size - 8, _MAX_HEADER_BYTES):
            raw_header = file.read(length)
        if len(raw_header) != length or raw_header[:1] != b"{":
            raise _not_safetensors(start, size, where)
        raw = _parse_json(raw_header, where, "safetensors header")
        specs, data_size = _tensor_specs(raw, where)
        if 8 + length + data_size != size:
            raise PersistenceError(f"{where}: corrupt or truncated: the header declares "
                                   f"{data_size} bytes of tensors, the file holds "
                                   f"{size - 8 - length} after the header")
        header = _agentnet_header(raw, specs, where)
        if header is not None:  # agentnet lists them in state_dict order
            specs = {name: specs[name] for name in header["tensors"]}
        if check is not None:
            check(specs, header)
        file.seek(0)
        data = file.read(size)
    if len(data) != size or data[8:8 + length] != raw_header:
        raise PersistenceError(f"{where}: changed while it was read")
    try:
        tensors = safetensors.torch.load(data)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # noqa: BLE001 - a Rust panic is a BaseException
        raise PersistenceError(f"{where}: not a valid safetensors file: {error}") from error
    if {name: (t.dtype, tuple(t.shape)) for name, t in tensors.items()} != specs:
        raise PersistenceError(f"{where}: corrupt: the tensors differ from their header")
    return {name: tensors[name] for name in specs}, header


@contextlib.contextmanager
def _open(where: str) -> Iterator[IO[bytes]]:
    """The regular file at ``where``, open for reading; anything else is refused."""
    try:
        fd = os.open(where, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise FileNotFoundError(2, "no such file", where) from None
    except IsADirectoryError:
        raise PersistenceError(f"{where}: is a directory, not a file") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _loop_error(where) from None
        raise
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
        yield file


def _not_safetensors(start: bytes, size: int, where: str) -> PersistenceError:
    """Why a file whose first 8 bytes are no header length is refused, naming what it is."""
    if size == 0:
        return PersistenceError(f"{where}: the file is empty")
    if start[:1] == b"\x80" and len(start) > 1 and start[1] in _PICKLE_PROTOCOLS:
        return PersistenceError(f"{where}: a pickle (e.g. torch.save output); agentnet never "
                                f"loads pickles, which can run code: re-save it as safetensors")
    if start[:4] == b"PK\x03\x04":
        return PersistenceError(f"{where}: a zip archive (torch.save output?), not "
                                f"safetensors; agentnet never loads pickles, which can run code")
    if size < 8 or len(start) < 8:
        return PersistenceError(f"{where}: truncated ({size} bytes), not safetensors")
    length = int.from_bytes(start, "little")
    if length > min(size - 8, _MAX_HEADER_BYTES):
        return PersistenceError(f"{where}: not safetensors or truncated: the header claims "
                                f"{length} bytes, the file holds {size - 8} after it")
    return PersistenceError(f"{where}: not safetensors: no JSON object after the header "
                            f"length")


def _tensor_specs(raw: dict[str, Any], where: str) -> tuple[Specs, int]:
    """Each tensor's ``(dtype, shape)`` and the size of the data, once every tensor's byte
    range holds exactly its dtype and shape and the ranges tile the data from byte 0."""
    specs: Specs = {}
    ranges = []
    for name, entry in raw.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape = _DTYPES[entry["dtype"]], entry["shape"]
            begin, end = entry["data_offsets"]
            if not isinstance(shape, list) or not all(map(_is_count, [*shape, begin, end])):
                raise ValueError("shape and data_offsets must hold integers >= 0")
        except (KeyError, TypeError, ValueError) as error:
            raise PersistenceError(f"{where}: not safetensors: invalid entry for tensor "
                                   f"{name!r}: {error!r:.200}") from None
        needed = math.prod(shape) * dtype.itemsize
        if end - begin != needed:
            raise PersistenceError(f"{where}: corrupt: tensor {name!r} ({dtype_name(dtype)} "
                                   f"{shape}) takes {needed} bytes, its data_offsets "
                                   f"[{begin}, {end}] hold {end - begin}")
        specs[name] = (dtype, tuple(shape))
        ranges.append((begin, end, name))
    position = 0
    for begin, end, name in sorted(ranges):
        if begin != position:
            raise PersistenceError(f"{where}: corrupt: tensor {name!r} starts at byte {begin} "
                                   f"of the data, not {position} (overlapping or gap)")
        position = end
    return specs, position


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _agentnet_header(raw: dict[str, Any], specs: Specs, where: str) -> dict[str, Any] | None:
    metadata = raw.get("__metadata__") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise PersistenceError(f"{where}: not safetensors: __metadata__ must map strings to "
                               f"strings")
    if _METADATA_KEY not in metadata:
        return None
    header = _parse_json(metadata[_METADATA_KEY], where, "agentnet header")
    _check_header(header, specs, where)
    return header


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


def _check_header(header: dict[str, Any], specs: Specs, where: str) -> None:
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
    actual = {name: {"dtype": dtype_name(dtype), "shape": list(shape)}
              for name, (dtype, shape) in specs.items()}
    if listed != actual:
        raise PersistenceError(f"{where}: corrupt: the agentnet header's tensor list does not "
                               f"match the file's tensors")


def dtype_name(dtype: torch.dtype) -> str:
    """``"float32"`` for ``torch.float32``."""
    return str(dtype).removeprefix("torch.")
