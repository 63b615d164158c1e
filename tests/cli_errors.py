"""What the command line's user errors must look like, for the tests of several folders: a
plain module (pytest puts this folder on ``sys.path``, for ``conftest.py`` beside it)."""
import pytest

from agentnet.__main__ import main as cli


def cli_error(argv, capsys) -> str:
    """Run the command line, expect a usage error; return its stderr (checked one line)."""
    with pytest.raises(SystemExit) as stop:
        cli(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err
