"""Every example the command line lists imports and runs for a few steps."""
import importlib

import pytest

from agentnet.__main__ import main as cli
from agentnet.examples import EXAMPLES
from agentnet.utils.runs import RunFolderError

pytestmark = pytest.mark.usefixtures("one_thread")


SMALL = {"stack_rnn_anbn": {"total_steps": 5 * 32 * 63},
         "boolean_reasoning": {"total_steps": 2_048},
         "atari_dqn": {"total_steps": 128, "eval_episodes": 1, "eval_max_steps": 10},
         "lunar_lander_naf": {"total_steps": 1_040, "learning_starts": 560,
                              "eval_episodes": 2},
         "atari_kungfu_a2c": {"total_steps": 64, "n_envs": 4, "session_length": 8,
                              "eval_episodes": 1, "eval_max_steps": 10},
         "doom_basic": {"total_steps": 160, "learning_starts": 80, "eval_episodes": 1,
                        "eval_max_steps": 10},
         "mujoco_sac": {"total_steps": 256, "learning_starts": 128, "hidden": 16,
                        "eval_episodes": 2}}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs_a_few_steps(name):
    module = importlib.import_module(f"agentnet.examples.{name}")
    assert module.__doc__ and hasattr(module, "Config") and hasattr(module, "main")
    result = module.main(**SMALL.get(name, {"total_steps": 1_024}), verbose=False)
    assert isinstance(result, dict) and result


@pytest.mark.parametrize("name", ["boolean_reasoning", "stack_rnn_anbn"])
def test_short_examples_save_their_run_to_out(name, tmp_path):
    module = importlib.import_module(f"agentnet.examples.{name}")
    module.main(**SMALL[name], verbose=False, out_dir=str(tmp_path), compare=False)
    assert {p.name for p in tmp_path.iterdir()} >= {
        "config.json", "metrics.csv", "learning_curve.png", "checkpoint.safetensors"}
    with pytest.raises(RunFolderError, match="cannot resume"):
        module.main(**SMALL[name], verbose=False, out_dir=str(tmp_path), resume=True)


def test_bad_arguments_print_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        cli(["train", "no_such_example"])
    assert stop.value.code == 2
    assert "invalid choice: 'no_such_example'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        cli(["evaluate", "/nonexistent/run"])
    assert stop.value.code == 2
    assert "holds no agentnet run" in capsys.readouterr().err
