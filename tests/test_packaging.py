"""How the package installs and imports: the first README command brings what the main job and
its next commands need, a clone's folder never shadows the installed package, the version is
defined once and the changelog has a section for it."""
import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_a_clone_folder_named_agentnet_does_not_shadow_the_package(tmp_path):
    # a user's script beside their clone (named like the package): with the code at the
    # repository's top level, the clone was imported as an empty namespace package
    (tmp_path / "agentnet").symlink_to(ROOT, target_is_directory=True)
    (tmp_path / "script.py").write_text("import agentnet\nprint(agentnet.Agent.__name__)\n")
    result = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "PYTHONPATH": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Agent"
    assert not (ROOT / "agentnet").exists() and (ROOT / "src" / "agentnet").is_dir()


def test_the_main_job_command_installs_what_the_next_commands_need():
    main_job = next(c for c in re.findall(r"```bash\n(.*?)\n```", README, re.S)
                    if "-m agentnet" in c and "pytest" not in c)
    extras = set(re.search(r"-e '\.\[([a-z,]+)\]'", main_job).group(1).split(","))
    # evaluate plays on Gymnasium; --out draws the learning curve
    assert {"gym", "plot"} <= extras
    requires = importlib.metadata.requires("agentnet-torch") or []
    video = [r for r in requires if "extra == \"video\"" in r]
    assert any(r.startswith("pygame") for r in video)   # rendering needs it
    assert any(r.startswith("moviepy") for r in video)


def test_the_version_is_defined_once_and_the_installed_metadata_agrees():
    import agentnet

    installed = importlib.metadata.version("agentnet-torch")
    assert installed == agentnet.__version__, (
        f"installed metadata says {installed}, agentnet.__version__ {agentnet.__version__}: "
        f"reinstall (pip install -c constraints.txt -e . --no-deps)")
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"]          # no second definition
    assert pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "agentnet.__version__"}


def test_the_changelog_has_an_unreleased_section_and_one_for_this_version():
    import agentnet

    headings = re.findall(r"^## \[([^\]]+)\]", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert headings[0] == "Unreleased"
    assert agentnet.__version__ in headings
