import importlib

import pytest

import agentnet

SUBPACKAGES = ["agentnet", "agentnet.layers", "agentnet.records", "agentnet.agent",
               "agentnet.resolver", "agentnet.memory", "agentnet.environment", "agentnet.utils",
               "agentnet.target_network", "agentnet.learning", "agentnet.display",
               "agentnet.driving", "agentnet.distributed"] + [
    f"agentnet.learning.{name}" for name in agentnet.learning.__all__]


@pytest.mark.parametrize("module_name", SUBPACKAGES)
def test_every_public_name_imports(module_name):
    module = importlib.import_module(module_name)
    assert module.__all__, f"{module_name} has an empty __all__"
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{module_name}.{name}"
        assert not name.startswith("_") or name == "__version__"


def test_top_level_names_match_the_design():
    assert agentnet.Agent is agentnet.agent.Agent is agentnet.MDPAgent
    assert agentnet.environment.CartPole is not None
    assert agentnet.__version__


def test_test_files_have_unique_names():
    """Every ``.py`` file under tests/ has a basename of its own.

    No test file imports another (shared helpers live in plain modules such as
    ``learning/brute_force.py`` and ``driving/fake_envs.py``), but tests/ has no
    ``__init__.py``: pytest's default ("prepend") import mode puts each file's folder on
    ``sys.path`` and imports it as a top-level module named by its basename, so two test files
    of the same name in different folders fail collection ("import file mismatch"), and a helper
    module (imported by bare name by the tests and by worker processes) would shadow its twin.
    """
    from collections import Counter
    from pathlib import Path

    names = Counter(p.name for p in Path(__file__).parent.rglob("*.py"))
    twins = [name for name, count in names.items() if count > 1]
    assert twins == [], (
        f"{twins}: tests/ is no package, so pytest imports its files as top-level modules by "
        "basename; give each file a name of its own")
