"""The code stays lint-clean and type-checked, as ``pyproject.toml`` configures ruff and mypy
(both installed by the ``test`` extra; CI pins their versions in ``constraints.txt``)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True,
                          text=True)


def test_ruff_finds_nothing():
    result = run("ruff", "check", "--no-cache", "src", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing_in_the_package():
    result = run("mypy", "src/agentnet")
    assert result.returncode == 0, result.stdout + result.stderr
