"""Reliability of ``agentnet.utils.persistence``: hostile files, and saves killed with SIGKILL.

Two claims are re-measured.

1. **A hostile file runs no code and crashes nothing; a refused load changes nothing.** A
   seeded corpus of files (``--files``, default 600) is built from a valid checkpoint (a small
   agent, an Adam optimizer with state, ``extra`` with a tensor, tuples and int keys) and a
   valid ``save`` file: pickles and ``torch.save`` files whose unpickling would create a marker
   file (``builtins.exec``, ``eval``, ``os.system``, ``os.mkdir``), zip archives, truncations,
   header-length fields that lie, safetensors headers and agentnet headers with one thing wrong
   (types, keys, NaN, nesting, duplicate keys, shapes and offsets, dtypes), random states,
   optimizer states, ``step`` and ``extra`` with one field wrong, tensors of the wrong shape or
   dtype, an empty file, a directory, a FIFO, symlink loops; beyond these ~510 hand-made
   cases, random bit flips (by region of the file), byte edits and header-value replacements.
   Each file is loaded twice, by ``load_checkpoint(path, agent, optimizer=adam)`` and by
   ``load(agent, path)``, into a freshly built agent whose optimizer has state of its own, in
   subprocesses of ``--chunk`` files. A load taking over 10 s is a hang: a watchdog
   (``faulthandler``) prints where it is stuck and ends the process. When a process dies, the
   load it was running is re-run alone; if that one survives alone, every load of the chunk
   is re-run one per process, so that a crash is always attributed to a file.

   Defects (``*``, exit status 1): a load that raises anything but ``PersistenceError``;
   a crash or hang; a marker file (code ran); a refused load after which the agent's or
   optimizer's ``state_dict`` or torch's, numpy's or Python's random state is not exactly as
   it was; a loaded file that is invalid (per an independent parser written here) or whose
   contents (weights, random states, step) were not applied; a file loaded that must be
   refused, or refused that must load (each file has an expectation per loader: must be
   refused, must load, or either: a bit flip in tensor data is still a valid file, and
   ``load`` reads only a checkpoint's agent tensors). After a load that succeeds, the process
   draws from every random generator and, after ``load_checkpoint``, takes one
   ``optimizer.step()`` on a fixed gradient (0.01); a draw that raises is a defect, while a
   step that raises, finite weights that turn non-finite, or degenerate draws are counted
   and listed as findings (``+``): ``load_checkpoint`` refuses optimizer states whose trial
   step (on a copy, with zero gradients) fails or turns finite weights non-finite, so a step
   on a real gradient that still does is worth a look, not proof of a defect.

2. **kill -9 during saves loses no checkpoint.** ``--kills`` times (default 100), a child
   process (forked from this one, so it starts saving at once) saves checkpoints of a small
   agent to one path in a loop (``save_checkpoint``, the weights and ``step`` a new number each
   save) and is killed with SIGKILL after a random (seeded) delay of up to ``--max-delay``
   seconds. After each kill the file must load with ``load_checkpoint`` and be the last
   checkpoint the child reported saved or the one after it (the previous round's if it saved
   none); it must never be missing once one save has completed. Stray ``.<name>.<random>.tmp``
   temporaries are counted after the kill and after the next save to the same file (the
   library removes those of dead saves).

    python benchmarks/reliability.py                        # defaults: ~3 minutes, 2 cores
    python benchmarks/reliability.py --quick                # smoke run: 80 files, 10 kills
    python benchmarks/reliability.py --files 1000 --kills 300 --seed 1 --keep

The exit status is 1 if any defect was found (each defect is printed with its file and
traceback), else 0. ``--keep`` keeps the generated files (their directory is printed).
"""
from __future__ import annotations

import argparse
import builtins
import copy
import faulthandler
import json
import math
import os
import pickle
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from agentnet import Agent
from agentnet import layers as L
from agentnet.resolver import EpsilonGreedyResolver
from agentnet.utils.persistence import (
    PersistenceError,
    load,
    load_checkpoint,
    save,
    save_checkpoint,
)

LOADERS = ("load_checkpoint", "load")
REFUSE, LOAD, EITHER = "refuse", "load", "either"
BOTH_REFUSE = {"load_checkpoint": REFUSE, "load": REFUSE}
BOTH_EITHER = {"load_checkpoint": EITHER, "load": EITHER}
BOTH_LOAD = {"load_checkpoint": LOAD, "load": LOAD}
#: a checkpoint-only field is wrong: ``load`` reads only the agent's tensors of a checkpoint
CHECKPOINT_REFUSES = {"load_checkpoint": REFUSE, "load": EITHER}
MODULE_LOADS = {"load_checkpoint": REFUSE, "load": LOAD}
INFINITY = "__infinity__"  # written into a header as the JSON number 1e999 (read as inf)
DELETE = object()  # the value that removes an item in ``edited``
TEMPORARY = re.compile(r"\.(.+)\.[0-9a-f]{12}\.tmp")
TRIAL_SECONDS = 10  # a load and its checks take ~30 ms: one that takes this long is hung
START_ATTEMPTS = 8  # tries to start a subprocess whose imports fail
PAYLOAD_WRAPPINGS = [*(f"pickle protocol {p}" for p in range(6)), "pickle in a dict",
                     "torch.save zip", "torch.save legacy", "zip archive with data.pkl",
                     "pickle behind a length field", "pickle as the safetensors header",
                     "pickle appended to a valid checkpoint", "pickle as the agentnet metadata",
                     "pickle bytes as a uint8 tensor in extra"]


# --- the agent, as the tests build it --------------------------------------------------------
def small_agent(seed: int) -> Agent:
    torch.manual_seed(seed)
    obs = L.InputLayer((None, 4), name="observation")
    hidden = L.DenseLayer(obs, 8, name="hidden")
    q = L.DenseLayer(hidden, 2, nonlinearity=None, name="q")
    return Agent(obs, policy_estimators=q,
                 action_layers=EpsilonGreedyResolver(q, epsilon=0.1, name="resolver"))


def trained(seed: int) -> tuple[Agent, torch.optim.Adam]:
    """A small agent and its Adam optimizer after one step (the optimizer has state)."""
    agent = small_agent(seed)
    optimizer = torch.optim.Adam(agent.parameters(), lr=1e-3)
    observations = torch.randn(3, 4, generator=torch.Generator().manual_seed(seed))
    agent.get_agent_reaction(None, observations).policy.pow(2).sum().backward()
    optimizer.step()
    return agent, optimizer


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


# --- safetensors by hand (this script reads and writes the format without the library) -------
CODES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
         "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32, "I16": torch.int16,
         "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool, "C64": torch.complex64}
DTYPE_CODES = {dtype: code for code, dtype in CODES.items()}


def split(data: bytes) -> tuple[dict[str, Any], bytes]:
    """(header, tensor data) of a valid safetensors file."""
    length = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + length]), data[8 + length:]


def join(header: dict[str, Any] | bytes, body: bytes, pad: bool = True) -> bytes:
    """A safetensors file: 8-byte length, the header (JSON, or raw bytes), the data."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    if pad:  # as safetensors writes it: spaces up to a multiple of 8
        raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw + body


def tensor_bytes(tensor: torch.Tensor) -> bytes:
    return tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def build(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None) -> bytes:
    """A safetensors file holding ``tensors`` in their order, with ``metadata``."""
    header: dict[str, Any] = {} if metadata is None else {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, tensor in tensors.items():
        blob = tensor_bytes(tensor)
        header[name] = {"dtype": DTYPE_CODES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    return join(header, b"".join(blobs))


def strict_json(text: bytes | str) -> Any:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({key for key, _ in pairs}) != len(pairs):
            raise ValueError("duplicate keys")
        return dict(pairs)

    def no_constants(name: str) -> Any:
        raise ValueError(f"JSON constant {name}")

    return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def strict_parse(path: str) -> tuple[dict[str, Any] | None, dict[str, torch.Tensor]]:
    """The agentnet header (None if none) and tensors of a valid file; ValueError otherwise.

    The oracle for loads that succeed: written from the format's description, not the library.
    """
    if not os.path.isfile(path):
        raise ValueError("not a regular file")
    with open(path, "rb") as file:
        data = file.read()
    length = int.from_bytes(data[:8], "little")
    if len(data) < 8 or not 2 <= length <= len(data) - 8:
        raise ValueError("header length out of range")
    header = strict_json(data[8:8 + length])
    if not isinstance(header, dict):
        raise ValueError("header is not an object")
    body = data[8 + length:]
    tensors, ranges = {}, []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype, shape = CODES[entry["dtype"]], entry["shape"]
        begin, end = entry["data_offsets"]
        if not isinstance(shape, list) or not all(map(is_count, [*shape, begin, end])):
            raise ValueError(f"{name}: bad shape or offsets")
        if end - begin != math.prod(shape) * dtype.itemsize:
            raise ValueError(f"{name}: offsets do not hold the shape")
        ranges.append((begin, end))
        blob = bytearray(body[begin:end])
        tensors[name] = (torch.frombuffer(blob, dtype=dtype).reshape(shape) if blob
                         else torch.empty(shape, dtype=dtype))
    position = 0
    for begin, end in sorted(ranges):
        if begin != position:
            raise ValueError("tensor ranges overlap or leave a gap")
        position = end
    if position != len(body):
        raise ValueError("data size differs from the header's")
    metadata = header.get("__metadata__")
    if metadata is None or "agentnet" not in metadata:
        return None, tensors
    if not all(isinstance(value, str) for value in metadata.values()):
        raise ValueError("metadata values are not strings")
    meta = strict_json(metadata["agentnet"])
    listing = {name: {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape)}
               for name, t in tensors.items()}
    if (meta.get("format"), meta.get("format_version")) != ("agentnet", 1) or \
            isinstance(meta.get("format_version"), bool) or \
            meta.get("kind") not in ("module", "checkpoint") or meta.get("tensors") != listing:
        raise ValueError("invalid agentnet header")
    return meta, tensors


# --- code that runs when unpickled -----------------------------------------------------------
class RunsCode:
    """Unpickling this calls ``function(*args)``, which creates a marker file."""

    def __init__(self, function: Any, args: tuple[Any, ...]):
        self.function, self.args = function, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.function, self.args


def payloads(marker: str) -> dict[str, RunsCode]:
    return {
        "exec": RunsCode(builtins.exec, (f"open({marker!r}, 'w').close()",)),
        "eval": RunsCode(builtins.eval, (f"__import__('pathlib').Path({marker!r}).touch()",)),
        "os.system": RunsCode(os.system, (f"touch {shlex.quote(marker)}",)),
        "os.mkdir": RunsCode(os.mkdir, (marker,)),
    }


def check_payloads_are_live(directory: str) -> int:
    """Unpickle each payload here (and one ``torch.save`` file): each must create its marker."""
    live = 0
    for kind in payloads(""):
        marker = os.path.join(directory, f"selftest-{kind}")
        pickle.loads(pickle.dumps(payloads(marker)[kind]))  # noqa: S301 - proving it works
        live += os.path.lexists(marker)
    marker = os.path.join(directory, "selftest-torch")
    torch.save({"x": payloads(marker)["exec"]}, os.path.join(directory, "selftest.pt"))
    torch.load(os.path.join(directory, "selftest.pt"), weights_only=False)
    live += os.path.lexists(marker)
    return live


# --- the corpus ------------------------------------------------------------------------------
@dataclass
class Hostile:
    """One file of the corpus (or a directory, FIFO or symlink at ``path``)."""

    index: int
    group: str
    name: str
    path: str
    marker: str | None
    expect: dict[str, str]  # loader -> REFUSE, LOAD or EITHER


def edited(doc: Any, keys: tuple[Any, ...], value: Any = DELETE) -> Any:
    """A deep copy of the JSON ``doc`` with the item at ``keys`` set to ``value`` (or removed)."""
    doc = copy.deepcopy(doc)
    parent = doc
    for key in keys[:-1]:
        parent = parent[key]
    if value is DELETE:
        del parent[keys[-1]]
    else:
        parent[keys[-1]] = value
    return doc


def nested(depth: int, leaf: Any = 0) -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


class Base:
    """A valid file taken apart, to be put back together with one thing wrong."""

    def __init__(self, data: bytes):
        self.data = data
        self.header, self.body = split(data)
        self.length = int.from_bytes(data[:8], "little")
        self.meta = json.loads(self.header["__metadata__"]["agentnet"])
        self.tensors = {name: torch.frombuffer(bytearray(self.body[e["data_offsets"][0]:
                                                                   e["data_offsets"][1]]),
                                               dtype=CODES[e["dtype"]]).reshape(e["shape"])
                        for name, e in self.header.items() if name != "__metadata__"}

    def with_meta_text(self, text: str) -> bytes:
        """The file with its agentnet metadata replaced (tensor table and data unchanged)."""
        return join(edited(self.header, ("__metadata__", "agentnet"), text), self.body)

    def with_meta(self, meta: Any) -> bytes:
        text = json.dumps(meta).replace(json.dumps(INFINITY), "1e999")
        return self.with_meta_text(text)

    def with_tensors(self, changes: dict[str, torch.Tensor | None], meta: Any = None) -> bytes:
        """Rebuilt with tensors replaced, added or (None) removed, and the agentnet header's
        tensor list kept consistent: only the change itself is wrong."""
        tensors = {**self.tensors, **changes}
        tensors = {name: t for name, t in tensors.items() if t is not None}
        meta = copy.deepcopy(self.meta if meta is None else meta)
        meta["tensors"] = {name: {"dtype": str(t.dtype).removeprefix("torch."),
                                  "shape": list(t.shape)} for name, t in tensors.items()}
        return build(tensors, {"agentnet": json.dumps(meta)})

    def regions(self) -> dict[str, tuple[int, int]]:
        """Byte ranges of the file, by what they hold (for bit flips by region)."""
        raw = self.data[8:8 + self.length].decode()
        start = raw.index('"agentnet"') + len('"agentnet"')
        start = raw.index('"', start)
        _, end = json.JSONDecoder().raw_decode(raw, start)
        regions = {"length field": (0, 8), "agentnet metadata": (8 + start, 8 + end)}
        regions["tensor table"] = (8 + end, 8 + self.length)
        for group in ("agent", "optimizer", "extra", "rng"):
            spans = [e["data_offsets"] for name, e in self.header.items()
                     if name.split("/")[0] == group]
            first, last = min(s[0] for s in spans), max(s[1] for s in spans)
            regions[f"{group} tensors"] = (8 + self.length + first, 8 + self.length + last)
        return regions


def valid_files(directory: str) -> tuple[bytes, bytes]:
    """(a checkpoint, a ``save`` file) of ``trained(0)``, made by the library."""
    seed_everything(0)
    agent, optimizer = trained(0)
    path = os.path.join(directory, "valid.safetensors")
    save_checkpoint(path, agent, optimizer=optimizer, step=3,
                    extra={"phase": "warmup", "schedule": (1, 0.5), "table": {1: "one"},
                           "weights": torch.arange(3.0)})
    with open(path, "rb") as file:
        checkpoint = file.read()
    save(agent, path)
    with open(path, "rb") as file:
        module = file.read()
    os.unlink(path)
    return checkpoint, module


class CorpusBuilder:
    """Writes the hostile files into ``directory`` and lists them."""

    def __init__(self, directory: str, seed: int):
        self.directory = directory
        self.markers = os.path.join(directory, "markers")
        os.makedirs(self.markers)
        self.random = random.Random(seed)
        self.items: list[Hostile] = []
        checkpoint, module = valid_files(directory)
        self.base, self.module = Base(checkpoint), Base(module)

    def path(self) -> str:
        return os.path.join(self.directory, f"{len(self.items):04d}.safetensors")

    def add(self, group: str, name: str, data: bytes, expect: dict[str, str],
            marker: str | None = None) -> None:
        path = self.path()
        with open(path, "wb") as file:
            file.write(data)
        self.items.append(Hostile(len(self.items), group, name, path, marker, expect))

    def add_payloads(self) -> None:
        """Files whose unpickling would run code; each has its own marker file."""
        for kind in payloads(""):
            for wrapping in PAYLOAD_WRAPPINGS:
                marker = os.path.join(self.markers, f"{len(self.items):04d}")
                data = self.wrapped(payloads(marker)[kind], wrapping)
                # a valid file that carries a pickle as data loads, and still runs nothing
                expect = BOTH_LOAD if wrapping.startswith("pickle bytes as") else BOTH_REFUSE
                self.add("pickle payloads", f"{kind}: {wrapping}", data, expect, marker)

    def wrapped(self, payload: RunsCode, wrapping: str) -> bytes:
        pickled = pickle.dumps(payload, protocol=2)
        if wrapping.startswith("pickle protocol"):
            return pickle.dumps(payload, protocol=int(wrapping.split()[-1]))
        if wrapping == "pickle in a dict":
            return pickle.dumps({"agent/layers.q.weight": payload})
        if wrapping.startswith("torch.save"):
            path = os.path.join(self.directory, "payload.pt")
            torch.save({"state": payload}, path,
                       _use_new_zipfile_serialization=wrapping.endswith("zip"))
        elif wrapping == "zip archive with data.pkl":
            path = os.path.join(self.directory, "payload.zip")
            with zipfile.ZipFile(path, "w") as archive:
                archive.writestr("archive/data.pkl", pickled)
        elif wrapping == "pickle behind a length field":
            return len(pickled).to_bytes(8, "little") + pickled
        elif wrapping == "pickle as the safetensors header":
            return join(pickled, self.base.body, pad=False)
        elif wrapping == "pickle appended to a valid checkpoint":
            return self.base.data + pickled
        elif wrapping == "pickle as the agentnet metadata":
            return self.base.with_meta_text(pickled.decode("latin-1"))
        else:  # pickle bytes as a uint8 tensor in extra
            return self.base.with_tensors({"extra/weights": torch.frombuffer(
                bytearray(pickled), dtype=torch.uint8)})
        with open(path, "rb") as file:
            data = file.read()
        os.unlink(path)
        return data

    def add_truncations(self) -> None:
        valid, length = self.base.data, self.base.length
        cuts = set(range(0, 17)) | set(range(8 + length - 3, 8 + length + 4))
        cuts |= {len(valid) - k for k in (1, 2, 4, 8)}
        while len(cuts) < 70:
            cuts.add(self.random.randrange(len(valid)))
        for cut in sorted(cuts):
            self.add("truncations", f"checkpoint cut at byte {cut} of {len(valid)}",
                     valid[:cut], BOTH_REFUSE)
        data_size = len(valid) - 8 - length
        for cut in (8 + length + k * data_size // 4 for k in range(4)):
            self.add("truncations", f"checkpoint zeroed from byte {cut} (size unchanged)",
                     valid[:cut] + bytes(len(valid) - cut), BOTH_EITHER)
        module = self.module.data
        for cut in (4, 8, 8 + self.module.length, len(module) - 1):
            self.add("truncations", f"save() file cut at byte {cut} of {len(module)}",
                     module[:cut], BOTH_REFUSE)

    def add_length_lies(self) -> None:
        rest, length, size = self.base.data[8:], self.base.length, len(self.base.data)
        claims = {"0": 0, "1": 1, "2": 2, "7": 7, "length - 1": length - 1,
                  "length + 1": length + 1, "the rest of the file + 1": size - 7,
                  "file size": size, "2**31 - 1": 2**31 - 1, "2**31": 2**31, "2**32": 2**32,
                  "2**32 + length": 2**32 + length, "10**8": 10**8, "10**8 + 1": 10**8 + 1,
                  "2**63": 2**63, "2**63 + length": 2**63 + length, "-1 (2**64 - 1)": 2**64 - 1,
                  "-length": 2**64 - length}
        for label, claim in claims.items():
            self.add("length field lies", f"header length {label}",
                     claim.to_bytes(8, "little") + rest, BOTH_REFUSE)
        self.add("length field lies", "header length in big-endian",
                 length.to_bytes(8, "big") + rest, BOTH_REFUSE)

    def add_table_edits(self) -> None:
        """The safetensors tensor table (the JSON header outside the metadata)."""
        header, body = self.base.header, self.base.body
        edits: list[tuple[str, dict[str, Any] | bytes, dict[str, str]]] = []
        for name in ("agent/layers.q.weight", "rng/torch"):
            begin, end = header[name]["data_offsets"]
            for label, value in [("F64", "F64"), ("I32", "I32"), ("BOOL", "BOOL"),
                                 ("PICKLE", "PICKLE"), ("lowercase f32", "f32"), ("5", 5),
                                 ("null", None), ("a list", ["F32"])]:
                edits.append((f"{name}: dtype {label}",
                              edited(header, (name, "dtype"), value), BOTH_REFUSE))
            for label, value in [("[]", []), ("[0]", [0]), ("[-1]", [-1]),
                                 ("[2**62, 2**62]", [2**62, 2**62]), ("[2**64]", [2**64]),
                                 ("a string", "8,4"), ("floats", [8.0, 4.0]),
                                 ("bools", [True, 4]), ("null", None), ("one more dim", None)]:
                if label == "one more dim":
                    value = [*header[name]["shape"], 1]  # same size: only the list lies
                edits.append((f"{name}: shape {label}",
                              edited(header, (name, "shape"), value), BOTH_REFUSE))
            for label, value in [("past the end", [begin, begin + 10**12]),
                                 ("reversed", [end, begin]), ("negative", [-4, end]),
                                 ("one byte longer", [begin, end + 1]),
                                 ("shifted by one", [begin + 1, end + 1]),
                                 ("floats", [float(begin), float(end)]),
                                 ("2**64", [2**64, 2**64 + end - begin]),
                                 ("three numbers", [begin, end, 0]), ("one number", [begin]),
                                 ("null", None), ("a string", f"{begin},{end}")]:
                edits.append((f"{name}: data_offsets {label}",
                              edited(header, (name, "data_offsets"), value), BOTH_REFUSE))
            for key in ("dtype", "shape", "data_offsets"):
                edits.append((f"{name}: no {key}", edited(header, (name, key)), BOTH_REFUSE))
            edits.append((f"{name}: entry a number", edited(header, (name,), 5), BOTH_REFUSE))
            edits.append((f"{name}: an extra key in the entry",
                          edited(header, (name, "note"), "hi"), BOTH_EITHER))
        other = header["agent/layers.q.bias"]["data_offsets"]
        edits.append(("two tensors on the same bytes", edited(
            header, ("agent/layers.hidden.bias", "data_offsets"), other), BOTH_REFUSE))
        edits.append(("a tensor table entry removed", edited(header, ("extra/weights",)),
                      BOTH_REFUSE))
        edits.append(("an extra tensor past the end", edited(
            header, ("evil",), {"dtype": "U8", "shape": [4], "data_offsets": [len(body),
                                                                              len(body) + 4]}),
            BOTH_REFUSE))
        for label, value in [("null", None), ("a list", []), ("a string", "x"),
                             ("agentnet a number", {"agentnet": 5}),
                             ("agentnet null", {"agentnet": None}), ("empty", {})]:
            edits.append((f"__metadata__ {label}",
                          edited(header, ("__metadata__",), value), BOTH_REFUSE))
        edits.append(("no __metadata__", edited(header, ("__metadata__",)), BOTH_REFUSE))
        edits.append(("__metadata__ with another key",
                      edited(header, ("__metadata__", "note"), "hi"), BOTH_EITHER))
        raw = json.dumps(header)
        duplicate = raw[:-1] + ', "rng/torch": ' + json.dumps(header["rng/torch"]) + "}"
        nan_shape = raw.replace('"shape": [2, 8]', '"shape": [NaN, 8]')
        infinite_offset = raw.replace('"data_offsets": [0,', '"data_offsets": [Infinity,')
        deep = raw[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
        for label, text, expect in [
                ("a JSON list", "[1, 2, 3]", BOTH_REFUSE),
                ("a JSON string", '"abc"', BOTH_REFUSE),
                ("JSON null", "null", BOTH_REFUSE),
                ("not UTF-8", '{"\udcff": 1}', BOTH_REFUSE),
                ("a duplicate tensor key", duplicate, BOTH_REFUSE),
                ("NaN in a shape", nan_shape, BOTH_REFUSE),
                ("Infinity as an offset", infinite_offset, BOTH_REFUSE),
                ("nested 100000 deep", deep, BOTH_REFUSE),
                ("a byte-order mark", "\ufeff" + raw, BOTH_REFUSE),
                ("leading spaces", "  " + raw, BOTH_EITHER),
                ("garbage after the JSON", raw + "garbage", BOTH_REFUSE),
                ("NUL padding", raw + "\0" * 7, BOTH_EITHER),
                ("keys in another order", json.dumps(dict(reversed(header.items()))),
                 BOTH_LOAD),
                ("no padding", raw, BOTH_LOAD)]:
            data = text.encode("utf-8", "surrogateescape")
            edits.append((f"header {label}", data, expect))
        for name, changed, expect in edits:
            pad = name != "header no padding"
            self.add("safetensors header", name, join(changed, body, pad=pad), expect)

    def add_meta_edits(self) -> None:
        """The agentnet header: format, kind, tensor list, parts, step, extra."""
        meta = self.base.meta
        edits: list[tuple[str, Any, dict[str, str]]] = []
        for key, values in [("format", ["pickle", None, 1]),
                            ("format_version", [0, 2, 99, -1, True, "1", 1.0, None, 2**70]),
                            ("kind", ["module", "exec", None, 5])]:
            for value in values:
                edits.append((f"{key} {value!r}", edited(meta, (key,), value), BOTH_REFUSE))
            edits.append((f"no {key}", edited(meta, (key,)), BOTH_REFUSE))
        edits.append(("agentnet_version 5", edited(meta, ("agentnet_version",), 5), BOTH_EITHER))
        tensors = ("tensors",)
        for label, value in [
                ("a shape changed", edited(meta["tensors"], ("agent/layers.q.bias", "shape"),
                                           [3])),
                ("a dtype changed", edited(meta["tensors"], ("rng/torch", "dtype"), "int8")),
                ("an entry removed", edited(meta["tensors"], ("extra/weights",))),
                ("an entry added", edited(meta["tensors"], ("evil",),
                                          {"dtype": "uint8", "shape": [1]})),
                ("a list", []), ("null", None), ("a string", "all")]:
            edits.append((f"tensor list {label}", edited(meta, tensors, value), BOTH_REFUSE))
        for label, keys, value, expect in [
                ("parts missing", ("parts",), DELETE, CHECKPOINT_REFUSES),
                ("parts null", ("parts",), None, CHECKPOINT_REFUSES),
                ("parts a list", ("parts",), [], CHECKPOINT_REFUSES),
                ("parts a string", ("parts",), "agent", CHECKPOINT_REFUSES),
                ("parts.agent missing", ("parts", "agent"), DELETE, CHECKPOINT_REFUSES),
                ("parts.agent a number", ("parts", "agent"), 5, BOTH_EITHER),
                ("parts.agent.class a list", ("parts", "agent", "class"), [], BOTH_EITHER),
                ("parts.optimizer missing", ("parts", "optimizer"), DELETE, CHECKPOINT_REFUSES),
                ("parts.optimizer null", ("parts", "optimizer"), None, CHECKPOINT_REFUSES),
                ("parts.optimizer a string", ("parts", "optimizer"), "Adam",
                 CHECKPOINT_REFUSES),
                ("parts.optimizer a list", ("parts", "optimizer"), [], CHECKPOINT_REFUSES),
                ("step a string", ("step",), "7; rm -rf /", CHECKPOINT_REFUSES),
                ("step 7.5", ("step",), 7.5, CHECKPOINT_REFUSES),
                ("step true", ("step",), True, CHECKPOINT_REFUSES),
                ("step null", ("step",), None, CHECKPOINT_REFUSES),
                ("step missing", ("step",), DELETE, CHECKPOINT_REFUSES),
                ("step 1e999", ("step",), INFINITY, CHECKPOINT_REFUSES),
                ("step -1", ("step",), -1, BOTH_EITHER),
                ("step 2**70", ("step",), 2**70, BOTH_EITHER),
                ("extra missing", ("extra",), DELETE, CHECKPOINT_REFUSES)]:
            edits.append((label, edited(meta, keys, value), expect))
        for label, value, expect in [
                ("a missing tensor", {"$tensor": "nowhere"}, CHECKPOINT_REFUSES),
                ("another part's tensor", {"$tensor": "rng/torch"}, BOTH_EITHER),
                ("$tensor a number", {"$tensor": 5}, CHECKPOINT_REFUSES),
                ("an unknown tag", {"$exec": "print(1)"}, CHECKPOINT_REFUSES),
                ("$float 1e999", {"$float": "1e999"}, CHECKPOINT_REFUSES),
                ("$float nan", {"$float": "nan"}, BOTH_EITHER),
                ("$float a number", {"$float": 1.5}, CHECKPOINT_REFUSES),
                ("$tuple a number", {"$tuple": 5}, CHECKPOINT_REFUSES),
                ("$dict a number", {"$dict": 5}, CHECKPOINT_REFUSES),
                ("$dict pair of one", {"$dict": [[1]]}, CHECKPOINT_REFUSES),
                ("$dict a list key", {"$dict": [[[1], 2]]}, CHECKPOINT_REFUSES),
                ("$dict a dict key", {"$dict": [[{"a": 1}, 2]]}, CHECKPOINT_REFUSES),
                ("$dict a tuple-of-list key", {"$dict": [[{"$tuple": [[1]]}, 2]]},
                 CHECKPOINT_REFUSES),
                ("two $ keys", {"$a": 1, "$b": 2}, BOTH_EITHER),
                ("an empty key", {"": 1}, BOTH_EITHER),
                ("1e999", INFINITY, BOTH_EITHER),
                ("10**5000 (a 5001-digit number)", "__big__", CHECKPOINT_REFUSES),
                ("nested 60 deep", nested(60), BOTH_EITHER),
                ("nested 64 deep", nested(64), BOTH_EITHER),
                ("nested 66 deep", nested(66), CHECKPOINT_REFUSES),
                ("nested 500 deep", nested(500), CHECKPOINT_REFUSES),
                ("$tuple nested 500 deep", json.loads('{"$tuple": ' * 500 + "[]" + "}" * 500),
                 CHECKPOINT_REFUSES)]:
            edits.append((f"extra {label}", edited(meta, ("extra",), value), expect))
        for name, changed, expect in edits:
            text = json.dumps(changed).replace(json.dumps(INFINITY), "1e999")
            text = text.replace('"__big__"', "1" + "0" * 5000)
            self.add("agentnet header", name, self.base.with_meta_text(text), expect)
        text = json.dumps(meta)
        for label, changed_text, expect in [
                ("not JSON (cut short)", text[:-5], BOTH_REFUSE),
                ("a JSON string", json.dumps(text), BOTH_REFUSE),
                ("a JSON list", "[]", BOTH_REFUSE), ("empty", "", BOTH_REFUSE),
                ("NaN constant", text[:-1] + ', "x": NaN}', BOTH_REFUSE),
                ("-Infinity constant", text[:-1] + ', "x": -Infinity}', BOTH_REFUSE),
                ("a duplicate key", text[:-1] + ', "kind": "checkpoint"}', BOTH_REFUSE),
                ("a duplicate key inside extra", text.replace(
                    '"extra": {', '"extra": {"phase": 1, '), BOTH_REFUSE),
                ("nested 100000 deep", text[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000
                 + "}", BOTH_REFUSE),
                ("a lone surrogate as the kind", text.replace(
                    '"kind": "checkpoint"', '"kind": "\\ud800"'), BOTH_REFUSE),
                ("an unknown top-level key", text[:-1] + ', "exec": "rm -rf /"}', BOTH_EITHER)]:
            self.add("agentnet header", label, self.base.with_meta_text(changed_text), expect)

    def add_rng_edits(self) -> None:
        meta, tensors = self.base.meta, self.base.tensors
        numpy_, python = ("rng", "numpy"), ("rng", "python")
        internal = meta["rng"]["python"]["internal"]
        edits: list[tuple[str, tuple[Any, ...], Any, dict[str, str]]] = []
        for value, expect in [(10**9, REFUSE), (-5, REFUSE), (-1, REFUSE), (625, REFUSE),
                              (True, REFUSE), (3.0, REFUSE), ("3", REFUSE), (None, REFUSE),
                              (2**64, REFUSE), (624, LOAD), (0, LOAD), (DELETE, REFUSE)]:
            edits.append((f"numpy pos {value if value is not DELETE else 'missing'}",
                          (*numpy_, "pos"), value, {"load_checkpoint": expect, "load": EITHER}))
        for value, expect in [(2, REFUSE), (-1, REFUSE), (True, REFUSE), (0.5, REFUSE),
                              ("1", REFUSE), (10**9, REFUSE), (1, LOAD)]:
            edits.append((f"numpy has_gauss {value!r}", (*numpy_, "has_gauss"), value,
                          {"load_checkpoint": expect, "load": EITHER}))
        for label, keys, value, expect in [
                ("numpy cached_gaussian a string", (*numpy_, "cached_gaussian"), "x", REFUSE),
                ("numpy cached_gaussian null", (*numpy_, "cached_gaussian"), None, REFUSE),
                ("numpy cached_gaussian 1e999", (*numpy_, "cached_gaussian"), INFINITY, REFUSE),
                ("numpy cached_gaussian 1e308", (*numpy_, "cached_gaussian"), 1e308, LOAD),
                ("numpy algorithm PCG64", (*numpy_, "algorithm"), "PCG64", REFUSE),
                ("numpy algorithm null", (*numpy_, "algorithm"), None, REFUSE),
                ("numpy keys names the torch state", (*numpy_, "keys"), "rng/torch", REFUSE),
                ("numpy keys names no tensor", (*numpy_, "keys"), "nowhere", REFUSE),
                ("numpy keys a number", (*numpy_, "keys"), 1.5, REFUSE),
                ("numpy keys a list", (*numpy_, "keys"), [1, 2, 3], REFUSE),
                ("numpy a list", numpy_, [], REFUSE),
                ("torch names the numpy keys", ("rng", "torch"), "rng/numpy", REFUSE),
                ("torch names no tensor", ("rng", "torch"), "nowhere", REFUSE),
                ("torch null", ("rng", "torch"), None, REFUSE),
                ("cuda names a tensor", ("rng", "cuda"), ["rng/torch"], EITHER),
                ("cuda names no tensor", ("rng", "cuda"), ["nowhere"], REFUSE),
                ("cuda a number", ("rng", "cuda"), 5, REFUSE),
                ("cuda a string", ("rng", "cuda"), "abc", REFUSE),
                ("python version 2", (*python, "version"), 2, REFUSE),
                ("python version true", (*python, "version"), True, REFUSE),
                ("python internal too short", (*python, "internal"), internal[:-1], REFUSE),
                ("python internal a string", (*python, "internal"), "abc", REFUSE),
                ("python internal huge ints", (*python, "internal"), [2**80] * 625, REFUSE),
                ("python internal negative", (*python, "internal", 5), -1, REFUSE),
                ("python internal 2**32", (*python, "internal", 5), 2**32, REFUSE),
                ("python internal a bool", (*python, "internal", 5), True, REFUSE),
                ("python internal a float", (*python, "internal", 5), 5.0, REFUSE),
                ("python position 625", (*python, "internal", 624), 625, REFUSE),
                ("python position 624", (*python, "internal", 624), 624, LOAD),
                ("python internal all zeros", (*python, "internal"), [0] * 624 + [624],
                 EITHER),
                ("python gauss_next a string", (*python, "gauss_next"), "0.5", REFUSE),
                ("python gauss_next 1e999", (*python, "gauss_next"), INFINITY, REFUSE),
                ("python gauss_next 0.5", (*python, "gauss_next"), 0.5, LOAD),
                ("rng missing", ("rng",), DELETE, REFUSE),
                ("rng a list", ("rng",), [], REFUSE),
                ("rng a list of pairs", ("rng",), [["torch", "rng/torch"]], REFUSE),
                ("rng a string", ("rng",), "ab", REFUSE),
                ("rng a number", ("rng",), 5, REFUSE)]:
            edits.append((label, keys, value, {"load_checkpoint": expect, "load": EITHER}))
        for label, keys, value, expect in edits:
            self.add("random states", label, self.base.with_meta(edited(meta, keys, value)),
                     expect)
        state, keys = tensors["rng/torch"], tensors["rng/numpy"]
        garbage = torch.Generator().manual_seed(self.random.randrange(2**31))
        changes = {
            "torch state one byte short": {"rng/torch": state[:-1]},
            "torch state one byte longer": {"rng/torch": torch.cat([state, state[:1]])},
            "torch state empty": {"rng/torch": state[:0]},
            "torch state 2-d": {"rng/torch": state[None]},
            "torch state int16": {"rng/torch": state.short()},
            "torch state float": {"rng/torch": state.float()},
            "torch state all zeros": {"rng/torch": torch.zeros_like(state)},
            "torch state all 0xff": {"rng/torch": torch.full_like(state, 255)},
            "numpy keys int32": {"rng/numpy": keys.int()},
            "numpy keys 623": {"rng/numpy": keys[:-1]},
            "numpy keys 2-d": {"rng/numpy": keys[None]},
            "numpy keys 2**32": {"rng/numpy": torch.cat([keys[:-1], torch.tensor([2**32])])},
            "numpy keys -1": {"rng/numpy": torch.cat([keys[:-1], torch.tensor([-1])])},
            "numpy keys all zeros": {"rng/numpy": torch.zeros_like(keys)},
            "numpy keys all zeros, pos 624": {"rng/numpy": torch.zeros_like(keys)},
            "rng tensors removed": {"rng/torch": None, "rng/numpy": None},
        }
        for k in range(3):
            changes[f"torch state random bytes #{k}"] = {"rng/torch": torch.randint(
                256, state.shape, generator=garbage, dtype=torch.uint8)}
            spots = torch.randint(state.numel(), (8,), generator=garbage)
            changes[f"torch state, 8 bytes 0xff #{k}"] = {
                "rng/torch": state.clone().index_fill_(0, spots, 255)}
        either = {"all zeros", "all 0xff", "random bytes", "bytes 0xff"}
        for label, change in changes.items():
            loads = any(word in label for word in either)
            expect = {"load_checkpoint": EITHER if loads else REFUSE, "load": EITHER}
            changed_meta = edited(meta, (*numpy_, "pos"), 624) if "pos 624" in label else meta
            self.add("random states", label, self.base.with_tensors(change, changed_meta),
                     expect)

    def add_optimizer_edits(self) -> None:
        meta, tensors = self.base.meta, self.base.tensors
        sd = ("parts", "optimizer", "state_dict")
        group, state = (*sd, "param_groups", 0), (*sd, "state", "$dict")
        edits: list[tuple[str, tuple[Any, ...], Any, str]] = [
            ("lr a string", (*group, "lr"), "fast", REFUSE),
            ("lr NaN", (*group, "lr"), {"$float": "nan"}, REFUSE),
            ("lr inf", (*group, "lr"), {"$float": "inf"}, REFUSE),
            ("lr 1e999", (*group, "lr"), INFINITY, REFUSE),
            ("lr true", (*group, "lr"), True, REFUSE),
            ("lr null", (*group, "lr"), None, REFUSE),
            ("lr a list", (*group, "lr"), [0.1], REFUSE),
            ("lr -1.0", (*group, "lr"), -1.0, EITHER),
            ("lr 1e30", (*group, "lr"), 1e30, EITHER),
            ("betas three values", (*group, "betas"), {"$tuple": [0.9, 0.99, 0.5]}, REFUSE),
            ("betas a string", (*group, "betas"), "0.9, 0.999", REFUSE),
            ("betas NaN", (*group, "betas"), {"$tuple": [0.9, {"$float": "nan"}]}, REFUSE),
            ("betas a list", (*group, "betas"), [0.9, 0.999], EITHER),
            ("betas (2.0, 0.999)", (*group, "betas"), {"$tuple": [2.0, 0.999]}, EITHER),
            ("eps 0", (*group, "eps"), 0, EITHER),
            ("eps a string", (*group, "eps"), "1e-8", REFUSE),
            ("weight_decay null", (*group, "weight_decay"), None, REFUSE),
            ("amsgrad 1", (*group, "amsgrad"), 1, REFUSE),
            ("amsgrad a string", (*group, "amsgrad"), "yes", REFUSE),
            ("amsgrad true", (*group, "amsgrad"), True, EITHER),
            ("foreach a string", (*group, "foreach"), "yes", REFUSE),
            ("foreach true", (*group, "foreach"), True, REFUSE),
            ("fused true", (*group, "fused"), True, REFUSE),
            ("capturable true", (*group, "capturable"), True, EITHER),
            ("differentiable true", (*group, "differentiable"), True, EITHER),
            ("maximize true", (*group, "maximize"), True, EITHER),
            ("a setting missing", (*group, "eps"), DELETE, REFUSE),
            ("an unknown setting", (*group, "evil"), 1, REFUSE),
            ("params repeated", (*group, "params"), [0, 0, 1, 2], REFUSE),
            ("params strings", (*group, "params"), ["0", "1", "2", "3"], REFUSE),
            ("params three", (*group, "params"), [0, 1, 2], REFUSE),
            ("params reversed", (*group, "params"), [3, 2, 1, 0], REFUSE),
            ("params renumbered", (*group, "params"), [10, 11, 12, 13], REFUSE),
            ("params a number", (*group, "params"), 4, REFUSE),
            ("param_groups empty", (*sd, "param_groups"), [], REFUSE),
            ("param_groups a number", (*sd, "param_groups"), 5, REFUSE),
            ("param_groups two", (*sd, "param_groups"), [
                edited(meta, (*group, "params"), [0, 1])["parts"]["optimizer"]["state_dict"]
                ["param_groups"][0],
                edited(meta, (*group, "params"), [2, 3])["parts"]["optimizer"]["state_dict"]
                ["param_groups"][0]], REFUSE),
            ("state a list", (*sd, "state"), [], REFUSE),
            ("state empty", (*sd, "state"), {}, LOAD),
            ("state of parameter 0 a number", (*state, 0, 1), 5, REFUSE),
            ("state of parameter 0 empty", (*state, 0, 1), {}, EITHER),
            ("state outside the groups", (*state, 0, 0), 99, REFUSE),
            ("state key a list", (*state, 0, 0), [0], REFUSE),
            ("state key a string", (*state, 0, 0), "0", REFUSE),
            ("an unknown state entry (a string)", (*state, 0, 1, "note"), "hi", EITHER),
            ("an unknown state entry (a tensor)", (*state, 0, 1, "note"),
             {"$tensor": "optimizer/state/1/exp_avg"}, REFUSE),
            ("exp_avg missing", (*state, 0, 1, "exp_avg"), DELETE, EITHER),
            ("exp_avg a number", (*state, 0, 1, "exp_avg"), 0.5, EITHER),
            ("exp_avg a string", (*state, 0, 1, "exp_avg"), "zeros", EITHER),
            ("exp_avg null", (*state, 0, 1, "exp_avg"), None, EITHER),
            ("exp_avg_sq a list", (*state, 0, 1, "exp_avg_sq"), [0.0] * 32, EITHER),
            ("step a plain number", (*state, 0, 1, "step"), 1, EITHER),
            ("step a string", (*state, 1, 1, "step"), "3", REFUSE),
            ("step -1 (plain)", (*state, 1, 1, "step"), -1, REFUSE),
            ("step names another tensor", (*state, 0, 1, "step"),
             {"$tensor": "optimizer/state/0/exp_avg"}, REFUSE),
            ("exp_avg names no tensor", (*state, 0, 1, "exp_avg"), {"$tensor": "nowhere"},
             REFUSE),
            ("exp_avg names the previous parameter's", (*state, 1, 1, "exp_avg"),
             {"$tensor": "optimizer/state/0/exp_avg"}, REFUSE),
            ("class SGD", ("parts", "optimizer", "class"), "SGD", REFUSE),
            ("class a number", ("parts", "optimizer", "class"), 5, REFUSE),
            ("state_dict missing", sd, DELETE, REFUSE),
            ("state_dict a list", sd, [], REFUSE),
        ]
        for label, keys, value, expect in edits:
            self.add("optimizer state", label, self.base.with_meta(edited(meta, keys, value)),
                     {"load_checkpoint": expect, "load": EITHER})
        exp_avg = tensors["optimizer/state/0/exp_avg"]
        tensor_edits: list[tuple[str, dict[str, torch.Tensor | None], str]] = [
            ("exp_avg of another shape", {"optimizer/state/0/exp_avg": torch.zeros(3, 3)},
             REFUSE),
            ("exp_avg transposed", {"optimizer/state/0/exp_avg": exp_avg.t().contiguous()},
             REFUSE),
            ("exp_avg flattened", {"optimizer/state/0/exp_avg": exp_avg.reshape(-1)}, REFUSE),
            ("exp_avg_sq int32", {"optimizer/state/2/exp_avg_sq": torch.zeros(
                2, 8, dtype=torch.int32)}, REFUSE),
            ("exp_avg_sq bool", {"optimizer/state/2/exp_avg_sq": torch.zeros(
                2, 8, dtype=torch.bool)}, REFUSE),
            ("exp_avg float64", {"optimizer/state/0/exp_avg": exp_avg.double()}, EITHER),
            ("exp_avg NaN", {"optimizer/state/0/exp_avg": torch.full_like(exp_avg, math.nan)},
             EITHER),
            ("exp_avg_sq negative", {"optimizer/state/0/exp_avg_sq": -torch.ones_like(exp_avg)},
             EITHER),
            ("exp_avg_sq inf", {"optimizer/state/0/exp_avg_sq": torch.full_like(
                exp_avg, math.inf)}, EITHER),
            ("step -1", {"optimizer/state/0/step": torch.tensor(-1.0)}, REFUSE),
            ("step NaN", {"optimizer/state/3/step": torch.tensor(math.nan)}, REFUSE),
            ("step inf", {"optimizer/state/3/step": torch.tensor(math.inf)}, REFUSE),
            ("step a vector", {"optimizer/state/0/step": torch.ones(2)}, REFUSE),
            ("step [[1]]", {"optimizer/state/0/step": torch.ones(1, 1)}, REFUSE),
            ("step [1]", {"optimizer/state/0/step": torch.ones(1)}, EITHER),
            ("step empty", {"optimizer/state/0/step": torch.ones(0)}, REFUSE),
            ("step bool", {"optimizer/state/0/step": torch.tensor(True)}, REFUSE),
            ("step complex", {"optimizer/state/0/step": torch.tensor(1 + 1j)}, REFUSE),
            ("step int64", {"optimizer/state/0/step": torch.tensor(1)}, EITHER),
            ("step 1e30", {"optimizer/state/0/step": torch.tensor(1e30)}, EITHER),
            ("a state tensor removed", {"optimizer/state/0/exp_avg": None}, REFUSE),
        ]
        for label, change, expect in tensor_edits:
            self.add("optimizer state", label, self.base.with_tensors(change),
                     {"load_checkpoint": expect, "load": EITHER})

    def add_tensor_edits(self) -> None:
        weight = self.base.tensors["agent/layers.q.weight"]
        edits: list[tuple[str, dict[str, torch.Tensor | None], dict[str, str]]] = [
            ("agent weight of another shape", {"agent/layers.q.weight": torch.zeros(2, 9)},
             BOTH_REFUSE),
            ("agent weight transposed", {"agent/layers.q.weight": weight.t().contiguous()},
             BOTH_REFUSE),
            ("agent weight 0-d", {"agent/layers.q.weight": torch.tensor(1.0)}, BOTH_REFUSE),
            ("agent weight int32", {"agent/layers.q.weight": weight.int()}, BOTH_REFUSE),
            ("agent weight bool", {"agent/layers.q.weight": weight > 0}, BOTH_REFUSE),
            ("agent weight complex", {"agent/layers.q.weight": weight.to(torch.complex64)},
             BOTH_REFUSE),
            ("agent weight float64", {"agent/layers.q.weight": weight.double()}, BOTH_LOAD),
            ("agent weight float16", {"agent/layers.q.weight": weight.half()}, BOTH_LOAD),
            ("agent weight bfloat16", {"agent/layers.q.weight": weight.bfloat16()}, BOTH_LOAD),
            ("agent weight NaN", {"agent/layers.q.weight": torch.full_like(weight, math.nan)},
             BOTH_EITHER),
            ("agent weight inf", {"agent/layers.q.weight": torch.full_like(weight, math.inf)},
             BOTH_EITHER),
            ("epsilon 5.0", {"agent/layers.resolver.epsilon.value": torch.tensor(5.0)},
             BOTH_EITHER),
            ("an agent tensor removed", {"agent/layers.q.bias": None}, BOTH_REFUSE),
            ("an unexpected agent tensor", {"agent/layers.evil": torch.zeros(1)}, BOTH_REFUSE),
            ("a tensor outside every part", {"evil": torch.zeros(1)}, BOTH_EITHER),
            ("a target network part too", {f"target_network/{name[6:]}": t for name, t in
                                           self.base.tensors.items()
                                           if name.startswith("agent/")}, BOTH_EITHER),
            ("an empty tensor", {"extra/empty": torch.zeros(0, 5)}, BOTH_EITHER),
        ]
        for label, change, expect in edits:
            self.add("tensors", label, self.base.with_tensors(change), expect)
        module_tensors = dict(self.module.tensors)
        self.add("tensors", "a plain safetensors file (no agentnet header)",
                 build(module_tensors, None), MODULE_LOADS)
        self.add("tensors", "a plain file, a weight of another shape",
                 build({**module_tensors, "layers.q.weight": torch.zeros(3, 8)}, None),
                 BOTH_REFUSE)
        self.add("tensors", "a plain file with no tensors", build({}, None), BOTH_REFUSE)
        self.add("tensors", "save() file, kind checkpoint", self.module.with_meta(
            {**self.module.meta, "kind": "checkpoint"}), BOTH_REFUSE)

    def add_controls(self) -> None:
        """Valid files: these must load (they check the harness as much as the library)."""
        self.add("valid files", "the checkpoint itself", self.base.data, BOTH_LOAD)
        self.add("valid files", "the save() file", self.module.data, MODULE_LOADS)
        self.add("valid files", "checkpoint rebuilt by this script",
                 self.base.with_tensors({}), BOTH_LOAD)

    def add_filesystem(self) -> None:
        def at(name: str) -> str:
            return os.path.join(self.directory, f"{len(self.items):04d}-{name}")

        entries: list[tuple[str, str, dict[str, str]]] = []
        path = at("empty")
        open(path, "wb").close()
        entries.append(("an empty file", path, BOTH_REFUSE))
        path = at("directory")
        os.mkdir(path)
        entries.append(("a directory", path, BOTH_REFUSE))
        path = at("directory-with-file")
        os.mkdir(path)
        with open(os.path.join(path, "model.safetensors"), "wb") as file:
            file.write(self.base.data)
        entries.append(("a directory holding a checkpoint", path, BOTH_REFUSE))
        path = at("loop")
        os.symlink(os.path.basename(path), path)
        entries.append(("a symlink to itself", path, BOTH_REFUSE))
        path, other = at("loop-a"), at("loop-b")
        os.symlink(os.path.basename(other), path)
        os.symlink(os.path.basename(path), other)
        entries.append(("symlinks a -> b -> a", path, BOTH_REFUSE))
        path = at("fifo")
        os.mkfifo(path)
        entries.append(("a FIFO", path, BOTH_REFUSE))
        path = at("dev-zero")
        os.symlink("/dev/zero", path)
        entries.append(("a symlink to /dev/zero", path, BOTH_REFUSE))
        path, target = at("link"), at("target")
        with open(target, "wb") as file:
            file.write(self.base.data)
        os.symlink(os.path.basename(target), path)
        entries.append(("a symlink to a valid checkpoint", path, BOTH_LOAD))
        for name, where, expect in entries:
            self.items.append(Hostile(len(self.items), "filesystem", name, where, None, expect))

    # random mutations, to fill the corpus up to the requested size
    def add_bit_flip(self) -> None:
        regions = self.base.regions()
        region = self.random.choice(sorted(regions))
        begin, end = regions[region]
        data = bytearray(self.base.data)
        flips = self.random.choice([1, 1, 1, 2, 3, 8])
        where = []
        for _ in range(flips):
            bit = self.random.randrange(begin * 8, end * 8)
            data[bit // 8] ^= 1 << (bit % 8)
            where.append(f"{bit // 8}.{bit % 8}")
        self.add("bit flips", f"{region}: {flips} bit(s) flipped at byte.bit {', '.join(where)}",
                 bytes(data), BOTH_EITHER)

    def add_byte_edit(self) -> None:
        data = bytearray(self.base.data)
        at = self.random.randrange(len(data))
        n = self.random.randint(1, 16)
        operation = self.random.choice(["set", "delete", "insert", "duplicate", "zero", "ff"])
        if operation == "set":
            data[at] = self.random.randrange(256)
        elif operation == "delete":
            del data[at:at + n]
        elif operation == "insert":
            data[at:at] = self.random.randbytes(n)
        elif operation == "duplicate":
            data[at:at] = data[at:at + n]
        else:
            data[at:at + n] = (b"\0" if operation == "zero" else b"\xff") * len(data[at:at + n])
        self.add("byte edits", f"{operation} {n} byte(s) at {at}", bytes(data), BOTH_EITHER)

    def add_value_replacement(self) -> None:
        """A random item of the agentnet header replaced by a hostile value, or removed."""
        paths: list[tuple[Any, ...]] = []

        def walk(value: Any, keys: tuple[Any, ...]) -> None:
            if keys[:1] == ("tensors",):
                return
            paths.append(keys)
            if isinstance(value, dict):
                for key, item in value.items():
                    walk(item, (*keys, key))
            elif isinstance(value, list):
                indices = range(len(value)) if len(value) < 20 else self.random.sample(
                    range(len(value)), 3)
                for index in indices:
                    walk(value[index], (*keys, index))

        walk(self.base.meta, ())
        keys = self.random.choice(paths[1:])
        values = [DELETE, None, True, False, 0, -1, 1, 624, 625, 2**32, 2**64, 10**30, 0.5,
                  -0.0, 1e308, INFINITY, "", "x", "checkpoint", [], {}, [0], {"$tensor":
                  "rng/torch"}, {"$tensor": "agent/layers.q.weight"}, {"$float": "nan"},
                  {"$tuple": []}, {"$dict": []}, {"$dict": [[0, {}]]}, nested(70)]
        value = self.random.choice(values)
        if value is DELETE and isinstance(keys[-1], int):
            value = None
        label = "removed" if value is DELETE else f"set to {json.dumps(value)[:40]}"
        self.add("header values", f"{'.'.join(map(str, keys))} {label}",
                 self.base.with_meta(edited(self.base.meta, keys, value)), BOTH_EITHER)


def build_corpus(directory: str, n_files: int, seed: int) -> list[Hostile]:
    builder = CorpusBuilder(directory, seed)
    for add in (builder.add_controls, builder.add_payloads, builder.add_truncations,
                builder.add_length_lies, builder.add_table_edits, builder.add_meta_edits,
                builder.add_rng_edits, builder.add_optimizer_edits, builder.add_tensor_edits,
                builder.add_filesystem):
        add()
    made = len(builder.items)
    random_kinds = [builder.add_bit_flip, builder.add_byte_edit, builder.add_value_replacement]
    for k in range(max(0, n_files - made)):
        random_kinds[k % 3]()
    items = builder.items
    if n_files < len(items):  # a smaller corpus: the valid files, and a sample of the rest
        sample = builder.random.sample(range(3, len(items)), max(0, n_files - 3))
        keep = set(range(min(3, n_files))) | set(sample)
        items = [item for item in items if item.index in keep]
    return items


# --- loading one file, in a worker process ---------------------------------------------------
def snapshot(agent: Agent, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    return {"agent state": copy.deepcopy(agent.state_dict()),
            "optimizer state": copy.deepcopy(optimizer.state_dict()),
            "torch rng": torch.get_rng_state(), "numpy rng": np.random.get_state(),
            "python rng": random.getstate()}


def same(a: Any, b: Any) -> bool:
    """Equal nested states: tensors and arrays equal in dtype, shape and value (NaN == NaN)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and \
            bool(torch.eq(a, b).logical_or(a.isnan() & b.isnan() if a.is_floating_point()
                                           else torch.zeros_like(a, dtype=torch.bool)).all())
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def kind(dtype: torch.dtype) -> str:
    return "bool" if dtype == torch.bool else "complex" if dtype.is_complex else \
        "float" if dtype.is_floating_point else "integer"


def unfaithful(path: str, loader: str, agent: Agent, info: Any) -> str | None:
    """Why the load that succeeded did not apply a valid file's contents, or None."""
    try:
        meta, tensors = strict_parse(path)
    except Exception as error:  # noqa: BLE001 - any failure of the oracle is a finding
        return f"the file is invalid ({type(error).__name__}: {error})"
    try:
        checkpoint = meta is not None and meta["kind"] == "checkpoint"
        if loader == "load_checkpoint" and not checkpoint:
            return "not a checkpoint"
        prefix = "agent/" if checkpoint else ""
        theirs = {k[len(prefix):]: t for k, t in tensors.items() if k.startswith(prefix)}
        mine = agent.state_dict()
        if set(theirs) != set(mine):
            return "the file's tensors are not the model's"
        for name, tensor in mine.items():
            if theirs[name].shape != tensor.shape or kind(theirs[name].dtype) != kind(
                    tensor.dtype) or not same(theirs[name].to(tensor.dtype), tensor):
                return f"{name} is not the file's"
        if loader == "load":
            return None
        rng = meta["rng"]
        generator = torch.Generator()  # torch normalizes fields it does not use
        generator.set_state(tensors[rng["torch"]])
        if not same(torch.get_rng_state(), generator.get_state()):
            return "torch's random state is not the file's"
        saved = rng["numpy"]
        state = np.random.get_state()
        if state[0] != saved["algorithm"] or state[1].tolist() != tensors[
                saved["keys"]].tolist() or state[2:] != (saved["pos"], saved["has_gauss"],
                                                         saved["cached_gaussian"]):
            return "numpy's random state is not the file's"
        saved = rng["python"]
        if random.getstate() != (saved["version"], tuple(saved["internal"]),
                                 saved["gauss_next"]):
            return "Python's random state is not the file's"
        if info["step"] != meta["step"]:
            return "the step returned is not the file's"
    except Exception as error:  # noqa: BLE001
        return f"the oracle failed on it ({type(error).__name__}: {error})"
    return None


def after_load(item: dict[str, Any], loader: str, agent: Agent,
               optimizer: torch.optim.Optimizer, info: Any) -> dict[str, Any]:
    """What a load that succeeded left: the oracle's verdict, then the next draws and step."""
    report: dict[str, Any] = {"unfaithful": unfaithful(item["path"], loader, agent, info)}
    try:
        draws = {"numpy": np.random.rand(100_000),  # numpy's pos 10**9 once segfaulted here
                 "torch": torch.rand(100_000).numpy(),
                 "python": np.array([random.random() for _ in range(1000)])}
        np.random.standard_normal(3)  # loops until it draws a point inside the unit circle
        torch.randn(3)
        random.gauss(0, 1)
        random.normalvariate(0, 1)  # loops until two uniform draws pass a test
        report["degenerate draws"] = [name for name, values in draws.items()
                                      if np.unique(values).size < values.size // 2]
    except Exception as error:  # noqa: BLE001
        report["draw error"] = f"{type(error).__name__}: {error}"
    params = [p for group in optimizer.param_groups for p in group["params"]]
    report["finite weights"] = all(bool(torch.isfinite(p).all()) for p in params)
    if loader == "load_checkpoint":
        for p in params:
            p.grad = torch.full_like(p, 0.01)
        try:
            optimizer.step()
        except Exception as error:  # noqa: BLE001
            report["step error"] = f"{type(error).__name__}: {error}"[:300]
        report["finite after step"] = all(bool(torch.isfinite(p).all()) for p in params)
    return report


def trial(item: dict[str, Any], loader: str) -> dict[str, Any]:
    agent, optimizer = trained(1)
    seed_everything(7)
    before = snapshot(agent, optimizer)
    result: dict[str, Any] = {"index": item["index"], "loader": loader}
    info = None
    try:
        if loader == "load_checkpoint":
            info = load_checkpoint(item["path"], agent, optimizer=optimizer)
        else:
            load(agent, item["path"])
    except PersistenceError as error:
        result.update(outcome="refused", message=str(error)[:400])
    except BaseException as error:  # noqa: BLE001 - SystemExit from a payload counts too
        if isinstance(error, KeyboardInterrupt):
            raise
        result.update(outcome="error", message=f"{type(error).__name__}: {error}"[:400],
                      traceback=traceback.format_exc()[-3000:])
    else:
        result.update(outcome="loaded", **after_load(item, loader, agent, optimizer, info))
    if result["outcome"] != "loaded":
        after = snapshot(agent, optimizer)
        result["changed"] = [key for key in before if not same(before[key], after[key])]
    result["code ran"] = item["marker"] is not None and os.path.lexists(item["marker"])
    return result


def worker_main(job: str) -> None:
    """Run a job's loads; a load (with its checks) that takes over TRIAL_SECONDS is a hang:
    faulthandler then prints where it is stuck and ends the process."""
    torch.set_num_threads(1)
    print("READY", flush=True)  # imports done: a failure after this is a load's
    with open(job) as file:
        loads = json.load(file)
    for item, loader in loads:
        faulthandler.dump_traceback_later(TRIAL_SECONDS, exit=True)
        result = trial(item, loader)
        faulthandler.cancel_dump_traceback_later()
        sys.stdout.write("RESULT " + json.dumps(result) + "\n")
        sys.stdout.flush()


# --- running the corpus in subprocesses ------------------------------------------------------
def run_worker(loads: list[tuple[Hostile, str]], jobs_dir: str
               ) -> tuple[dict[tuple[int, str], dict[str, Any]], str | None]:
    """Results by (file index, loader), and why the process died (None if it did not).

    A process that dies before its imports are done (e.g. while the checkout is being
    edited) is retried; if it keeps failing, the run stops: that is no file's doing.
    """
    fd, job = tempfile.mkstemp(suffix=".json", dir=jobs_dir)
    with os.fdopen(fd, "w") as file:
        json.dump([(asdict(item), loader) for item, loader in loads], file)
    command = [sys.executable, os.path.abspath(__file__), "--worker", job]
    for attempt in range(START_ATTEMPTS):
        try:
            done = subprocess.run(command, capture_output=True, text=True,
                                  errors="backslashreplace",
                                  timeout=60 + 2 * TRIAL_SECONDS * len(loads))
            stdout, stderr, status = done.stdout, done.stderr, done.returncode
        except subprocess.TimeoutExpired as expired:  # subprocess.run has killed it
            out = expired.stdout or b""
            stdout = out.decode(errors="backslashreplace") if isinstance(out, bytes) else out
            stderr, status = "", "killed: the watchdog did not fire"
        if stdout.startswith("READY"):
            break
        time.sleep(min(30, 2 ** attempt))
    else:
        raise RuntimeError(f"worker processes fail to start:\n{stderr[-3000:]}")
    results = {}
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            results[result["index"], result["loader"]] = result
    death = None
    if "Timeout (" in stderr:
        death = f"hung (no return within {TRIAL_SECONDS} s), stuck at: {stderr[-1500:]}"
    elif status != 0 or len(results) != len(loads):
        death = f"exit status {status}: {stderr[-2000:]}"
    return results, death


def crash(item: Hostile, loader: str, death: str) -> dict[str, Any]:
    return {"index": item.index, "loader": loader, "outcome": "crash", "message": death,
            "code ran": item.marker is not None and os.path.lexists(item.marker)}


def run_chunk(chunk: list[Hostile], jobs_dir: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Every load of ``chunk``, in one process while none dies.

    When the process dies, the load it was running is re-run alone: if it dies again, it is
    that load's crash, and the loads after it go on in a new process; if not, the crash needed
    the loads before it, and they are all re-run one per process to find the one that dies.
    """
    pending = chunk_loads(chunk)
    results: dict[tuple[int, str], dict[str, Any]] = {}
    notes = []
    while pending:
        got, death = run_worker(pending, jobs_dir)
        results.update(got)
        if death is None:
            break
        ran = [pair for pair in pending if (pair[0].index, pair[1]) not in got]
        suspect, pending = ran[0], ran[1:]
        alone, alone_death = run_worker([suspect], jobs_dir)
        if alone_death is not None:
            results[suspect[0].index, suspect[1]] = crash(*suspect, alone_death)
            continue
        results.update(alone)
        attributed = False
        for item, loader in [pair for pair in chunk_loads(chunk) if pair not in pending]:
            alone, alone_death = run_worker([(item, loader)], jobs_dir)
            results.update(alone)
            if alone_death is not None:
                results[item.index, loader] = crash(item, loader, alone_death)
                attributed = True
        if not attributed:
            notes.append(f"a process running files {chunk[0].index}-{chunk[-1].index} died "
                         f"({death[:300]}), and none of its loads does alone")
    return list(results.values()), notes


def chunk_loads(chunk: list[Hostile]) -> list[tuple[Hostile, str]]:
    return [(item, loader) for item in chunk for loader in LOADERS]


def run_corpus(items: list[Hostile], directory: str, chunk_size: int, jobs: int
               ) -> tuple[list[dict[str, Any]], list[str]]:
    jobs_dir = os.path.join(directory, "jobs")
    os.makedirs(jobs_dir, exist_ok=True)
    chunks = [items[i:i + chunk_size] for i in range(0, len(items), chunk_size)]
    results, notes = [], []
    with ThreadPoolExecutor(jobs) as pool:
        for chunk_results, chunk_notes in pool.map(lambda c: run_chunk(c, jobs_dir), chunks):
            results += chunk_results
            notes += chunk_notes
    return results, notes


# --- judging the loads -----------------------------------------------------------------------
DEFECT, FINDING = "*", "+"
ROWS = {  # row -> DEFECT (breaks a claim: exit status 1), FINDING (listed) or ""
    "tried": "",
    "refused with PersistenceError": "",
    "loaded (a valid file, its contents applied)": "",
    "loaded a file that must be refused": DEFECT,
    "loaded, but not a valid file or not its contents": DEFECT,
    "refused a valid file that must load": DEFECT,
    "other exception": DEFECT,
    "process crashed or hung": DEFECT,
    "code executed (marker file created)": DEFECT,
    "refused but changed something": DEFECT,
    "after the load: a random draw raised": DEFECT,
    "after the load: a random generator draws degenerate numbers": FINDING,
    "after the load: optimizer.step() raised": FINDING,
    "after the load: finite weights non-finite after one step": FINDING,
    "after the load: non-finite weights, as the file holds them": "",
}


def judge(item: Hostile, result: dict[str, Any]) -> list[str]:
    """The rows of the table this load counts in."""
    rows = ["tried"]
    outcome, expect = result["outcome"], item.expect[result["loader"]]
    if outcome == "refused":
        rows.append("refused with PersistenceError")
        if expect == LOAD:
            rows.append("refused a valid file that must load")
    elif outcome == "loaded":
        if expect == REFUSE:
            rows.append("loaded a file that must be refused")
        elif result["unfaithful"]:
            rows.append("loaded, but not a valid file or not its contents")
        else:
            rows.append("loaded (a valid file, its contents applied)")
        if "draw error" in result:
            rows.append("after the load: a random draw raised")
        if result.get("degenerate draws"):
            rows.append("after the load: a random generator draws degenerate numbers")
        if "step error" in result:
            rows.append("after the load: optimizer.step() raised")
        if not result["finite weights"]:
            rows.append("after the load: non-finite weights, as the file holds them")
        elif not result.get("finite after step", True):
            rows.append("after the load: finite weights non-finite after one step")
    elif outcome == "error":
        rows.append("other exception")
    else:
        rows.append("process crashed or hung")
    if result.get("changed"):
        rows.append("refused but changed something")
    if result["code ran"]:
        rows.append("code executed (marker file created)")
    return rows


REASONS = [  # the library's refusal messages, grouped to show how deep the corpus reaches
    ("pickle or zip (never unpickled)", ("a pickle", "a zip archive")),
    ("not a file, symlink loop", ("directory", "not a regular file", "loop of symbolic")),
    ("empty, truncated, length field", ("empty", "truncated", "header claims")),
    ("safetensors header (JSON, entries)", ("not safetensors", "invalid safetensors header")),
    ("sizes and offsets", ("corrupt",)),
    ("safetensors library", ("not a valid safetensors file",)),
    ("agentnet header", ("agentnet header", "unknown format", "format version",
                         "unknown kind")),
    ("model does not fit", ("does not fit",)),
    ("not a checkpoint, parts", ("not a checkpoint", "parts is", "has no")),
    ("random states", ("invalid random state",)),
    ("optimizer state", (": optimizer",)),
    ("step, extra, rng missing", ("invalid checkpoint header",)),
]


def reason(message: str) -> str:
    for label, needles in REASONS:
        if any(needle in message for needle in needles):
            return label
    return "other"


# --- kill -9 during saves --------------------------------------------------------------------
def saver(path: str, start: int, agent: Agent, optimizer: torch.optim.Optimizer,
          report: int) -> None:
    """A forked child's life: save checkpoints to ``path`` until killed, writing each step to
    the pipe ``report`` once its save has returned."""
    try:
        step = start
        while True:
            with torch.no_grad():
                for p in agent.parameters():
                    p.fill_(float(step))
            save_checkpoint(path, agent, optimizer=optimizer, step=step, extra={"step": step})
            os.write(report, f"{step}\n".encode())
            step += 1
    except BaseException:  # noqa: BLE001 - whatever it is, the parent must hear of it
        traceback.print_exc()
    finally:
        os._exit(1)


def run_and_kill(path: str, start: int, agent: Agent, optimizer: torch.optim.Optimizer,
                 delay: float) -> tuple[list[int], bool]:
    """Fork a saver, SIGKILL it after ``delay`` seconds: (the steps it saved, whether the kill
    is what ended it). A fork starts at once: no second of imports per kill."""
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        saver(path, start, agent, optimizer, write_end)
    os.close(write_end)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read_end) as pipe:
        saved = [int(line) for line in pipe.read().split()]
    return saved, os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def temporaries(directory: str, name: str) -> int:
    return sum(1 for entry in os.listdir(directory)
               if (match := TEMPORARY.fullmatch(entry)) and match.group(1) == name)


@dataclass
class KillReport:
    kills: int = 0
    kills_after_a_save: int = 0  # the killed process had completed at least one save
    saves: int = 0
    lost: int = 0  # missing, or unreadable
    wrong: int = 0  # readable, but neither the previous nor the next checkpoint
    max_temporaries_after_kill: int = 0
    max_temporaries_after_next_save: int = 0
    problems: list[str] | None = None


def kill_test(directory: str, kills: int, seed: int, max_delay: float) -> KillReport:
    """Kill savers with SIGKILL; after each kill, check the file and count temporaries."""
    os.makedirs(directory)
    name = "checkpoint.safetensors"
    path = os.path.join(directory, name)
    delays = random.Random(seed)
    report = KillReport(problems=[])
    agent, optimizer = trained(0)
    previous: int | None = None  # the step of the checkpoint on disk
    for round_ in range(kills):
        start = round_ * 100_000  # each process saves steps of its own
        saved, killed = run_and_kill(path, start, agent, optimizer,
                                     delays.uniform(0, max_delay))
        report.kills += 1
        report.saves += len(saved)
        report.kills_after_a_save += bool(saved)
        if not killed:
            report.problems.append(f"round {round_}: the saver died before the kill (its "
                                   f"traceback is above)")
        allowed = {saved[-1], saved[-1] + 1} if saved else {previous, start}
        report.max_temporaries_after_kill = max(report.max_temporaries_after_kill,
                                                temporaries(directory, name))
        if not os.path.exists(path):
            if previous is not None or saved:
                report.lost += 1
                report.problems.append(f"round {round_}: no checkpoint after the kill "
                                       f"(last saved step {saved[-1:] or previous})")
            continue
        loaded, loaded_optimizer = trained(1)
        try:
            info = load_checkpoint(path, loaded, optimizer=loaded_optimizer)
        except Exception as error:  # noqa: BLE001 - unreadable is the finding
            report.lost += 1
            report.problems.append(f"round {round_}: the checkpoint does not load: "
                                   f"{type(error).__name__}: {error}")
            continue
        step = info["step"]
        weights_ok = all(bool((p == float(step)).all()) for p in loaded.parameters())
        if step not in allowed or info["extra"] != {"step": step} or not weights_ok:
            report.wrong += 1
            report.problems.append(f"round {round_}: the checkpoint holds step {step} "
                                   f"(weights match: {weights_ok}), expected one of "
                                   f"{sorted(s for s in allowed if s is not None)}")
        # the next save to the same file (the same checkpoint again) removes dead temporaries
        save_checkpoint(path, loaded, optimizer=loaded_optimizer, step=step,
                        extra=info["extra"])
        report.max_temporaries_after_next_save = max(
            report.max_temporaries_after_next_save, temporaries(directory, name))
        previous = step
    return report


# --- the report ------------------------------------------------------------------------------
def print_loads(items: list[Hostile], results: list[dict[str, Any]], kind: str) -> None:
    """Print every load counted in a row of ``kind`` (DEFECT or FINDING), with its details."""
    by_index = {item.index: item for item in items}
    shown_tracebacks: set[str] = set()
    for result in sorted(results, key=lambda r: (r["index"], r["loader"])):
        item = by_index[result["index"]]
        rows = [row for row in judge(item, result) if ROWS[row] == kind]
        if not rows:
            continue
        print(f"- [{item.group}] {item.name} ({os.path.basename(item.path)}), "
              f"{result['loader']}: {'; '.join(rows)}")
        for key in ("message", "unfaithful", "draw error", "degenerate draws", "step error",
                    "changed"):
            if result.get(key) and (key != "message" or result["outcome"] != "loaded"):
                print(f"    {key}: {result[key]}")
        trace = result.get("traceback")
        if trace:
            last = trace.strip().splitlines()[-1][:120]
            if last not in shown_tracebacks:  # each distinct error's traceback once
                shown_tracebacks.add(last)
                print("    " + trace.strip().replace("\n", "\n    "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=600, help="hostile files (default 600)")
    parser.add_argument("--kills", type=int, default=100, help="savers killed (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: 80 files, 10 kills")
    parser.add_argument("--chunk", type=int, default=40, help="files per worker process")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes at a time")
    parser.add_argument("--max-delay", type=float, default=0.25,
                        help="longest wait before a kill, in seconds (default 0.25)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--log", help="write every load's result to this file (JSON lines)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker_main(args.worker)
    if args.quick:
        args.files, args.kills = 80, 10
    torch.set_num_threads(1)
    began = time.perf_counter()
    command = "python " + " ".join(shlex.quote(a) for a in ["benchmarks/reliability.py",
                                                            *sys.argv[1:]])
    print(f"`{command}`\n")
    print(f"torch {torch.__version__}, numpy {np.__version__}, Python "
          f"{sys.version.split()[0]}, {sys.platform}, {os.cpu_count()} CPUs; seed {args.seed}\n",
          flush=True)

    directory = tempfile.mkdtemp(prefix="agentnet-reliability-")
    try:
        live = check_payloads_are_live(directory)
        items = build_corpus(os.path.join(directory, "corpus"), args.files, args.seed)
        results, notes = run_corpus(items, directory, args.chunk, args.jobs)
        corpus_seconds = time.perf_counter() - began
        markers = os.listdir(os.path.join(directory, "corpus", "markers"))
        kills = kill_test(os.path.join(directory, "kills", "folder"), args.kills, args.seed,
                          args.max_delay)
    finally:
        if args.keep:
            print(f"files kept in {directory}\n")
        else:
            shutil.rmtree(directory, ignore_errors=True)

    by_index = {item.index: item for item in items}
    if args.log:
        with open(args.log, "w") as log:
            for result in sorted(results, key=lambda r: (r["index"], r["loader"])):
                item = by_index[result["index"]]
                log.write(json.dumps({"group": item.group, "name": item.name,
                                      "expect": item.expect[result["loader"]], **result,
                                      "rows": judge(item, result)}) + "\n")
    counts = {loader: Counter() for loader in LOADERS}
    reasons = {loader: Counter() for loader in LOADERS}
    for result in results:
        counts[result["loader"]].update(judge(by_index[result["index"]], result))
        if result["outcome"] == "refused":
            reasons[result["loader"]][reason(result["message"])] += 1
    groups = Counter(item.group for item in items)
    print(f"{len(items)} hostile files: {', '.join(f'{g} {n}' for g, n in groups.items())}. "
          f"Payload self-test: {live}/5 payloads run code when unpickled outside agentnet. "
          f"Each file loaded by load_checkpoint(path, agent, optimizer=adam) and by "
          f"load(agent, path), in subprocesses of {args.chunk} files ({corpus_seconds:.0f} s)."
          f"\n")
    print(f"| hostile files ({DEFECT} defect, {FINDING} finding) | load_checkpoint | load |")
    print("| --- | ---: | ---: |")
    for row, mark in ROWS.items():
        print(f"| {row}{' ' + mark if mark else ''} | {counts['load_checkpoint'][row]} | "
              f"{counts['load'][row]} |")
    print(f"\nMarker files present after all loads: {len(markers)}.")
    print("\nRefusals by the check that refused:\n")
    print("| refused by | load_checkpoint | load |")
    print("| --- | ---: | ---: |")
    for label in [label for label, _ in REASONS] + ["other"]:
        if reasons["load_checkpoint"][label] or reasons["load"][label]:
            print(f"| {label} | {reasons['load_checkpoint'][label]} | "
                  f"{reasons['load'][label]} |")

    print(f"\n| kill -9 during save_checkpoint ({DEFECT} defect) | |")
    print("| --- | ---: |")
    for label, value in [
            ("kills", kills.kills),
            ("kills after at least one completed save", kills.kills_after_a_save),
            ("saves completed by the killed processes", kills.saves),
            (f"checkpoint missing or unreadable after a kill {DEFECT}", kills.lost),
            (f"checkpoint neither the previous nor the next one {DEFECT}", kills.wrong),
            ("max stray temporaries after a kill", kills.max_temporaries_after_kill),
            (f"max stray temporaries after the next save {DEFECT}",
             kills.max_temporaries_after_next_save)]:
        print(f"| {label} | {value} |")
    print(f"\nTotal time {time.perf_counter() - began:.0f} s.\n")

    defects = sum(counts[loader][row] for loader in LOADERS for row, mark in ROWS.items()
                  if mark == DEFECT) + len(markers) + len(notes) + len(kills.problems) + \
        (kills.max_temporaries_after_next_save > 0)
    findings = sum(counts[loader][row] for loader in LOADERS for row, mark in ROWS.items()
                   if mark == FINDING)
    if findings:
        print(f"Findings ({FINDING}: files loaded without complaint that break what comes "
              f"next: the next optimizer step, or the random generators):\n")
        print_loads(items, results, FINDING)
        print()
    if defects:
        print("Defects:\n")
        print_loads(items, results, DEFECT)
        for note in notes + kills.problems:
            print(f"- {note}")
        if markers:
            print(f"- marker files created: {sorted(markers)}")
    else:
        print("No defect found.")
    sys.exit(1 if defects else 0)


if __name__ == "__main__":
    main()
