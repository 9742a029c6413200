"""Shared CLI output helpers: colour only on a terminal, errors on stderr, and
control characters in printed text escaped (host text reaches every output:
diffs of live files, host errors, the apply report)."""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from fleetcfg.core.errors import FleetcfgError
from fleetcfg.core.terminal import escape_controls


class SafeConsole(Console):
    """A console that shows control characters in the text it prints as
    escapes (``\\x1b``), so that a host's file cannot drive the terminal."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(escape_controls(o) if isinstance(o, str) else o for o in objects), **kwargs)


def stdout_console() -> Console:
    return SafeConsole(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    return SafeConsole(stderr=True, highlight=False, soft_wrap=True)


def print_error(exc: FleetcfgError) -> None:
    stderr_console().print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)


def fail_usage(exc: FleetcfgError) -> NoReturn:
    """Print a usage error and exit 2."""
    print_error(exc)
    raise typer.Exit(2)
