"""Ctrl-C on the command line. The first one is acknowledged at once: the
run starts no other host, cancels the connections still being opened and
waits for the hosts in flight; a second one exits at once (:func:`abort`),
without waiting for them (apply and rollback: ``rolling.roll_out``)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import NoReturn

from fleetcfg.cli.env import CommandEnv
from fleetcfg.core.exitcodes import ExitCode


def abort(code: int) -> NoReturn:
    """Exit at once: the hosts still in flight are not waited for (a normal
    exit would join their threads)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def planning_stops(env: CommandEnv) -> Callable[[int], None]:
    """What the first Ctrl-C while planning says, at once."""

    def notice(in_flight: int) -> None:
        noun = "host" if in_flight == 1 else "hosts"
        env.err.print(
            f"stopping: waiting for {in_flight} {noun} in flight (connections still being "
            "opened are cancelled); Ctrl-C again to abort",
            style="yellow",
            markup=False,
        )

    return notice


@contextlib.contextmanager
def planning_aborts(env: CommandEnv) -> Iterator[None]:
    """A second Ctrl-C while planning exits at once (130): planning changes
    nothing, so there is no host to account for."""
    try:
        yield
    except KeyboardInterrupt:
        env.err.print(
            "interrupted twice: aborted while planning; nothing was changed on any host",
            style="bold red",
            markup=False,
        )
        abort(ExitCode.INTERRUPTED)
