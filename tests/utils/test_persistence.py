import json
import os
import random
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import safetensors.torch
import torch

from agentnet import Agent
from agentnet import layers as L
from agentnet.environment import CartPole
from agentnet.memory import GRUCell, LSTMCell
from agentnet.resolver import EpsilonGreedyResolver
from agentnet.target_network import TargetNetwork
from agentnet.utils import persistence
from agentnet.utils.persistence import (
    PersistenceError,
    load,
    load_checkpoint,
    save,
    save_checkpoint,
)

HERE = os.path.dirname(os.path.abspath(__file__))


def two_head_agent(memory="gru", n_hidden=8, seed=0, epsilon=0.25, value_head=True,
                   extra_layer=False):
    """A recurrent agent with two policy layers: Q-values [B, 2] and a state value [B, 1]."""
    torch.manual_seed(seed)
    obs = L.InputLayer((None, 4), name="observation")
    if memory == "gru":
        prev = L.InputLayer((None, n_hidden), name="prev_gru")
        out = GRUCell(prev, obs, name="gru")
        states = {out: prev}
    else:
        prev_cell = L.InputLayer((None, n_hidden), name="prev_cell")
        prev_out = L.InputLayer((None, n_hidden), name="prev_out")
        cell, out = LSTMCell(prev_cell, prev_out, obs, name="lstm")
        states = {cell: prev_cell, out: prev_out}
    features = L.DenseLayer(out, n_hidden, name="extra") if extra_layer else out
    q = L.DenseLayer(features, 2, nonlinearity=None, name="q")
    heads = [q, L.DenseLayer(out, 1, nonlinearity=None, name="v")] if value_head else [q]
    resolver = EpsilonGreedyResolver(q, epsilon=epsilon, name="resolver")
    return Agent(obs, agent_states=states, policy_estimators=heads, action_layers=resolver)


def snapshot(module):
    return {name: value.clone() for name, value in module.state_dict().items()}


def assert_state_equal(a, b):
    a = a if isinstance(a, dict) else a.state_dict()
    b = b if isinstance(b, dict) else b.state_dict()
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def play(agent, seed=5):
    torch.manual_seed(seed)
    return agent.get_sessions(CartPole(batch_size=6, seed=3), session_length=12)


@pytest.mark.parametrize("memory", ["gru", "lstm"])
def test_round_trip_gives_identical_sessions(tmp_path, memory):
    path = tmp_path / "agent.safetensors"
    saved = two_head_agent(memory, seed=0, epsilon=0.3)
    save(saved, path)
    loaded = two_head_agent(memory, seed=1, epsilon=0.0)
    assert not torch.equal(loaded.layers["q"].weight, saved.layers["q"].weight)
    load(loaded, path)
    assert_state_equal(loaded, saved)
    a, b = play(saved), play(loaded)
    assert torch.equal(a.actions, b.actions)
    assert all(torch.equal(x, y) for x, y in zip(a.policy, b.policy)) and len(a.policy) == 2
    for x, y in zip(a.agent_states.values(), b.agent_states.values()):
        assert torch.equal(x, y)


def test_epsilon_is_restored(tmp_path):
    agent = two_head_agent(epsilon=0.0)
    agent.layers["resolver"].epsilon.set_value(0.37)
    save(agent, tmp_path / "a.safetensors")
    fresh = two_head_agent(epsilon=0.9)
    load(fresh, tmp_path / "a.safetensors")
    assert fresh.layers["resolver"].epsilon.get_value() == pytest.approx(0.37)
    assert torch.equal(fresh.layers["resolver"].epsilon.value,
                       agent.layers["resolver"].epsilon.value)


def test_file_holds_the_agentnet_header(tmp_path):
    agent = two_head_agent()
    save(agent, tmp_path / "a.safetensors")
    with safetensors.safe_open(tmp_path / "a.safetensors", framework="pt") as file:
        header = json.loads(file.metadata()["agentnet"])
        names = set(file.keys())
    assert header["format"] == "agentnet" and header["format_version"] == 1
    assert header["kind"] == "module" and header["agentnet_version"]
    assert header["tensors"]["layers.gru.weight_hh"] == {"dtype": "float32", "shape": [24, 8]}
    assert set(header["tensors"]) == names == set(agent.state_dict())
    assert header["module"]["class"] == "Agent"
    assert {"name": "layers.gru", "class": "GRUCell"} in header["module"]["layers"]


def test_layers_and_agents_read_each_others_files(tmp_path):
    agent = two_head_agent(seed=0)
    save(agent, tmp_path / "agent.safetensors")
    other = two_head_agent(seed=1)
    load(other.action_layers + other.policy_layers, tmp_path / "agent.safetensors")
    assert_state_equal(other, agent)
    third = two_head_agent(seed=2)
    save(other.layers["v"], tmp_path / "v.safetensors")  # one layer: with all it depends on
    load(third.layers["v"], tmp_path / "v.safetensors")
    assert torch.equal(third.layers["gru"].weight_ih, agent.layers["gru"].weight_ih)
    assert not torch.equal(third.layers["q"].weight, agent.layers["q"].weight)


def test_other_architecture_is_refused_listing_every_difference_and_nothing_changes(tmp_path):
    save(two_head_agent(n_hidden=8), tmp_path / "a.safetensors")
    # hidden 16: mis-shaped; an extra layer: missing from the file; no value head: unexpected
    other = two_head_agent(n_hidden=16, value_head=False, extra_layer=True, seed=3)
    before = snapshot(other)
    with pytest.raises(PersistenceError) as error:
        load(other, tmp_path / "a.safetensors")
    message = str(error.value)
    assert str(tmp_path / "a.safetensors") in message
    assert "(saved from Agent) does not fit the model (Agent); nothing was loaded" in message
    assert "missing (in the model, not in the file): layers.extra.weight, layers.extra.bias" \
        in message
    assert "unexpected (in the file, not in the model): layers.v.weight, layers.v.bias" in message
    assert "layers.gru.weight_hh: file (24, 8) vs model (48, 16)" in message
    assert "layers.q.weight: file (2, 8) vs model (2, 16)" in message
    assert_state_equal(other, before)


def test_integer_tensor_never_loads_into_a_float_parameter(tmp_path):
    agent = two_head_agent()
    tensors = {k: v.clone() for k, v in agent.state_dict().items()}
    tensors["layers.q.bias"] = torch.zeros(2, dtype=torch.int32)
    safetensors.torch.save_file(tensors, tmp_path / "a.safetensors")
    with pytest.raises(PersistenceError, match=r"mis-typed: layers.q.bias: file int32 vs model "
                                               r"float32"):
        load(agent, tmp_path / "a.safetensors")


def test_tensors_take_the_models_dtype(tmp_path):
    agent = two_head_agent(seed=0)
    save(agent, tmp_path / "a.safetensors")
    wide = two_head_agent(seed=1).double()
    load(wide, tmp_path / "a.safetensors")
    assert wide.layers["q"].weight.dtype == torch.float64
    assert torch.equal(wide.layers["q"].weight, agent.layers["q"].weight.double())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_tensors_go_to_the_models_device(tmp_path):
    agent = two_head_agent(seed=0).cuda()
    save(agent, tmp_path / "a.safetensors")
    fresh = two_head_agent(seed=1).cuda()
    load(fresh, tmp_path / "a.safetensors")
    assert fresh.layers["q"].weight.is_cuda
    assert_state_equal(fresh, agent)


def test_plain_safetensors_files_interoperate(tmp_path):
    agent = two_head_agent(seed=0)
    safetensors.torch.save_file(agent.state_dict(), tmp_path / "plain.safetensors")
    fresh = two_head_agent(seed=1)
    load(fresh, tmp_path / "plain.safetensors")
    assert_state_equal(fresh, agent)
    save(agent, tmp_path / "ours.safetensors")  # and ours read by anyone
    third = two_head_agent(seed=2)
    third.load_state_dict(safetensors.torch.load_file(tmp_path / "ours.safetensors"))
    assert_state_equal(third, agent)


def test_shared_weights_are_saved_and_stay_shared(tmp_path):
    def build(seed):
        torch.manual_seed(seed)
        x = L.InputLayer((None, 3), name="x")
        a = L.DenseLayer(x, 3, name="a")
        return L.DenseLayer(a, 3, W=a.weight, name="b")  # Lasagne's W=other.W

    tied = build(0)
    save(tied, tmp_path / "tied.safetensors")
    fresh = build(1)
    load(fresh, tmp_path / "tied.safetensors")
    assert torch.equal(fresh.weight, tied.weight) and fresh.weight is fresh.input_layers[0].weight


def test_save_failure_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "a.safetensors"
    first = two_head_agent(seed=0)
    save(first, path)
    original = path.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    for target in [(safetensors.torch, "save"), (persistence.os, "fsync"),
                   (persistence.os, "replace")]:
        with monkeypatch.context() as patch:
            patch.setattr(*target, boom)
            with pytest.raises(RuntimeError, match="disk on fire"):
                save(two_head_agent(seed=1), path)
        assert path.read_bytes() == original, target
        assert os.listdir(tmp_path) == ["a.safetensors"], target  # no temporary left behind
    fresh = two_head_agent(seed=2)
    load(fresh, path)
    assert_state_equal(fresh, first)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("where", ["mid-write", "before-rename"])
def test_process_killed_mid_save_leaves_the_previous_file_intact(tmp_path, where):
    path = tmp_path / "a.safetensors"
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {HERE!r})
        from test_persistence import two_head_agent
        from agentnet.utils import persistence

        persistence.save(two_head_agent(seed=0), {str(path)!r})
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

        def die(*args):
            os.kill(os.getpid(), signal.SIGKILL)

        if {where!r} == "mid-write":
            persistence.os.fdopen = lambda fd, mode: HalfWriter(real_fdopen(fd, mode))
        else:
            persistence.os.replace = die
        persistence.save(two_head_agent(seed=1, n_hidden=64), {str(path)!r})
        print("not killed")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr + result.stdout
    fresh = two_head_agent(seed=2)
    load(fresh, path)
    assert_state_equal(fresh, two_head_agent(seed=0))
    leftovers = [name for name in os.listdir(tmp_path) if name != "a.safetensors"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".a.safetensors.")  # the dead temp


def test_missing_file_and_directories(tmp_path):
    agent = two_head_agent()
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        load(agent, tmp_path / "nope.safetensors")
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        load_checkpoint(tmp_path / "nope.safetensors", agent)
    with pytest.raises(PersistenceError, match="directory"):
        load(agent, tmp_path)
    with pytest.raises(PersistenceError, match="directory"):
        save(agent, tmp_path)
    with pytest.raises(TypeError, match="Layer"):
        save("not a model", tmp_path / "x.safetensors")


# --- checkpoints ------------------------------------------------------------------------------
def mlp_agent(seed):
    torch.manual_seed(seed)
    obs = L.InputLayer((None, 4), name="observation")
    hidden = L.DenseLayer(obs, 16, name="hidden")
    q = L.DenseLayer(hidden, 2, nonlinearity=None, name="q")
    return Agent(obs, policy_estimators=q,
                 action_layers=EpsilonGreedyResolver(q, epsilon=0.5, name="resolver"))


def build_run(seed):
    agent = mlp_agent(seed)
    target = TargetNetwork(agent.policy_layers[0])
    return agent, target, torch.optim.Adam(agent.parameters(), lr=1e-2)


def train_step(agent, target, optimizer, step):
    """One step that draws from every global RNG: python (epsilon), torch (the environment's
    seed, exploration), numpy (a loss weight)."""
    agent.layers["resolver"].epsilon.set_value(0.5 * random.random())
    s = agent.get_sessions(CartPole(batch_size=8), session_length=10)
    q_taken = s.policy.gather(-1, s.actions[..., None])[..., 0]
    with torch.no_grad():
        flat = s.observations.flatten(0, 1)
        q_target = L.get_output(target.output_layers, {agent.observation_layers[0]: flat})
        q_target = q_target.view(*s.actions.shape, 2)
    reference = s.rewards[:, :-1] + 0.99 * q_target[:, 1:].max(-1).values
    alive = s.is_alive[:, :-1].float()
    loss = ((q_taken[:, :-1] - reference) ** 2 * alive).mean() * float(np.random.uniform(0.5, 2))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    target.load_weights(moving_average_alpha=0.3)


def seed_everything(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def train(run, start, stop):
    for step in range(start, stop):
        train_step(*run, step)


def train_and_checkpoint(path, k):
    """Steps [0, k) of the reference run, then a checkpoint (also run in a subprocess)."""
    run = build_run(seed=0)
    seed_everything(100)
    train(run, 0, k)
    agent, target, optimizer = run
    save_checkpoint(path, agent, target_network=target, optimizer=optimizer, step=k,
                    extra={"schedule": [k, 0.5]})
    return run


def assert_optimizer_state_equal(a, b):
    a, b = a.state_dict(), b.state_dict()
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for index in a["state"]:
        assert a["state"][index].keys() == b["state"][index].keys()
        for key, value in a["state"][index].items():
            assert type(value) is type(b["state"][index][key])
            assert torch.equal(value, b["state"][index][key]), (index, key)


def resume_and_finish(path, n):
    seed_everything(999)  # whatever the RNGs hold now is overwritten by the checkpoint
    run = build_run(seed=7)  # fresh objects, other weights
    agent, target, optimizer = run
    info = load_checkpoint(path, agent, target_network=target, optimizer=optimizer)
    train(run, info["step"], n)
    return run, info


@pytest.mark.parametrize("where", ["same process", "subprocess"])
def test_resumed_training_is_bit_identical_to_an_uninterrupted_run(tmp_path, where):
    k, n = 4, 9
    reference = build_run(seed=0)
    seed_everything(100)
    train(reference, 0, n)

    path = tmp_path / "checkpoint.safetensors"
    if where == "same process":
        stopped = train_and_checkpoint(path, k)
        assert not torch.equal(stopped[0].layers["q"].weight, reference[0].layers["q"].weight)
    else:
        script = (f"import sys; sys.path.insert(0, {HERE!r}); import test_persistence as t; "
                  f"t.train_and_checkpoint({str(path)!r}, {k})")
        subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    (agent, target, optimizer), info = resume_and_finish(path, n)

    assert info == {"step": k, "extra": {"schedule": [k, 0.5]}}
    assert_state_equal(agent, reference[0])
    assert_state_equal(target, reference[1])
    assert_optimizer_state_equal(optimizer, reference[2])


def test_checkpoint_restores_optimizer_epsilon_and_random_states_exactly(tmp_path):
    agent, target, optimizer = run = build_run(seed=0)
    seed_everything(3)
    train(run, 0, 2)
    agent.layers["resolver"].epsilon.set_value(0.123)
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, agent, optimizer=optimizer, step=2)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    assert isinstance(optimizer.state_dict()["state"][0]["step"], torch.Tensor)  # Adam's

    seed_everything(4)
    fresh_agent, _, fresh_optimizer = build_run(seed=9)
    assert load_checkpoint(path, fresh_agent, optimizer=fresh_optimizer) == {"step": 2,
                                                                             "extra": None}
    assert fresh_agent.layers["resolver"].epsilon.get_value() == pytest.approx(0.123)
    assert_optimizer_state_equal(fresh_optimizer, optimizer)
    assert isinstance(fresh_optimizer.param_groups[0]["betas"], tuple)
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])
    assert got[2] == expected[2]

    seed_everything(5)  # restore_rng=False leaves the random states alone
    state = torch.get_rng_state()
    load_checkpoint(path, fresh_agent, restore_rng=False)
    assert torch.equal(torch.get_rng_state(), state)


def test_checkpoint_extra_round_trips_exactly(tmp_path):
    extra = {"ints": {1: "one", (2, 3): None}, "$odd": [1.5, float("inf"), True],
             "nested": ({"t": torch.arange(3)},), "nan": float("nan"), "s": "x"}
    agent = mlp_agent(0)
    save_checkpoint(tmp_path / "c.safetensors", agent, extra=extra, step=np.int64(7))
    got = load_checkpoint(tmp_path / "c.safetensors", mlp_agent(1))
    assert got["step"] == 7
    back = got["extra"]
    assert back["ints"] == {1: "one", (2, 3): None} and back["s"] == "x"
    assert back["$odd"] == [1.5, float("inf"), True] and isinstance(back["nested"], tuple)
    assert torch.equal(back["nested"][0]["t"], torch.arange(3)) and np.isnan(back["nan"])
    with pytest.raises(PersistenceError, match=r"extra\['bad'\]: a object"):
        save_checkpoint(tmp_path / "d.safetensors", agent, extra={"bad": object()})
    assert not (tmp_path / "d.safetensors").exists()


def test_checkpoint_mismatches_are_refused_before_anything_changes(tmp_path):
    agent, target, optimizer = run = build_run(seed=0)
    seed_everything(0)
    train(run, 0, 1)
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, agent, optimizer=optimizer, step=1)

    fresh, fresh_target, _ = build_run(seed=5)
    before = snapshot(fresh)
    rng = torch.get_rng_state()
    cases = [
        (dict(optimizer=torch.optim.SGD(fresh.parameters(), lr=0.1)), "saved from Adam, "
                                                                        "loading into SGD"),
        (dict(optimizer=torch.optim.Adam([{"params": fresh.get_all_params()[:2]},
                                          {"params": fresh.get_all_params()[2:]}])),
         r"groups of sizes \[4\] in the file, \[2, 2\]"),
        (dict(target_network=fresh_target), "has no target_network"),
    ]
    for kwargs, message in cases:
        with pytest.raises(PersistenceError, match=message):
            load_checkpoint(path, fresh, **kwargs)
        assert_state_equal(fresh, before)
        assert torch.equal(torch.get_rng_state(), rng)
    with pytest.raises(PersistenceError, match="the agent"):
        load_checkpoint(path, two_head_agent())
    with pytest.raises(PersistenceError, match="not a checkpoint"):
        save(agent, tmp_path / "module.safetensors")
        load_checkpoint(tmp_path / "module.safetensors", fresh)
    load(fresh, path)  # load() reads the agent of a checkpoint
    assert_state_equal(fresh, agent)


def test_public_names():
    for name in persistence.__all__:
        assert getattr(persistence, name) is not None
    assert issubclass(PersistenceError, ValueError)
