"""Shared CLI output helpers: colour only on a terminal, errors on stderr."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from fleetcfg.core.errors import FleetcfgError


def stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_error(exc: FleetcfgError) -> None:
    stderr_console().print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)


def fail_usage(exc: FleetcfgError) -> NoReturn:
    """Print a usage error and exit 2."""
    print_error(exc)
    raise typer.Exit(2)
