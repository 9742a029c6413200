"""The ``fleetcfg`` command: builds the typer app.

Each command lives in its own module and is imported only when it runs, so
``fleetcfg plan`` does not pay for importing apply, lint and render. Every
command builds its :class:`~fleetcfg.cli.env.CommandEnv` once from its options
and runs under :func:`~fleetcfg.cli.exits.exits_on_error`, the one place that
maps errors to exit codes (:class:`~fleetcfg.core.exitcodes.ExitCode`,
documented in README.md and in each command's help).
"""

from __future__ import annotations

import importlib
import os
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from fleetcfg import __version__
from fleetcfg.cli import gcpolicy
from fleetcfg.cli.helptext import plain_help

#: command name -> the module whose ``register(app)`` defines it
COMMANDS: dict[str, str] = {
    "lint": "fleetcfg.cli.lint_cmd",
    "render": "fleetcfg.cli.render_cmd",
    "hosts": "fleetcfg.cli.hosts_cmd",
    "plan": "fleetcfg.cli.plan_cmd",
    "apply": "fleetcfg.cli.apply_cmd",
    "rollback": "fleetcfg.cli.rollback_cmd",
    "schema": "fleetcfg.cli.schema_cmd",
    "cloud-init": "fleetcfg.cli.cloudinit_cmd",
    "converge": "fleetcfg.cli.converge_cmd",
    "bundle": "fleetcfg.cli.bundle_cmd",
    "status": "fleetcfg.cli.status_cmd",
}


class _LazyGroup(TyperGroup):
    """A command group that imports a command's module on first use."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plain_help(self)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        module_name = COMMANDS.get(cmd_name)
        if module_name is None:
            return None
        sub = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        importlib.import_module(module_name).register(sub)
        built: Any = typer.main.get_command(sub)
        if isinstance(built, TyperGroup):  # the module defines several commands
            built = built.get_command(ctx, cmd_name)
        return plain_help(built)


app = typer.Typer(
    name="fleetcfg",
    cls=_LazyGroup,
    help="Keep the Docker daemon configuration of a fleet correct, reviewed and safe to roll out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"fleetcfg {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    *,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="print fleetcfg's version and exit",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
    no_color: Annotated[
        bool,
        typer.Option("--no-color", help="no colours even on a terminal (like NO_COLOR=1)"),
    ] = False,
) -> None:
    """Keep the Docker daemon configuration of a fleet correct, reviewed and safe to roll out."""
    if no_color:
        # every console reads NO_COLOR (https://no-color.org) when it is made
        os.environ["NO_COLOR"] = "1"


def main() -> None:
    gcpolicy.enable()
    app(standalone_mode=True)
