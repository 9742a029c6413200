"""Every command's --help in the words of the command line."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import COMMANDS, app

runner = CliRunner()
INTERNAL = re.compile(r"<(bool|str|int|path|list\[[^]]*\]|int range)>|\{[A-Z.]+\}")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_shows_no_internal_type_names(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert not INTERNAL.findall(result.output), result.output


def test_options_take_named_values_and_flags_none() -> None:
    result = runner.invoke(app, ["apply", "--help"], env={"COLUMNS": "200"})
    assert re.search(r"--inventory\s+-i\s+PATH ", result.output)
    assert re.search(r"--yes\s+-y\s+do not ask", result.output)
    usage = runner.invoke(app, ["rollback", "--help"], env={"COLUMNS": "200"}).output
    assert "Usage: fleetcfg rollback [OPTIONS] HOST..." in usage
