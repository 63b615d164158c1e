"""RunDirectory: loads are all or nothing, saves come when due, settings are checked data."""
import copy
import dataclasses
import io
import random

import numpy as np
import pytest
import torch

from agentnet.display import TrainingLog
from agentnet.examples import (
    boolean_reasoning,
    stack_rnn_anbn,
    warn_if_budget_below_learning_starts,
)
from agentnet.utils import persistence
from agentnet.utils.runs import RunDirectory, RunFolderError, config_from_dict


@dataclasses.dataclass
class Config:
    total_steps: int = 1_000
    rate: float = 0.5
    name: str = "x"
    hidden: tuple[int, ...] = (8, 8)
    clip: float | None = None
    flag: bool = False


def make_run(tmp_path, **kwargs) -> RunDirectory:
    return RunDirectory(tmp_path / "run", "agentnet.examples.cartpole_a2c", Config(), **kwargs)


def trained(seed: int):
    torch.manual_seed(seed)
    net = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randn(5, 3)).sum().backward()
    optimizer.step()
    log = TrainingLog(1_000, verbose=False)
    log.record(100, torch.tensor([float(seed)]), loss=0.1)
    return net, optimizer, log


def global_random_states():
    return (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())


def assert_unchanged(before, after):
    (net, optimizer, log, rng), (net2, optimizer2, log2, rng2) = before, after
    for key, value in net.items():
        assert torch.equal(value, net2[key]), key
    assert same(optimizer, optimizer2)
    assert log == log2
    assert torch.equal(rng[0], rng2[0]) and np.array_equal(rng[1], rng2[1]) and rng[2] == rng2[2]


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    return a == b


def state_of(net, optimizer, log):
    return ({k: v.clone() for k, v in net.state_dict().items()},
            copy.deepcopy(optimizer.state_dict()), log.state(), global_random_states())


@pytest.mark.parametrize("extra", [
    {"carry": {}},                                               # no log
    {"log": {"steps": 1, "returns": [], "metrics": {}}},         # no carry
    {"carry": {}, "log": {"steps": -1, "returns": [], "metrics": {}}},
    {"carry": {}, "log": {"steps": 5, "returns": ["x"], "metrics": {}}},
    {"carry": {"other": 1}, "log": {"steps": 1, "returns": [], "metrics": {}}},  # no tracker
    {"carry": {"tracker": {"weight": torch.zeros(7)}},           # the wrong state for it
     "log": {"steps": 1, "returns": [], "metrics": {}}},
    [1, 2],
])
def test_a_refused_load_changes_nothing(extra, tmp_path):
    run = make_run(tmp_path)
    saved_net, _, _ = trained(0)
    persistence.save_checkpoint(run.checkpoint, saved_net, step=10, extra=extra,
                                optimizer=torch.optim.Adam(saved_net.parameters()))
    net, optimizer, log = trained(1)
    tracker = torch.nn.Linear(2, 2)
    before_tracker = tracker.weight.clone()
    before = state_of(net, optimizer, log)
    with pytest.raises(persistence.PersistenceError, match="checkpoint.safetensors"):
        run.load(net, optimizer, log, {"tracker": tracker})
    assert_unchanged(before, state_of(net, optimizer, log))
    assert torch.equal(tracker.weight, before_tracker)


def test_a_whole_checkpoint_loads_everything(tmp_path):
    run = make_run(tmp_path)
    saved_net, saved_optimizer, saved_log = trained(0)
    tracker = torch.nn.Linear(2, 2)
    run.save(100, saved_net, saved_optimizer, saved_log, carry={"tracker": tracker.state_dict()})
    net, optimizer, log = trained(1)
    other_tracker = torch.nn.Linear(2, 2)
    step, carry = make_run(tmp_path, resume=True).load(net, optimizer, log,
                                                       {"tracker": other_tracker})
    assert step == 100 and torch.equal(net.weight, saved_net.weight)
    assert torch.equal(other_tracker.weight, tracker.weight)
    assert log.state() == saved_log.state()
    assert optimizer.state_dict()["state"][0]["exp_avg"].equal(
        saved_optimizer.state_dict()["state"][0]["exp_avg"])


def test_a_run_past_its_budget_is_refused_before_anything_changes(tmp_path):
    run = make_run(tmp_path)
    saved_net, saved_optimizer, saved_log = trained(0)
    run.save(1_000, saved_net, saved_optimizer, saved_log)
    net, optimizer, log = trained(1)
    before = state_of(net, optimizer, log)
    with pytest.raises(RunFolderError, match="already trained 1,000 of its 1,000 steps"):
        make_run(tmp_path, resume=True).load(net, optimizer, log)
    assert_unchanged(before, state_of(net, optimizer, log))


def test_saves_are_due_every_n_steps_at_the_end_after_a_while_and_on_ctrl_c(tmp_path):
    run = make_run(tmp_path)
    assert not run.due(99, every_steps=100) and run.due(100, every_steps=100)
    net, optimizer, log = trained(0)
    run.save(130, net, optimizer, log)
    assert not run.due(190, 100) and run.due(205, 100)   # crossed 200 since the last save
    assert run.due(1_000, 10_000)                         # the end of the budget
    run.stop_requested = True
    assert run.due(131, 10_000)
    run.stop_requested = False
    run.save_every_seconds = 0.0
    assert run.due(131, 10_000)                           # time has passed


@pytest.mark.parametrize("module, steps, per_save", [
    (boolean_reasoning, 130 * 64 * 6, 50 * 64 * 6),       # 130 iterations, saved every 50
    (stack_rnn_anbn, 110 * 32 * 63, 50 * 32 * 63),       # 110 updates, saved every 50
])
def test_long_examples_save_periodically(module, steps, per_save, tmp_path, monkeypatch,
                                        one_thread):
    saved, save = [], RunDirectory.save

    def counted_save(self, step, *args, **kwargs):
        saved.append(step)
        save(self, step, *args, **kwargs)

    monkeypatch.setattr(RunDirectory, "save", counted_save)
    module.main(total_steps=steps, verbose=False, out_dir=str(tmp_path / "run"),
                **({"eval_episodes": 4} if module is boolean_reasoning else {}))
    assert saved[:2] == [per_save, 2 * per_save] and saved[-1] >= steps


def test_settings_are_checked_against_the_config():
    config = config_from_dict(Config, {"rate": 1, "hidden": [4], "clip": None}, "here")
    assert config == Config(rate=1.0, hidden=(4,), clip=None)
    assert isinstance(config.rate, float)
    for values, message in [({"total_steps": 1.5}, "'total_steps' must be an integer"),
                            ({"total_steps": True}, "'total_steps' must be an integer"),
                            ({"rate": "fast"}, "'rate' must be a number"),
                            ({"rate": float("nan")}, "'rate' must be a number"),
                            ({"flag": 1}, "'flag' must be true or false"),
                            ({"hidden": [4, "8"]}, "'hidden' must be a list"),
                            ({"clip": "no"}, "'clip' must be a number or null"),
                            ({"nme": "y"}, "unknown setting 'nme' .valid: clip, flag, hidden")]:
        with pytest.raises(ValueError, match=message):
            config_from_dict(Config, values, "here")
    with pytest.raises(ValueError, match="here: settings must be a JSON object"):
        config_from_dict(Config, [1], "here")


def test_the_log_never_passes_100_percent_and_refuses_a_bad_state():
    out = io.StringIO()
    log = TrainingLog(1_000, file=out)
    log.record(1_024, torch.tensor([1.0]))      # the last batch overshoots the budget
    assert "(100%)" in out.getvalue() and "102%" not in out.getvalue()
    state = log.state()
    with pytest.raises(ValueError, match="steps must be an int >= 0"):
        log.restore({**state, "steps": -1})
    with pytest.raises(ValueError, match="metrics must map names"):
        log.restore({**state, "metrics": {"loss": [[1.0]]}})
    assert log.state() == state


def test_a_budget_below_learning_starts_is_warned_about():
    @dataclasses.dataclass
    class Replayed:
        total_steps: int = 500
        learning_starts: int = 1_000

    with pytest.warns(UserWarning, match="total_steps=500 is below learning_starts=1,000"):
        warn_if_budget_below_learning_starts(Replayed(), "Breakout")


def test_start_begins_a_new_run_at_zero_and_a_resumed_one_where_it_was_saved(tmp_path):
    net, optimizer, log = trained(0)
    before = state_of(net, optimizer, log)
    assert make_run(tmp_path).start(net, optimizer, log) == (0, {})
    assert_unchanged(before, state_of(net, optimizer, log))      # a new run loads nothing
    make_run(tmp_path, overwrite=True).save(100, net, optimizer, log, carry={"n": 3})
    other_net, other_optimizer, other_log = trained(1)
    step, carry = make_run(tmp_path, resume=True).start(other_net, other_optimizer, other_log)
    assert (step, carry) == (100, {"n": 3}) and torch.equal(other_net.weight, net.weight)


def test_a_run_kept_nowhere_saves_nothing_and_leaves_ctrl_c_alone(tmp_path, monkeypatch):
    import signal

    monkeypatch.chdir(tmp_path)
    run = RunDirectory.open(None, "agentnet.examples.cartpole_a2c", Config())
    net, optimizer, log = trained(0)
    assert run.path is None and run.start(net, optimizer, log) == (0, {})
    handler = signal.getsignal(signal.SIGINT)
    with run:
        assert signal.getsignal(signal.SIGINT) is handler        # Ctrl-C stops as usual
        assert not run.due(1_000, 10) and not run.due(10**9, 1)  # not even at the end
    with pytest.raises(ValueError, match="cartpole_a2c: this run is kept nowhere"):
        run.save(10, net, optimizer, log)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="resume=True needs the run's folder"):
        RunDirectory.open(None, "agentnet.examples.cartpole_a2c", Config(), resume=True)
