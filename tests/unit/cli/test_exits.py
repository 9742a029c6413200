"""The one mapping from errors to exit codes, and the decorator every command runs under."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from fleetcfg.cli.exits import exit_code_for, exits_on_error
from fleetcfg.core.errors import (
    ConnectError,
    FleetcfgError,
    InventoryError,
    LockError,
    PlanError,
    StalePlanError,
    UsageError,
)
from fleetcfg.core.exitcodes import ExitCode


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError("bad option"), ExitCode.USAGE),
        (InventoryError("bad inventory"), ExitCode.ERROR),
        (ConnectError("unreachable"), ExitCode.ERROR),
        (PlanError("cannot write the plan"), ExitCode.ERROR),
        (StalePlanError("stale"), ExitCode.STALE),
        (LockError("locked"), ExitCode.LOCKED),
        (FleetcfgError("anything else"), ExitCode.ERROR),
    ],
)
def test_each_error_class_has_one_exit_code(error: FleetcfgError, code: ExitCode) -> None:
    assert exit_code_for(error) == code


def test_detailed_exitcode_makes_every_error_1_since_2_means_changes() -> None:
    assert exit_code_for(UsageError("bad option"), detailed=True) == ExitCode.ERROR


def _app(error: FleetcfgError) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @exits_on_error
    def run(*, detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode")) -> None:
        raise error

    return app


def test_a_command_prints_its_error_and_exits_with_its_code() -> None:
    result = CliRunner().invoke(_app(UsageError("no such host", host="web-09")), [])
    assert result.exit_code == ExitCode.USAGE
    assert "error: host web-09: no such host" in result.output


def test_a_command_with_detailed_exitcode_exits_1_for_a_usage_error() -> None:
    result = CliRunner().invoke(_app(UsageError("bad")), ["--detailed-exitcode"])
    assert result.exit_code == ExitCode.ERROR
