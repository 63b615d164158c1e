"""A corpus of hostile and broken files: each is refused with PersistenceError, and no code runs.

Pickle payloads create a sentinel directory when unpickled; the sentinel must never appear.
"""
import io
import json
import os
import pickle
import tempfile
import zipfile

import pytest
import safetensors
import safetensors.torch
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


def small_agent(seed=0, n_hidden=8):
    torch.manual_seed(seed)
    obs = L.InputLayer((None, 4), name="observation")
    hidden = L.DenseLayer(obs, n_hidden, name="hidden")
    q = L.DenseLayer(hidden, 2, nonlinearity=None, name="q")
    return Agent(obs, policy_estimators=q,
                 action_layers=EpsilonGreedyResolver(q, epsilon=0.1, name="resolver"))


class Payload:
    """Unpickling this calls ``os.mkdir(sentinel)``: proof that code ran."""

    def __init__(self, sentinel):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return os.mkdir, (self.sentinel,)


def safetensors_bytes(tensors, metadata=None):
    return safetensors.torch.save(tensors, metadata=metadata)


def split(data):
    """(header dict, data bytes) of a safetensors file."""
    length = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + length]), data[8 + length:]


def join(header, body):
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + body


def with_agentnet_header(data, change):
    """The file with its agentnet metadata (a JSON string) passed through ``change``."""
    header, body = split(data)
    header["__metadata__"]["agentnet"] = change(header["__metadata__"]["agentnet"])
    return join(header, body)


def edit_json(function):
    def change(text):
        value = json.loads(text)
        function(value)
        return json.dumps(value)
    return change


def corpus(sentinel, directory):
    """{name: bytes} of hostile or broken files for ``small_agent()``."""
    agent = small_agent()
    payload = Payload(sentinel)
    save(agent, os.path.join(directory, "valid.safetensors"))
    with open(os.path.join(directory, "valid.safetensors"), "rb") as file:
        valid = file.read()
    tensors = {k: v.clone() for k, v in agent.state_dict().items()}
    length = int.from_bytes(valid[:8], "little")

    files = {
        "empty": b"",
        "pickle protocol 0": pickle.dumps(payload, protocol=0),
        "pickle protocol 2": pickle.dumps(payload, protocol=2),
        "pickle protocol 5": pickle.dumps(payload, protocol=5),
        "pickle in a dict": pickle.dumps({"layers.q.weight": payload}, protocol=4),
    }
    buffer = io.BytesIO()
    torch.save({"state": payload}, buffer)
    files["torch.save zip"] = buffer.getvalue()
    buffer = io.BytesIO()
    torch.save({"state": payload}, buffer, _use_new_zipfile_serialization=False)
    files["torch.save legacy"] = buffer.getvalue()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(payload))
    files["zip renamed"] = buffer.getvalue()
    files["pickle behind a length"] = len(files["pickle protocol 2"]).to_bytes(8, "little") + \
        files["pickle protocol 2"]
    for cut in [3, 8, 9, 8 + length // 2, 8 + length, 8 + length + 10, len(valid) - 1]:
        files[f"truncated at {cut}"] = valid[:cut]
    body = valid[8:]
    for name, claimed in [("length past the end", len(body) + 1), ("length 2**64-1", 2**64 - 1),
                          ("length 2**63", 2**63), ("length 2**40", 2**40), ("length 0", 0),
                          ("length 1", 1)]:
        files[f"header {name}"] = claimed.to_bytes(8, "little") + body
    files["header garbage"] = join(b"\x00\x01garbage!", b"")
    files["header not utf-8"] = join(b'{"\xff\xfe": 1}', b"")
    files["header a JSON list"] = join(b"[1, 2, 3]", b"")
    files["header deeply nested"] = join(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}", b"")
    files["header duplicate tensor"] = join(
        b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
        b'"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', b"\0" * 8)
    files["header offsets past the data"] = join(
        {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 4)
    files["header overlapping offsets"] = join(
        {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
         "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4)
    files["header shape overflows"] = join(
        {"a": {"dtype": "F32", "shape": [2**62, 2**62], "data_offsets": [0, 4]}}, b"\0" * 4)
    files["header unknown dtype"] = join(
        {"a": {"dtype": "PICKLE", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4)
    files["metadata not JSON"] = with_agentnet_header(valid, lambda text: text[:-5])
    files["metadata a string"] = with_agentnet_header(valid, lambda text: json.dumps(text))
    files["metadata deeply nested"] = with_agentnet_header(
        valid, lambda text: text[:-1] + ',"x":' + "[" * 100_000 + "]" * 100_000 + "}")
    files["metadata NaN constant"] = with_agentnet_header(
        valid, lambda text: text[:-1] + ',"x":NaN}')
    files["metadata duplicate keys"] = with_agentnet_header(
        valid, lambda text: text[:-1] + ',"kind":"checkpoint"}')
    files["metadata other format"] = with_agentnet_header(
        valid, edit_json(lambda h: h.update(format="pickle")))
    files["metadata future version"] = with_agentnet_header(
        valid, edit_json(lambda h: h.update(format_version=99)))
    files["metadata unknown kind"] = with_agentnet_header(
        valid, edit_json(lambda h: h.update(kind="exec")))
    files["metadata tensor list lies"] = with_agentnet_header(
        valid, edit_json(lambda h: h["tensors"]["layers.q.bias"].update(shape=[3])))
    wrong_shapes = {k: v.clone() for k, v in small_agent(n_hidden=16).state_dict().items()}
    files["wrong shapes"] = safetensors_bytes(wrong_shapes)
    wrong_dtype = dict(tensors, **{"layers.q.weight": torch.zeros(2, 8, dtype=torch.int32)})
    files["wrong dtype"] = safetensors_bytes(wrong_dtype)
    files["bool for float"] = safetensors_bytes(
        dict(tensors, **{"layers.q.bias": torch.ones(2, dtype=torch.bool)}))
    files["unexpected tensor"] = safetensors_bytes(dict(tensors, evil=torch.zeros(1)))
    files["missing tensor"] = safetensors_bytes(
        {k: v for k, v in tensors.items() if k != "layers.q.bias"})
    files["no tensors"] = safetensors_bytes({})
    return files


with tempfile.TemporaryDirectory() as _directory:
    CORPUS_NAMES = list(corpus("/nonexistent/sentinel", _directory))


def test_the_corpus_is_big_and_its_payloads_are_live(tmp_path):
    assert len(CORPUS_NAMES) >= 20
    sentinel = tmp_path / "sentinel"
    pickle.loads(pickle.dumps(Payload(sentinel)))  # noqa: S301 - proving the payload works
    assert sentinel.exists()


@pytest.fixture
def sentinel(tmp_path):
    path = tmp_path / "sentinel"
    yield path
    assert not path.exists(), "a payload ran"


@pytest.mark.parametrize("name", CORPUS_NAMES)
@pytest.mark.parametrize("loader", ["load", "load_checkpoint"])
def test_hostile_file_is_refused_and_runs_nothing(tmp_path, sentinel, name, loader):
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(corpus(sentinel, tmp_path)[name])
    agent = small_agent(seed=3)
    before = {k: v.clone() for k, v in agent.state_dict().items()}
    with pytest.raises(PersistenceError) as error:
        if loader == "load":
            load(agent, path)
        else:
            load_checkpoint(path, agent, optimizer=torch.optim.Adam(agent.parameters()))
    assert str(path) in str(error.value)
    after = agent.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not sentinel.exists()


@pytest.mark.parametrize("kind", ["directory", "/dev/zero", "fifo"])
def test_things_that_are_not_files_are_refused(tmp_path, kind):
    path = tmp_path / "thing.safetensors"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs here")
        os.mkfifo(path)
    else:
        if not os.path.exists("/dev/zero"):
            pytest.skip("no /dev/zero here")
        path.symlink_to("/dev/zero")
    with pytest.raises(PersistenceError, match="not a (regular )?file"):
        load(small_agent(), path)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        load(small_agent(), tmp_path / "missing.safetensors")


def rewrite_checkpoint(path, change_header=None, change_tensors=None):
    with safetensors.safe_open(path, framework="pt") as file:
        tensors = {name: file.get_tensor(name) for name in file.keys()}
        header = json.loads(file.metadata()["agentnet"])
    if change_tensors:
        change_tensors(tensors)
    if change_header:
        change_header(header)
    header["tensors"] = {k: {"dtype": str(v.dtype)[6:], "shape": list(v.shape)}
                         for k, v in tensors.items()}
    path.write_bytes(safetensors_bytes(tensors, {"agentnet": json.dumps(header)}))


def _set(mapping, keys, value):
    for key in keys[:-1]:
        mapping = mapping[key]
    mapping[keys[-1]] = value


CHECKPOINT_DAMAGE = {
    "torch rng too short": dict(change_tensors=lambda t: t.update(
        {"rng/torch": t["rng/torch"][:100]})),
    "torch rng wrong dtype": dict(change_tensors=lambda t: t.update(
        {"rng/torch": t["rng/torch"].float()})),
    "numpy rng wrong size": dict(change_tensors=lambda t: t.update(
        {"rng/numpy": t["rng/numpy"][:10]})),
    "python rng garbage": dict(change_header=lambda h: _set(h, ["rng", "python", "internal"],
                                                            [1, 2, 3])),
    "python rng huge ints": dict(change_header=lambda h: _set(
        h, ["rng", "python", "internal"], [2**80] * 625)),
    "rng missing": dict(change_header=lambda h: h.pop("rng")),
    "step not an int": dict(change_header=lambda h: h.update(step="7; rm -rf /")),
    "extra refers to a missing tensor": dict(change_header=lambda h: h.update(
        extra={"$tensor": "nowhere"})),
    "extra unknown tag": dict(change_header=lambda h: h.update(extra={"$exec": "print(1)"})),
    "extra deeply nested": dict(change_header=lambda h: h.update(
        extra=json.loads("[" * 500 + "]" * 500))),
    "optimizer state missing tensor": dict(change_tensors=lambda t: t.pop(
        next(k for k in t if k.startswith("optimizer/")))),
    "optimizer unhashable key": dict(change_header=lambda h: _set(
        h, ["parts", "optimizer", "state_dict", "state"], {"$dict": [[[1], {}]]})),
    "optimizer state outside the groups": dict(change_header=lambda h: _set(
        h, ["parts", "optimizer", "state_dict", "state"], {"$dict": [[99, {}]]})),
    "optimizer groups not a list": dict(change_header=lambda h: _set(
        h, ["parts", "optimizer", "state_dict", "param_groups"], 5)),
    "agent part missing": dict(change_header=lambda h: h["parts"].pop("agent")),
}


@pytest.mark.parametrize("name", list(CHECKPOINT_DAMAGE))
def test_damaged_checkpoint_is_refused_before_anything_changes(tmp_path, name):
    agent = small_agent(seed=0)
    optimizer = torch.optim.Adam(agent.parameters())
    agent.get_agent_reaction(None, torch.randn(3, 4)).policy.sum().backward()
    optimizer.step()
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, agent, optimizer=optimizer, step=3)
    rewrite_checkpoint(path, **CHECKPOINT_DAMAGE[name])

    fresh = small_agent(seed=1)
    fresh_optimizer = torch.optim.Adam(fresh.parameters())
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    rng = torch.get_rng_state()
    with pytest.raises(PersistenceError, match="c.safetensors"):
        load_checkpoint(path, fresh, optimizer=fresh_optimizer)
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in before.items())
    assert fresh_optimizer.state_dict()["state"] == {}
    assert torch.equal(torch.get_rng_state(), rng)


def test_the_load_path_has_no_unpickler():
    import ast
    import inspect

    from agentnet.utils import persistence, safetensors_file

    nodes = [node for module in (persistence, safetensors_file)
             for node in ast.walk(ast.parse(inspect.getsource(module)))]
    imported = {alias.name.split(".")[0] for node in nodes
                if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in nodes
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
    calls = {ast.unparse(node.func) for node in nodes if isinstance(node, ast.Call)}
    assert "safetensors.torch.load" in calls
    assert not calls & {"torch.load", "pickle.load", "pickle.loads", "eval", "exec"}
