"""``agentnet train RECIPE --env ID``: the example chosen for a task (its twin made for that
task, else the first that takes its spaces), the settings of the recipe's hyperparameter
file, and a brief run of every recipe through the command line."""
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from cli_errors import cli_error
from toy_tasks import Cue, Steer

from agentnet import recipes
from agentnet.__main__ import main as cli
from agentnet.examples import EXAMPLES, load_example
from agentnet.recipes import RECIPES, resolve
from agentnet.utils.runs import config_from_dict

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module", autouse=True)
def toy_tasks():
    gymnasium.register("AgentnetToyCue-v0", entry_point=Cue)
    gymnasium.register("AgentnetToySteer-v0", entry_point=Steer)
    yield
    del gymnasium.registry["AgentnetToyCue-v0"], gymnasium.registry["AgentnetToySteer-v0"]


def test_every_recipe_names_examples_that_exist():
    for recipe in RECIPES.values():
        assert recipe.examples and all(name in EXAMPLES for name in recipe.examples)


@pytest.mark.parametrize("recipe, env_id, example", [
    ("ppo", "CartPole-v1", "cartpole_ppo"),             # its twin
    ("ppo", "AgentnetToySteer-v0", "mujoco_ppo"),       # Box actions: the first that takes them
    ("ppo", "AgentnetToyCue-v0", "popgym_recurrent_ppo"),  # Discrete actions: the next one
    ("sac", "Pendulum-v1", "pendulum_sac"),
    ("sac", "AgentnetToySteer-v0", "mujoco_sac"),
    ("naf", "LunarLanderContinuous-v3", "lunar_lander_naf"),
    ("r2d2", "AgentnetToyCue-v0", "popgym_r2d2"),
    ("dqn", None, "gym_cartpole_dqn"),                  # no task: the first example's own
    ("dqn", "Acrobot-v1", "gym_cartpole_dqn"),
])
def test_the_example_for_a_task_is_its_twin_else_the_first_that_takes_its_spaces(
        recipe, env_id, example):
    if env_id == "LunarLanderContinuous-v3":
        pytest.importorskip("Box2D")
    module, settings, _ = resolve(recipe, env_id)
    assert module is load_example(example)
    assert ("env_id" in settings) != hasattr(module, "GYMNASIUM_ID")  # a twin has no env_id


def test_plain_ppo_on_a_discrete_task_has_no_memory():
    assert resolve("ppo", "AgentnetToyCue-v0")[1] == {"memory": "none",
                                                      "env_id": "AgentnetToyCue-v0"}


@pytest.mark.parametrize("recipe, env_id, message", [
    ("sac", "AgentnetToyCue-v0", "sac cannot play AgentnetToyCue-v0: mujoco_sac: "
                                 "AgentnetToyCue-v0's action space Discrete(2) is not a "
                                 "bounded Box"),
    ("r2d2", "AgentnetToySteer-v0", "r2d2 cannot play AgentnetToySteer-v0: popgym_r2d2: "),
    ("a2c", "Acrobot-v1", "a2c runs only on CartPole-v1 so far"),
    ("nope", "CartPole-v1", "'nope' is not a recipe (recipes: dqn, a2c, ppo"),
])
def test_a_task_no_example_of_the_recipe_can_play_is_refused_saying_why(recipe, env_id,
                                                                        message):
    with pytest.raises(ValueError, match=re.escape(message)):
        resolve(recipe, env_id)


def test_the_hyperparameter_file_is_checked_against_the_examples_config(monkeypatch):
    monkeypatch.setattr(recipes, "hyperparameters", lambda recipe: (
        "ppo.toml", {"any": {"popgym_recurrent_ppo": {"memroy": "none"}}}))
    with pytest.raises(ValueError, match=r"ppo.toml \[any.popgym_recurrent_ppo\]: unknown "
                                         r"setting 'memroy'"):
        resolve("ppo", "AgentnetToyCue-v0")
    monkeypatch.setattr(recipes, "hyperparameters", lambda recipe: (
        "ppo.toml", {"AgentnetToyCue-v0": {"n_epochs": 2, "memory": "none"}}))
    module, settings, how = resolve("ppo", "AgentnetToyCue-v0")
    assert settings == {"n_epochs": 2, "memory": "none", "env_id": "AgentnetToyCue-v0"}
    assert how == "settings tuned for AgentnetToyCue-v0"


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_every_hyperparameter_file_entry_fits_its_example(recipe):
    path, table = recipes.hyperparameters(recipe)
    for env_id in table:
        if env_id != "any":
            resolve(recipe, env_id)  # raises on a setting the example does not have
    for example, settings in table.get("any", {}).items():
        assert example in RECIPES[recipe].examples, f"{path}: [any.{example}]"
        config_from_dict(load_example(example).Config, settings, f"{path} [any.{example}]")


# --- every recipe through the command line, briefly -------------------------------------
BRIEF = {  # recipe -> (task, settings for a run of a few seconds, steps)
    "dqn": (None, ["learning_starts=256", "eval_episodes=2"], 1024),
    "a2c": (None, ["eval_episodes=2"], 2048),
    "nstep_q": (None, ["eval_episodes=2"], 2048),
    "ddpg": (None, ["eval_episodes=2", "learning_starts=256"], 1024),
    "td3": (None, ["eval_episodes=2", "learning_starts=256"], 1024),
    "naf": (None, ["eval_episodes=2", "learning_starts=256"], 1024),
    "sac": ("AgentnetToySteer-v0", ["eval_episodes=2", "learning_starts=256"], 1024),
    "ppo": ("AgentnetToyCue-v0", ["eval_episodes=2", "n_envs=4", "session_length=16"], 512),
    "recurrent_ppo": ("AgentnetToyCue-v0", ["eval_episodes=2", "n_envs=4",
                                            "session_length=16"], 512),
    "r2d2": ("AgentnetToyCue-v0", ["eval_episodes=2", "learning_starts=256"], 1024),
}


def test_every_recipe_has_a_brief_run():
    assert set(BRIEF) == set(RECIPES)


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_every_recipe_trains_through_the_command_line(recipe, tmp_path, capsys):
    env_id, settings, steps = BRIEF[recipe]
    run = tmp_path / "run"
    argv = ["train", recipe, "--steps", str(steps), "--out", str(run)]
    argv += ["--env", env_id] if env_id else []
    for setting in settings:
        argv += ["--set", setting]
    cli(argv)
    out = capsys.readouterr().out
    saved = json.loads((run / "config.json").read_text())
    example, _, _ = resolve(recipe, env_id)
    assert saved["example"] == example.__name__
    assert out.startswith(f"agentnet train {recipe} on ")
    assert "mean return" in out


def test_a_recipe_learns_a_task_the_user_registered(capsys):
    cli(["train", "ppo", "--env", "AgentnetToyCue-v0", "--steps", "8192", "--set", "n_envs=4",
         "--set", "session_length=16", "--set", "eval_episodes=8"])
    out = capsys.readouterr().out
    assert "popgym_recurrent_ppo" in out.splitlines()[0]
    assert float(out.split("mean return")[-1].split()[0]) > 6.0, out  # chance: 4


@pytest.mark.parametrize("argv, message", [
    (["train", "sac", "--env", "CartPole-v1"], "sac cannot play CartPole-v1"),
    (["train", "a2c", "--env", "Acrobot-v1"], "a2c runs only on CartPole-v1 so far"),
    (["train", "ppo", "--env", "AgentnetNoSuchTask-v0"], "--env AgentnetNoSuchTask-v0: "),
    (["train", "ppo", "--set", "env_id=Acrobot-v1"], "a recipe's task is given with --env"),
    (["train", "ppo", "--env", "CartPole-v1", "--set", "memory=gru"],
     "unknown setting 'memory'"),  # cartpole_ppo has none
])
def test_recipe_errors_are_one_line(argv, message, capsys):
    assert message in cli_error(argv, capsys)


def test_the_hyperparameter_files_ship_in_the_wheel(tmp_path):
    root, tree = Path(recipes.__file__).parents[3], tmp_path / "tree"  # built in a copy
    shutil.copytree(root / "src", tree / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, tree / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(tmp_path), str(tree)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("agentnet_torch-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    files = sorted(Path(recipes.__file__).parent.glob("*.toml"))
    assert files and all(f"agentnet/recipes/{file.name}" in names for file in files)


class _Pixels(Cue):
    observation_space = gymnasium.spaces.Box(0, 255, (4, 4, 3), np.uint8)


def test_flat_tasks_wrap_only_what_needs_flattening_and_refuse_images():
    from agentnet.driving import FlatObservations
    from agentnet.examples import make_flat_task

    assert not isinstance(make_flat_task("CartPole-v1", "x"), FlatObservations)  # flat already
    lake = make_flat_task("FrozenLake-v1", "x")
    assert isinstance(lake, FlatObservations)
    assert lake.reset(seed=0)[0].tolist() == [1.0] + [0.0] * 15  # Discrete: one-hot
    gymnasium.register("AgentnetToyPixels-v0", entry_point=_Pixels)
    try:
        with pytest.raises(ValueError, match=r"x: AgentnetToyPixels-v0's observation space "
                                             r"Box.* is not a vector \(images need a conv"):
            make_flat_task("AgentnetToyPixels-v0", "x")
    finally:
        del gymnasium.registry["AgentnetToyPixels-v0"]
