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
    # tests/ has no __init__.py: pytest imports test files by basename, so twins collide
    from collections import Counter
    from pathlib import Path

    names = Counter(p.name for p in Path(__file__).parent.rglob("*.py"))
    assert [name for name, count in names.items() if count > 1] == []
