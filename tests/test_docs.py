"""The documentation: it builds without a warning, its getting-started code runs and prints what
the page shows, and every example has a page with its learning curve.

Build it yourself with ``.venv/bin/pip install -c constraints.txt -e '.[docs]' &&
.venv/bin/mkdocs build --strict`` (``mkdocs serve`` to browse).
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from agentnet.__main__ import EXAMPLES

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GETTING_STARTED = DOCS / "getting-started.md"

#: a fenced block and, when the next thing on the page is a ```text block, what it printed
_BLOCK = re.compile(r"```python\n(.*?)```\s*(?:```text\n(.*?)```)?", re.S)


def _subpackages() -> list[str]:
    """Every public subpackage of agentnet (the examples have pages of their own)."""
    import agentnet

    return sorted(module.name for module in pkgutil.iter_modules(agentnet.__path__)
                  if module.ispkg and not module.name.startswith("_")
                  and module.name != "examples")


def _blocks(page: Path) -> list[tuple[str, str | None]]:
    return [(code, output) for code, output in _BLOCK.findall(page.read_text())]


def test_mkdocs_builds_without_warnings(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec(
            "mkdocstrings_handlers") is None:
        pytest.skip("mkdocs and mkdocstrings are not installed: "
                    "pip install -c constraints.txt -e '.[docs]'")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    warnings = [line for line in log.splitlines() if "WARNING" in line]
    assert not warnings, "\n".join(warnings)
    # every public name of every subpackage is documented on its API page
    missing = []
    for package in _subpackages():
        html = (tmp_path / "api" / package / "index.html").read_text()
        module = importlib.import_module(f"agentnet.{package}")
        for name in module.__all__:
            if not re.search(rf'id="agentnet\.{package}(\.\w+)*\.{name}"', html):
                missing.append(f"agentnet.{package}.{name}")
    assert not missing, f"not in the API reference: {missing}"


def test_getting_started_code_runs_and_prints_what_the_page_shows(tmp_path, monkeypatch):
    blocks = _blocks(GETTING_STARTED)
    assert len(blocks) >= 10
    monkeypatch.chdir(tmp_path)  # anything a block writes stays out of the repository
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    namespace: dict = {"__name__": "getting_started"}
    try:
        for number, (code, expected) in enumerate(blocks, 1):
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(compile(code, f"{GETTING_STARTED.name} block {number}", "exec"), namespace)
            if expected is not None:
                assert printed.getvalue().rstrip() == expected.rstrip(), (
                    f"block {number} printed:\n{printed.getvalue()}\nthe page shows:\n{expected}")
    finally:
        torch.set_num_threads(threads)


def test_home_page_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "mkdocs build --strict" in (DOCS / "index.md").read_text()  # the documented command
    for number, (code, _) in enumerate(_blocks(DOCS / "index.md"), 1):
        exec(compile(code, f"index.md block {number}", "exec"), {"__name__": "index"})


def test_getting_started_walks_every_part_of_whats_what():
    headings = re.findall(r"^## (.*)$", GETTING_STARTED.read_text(), re.M)
    for part in ["agentnet.layers", "agentnet.agent", "agentnet.resolver", "agentnet.memory",
                 "agentnet.environment", "agentnet.learning", "agentnet.target_network",
                 "agentnet.utils", "agentnet.display"]:
        assert any(heading.startswith(part) for heading in headings), part


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_every_example_has_a_page_with_its_learning_curve(example):
    page = DOCS / "examples" / f"{example}.md"
    assert page.is_file(), f"no docs page for the example {example}"
    text = page.read_text()
    assert f"agentnet train {example}" in text
    assert f"]({example}.png)" in text, f"{page} does not show {example}.png"
    png = DOCS / "examples" / f"{example}.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    nav = (ROOT / "mkdocs.yml").read_text()
    assert f"examples/{example}.md" in nav, f"{example} is not in mkdocs.yml's nav"


def test_every_public_subpackage_has_an_api_page():
    for name in _subpackages():
        page = DOCS / "api" / f"{name}.md"
        assert page.is_file() and f"::: agentnet.{name}" in page.read_text(), name
