"""make_config: every example builds its settings the same way and names a mistyped one."""
import importlib

import pytest

from agentnet.examples import EXAMPLES, make_config
from agentnet.examples.cartpole_nstep_q import Config


def test_total_steps_replaces_the_budget_and_overrides_set_the_rest():
    assert make_config(Config, None, {}) == Config()
    config = make_config(Config, 1_024, {"gamma": 0.9, "seed": 3})
    assert config == Config(total_steps=1_024, gamma=0.9, seed=3)


def test_an_unknown_setting_names_the_closest_field():
    with pytest.raises(TypeError, match=r"cartpole_nstep_q: unknown setting 'epsilon_stat' "
                                        r"\(did you mean 'epsilon_start'\? settings: "
                                        r"epsilon_decay_fraction, epsilon_end"):
        make_config(Config, None, {"epsilon_stat": 0.5})
    with pytest.raises(TypeError, match=r"unknown setting 'zzz' \(settings: "):
        make_config(Config, None, {"zzz": 1})


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_refuses_a_mistyped_setting_before_it_builds_anything(name, tmp_path):
    module = importlib.import_module(f"agentnet.examples.{name}")
    with pytest.raises(TypeError, match=f"{name}: unknown setting 'sed' .did you mean 'seed'"):
        module.main(total_steps=10, verbose=False, out_dir=str(tmp_path / "run"), sed=1)
    assert not (tmp_path / "run").exists()
