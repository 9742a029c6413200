"""Every command's --help in the words of the command line."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import COMMANDS, app

runner = CliRunner()
INTERNAL = re.compile(r"<(bool|str|int|path|list\[[^]]*\]|int range)>|\{[A-Z.]+\}")


@pytest.mark.parametrize("command", ["", *sorted(COMMANDS)])
def test_help_shows_no_internal_type_names(command: str) -> None:
    args = [command, "--help"] if command else ["--help"]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert not INTERNAL.findall(result.output), result.output


def test_options_take_named_values_and_flags_none() -> None:
    result = runner.invoke(app, ["apply", "--help"], env={"COLUMNS": "200"})
    assert re.search(r"--inventory\s+-i\s+PATH ", result.output)
    assert re.search(r"--yes\s+-y\s+do not ask", result.output)
    usage = runner.invoke(app, ["rollback", "--help"], env={"COLUMNS": "200"}).output
    assert "Usage: fleetcfg rollback [OPTIONS] HOST..." in usage


def test_version_prints_the_version() -> None:
    from fleetcfg import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"fleetcfg {__version__}\n"


def test_no_color_sets_no_color_for_every_console(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from fleetcfg.cli.output import stdout_console

    monkeypatch.setenv("NO_COLOR", "")  # restored (unset) after the test
    result = runner.invoke(app, ["--no-color", "lint", "--explain", "all"])
    assert result.exit_code == 0
    assert os.environ.get("NO_COLOR") == "1"
    assert stdout_console().no_color
