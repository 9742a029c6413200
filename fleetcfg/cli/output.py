"""Shared CLI output helpers: colour only on a terminal, errors on stderr, and
control characters in printed text escaped (host text reaches every output:
diffs of live files, host errors, the apply report)."""

from __future__ import annotations

from typing import Any

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


def print_problems(exc: FleetcfgError) -> None:
    """Print an error: every problem of an invalid inventory, one per line,
    then the error's ``details`` lines (if it has any), indented."""
    for problem in getattr(exc, "problems", None) or [exc]:
        print_error(problem)
    details = getattr(exc, "details", ())
    if details:
        console = stderr_console()
        for line in details:
            console.print(f"  {escape(line)}", highlight=False)
