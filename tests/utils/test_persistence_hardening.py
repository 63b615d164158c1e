"""Hardening of persistence: random states that would crash the process after a load, files
larger than their header says (read before being refused), optimizer state that would fail or
poison the next step, symlink loops, temporaries of killed saves, and load_checkpoint's
``validate`` hook. Everything refused is refused before anything changes."""
import copy
import json
import math
import os
import random
import secrets
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import safetensors
import safetensors.torch
import torch
from torch import nn

from agentnet import Agent
from agentnet import layers as L
from agentnet.resolver import EpsilonGreedyResolver
from agentnet.utils import safetensors_file
from agentnet.utils.persistence import (
    PersistenceError,
    load,
    load_checkpoint,
    save,
    save_checkpoint,
)

torch.set_num_threads(1)
HERE = os.path.dirname(os.path.abspath(__file__))
GIB = 2**30
INFINITY = "__infinity__"  # written into a header as the JSON number 1e999 (read as inf)


def small_agent(seed=0, n_hidden=8):
    torch.manual_seed(seed)
    obs = L.InputLayer((None, 4), name="observation")
    hidden = L.DenseLayer(obs, n_hidden, name="hidden")
    q = L.DenseLayer(hidden, 2, nonlinearity=None, name="q")
    return Agent(obs, policy_estimators=q,
                 action_layers=EpsilonGreedyResolver(q, epsilon=0.1, name="resolver"))


def trained(seed=0, optimizer_class=torch.optim.Adam, steps=1, **settings):
    """A small agent and its optimizer after ``steps`` steps (the optimizer has state)."""
    agent = small_agent(seed)
    optimizer = optimizer_class(agent.parameters(), **settings)
    observations = torch.randn(3, 4, generator=torch.Generator().manual_seed(seed))

    def closure():
        optimizer.zero_grad()
        loss = agent.get_agent_reaction(None, observations).policy.pow(2).sum()
        loss.backward()
        return loss

    for _ in range(steps):
        optimizer.step(closure)
    return agent, optimizer


def checkpoint(tmp_path, name="c.safetensors", **settings):
    agent, optimizer = trained(0, **settings)
    path = tmp_path / name
    save_checkpoint(path, agent, optimizer=optimizer, step=3, extra={"phase": "warmup"})
    return path


def rewrite(path, header=None, tensors=None):
    """Re-save a checkpoint with its agentnet header and tensors passed through the functions
    given (the header's tensor list kept consistent: only the change is wrong)."""
    with safetensors.safe_open(path, framework="pt") as file:
        saved = {name: file.get_tensor(name) for name in file.keys()}
        meta = json.loads(file.metadata()["agentnet"])
    if tensors:
        tensors(saved)
    if header:
        header(meta)
    meta["tensors"] = {name: {"dtype": str(t.dtype).removeprefix("torch."),
                              "shape": list(t.shape)} for name, t in saved.items()}
    text = json.dumps(meta).replace(json.dumps(INFINITY), "1e999")
    path.write_bytes(safetensors.torch.save(saved, {"agentnet": text}))


def state_of(agent, optimizer):
    return copy.deepcopy((agent.state_dict(), optimizer.state_dict()))


def assert_same(a, b):
    """Equal nested state: tensors equal in value, dtype and shape; the rest ==."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a == b


def rng_states():
    return torch.get_rng_state(), np.random.get_state(), random.getstate()


def assert_rng_unchanged(before):
    torch_state, numpy_state, python_state = rng_states()
    assert torch.equal(torch_state, before[0])
    assert numpy_state[0] == before[1][0] and np.array_equal(numpy_state[1], before[1][1])
    assert numpy_state[2:] == before[1][2:]
    assert python_state == before[2]


# --- 1. random states: every field checked, nothing can crash the process later -------------
@pytest.mark.parametrize("pos", [10**9, -5])
def test_numpy_position_out_of_range_is_refused_instead_of_crashing_the_next_draw(tmp_path,
                                                                                  pos):
    path = checkpoint(tmp_path)
    rewrite(path, header=lambda h: h["rng"]["numpy"].update(pos=pos))
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        sys.path.insert(0, {HERE!r})
        from test_persistence_hardening import small_agent
        from agentnet.utils.persistence import PersistenceError, load_checkpoint
        try:
            load_checkpoint({str(path)!r}, small_agent(1))
        except PersistenceError as error:
            print("refused:", error)
        else:
            draws = np.random.rand(100_000)  # pos 10**9 segfaulted here
            print("loaded; drew", np.unique(draws).size, "distinct numbers")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"exit code {result.returncode}: {result.stderr[-3000:]}"
    assert result.stdout.startswith("refused:"), result.stdout
    assert str(path) in result.stdout and "numpy's pos" in result.stdout


def _python_internal(change):
    def edit(h):
        internal = h["rng"]["python"]["internal"]
        change(internal)
    return edit


RNG_DAMAGE = {
    "numpy pos 10**9": (lambda h: h["rng"]["numpy"].update(pos=10**9), "numpy's pos"),
    "numpy pos -1": (lambda h: h["rng"]["numpy"].update(pos=-1), "numpy's pos"),
    "numpy pos 625": (lambda h: h["rng"]["numpy"].update(pos=625), "numpy's pos"),
    "numpy pos a bool": (lambda h: h["rng"]["numpy"].update(pos=True), "numpy's pos"),
    "numpy pos a float": (lambda h: h["rng"]["numpy"].update(pos=3.0), "numpy's pos"),
    "numpy pos missing": (lambda h: h["rng"]["numpy"].pop("pos"), "pos"),
    "numpy algorithm": (lambda h: h["rng"]["numpy"].update(algorithm="PCG64"), "algorithm"),
    "numpy has_gauss 2": (lambda h: h["rng"]["numpy"].update(has_gauss=2), "has_gauss"),
    "numpy has_gauss a bool": (lambda h: h["rng"]["numpy"].update(has_gauss=True),
                               "has_gauss"),
    "numpy cached_gaussian a string": (
        lambda h: h["rng"]["numpy"].update(cached_gaussian="0.5"), "cached_gaussian"),
    "numpy cached_gaussian infinite": (
        lambda h: h["rng"]["numpy"].update(has_gauss=1, cached_gaussian=INFINITY),
        "cached_gaussian"),
    "python version 2": (lambda h: h["rng"]["python"].update(version=2), "version"),
    "python version a bool": (lambda h: h["rng"]["python"].update(version=True), "version"),
    "python internal too short": (_python_internal(lambda s: s.pop()), "625 ints"),
    "python internal negative": (_python_internal(lambda s: s.__setitem__(5, -1)), "625 ints"),
    "python internal 2**32": (_python_internal(lambda s: s.__setitem__(5, 2**32)), "625 ints"),
    "python internal a bool": (_python_internal(lambda s: s.__setitem__(5, True)), "625 ints"),
    "python position 625": (_python_internal(lambda s: s.__setitem__(624, 625)), "position"),
    "python internal not a list": (lambda h: h["rng"]["python"].update(internal="abc"),
                                   "625 ints"),
    "python gauss_next a string": (lambda h: h["rng"]["python"].update(gauss_next="0.5"),
                                   "gauss_next"),
    "python gauss_next infinite": (lambda h: h["rng"]["python"].update(gauss_next=INFINITY),
                                   "gauss_next"),
    "numpy keys a float": (lambda h: h["rng"]["numpy"].update(keys=1.5), "random state"),
    # the one state a Mersenne Twister never leaves: 0.0 forever, normal draws hang
    "python internal all zeros": (_python_internal(lambda s: s.__setitem__(
        slice(0, 624), [0] * 624)), "degenerate"),
    "python internal zeros but the low bits of the first": (_python_internal(
        lambda s: s.__setitem__(slice(0, 624), [0x7FFFFFFF] + [0] * 623)), "degenerate"),
}
RNG_TENSOR_DAMAGE = {
    "torch state one byte longer": lambda t: t.update(
        {"rng/torch": torch.cat([t["rng/torch"], torch.zeros(1, dtype=torch.uint8)])}),
    "torch state 2-d": lambda t: t.update({"rng/torch": t["rng/torch"][None]}),
    "torch state int16": lambda t: t.update({"rng/torch": t["rng/torch"].short()}),
    "numpy keys one short": lambda t: t.update({"rng/numpy": t["rng/numpy"][:-1]}),
    "numpy keys all zeros": lambda t: t.update({"rng/numpy": torch.zeros_like(t["rng/numpy"])}),
}


@pytest.mark.parametrize("name", list(RNG_DAMAGE) + list(RNG_TENSOR_DAMAGE))
def test_every_field_of_every_random_state_is_checked_before_anything_changes(tmp_path, name):
    path = checkpoint(tmp_path)
    if name in RNG_DAMAGE:
        change, field = RNG_DAMAGE[name]
        rewrite(path, header=change)
    else:
        field = "state" if name.startswith("torch") else "keys"
        field = "degenerate" if name.endswith("all zeros") else field
        rewrite(path, tensors=RNG_TENSOR_DAMAGE[name])
    agent, optimizer = trained(1)
    before, rng = state_of(agent, optimizer), rng_states()
    with pytest.raises(PersistenceError, match="invalid random state") as error:
        load_checkpoint(path, agent, optimizer=optimizer)
    assert str(path) in str(error.value) and field in str(error.value)
    assert_same(state_of(agent, optimizer), before)
    assert_rng_unchanged(rng)


def test_valid_random_states_still_round_trip_with_a_cached_gaussian(tmp_path):
    np.random.seed(1)
    np.random.standard_normal()  # numpy now caches a gaussian: has_gauss 1
    random.seed(2)
    random.gauss(0, 1)  # and Python keeps gauss_next
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, small_agent(0))
    expected = (np.random.standard_normal(3), random.gauss(0, 1), random.random())
    np.random.seed(5)
    random.seed(5)
    load_checkpoint(path, small_agent(1))
    assert np.array_equal(np.random.standard_normal(3), expected[0])
    assert (random.gauss(0, 1), random.random()) == expected[1:]


# --- 2. files larger than their header says: refused before the data is read ----------------
def _split(data):
    length = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + length]), data[8 + length:]


def _join(header, body):
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + body


def _huge_tensor(valid, name, shape):
    """``valid`` (a safetensors file) with ``name`` now declaring ``shape`` float32 at the end
    of the data, and the file's size that makes the header exactly right."""
    header, body = _split(valid)
    entry = header.pop(name, None)
    if entry is not None:  # take its bytes out, shift the tensors after it
        begin, end = entry["data_offsets"]
        body = body[:begin] + body[end:]
        for other in header.values():
            if "data_offsets" in other and other["data_offsets"][0] >= end:
                other["data_offsets"] = [o - (end - begin) for o in other["data_offsets"]]
    nbytes = math.prod(shape) * 4
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(body),
                                                                     len(body) + nbytes]}
    if "agentnet" in header.get("__metadata__", {}):
        meta = json.loads(header["__metadata__"]["agentnet"])
        meta["tensors"][name] = {"dtype": "float32", "shape": shape}
        header["__metadata__"]["agentnet"] = json.dumps(meta)
    data = _join(header, body)
    return data, len(data) + nbytes


def _sparse(path, data, size):
    path.write_bytes(data)
    with open(path, "r+b") as file:
        file.truncate(size)
    if os.stat(path).st_blocks * 512 > GIB:
        pytest.skip("this file system has no sparse files")


def _valid_module_file(tmp_path):
    save(small_agent(0), tmp_path / "module.safetensors")
    return (tmp_path / "module.safetensors").read_bytes()


def _valid_checkpoint(tmp_path):
    return checkpoint(tmp_path, "valid.safetensors").read_bytes()


HUGE_FILES = {
    # a valid file followed by 4 GiB of (sparse) nothing: the sizes do not add up
    "module with a 4 GiB tail": lambda tmp: (_valid_module_file(tmp), 4 * GIB),
    "checkpoint with a 4 GiB tail": lambda tmp: (_valid_checkpoint(tmp), 4 * GIB),
    # a header that declares a 4 GiB tensor, which the file holds: the model refuses it
    "plain file with a 4 GiB weight": lambda tmp: _huge_tensor(
        safetensors.torch.save(dict(small_agent(0).state_dict())), "layers.q.weight",
        [2**28, 4]),
    "checkpoint with a 4 GiB agent weight": lambda tmp: _huge_tensor(
        _valid_checkpoint(tmp), "agent/layers.q.weight", [2**28, 4]),
    "checkpoint with a 4 GiB weight declared, 1 GiB there": lambda tmp: (
        _huge_tensor(_valid_checkpoint(tmp), "agent/layers.q.weight", [2**28, 4])[0], GIB),
}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB: Linux")
@pytest.mark.parametrize("loader", ["load", "load_checkpoint"])
@pytest.mark.parametrize("name", list(HUGE_FILES))
def test_a_huge_file_is_refused_without_reading_it_into_memory(tmp_path, name, loader):
    path = tmp_path / "huge.safetensors"
    data, size = HUGE_FILES[name](tmp_path)
    _sparse(path, data, size)
    script = textwrap.dedent(f"""
        import json, resource, sys
        import torch
        sys.path.insert(0, {HERE!r})
        from test_persistence_hardening import small_agent
        from agentnet.utils.persistence import PersistenceError, load, load_checkpoint
        agent = small_agent(1)
        optimizer = torch.optim.Adam(agent.parameters())
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            if {loader!r} == "load":
                load(agent, {str(path)!r})
            else:
                load_checkpoint({str(path)!r}, agent, optimizer=optimizer)
            outcome = "loaded"
        except PersistenceError as error:
            outcome = "refused: " + str(error)
        growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(json.dumps({{"outcome": outcome, "growth_kib": growth}}))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"exit code {result.returncode}: {result.stderr[-3000:]}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["outcome"].startswith("refused: ") and str(path) in report["outcome"]
    assert report["growth_kib"] * 1024 < size / 16, report  # far less than the file


def test_a_file_one_byte_longer_than_its_header_says_is_refused(tmp_path):
    path = tmp_path / "a.safetensors"
    path.write_bytes(_valid_module_file(tmp_path) + b"\0")
    with pytest.raises(PersistenceError, match="declares .* bytes of tensors, the file holds"):
        load(small_agent(1), path)


def test_tensors_of_the_wrong_size_for_their_offsets_are_refused_from_the_header(tmp_path):
    header, body = _split(_valid_module_file(tmp_path))
    header["layers.q.bias"]["shape"] = [3]  # 12 bytes, its offsets hold 8
    (tmp_path / "a.safetensors").write_bytes(_join(header, body))
    with pytest.raises(PersistenceError, match=r"'layers.q.bias' \(float32 \[3\]\) takes 12 "
                                               r"bytes"):
        safetensors_file.read(tmp_path / "a.safetensors")


def test_the_model_check_sees_the_header_before_the_data_is_read(tmp_path, monkeypatch):
    path = tmp_path / "a.safetensors"
    save(small_agent(0, n_hidden=16), path)
    reads = []
    monkeypatch.setattr(safetensors.torch, "load", lambda data: reads.append(len(data)))
    with pytest.raises(PersistenceError, match="mis-shaped"):
        load(small_agent(1), path)
    with pytest.raises(PersistenceError, match="not a checkpoint"):
        load_checkpoint(path, small_agent(1))
    assert reads == []


def test_a_valid_file_whose_length_bytes_look_like_a_pickle_loads(tmp_path):
    # a header of 640 bytes starts the file with b"\x80\x02", which once passed for a pickle
    for n in range(1, 2000):
        module = nn.ParameterDict({"w" * n: nn.Parameter(torch.arange(3.0))})
        data = safetensors.torch.save(dict(module.state_dict()))
        if data[:2] == b"\x80\x02":
            break
    else:
        pytest.fail("no name length gives a 640-byte header")
    path = tmp_path / "a.safetensors"
    path.write_bytes(data)
    fresh = nn.ParameterDict({"w" * n: nn.Parameter(torch.zeros(3))})
    load(fresh, path)
    assert torch.equal(fresh["w" * n], torch.arange(3.0))


# --- 3. optimizer state: shapes, steps and settings checked --------------------------------
def _group(h):
    return h["parts"]["optimizer"]["state_dict"]["param_groups"][0]


def _state(h, index):
    return dict(h["parts"]["optimizer"]["state_dict"]["state"]["$dict"])[index]


OPTIMIZER_DAMAGE = {
    "exp_avg of another shape": (
        dict(tensors=lambda t: t.update({"optimizer/state/0/exp_avg": torch.zeros(3, 3)})),
        "group 0, parameter 0, state 'exp_avg': shape (3, 3) in the file, the parameter's is "
        "(8, 4)"),
    "exp_avg of the previous parameter's shape": (
        dict(tensors=lambda t: t.update({"optimizer/state/1/exp_avg": torch.zeros(8, 4)})),
        "group 0, parameter 1, state 'exp_avg': shape (8, 4)"),
    "exp_avg_sq of integers": (
        dict(tensors=lambda t: t.update(
            {"optimizer/state/2/exp_avg_sq": torch.zeros(2, 8, dtype=torch.int32)})),
        "group 0, parameter 2, state 'exp_avg_sq': int32"),
    "step negative": (
        dict(tensors=lambda t: t.update({"optimizer/state/0/step": torch.tensor(-1.0)})),
        "group 0, parameter 0, state 'step'"),
    "step NaN": (
        dict(tensors=lambda t: t.update({"optimizer/state/3/step": torch.tensor(math.nan)})),
        "group 0, parameter 3, state 'step'"),
    "step a vector": (
        dict(tensors=lambda t: t.update({"optimizer/state/0/step": torch.ones(2)})),
        "state 'step': a tensor of shape (2,)"),
    "step a string": (dict(header=lambda h: _state(h, 1).update(step="3")),
                      "group 0, parameter 1, state 'step'"),
    "lr a string": (dict(header=lambda h: _group(h).update(lr="fast")),
                    "group 0, setting 'lr': the file has 'fast', not a finite number"),
    "lr NaN": (dict(header=lambda h: _group(h).update(lr={"$float": "nan"})),
               "group 0, setting 'lr': the file has nan"),
    "lr infinite": (dict(header=lambda h: _group(h).update(lr={"$float": "inf"})),
                    "setting 'lr'"),
    "lr a bool": (dict(header=lambda h: _group(h).update(lr=True)), "setting 'lr'"),
    "betas too long": (dict(header=lambda h: _group(h).update(
        betas={"$tuple": [0.9, 0.999, 0.5]})), "group 0, setting 'betas'"),
    "betas a string": (dict(header=lambda h: _group(h).update(betas="0.9, 0.999")),
                       "setting 'betas'"),
    "betas NaN": (dict(header=lambda h: _group(h).update(
        betas={"$tuple": [0.9, {"$float": "nan"}]})), "setting 'betas': item 1"),
    "amsgrad an int": (dict(header=lambda h: _group(h).update(amsgrad=1)), "setting 'amsgrad'"),
    "foreach a string": (dict(header=lambda h: _group(h).update(foreach="yes")),
                         "setting 'foreach'"),
    "parameter ids repeated": (dict(header=lambda h: _group(h).update(params=[0, 0, 1, 2])),
                               "not distinct integers"),
    # right types and shapes, yet the next step fails or poisons the weights
    "exp_avg a number": (dict(header=lambda h: _state(h, 0).update(exp_avg=1.5)),
                         "fails a trial step"),
    "exp_avg missing": (dict(header=lambda h: _state(h, 0).pop("exp_avg")),
                        "fails a trial step"),
    "amsgrad without its statistics": (dict(header=lambda h: _group(h).update(amsgrad=True)),
                                       "fails a trial step"),
    "exp_avg NaN": (dict(tensors=lambda t: t.update(
        {"optimizer/state/0/exp_avg": torch.full((8, 4), math.nan)})),
        "would make parameter 0 non-finite"),
    "exp_avg_sq negative": (dict(tensors=lambda t: t.update(
        {"optimizer/state/1/exp_avg_sq": -torch.ones(8)})),
        "would make parameter 1 non-finite"),
}


@pytest.mark.parametrize("name", list(OPTIMIZER_DAMAGE))
def test_optimizer_state_that_would_break_the_next_step_is_refused(tmp_path, name):
    path = checkpoint(tmp_path)
    change, message = OPTIMIZER_DAMAGE[name]
    rewrite(path, **change)
    agent, optimizer = trained(1, steps=2)  # an optimizer with state of its own
    before, rng = state_of(agent, optimizer), rng_states()
    with pytest.raises(PersistenceError) as error:
        load_checkpoint(path, agent, optimizer=optimizer)
    assert str(path) in str(error.value) and message in str(error.value)
    assert_same(state_of(agent, optimizer), before)
    assert_rng_unchanged(rng)


OPTIMIZERS = [(torch.optim.Adam, dict(amsgrad=True)), (torch.optim.AdamW, {}),
              (torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
              (torch.optim.NAdam, {}), (torch.optim.ASGD, {}), (torch.optim.RAdam, {}),
              (torch.optim.RMSprop, dict(centered=True, momentum=0.5)), (torch.optim.Rprop, {}),
              (torch.optim.Adagrad, {}), (torch.optim.Adadelta, {}), (torch.optim.Adamax, {}),
              (torch.optim.LBFGS, dict(history_size=3, max_iter=4))]
if hasattr(torch.optim, "Adafactor"):
    OPTIMIZERS.append((torch.optim.Adafactor, {}))


@pytest.mark.parametrize("optimizer_class, settings", OPTIMIZERS,
                         ids=[cls.__name__ for cls, _ in OPTIMIZERS])
def test_torch_optimizers_still_resume_exactly(tmp_path, optimizer_class, settings):
    agent, optimizer = trained(0, optimizer_class, steps=2, **settings)
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, agent, optimizer=optimizer)
    fresh, fresh_optimizer = trained(1, optimizer_class, steps=1, **settings)
    load_checkpoint(path, fresh, optimizer=fresh_optimizer)
    assert_same(state_of(fresh, fresh_optimizer), state_of(agent, optimizer))


# --- 4. symlink loops; temporaries of killed saves ------------------------------------------
@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
@pytest.mark.parametrize("loop", ["to itself", "a -> b -> a"])
def test_a_symlink_loop_is_refused_naming_the_file(tmp_path, loop):
    path = tmp_path / "a.safetensors"
    if loop == "to itself":
        path.symlink_to("a.safetensors")
    else:
        (tmp_path / "b.safetensors").symlink_to("a.safetensors")
        path.symlink_to("b.safetensors")
    listing = sorted(os.listdir(tmp_path))
    agent = small_agent()
    for call in [lambda: load(agent, path), lambda: load_checkpoint(path, agent),
                 lambda: save(agent, path), lambda: save_checkpoint(path, agent)]:
        with pytest.raises(PersistenceError, match="loop of symbolic links") as error:
            call()
        assert str(path) in str(error.value)
    assert sorted(os.listdir(tmp_path)) == listing and os.path.islink(path)


try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
needs_fcntl = pytest.mark.skipif(fcntl is None, reason="needs fcntl.flock")
HOLD_LOCK = ("import fcntl, os, sys\n"
             "fd = os.open(sys.argv[1], os.O_RDWR)\n"
             "fcntl.flock(fd, fcntl.LOCK_EX)\n"
             "print('locked', flush=True)\n"
             "sys.stdin.read()\n")


def _temporary(directory, name):
    return directory / f".{name}.{secrets.token_hex(6)}.tmp"


@needs_fcntl
def test_a_save_removes_dead_temporaries_of_its_file_but_not_live_or_unrelated_ones(tmp_path):
    path = tmp_path / "a.safetensors"
    save(small_agent(0), path)
    dead = [_temporary(tmp_path, "a.safetensors") for _ in range(3)]
    for file in dead:
        file.write_bytes(b"half a save" * 100)
    live = _temporary(tmp_path, "a.safetensors")
    live.write_bytes(b"being written")
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"not ours")
    link = _temporary(tmp_path, "a.safetensors")
    link.symlink_to(outside)
    unrelated = [tmp_path / "notes.txt", _temporary(tmp_path, "b.safetensors"),
                 _temporary(tmp_path, "a.safetensors.x"),  # another file's temporary
                 tmp_path / ".a.safetensors.backup.tmp",
                 tmp_path / f".a.safetensors.{secrets.token_hex(6)}.tmp.keep",
                 tmp_path / f"a.safetensors.{secrets.token_hex(6)}.tmp"]
    for file in unrelated:
        file.write_bytes(file.name.encode())
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(live)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        save(small_agent(1), path)
        assert [file for file in dead if file.exists()] == []
        assert live.read_bytes() == b"being written"  # its writer is alive
        assert all(file.read_bytes() == file.name.encode() for file in unrelated)
        assert os.path.islink(link) and outside.read_bytes() == b"not ours"
        fresh = small_agent(2)
        load(fresh, path)
        assert_same(fresh.state_dict(), small_agent(1).state_dict())
        holder.kill()  # its writer dies: the next save removes it
        holder.wait(timeout=60)
        save(small_agent(3), path)
        assert not live.exists()
        assert all(file.read_bytes() == file.name.encode() for file in unrelated)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=60)


@needs_fcntl
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_the_temporary_of_a_save_killed_mid_write_goes_at_the_next_save(tmp_path):
    path = tmp_path / "a.safetensors"
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {HERE!r})
        from test_persistence_hardening import small_agent
        from agentnet.utils import persistence

        real_fdopen = os.fdopen

        class HalfWriter:
            def __init__(self, file):
                self.file = file
            def __enter__(self):
                return self
            def __exit__(self, *exc):
                return False
            def write(self, data):
                self.file.write(data[:len(data) // 2])
                self.file.flush()
                os.kill(os.getpid(), signal.SIGKILL)

        os.fdopen = lambda fd, mode: HalfWriter(real_fdopen(fd, mode))
        persistence.save(small_agent(1, n_hidden=64), {str(path)!r})
    """)
    save(small_agent(0), path)
    dead = []
    for _ in range(2):
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == -signal.SIGKILL, result.stderr
        dead.append(sorted(set(os.listdir(tmp_path)) - {"a.safetensors"}))
    # each killed save left its temporary, and removed the one killed before it
    assert len(dead[0]) == len(dead[1]) == 1 and dead[0] != dead[1]
    fresh = small_agent(2)
    load(fresh, path)  # the previous file is intact
    assert_same(fresh.state_dict(), small_agent(0).state_dict())
    save(small_agent(1), path)
    assert os.listdir(tmp_path) == ["a.safetensors"]


@needs_fcntl
def test_concurrent_saves_to_one_file_never_remove_each_others_temporaries(tmp_path):
    path = tmp_path / "a.bin"
    script = textwrap.dedent("""
        import sys
        from agentnet.utils.safetensors_file import write_atomic
        for i in range(300):
            write_atomic(sys.argv[1], sys.argv[2].encode() * 1000)
        print("done")
    """)
    writers = [subprocess.Popen([sys.executable, "-c", script, str(path), tag],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for tag in "xy"]
    outputs = [writer.communicate(timeout=300) for writer in writers]
    for writer, (out, err) in zip(writers, outputs):
        assert writer.returncode == 0 and out.strip() == "done", err[-3000:]
    assert os.listdir(tmp_path) == ["a.bin"]
    assert path.read_bytes() in (b"x" * 1000, b"y" * 1000)


# --- 5. validate: all or nothing -----------------------------------------------------------
def test_a_validate_that_raises_leaves_agent_optimizer_and_random_states_as_they_were(
        tmp_path):
    path = checkpoint(tmp_path)
    agent, optimizer = trained(1, steps=2)
    np.random.seed(11)
    random.seed(12)
    torch.manual_seed(13)
    before, rng = state_of(agent, optimizer), rng_states()
    seen = []

    def validate(info):
        seen.append(copy.deepcopy(info))
        raise ValueError("the run's budget is spent")

    with pytest.raises(PersistenceError) as error:
        load_checkpoint(path, agent, optimizer=optimizer, validate=validate)
    assert str(path) in str(error.value) and "the run's budget is spent" in str(error.value)
    assert isinstance(error.value.__cause__, ValueError)
    assert seen == [{"step": 3, "extra": {"phase": "warmup"}}]
    assert_same(state_of(agent, optimizer), before)
    assert_rng_unchanged(rng)

    info = load_checkpoint(path, agent, optimizer=optimizer, validate=seen.append)
    assert info == {"step": 3, "extra": {"phase": "warmup"}} == seen[-1]
    assert_same(state_of(agent, optimizer), state_of(*trained(0)))


def test_validate_runs_only_once_everything_else_is_checked(tmp_path):
    path = checkpoint(tmp_path)
    rewrite(path, header=lambda h: _group(h).update(lr="fast"))
    calls = []
    with pytest.raises(PersistenceError, match="setting 'lr'"):
        load_checkpoint(path, small_agent(1), optimizer=trained(1)[1], validate=calls.append)
    assert calls == []
