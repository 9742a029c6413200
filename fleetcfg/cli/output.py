"""Shared CLI output helpers: colour only on a terminal, errors on stderr."""

from __future__ import annotations

import sys

from rich.console import Console

from fleetcfg.errors import FleetcfgError


def stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_error(exc: FleetcfgError) -> None:
    console = stderr_console()
    console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
    sys.stderr.flush()
