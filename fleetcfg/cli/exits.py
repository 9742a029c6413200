"""How a command ends: the one mapping from errors to exit codes
(:class:`~fleetcfg.core.exitcodes.ExitCode`), and :func:`exits_on_error`,
the decorator every command runs under.

A command raises :class:`FleetcfgError` wherever it fails; the decorator
prints it (every problem of an invalid inventory, one per line) and exits
with :func:`exit_code_for`. Commands never catch errors to pick a code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from fleetcfg.cli.output import print_problems
from fleetcfg.core.errors import FleetcfgError, LockError, StalePlanError, UsageError
from fleetcfg.core.exitcodes import ExitCode

P = ParamSpec("P")
R = TypeVar("R")

#: the option that switches a command to Terraform's exit codes (1 for every error)
DETAILED_EXITCODE = "detailed_exitcode"


def exit_code_for(exc: FleetcfgError, *, detailed: bool = False) -> ExitCode:
    """The exit code for an error that ends a command. ``detailed``
    (``plan --detailed-exitcode``): 1 for every error, since 2 means changes."""
    if detailed:
        return ExitCode.ERROR
    if isinstance(exc, UsageError):
        return ExitCode.USAGE
    if isinstance(exc, StalePlanError):
        return ExitCode.STALE
    if isinstance(exc, LockError):
        return ExitCode.LOCKED
    return ExitCode.ERROR


def exits_on_error(command: Callable[P, R]) -> Callable[P, R]:
    """Run ``command``; on a :class:`FleetcfgError`, print it and exit with
    :func:`exit_code_for` (detailed when the command was given
    ``--detailed-exitcode``)."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except FleetcfgError as exc:
            print_problems(exc)
            detailed = bool(kwargs.get(DETAILED_EXITCODE, False))
            raise typer.Exit(exit_code_for(exc, detailed=detailed)) from None

    return run
