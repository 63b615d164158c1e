"""The README's promises: its example runs and prints what it says; its commands are CI's."""
import contextlib
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_example_runs_and_prints_what_it_shows():
    block = next(b for b in re.findall(r"```python\n(.*?)```", README, re.S) if "Agent(" in b)
    expected = "\n".join(line[2:] for line in block.splitlines() if line.startswith("# "))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block, "README.md", "exec"), {})
    assert printed.getvalue().strip() == expected.strip()


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"```bash\n(.*?)\n```", README, re.S)
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in (ROOT / ".ci" / "run").read_text()
    assert any("-m agentnet" in c for c in commands)
