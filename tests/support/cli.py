"""Running `vprop` through click in tests, and what a user's mistake must look like."""
from click.testing import CliRunner

from vprop.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def bad(result, *words):
    """Exit 1, exactly one `error:` line naming what went wrong, never a traceback."""
    assert result.exit_code == 1, result.output
    lines = [l for l in result.output.strip().splitlines() if l.startswith("error:")]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    for w in words:
        assert w in lines[0], lines[0]


def misused(result, *words):
    """Exit 2, click's usage note and exactly one `Error:` line naming the option or value, never a traceback."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [l for l in result.output.strip().splitlines() if l.startswith("Error:")]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    for w in words:
        assert w in lines[0], lines[0]
