"""Imports run one way, from the ground up (DESIGN.md, "Dependency direction"): every module of
``agentnet`` imports only its own part and parts on lower floors. Read from the source with
``ast``: an import inside a function, behind ``TYPE_CHECKING`` or through
``importlib.import_module("...")`` counts too, whatever is already in ``sys.modules``."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import agentnet

PACKAGE = Path(agentnet.__file__).parent

#: the parts of agentnet by floor; a module may import its own part and any part below it
FLOORS: dict[str, int] = {
    # the ground floor: the one-tick graph, and the records of what an agent did
    "layers": 0, "records": 0,
    # tensor-native environments and the session store, objectives, memory, resolvers...
    "memory": 1, "resolver": 1, "learning": 1, "environment": 1, "objective": 1, "utils": 1,
    "display": 1,
    # the agent: its graph, memory, react, rollouts and replay
    "agent": 2,
    # what drives an agent against the outside world, and what builds on agents
    "driving": 3, "target_network": 3,
    "distributed": 4,
    # recipes and the command line
    "examples": 5, "recipes": 5, "__main__": 5, "experiments": 5,
}
#: what a module may take from the package's root: its version (any other name there is a
#: re-export from some floor, and counts as the top floor)
ROOT_NAMES = {"__version__"}


def part_of(module: str) -> str | None:
    """The part (``layers``, ``agent``...) of an agentnet module name; None for the root
    package itself, and for modules outside agentnet."""
    parts = module.split(".")
    if parts[0] != "agentnet" or len(parts) < 2:
        return None
    return parts[1]


def module_name(path: Path) -> str:
    """``agentnet.x.y`` for the file ``x/y.py`` (``agentnet.x`` for ``x/__init__.py``)."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(("agentnet", *parts)).removesuffix(".__init__")


def imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """Every agentnet module that ``source`` (of the module ``module``) imports, by absolute
    name; for ``from agentnet import y``: ``agentnet.y`` when ``y`` is a part, the root
    itself for its ``__version__``, and ``agentnet.__root__`` for any other name (a
    re-export: the top floor)."""
    package = module if is_package else module.rsplit(".", 1)[0]
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                imported = f"{base}.{node.module}" if node.module else base
            else:
                imported = node.module or ""
            if imported == "agentnet":
                found += [f"agentnet.{alias.name}" if alias.name in FLOORS
                          else "agentnet" if alias.name in ROOT_NAMES else "agentnet.__root__"
                          for alias in node.names]
            else:
                found.append(imported)
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name) and node.func.id == "__import__"))):
            found.append(node.args[0].value)
    return [m for m in found if m == "agentnet" or m.startswith("agentnet.")]


def imports_of(path: Path) -> list[str]:
    return imports(path.read_text(), module_name(path), path.name == "__init__.py")


def floor_of(module: str) -> int:
    part = part_of(module)
    if part == "__root__":
        return max(FLOORS.values())
    return -1 if part is None else FLOORS[part]


def upward(module: str, imported: list[str]) -> list[str]:
    """The modules of ``imported`` (by ``module``) on a floor above ``module``'s part."""
    own = part_of(module)
    if own is None:  # the root package gathers every part
        return []
    return [m for m in imported if part_of(m) != own and floor_of(m) > FLOORS[own]]


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_part_has_a_floor():
    parts = {path.relative_to(PACKAGE).parts[0].removesuffix(".py") for path in MODULES}
    assert parts - {"__init__"} <= set(FLOORS), "give each new part of agentnet a floor"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_floor_above_its_own(path):
    above = upward(module_name(path), imports_of(path))
    assert not above, f"{module_name(path)} imports {above}"


@pytest.mark.parametrize("part", ["environment", "layers", "learning", "memory", "resolver"])
def test_below_the_agent_nothing_imports_agents_or_drivers(part):
    for path in (PACKAGE / part).rglob("*.py"):
        reached = {part_of(m) for m in imports_of(path)}
        assert not reached & {"agent", "driving", "distributed"}, path


def test_layers_import_only_layers():
    for path in (PACKAGE / "layers").rglob("*.py"):
        assert {part_of(m) for m in imports_of(path)} <= {"layers"}, path


def test_the_agent_does_not_import_its_drivers():
    for path in (PACKAGE / "agent").rglob("*.py"):
        assert not {part_of(m) for m in imports_of(path)} & {"driving", "distributed"}, path


def test_environment_names_drivers_only_lazily_and_only_the_kept_names():
    """``agentnet.environment.EnvPool`` (and its like) still work, loaded from the driving
    layer when first asked for: the environment package never imports it."""
    from agentnet import environment

    forwarded = {name: module for name, module in environment._LAZY_NAMES.items()
                 if not module.startswith(".")}
    assert forwarded == dict.fromkeys(["EnvPool", "GamePool", "EnvFailure", "play_episodes"],
                                      "agentnet.driving")
    import agentnet.driving

    for name in forwarded:
        assert getattr(environment, name) is getattr(agentnet.driving, name)


@pytest.mark.parametrize("source, reached", [
    ("from ..agent import Agent", "agent"),
    ("from ..agent.rollout import play", "agent"),
    ("from agentnet import driving", "driving"),
    ("import agentnet.distributed.collector", "distributed"),
    ("def f():\n    from ..agent import Agent", "agent"),
    ("if TYPE_CHECKING:\n    from ..agent.agent import Agent", "agent"),
    ("import importlib\nimportlib.import_module('agentnet.driving.pool')", "driving"),
    ("from agentnet import Agent", "__root__"),
])
def test_the_check_sees_every_way_of_importing(source, reached):
    found = imports(source, "agentnet.environment.probe")
    assert part_of(found[-1]) == reached
    assert upward("agentnet.environment.probe", found)


def test_the_check_lets_a_part_import_itself_and_the_floors_below():
    source = ("from .agent import Agent\nfrom ..layers import base\n"
              "from ..records import Sessions\nfrom .. import __version__\n"
              "from ..environment.base import BaseEnvironment\nimport torch\n")
    found = imports(source, "agentnet.agent.probe")
    assert {part_of(m) for m in found} == {"agent", "layers", "records", "environment", None}
    assert not upward("agentnet.agent.probe", found)
