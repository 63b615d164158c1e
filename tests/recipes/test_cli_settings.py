"""``agentnet train EXAMPLE --set NAME=VALUE --env ID``: any setting of an example's
``Config`` from the command line, type-checked, and any Gymnasium task for the examples that
take one, including ids a user registered and Gymnasium's ``module:EnvId`` form."""
import json
import os
import subprocess
import sys
import textwrap

import gymnasium
import pytest
from cli_errors import cli_error
from toy_tasks import Cue

from agentnet.__main__ import main as cli

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL_PPO = ["--set", "n_envs=4", "--set", "session_length=16", "--set", "eval_episodes=4"]


@pytest.fixture
def registered_cue():
    gymnasium.register("AgentnetTestCue-v0", entry_point=Cue)
    yield "AgentnetTestCue-v0"
    del gymnasium.registry["AgentnetTestCue-v0"]


def settings_of(run) -> dict:
    return json.loads((run / "config.json").read_text())["config"]


def test_set_changes_any_setting_and_config_json_records_it(tmp_path, capsys):
    run = tmp_path / "run"
    cli(["train", "cartpole_a2c", "--steps", "2048", "--out", str(run), "--set", "hidden=24",
         "--set", "learning_rate=3e-3", "--set", "eval_episodes=2"])
    settings = settings_of(run)
    assert (settings["hidden"], settings["learning_rate"]) == (24, 0.003)
    assert settings["total_steps"] == 2048


def test_set_takes_text_for_a_string_setting_and_json_for_the_rest(registered_cue, tmp_path):
    run = tmp_path / "run"
    cli(["train", "popgym_recurrent_ppo", "--env", registered_cue, "--steps", "256",
         "--out", str(run), "--set", "memory=window", "--set", "window=4", *SMALL_PPO])
    settings = settings_of(run)
    assert (settings["memory"], settings["window"], settings["env_id"]) == (
        "window", 4, registered_cue)


@pytest.mark.parametrize("assignment, message", [
    ("hiden=3", "--set hiden=3: unknown setting 'hiden' (settings: "),
    ("hidden=6.5", "--set hidden=6.5: hidden must be an integer (settings: "),
    ("hidden", "--set 'hidden': expected NAME=VALUE"),
    ("=3", "expected NAME=VALUE"),
    ("gamma=fast", "gamma must be a number"),
    ("seed=true", "seed must be an integer"),
])
def test_a_bad_setting_is_one_line_that_lists_the_settings_and_writes_nothing(
        assignment, message, tmp_path, capsys):
    run = tmp_path / "run"
    err = cli_error(["train", "cartpole_a2c", "--out", str(run), "--set", assignment], capsys)
    assert message in err
    assert not run.exists()


def test_settings_the_example_refuses_are_one_line_naming_it(registered_cue, tmp_path, capsys):
    err = cli_error(["train", "popgym_recurrent_ppo", "--env", registered_cue,
                     "--set", "n_envs=0"], capsys)
    assert "popgym_recurrent_ppo: n_envs must be an int >= 1, got 0" in err


@pytest.mark.parametrize("argv, message", [
    (["--steps", "100", "--set", "total_steps=200"], "--steps and --set total_steps"),
    (["--seed", "1", "--set", "seed=2"], "--seed and --set seed"),
])
def test_a_setting_given_twice_is_refused(argv, message, capsys):
    assert message in cli_error(["train", "cartpole_a2c", *argv], capsys)


def test_env_needs_an_example_that_takes_any_task(capsys):
    err = cli_error(["train", "cartpole_a2c", "--env", "Acrobot-v1"], capsys)
    assert "--env: cartpole_a2c trains on a task of its own" in err
    assert "popgym_recurrent_ppo" in err and "mujoco_sac" in err


@pytest.mark.parametrize("env, message", [
    ("AgentnetNoSuchTask-v0", "--env AgentnetNoSuchTask-v0: Environment "),
    ("agentnet_no_such_module:Cue-v0", "no module named 'agentnet_no_such_module'"),
])
def test_an_unknown_task_or_module_is_one_line(env, message, capsys):
    assert message in cli_error(["train", "popgym_recurrent_ppo", "--env", env], capsys)


def test_an_environment_the_user_registered_trains_and_learns(registered_cue, tmp_path,
                                                              capsys):
    run = tmp_path / "run"
    cli(["train", "popgym_recurrent_ppo", "--env", registered_cue, "--steps", "8192",
         "--out", str(run), "--set", "memory=none", *SMALL_PPO])
    out = capsys.readouterr().out
    assert settings_of(run)["env_id"] == registered_cue
    mean = float(out.split("mean return")[-1].split()[0])
    assert mean > 6.0, out  # 8 ticks, 4 by chance


def test_module_form_imports_the_users_module_and_a_run_folder_never_does(tmp_path):
    (tmp_path / "my_envs.py").write_text(textwrap.dedent("""\
        import gymnasium, pathlib
        with open(pathlib.Path(__file__).with_name("imports.txt"), "a") as log:
            log.write("imported\\n")
        from toy_tasks import Cue
        gymnasium.register("MyCue-v0", entry_point=Cue)
        """))
    env = {**os.environ, "PYTHONWARNINGS": "ignore",
           "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), *sys.path])}

    def agentnet(*args):
        return subprocess.run([sys.executable, "-m", "agentnet", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)

    trained = agentnet("train", "popgym_recurrent_ppo", "--env", "my_envs:MyCue-v0",
                       "--steps", "256", "--out", "run", *SMALL_PPO)
    assert trained.returncode == 0, trained.stderr
    imports = tmp_path / "imports.txt"
    assert imports.read_text().count("imported") == 1
    assert settings_of(tmp_path / "run")["env_id"] == "my_envs:MyCue-v0"
    for command in (["evaluate", "run"], ["train", "--resume", "run", "--steps", "512"]):
        refused = agentnet(*command)
        assert refused.returncode == 2
        assert "names a module that is not imported (my_envs)" in refused.stderr
        assert "--import my_envs" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert imports.read_text().count("imported") == 1
    evaluated = agentnet("evaluate", "run", "--import", "my_envs", "--episodes", "3")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "MyCue-v0: " in evaluated.stdout
