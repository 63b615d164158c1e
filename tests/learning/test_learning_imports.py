"""``agentnet.learning`` is functions of tensors: none of its modules imports layers, agents,
environments, memory or resolvers (read from the source with ``ast``, so an import inside a
function or behind a condition counts too, whatever is already in ``sys.modules``)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import agentnet.learning

LEARNING = Path(agentnet.learning.__file__).parent
FORBIDDEN = ("agentnet.layers", "agentnet.agent", "agentnet.environment", "agentnet.memory",
             "agentnet.resolver")


def imported_modules(source: str, package: str) -> set[str]:
    """Every module a source file of ``package`` imports, absolute; for ``from X import y``
    both ``X`` and ``X.y`` (``y`` may be a submodule); string arguments of
    ``importlib.import_module`` and ``__import__`` too."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name) and node.func.id == "__import__"))):
            found.add(node.args[0].value)
    return found


def forbidden(modules: set[str]) -> list[str]:
    return sorted(m for m in modules
                  if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))


@pytest.mark.parametrize("path", sorted(LEARNING.rglob("*.py")), ids=lambda p: p.name)
def test_learning_imports_no_layers_agent_environment_memory_or_resolver(path):
    package = ".".join(("agentnet", *path.relative_to(LEARNING.parent).parts[:-1]))
    modules = imported_modules(path.read_text(), package)
    assert not forbidden(modules), f"{path.name} imports {forbidden(modules)}"


@pytest.mark.parametrize("source", [
    "from .. import layers",
    "from ..layers.base import Layer",
    "from agentnet import agent",
    "import agentnet.environment.gym",
    "def f():\n    from ..memory import GRUCell",
    "import importlib\nimportlib.import_module('agentnet.resolver')",
    "from agentnet.layers import naf",
])
def test_the_check_sees_every_way_of_importing(source):
    assert forbidden(imported_modules(source, "agentnet.learning"))


def test_the_check_lets_learning_import_itself_and_torch():
    source = "import torch\nfrom .generic import masked_mean\nfrom . import qlearning"
    assert imported_modules(source, "agentnet.learning") >= {
        "torch", "agentnet.learning.generic", "agentnet.learning.qlearning"}
    assert not forbidden(imported_modules(source, "agentnet.learning"))
