"""The ``fleetcfg`` command: builds the typer app and maps errors to exit codes.

Exit codes (stable, documented in README.md):

* 0: success (lint: no errors; plan --detailed-exitcode: no changes)
* 1: errors found, or a run failed
* 2: usage error (unknown option, missing file); plan --detailed-exitcode: changes
"""

from __future__ import annotations

import sys

import typer

from fleetcfg.cli import apply_cmd, lint_cmd, plan_cmd, render_cmd, schema_cmd
from fleetcfg.cli.output import print_error
from fleetcfg.errors import FleetcfgError

app = typer.Typer(
    name="fleetcfg",
    help="Keep the Docker daemon configuration of a fleet correct, reviewed and safe to roll out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in (schema_cmd, lint_cmd, render_cmd, plan_cmd, apply_cmd):
    _module.register(app)


def main() -> None:
    try:
        app(standalone_mode=True)
    except FleetcfgError as exc:  # pragma: no cover - commands catch their own
        print_error(exc)
        sys.exit(exc.exit_code)
