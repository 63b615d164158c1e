"""The command line as a newcomer and an adversary meet it: a run folder is data (it never
names code to run), every user error is one line, nothing saved is replaced unless asked,
Ctrl-C keeps a checkpoint."""
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from cli_errors import cli_error

from agentnet.__main__ import main as cli
from agentnet.examples import cartpole_a2c
from agentnet.utils import persistence

ROOT = Path(__file__).resolve().parents[2]
STEPS = 16 * 8 * 60   # 60 iterations of cartpole_a2c's default batch: a second or two


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A finished cartpole_a2c run folder (copied by each test that changes it)."""
    folder = tmp_path_factory.mktemp("run") / "a2c"
    cartpole_a2c.main(total_steps=STEPS, verbose=False, out_dir=str(folder), eval_episodes=2)
    return folder


def copy_run(source: Path, destination: Path) -> Path:
    destination.mkdir()
    for file in source.iterdir():
        (destination / file.name).write_bytes(file.read_bytes())
    return destination


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def run_module(args, cwd, **kwargs):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "agentnet", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, **kwargs)


# --- a run folder never runs code --------------------------------------------------------
@pytest.mark.parametrize("command", [["evaluate"], ["train", "--resume"]])
def test_a_hostile_run_folder_runs_no_code(command, tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n"
                                      f"def main(**kw): pass\nConfig = dict\n")
    run = tmp_path / "run"
    run.mkdir()
    for name in ["evil", "agentnet.examples.evil", "os", "agentnet.__main__"]:
        (run / "config.json").write_text(json.dumps({"example": name, "config": {}}))
        # the current folder is on sys.path with python -m: evil.py would be importable
        result = run_module([*command, "run"], cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "is not an agentnet example" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert not marker.exists()


@pytest.mark.parametrize("command", [["evaluate"], ["train", "--resume"]])
@pytest.mark.parametrize("example, field", [
    ("mujoco_sac", "env_id"), ("mujoco_ppo", "env_id"), ("popgym_recurrent_ppo", "env_id"),
    ("popgym_r2d2", "env_id"), ("doom_basic", "scenario")])
def test_a_run_folder_naming_a_module_in_its_task_id_imports_nothing(command, example, field,
                                                                    tmp_path):
    """Gymnasium's ``module:id`` imports the module: from a run folder that is code."""
    pytest.importorskip({"mujoco_sac": "mujoco", "mujoco_ppo": "mujoco", "doom_basic": "vizdoom"}
                        .get(example, "popgym"))
    marker = tmp_path / "pwned"
    (tmp_path / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    run = tmp_path / "run"
    run.mkdir()
    settings = {"example": example, "config": {field: "evil:CartPole-v1"}}
    (run / "config.json").write_text(json.dumps(settings))
    persistence.save_checkpoint(run / "checkpoint.safetensors", torch.nn.Linear(1, 1),
                                extra={"settings": {**settings, "example":
                                                    f"agentnet.examples.{example}"}})
    result = run_module([*command, "run"], cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "names a module that is not imported (evil)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not marker.exists()


@pytest.mark.parametrize("text, message", [
    ("{not json", "not a valid config file"),
    ('{"config": {}}', "missing 'example'"),
    ('{"example": "cartpole_a2c"}', "missing 'config'"),
    ('{"example": "cartpole_a2c", "config": {}, "code": 1}', "unknown keys"),
    ('{"example": 3, "config": {}}', "'example' must be a string"),
    ('{"example": "cartpole_a2c", "config": []}', "'config' must be a JSON object"),
    ('{"example": "cartpole_a2c", "config": {"hiden": 3}}', "unknown setting 'hiden'"),
    ('{"example": "cartpole_a2c", "config": {"hidden": "64"}}', "must be an integer"),
    ('{"example": "cartpole_a2c", "config": {"hidden": 6.5}}', "must be an integer"),
    ('{"example": "cartpole_a2c", "config": {"gamma": NaN}}', "not a valid config file"),
    ('{"example": "cartpole_a2c", "config": {"seed": true}}', "must be an integer"),
    ('[1, 2]', "not a run's settings"),
    ('\xff\xfe', "not a valid config file"),
])
def test_a_broken_config_is_a_one_line_error_and_changes_nothing(text, message, trained_run,
                                                                  tmp_path, capsys):
    run = copy_run(trained_run, tmp_path / "run")
    (run / "config.json").write_bytes(text.encode("latin-1"))
    before = snapshot(run)
    for argv in (["evaluate", str(run)], ["train", "--resume", str(run), "--steps",
                                          str(2 * STEPS)]):
        assert message in cli_error(argv, capsys)
        assert snapshot(run) == before


def test_the_valid_fields_are_listed_for_an_unknown_setting(trained_run, tmp_path, capsys):
    run = copy_run(trained_run, tmp_path / "run")
    (run / "config.json").write_text('{"example": "cartpole_a2c", "config": {"lr": 1}}')
    err = cli_error(["evaluate", str(run)], capsys)
    assert "valid:" in err and "learning_rate" in err and "total_steps" in err


def test_a_config_edited_by_hand_loses_to_the_checkpoint_and_says_so(trained_run, tmp_path,
                                                                     capsys):
    run = copy_run(trained_run, tmp_path / "run")
    settings = json.loads((run / "config.json").read_text())
    settings["config"]["hidden"] = 7   # the agent in the checkpoint has 64 units
    (run / "config.json").write_text(json.dumps(settings))
    cli(["evaluate", str(run), "--episodes", "1"])
    out = capsys.readouterr().out
    assert "hidden (7 in config.json, 64 in the checkpoint)" in out
    assert "the checkpoint's settings are used" in out and "CartPole-v1: " in out


def test_a_checkpoint_of_another_example_is_refused(trained_run, tmp_path, capsys):
    run = copy_run(trained_run, tmp_path / "run")
    (run / "config.json").write_text('{"example": "cartpole_ppo", "config": {}}')
    err = cli_error(["evaluate", str(run)], capsys)
    assert "trained by agentnet.examples.cartpole_a2c" in err


# --- nothing saved is replaced unless asked ---------------------------------------------
def test_out_into_a_run_folder_is_refused_without_overwrite(trained_run, tmp_path, capsys):
    run = copy_run(trained_run, tmp_path / "run")
    before = snapshot(run)
    for example in ("cartpole_a2c", "cartpole_ppo"):
        err = cli_error(["train", example, "--steps", "1024", "--out", str(run)], capsys)
        assert "already holds files" in err and "--overwrite" in err
        assert snapshot(run) == before


def test_overwrite_interrupted_before_its_first_save_leaves_the_old_run_whole(
        trained_run, tmp_path, capsys, monkeypatch):
    run = copy_run(trained_run, tmp_path / "run")
    before = snapshot(run)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch.optim.Adam, "step", interrupted)
    with pytest.raises(SystemExit) as stop:
        cli(["train", "cartpole_ppo", "--steps", "4096", "--out", str(run), "--overwrite"])
    assert stop.value.code == 130
    assert snapshot(run) == before              # config.json still names the A2C run
    monkeypatch.undo()
    cli(["evaluate", str(run), "--episodes", "1"])
    assert "CartPole-v1: " in capsys.readouterr().out


def test_overwrite_replaces_the_run(trained_run, tmp_path, capsys):
    run = copy_run(trained_run, tmp_path / "run")
    cli(["train", "cartpole_ppo", "--steps", "2048", "--out", str(run), "--overwrite"])
    settings = json.loads((run / "config.json").read_text())
    assert settings["example"] == "agentnet.examples.cartpole_ppo"
    assert settings["config"]["total_steps"] == 2048


# --- every user error is one line ---------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["train", "--threads", "0"], "--threads: must be at least 1"),
    (["train", "--steps", "0"], "--steps: must be at least 1"),
    (["train", "--steps", "-5"], "--steps: must be at least 1"),
    (["train", "--steps", "many"], "--steps: 'many' is not an integer"),
    (["evaluate", "x", "--episodes", "0"], "--episodes: must be at least 1"),
    (["train", "no_such_example"], "invalid choice: 'no_such_example'"),
    (["evaluate", "/nonexistent/run"], "holds no agentnet run"),
])
def test_bad_arguments_are_one_line(argv, message, capsys):
    assert message in cli_error(argv, capsys)


def test_out_at_a_file_or_an_unwritable_place_is_one_line(tmp_path, capsys):
    file = tmp_path / "file"
    file.write_text("mine")
    assert "not a folder" in cli_error(["train", "--steps", "1024", "--out", str(file)], capsys)
    assert file.read_text() == "mine"
    err = cli_error(["train", "--steps", "1024", "--out", str(file / "run")], capsys)
    assert str(file) in err


def test_a_full_disk_is_one_line(tmp_path, capsys, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x"))

    monkeypatch.setattr(persistence, "save_checkpoint", full)
    err = cli_error(["train", "--steps", "1024", "--out", str(tmp_path / "run")], capsys)
    assert "No space left on device" in err


def test_resume_refuses_options_it_would_ignore(trained_run, capsys):
    for extra in (["--seed", "3"], ["--out", "elsewhere"], ["cartpole_ppo"], ["--overwrite"]):
        err = cli_error(["train", *extra, "--resume", str(trained_run)], capsys)
        assert "cannot be given with it" in err


def test_resume_of_an_example_that_cannot_resume_is_one_line(tmp_path, capsys):
    from agentnet.examples import boolean_reasoning

    boolean_reasoning.main(total_steps=2048, verbose=False, compare=False,
                           out_dir=str(tmp_path / "run"), eval_episodes=2)
    err = cli_error(["train", "--resume", str(tmp_path / "run"), "--steps", "4096"], capsys)
    assert "boolean_reasoning cannot resume" in err


def test_resume_past_the_budget_says_so(trained_run, tmp_path, capsys):
    run = copy_run(trained_run, tmp_path / "run")
    before = snapshot(run)
    err = cli_error(["train", "--resume", str(run)], capsys)
    assert f"already trained {STEPS:,} of its {STEPS:,} steps" in err
    assert snapshot(run) == before


def test_a_missing_optional_package_names_the_pip_line(trained_run, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "gymnasium", None)   # import gymnasium fails
    err = cli_error(["evaluate", str(trained_run)], capsys)
    assert "pip install 'agentnet-torch[gym]'" in err


# --- Ctrl-C keeps a checkpoint ------------------------------------------------------------
def test_ctrl_c_saves_a_checkpoint_and_says_how_to_resume(tmp_path):
    run = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "agentnet", "train", "cartpole_a2c", "--steps", "100000000",
         "--out", str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:  # training has begun when the first progress line shows
            if line.startswith("step "):
                break
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("agentnet: interrupted; saved step ")
    assert f"resume with: agentnet train --resume {run}" in last
    step = int(last.split("saved step ")[1].split(" ")[0].replace(",", ""))
    saved_step, _ = persistence.read_checkpoint(run / "checkpoint.safetensors")
    assert saved_step == step > 0
