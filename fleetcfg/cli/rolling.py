"""What ``fleetcfg apply`` and ``fleetcfg rollback`` share: their options,
the rollout settings from the options, the confirmation question, the
journal, and running the rollout with it.

Exit codes (both commands): 0 every host is done (or nothing to do); 1 a host
failed (rolled back where anything was written), the rollout halted, or a
host could not be planned; 2 usage error; 3 a saved plan is stale for some
hosts (they were not touched); 4 another fleetcfg run holds the lock on a
host (see ``--break-lock``); 130 interrupted (Ctrl-C: hosts in flight
finished or rolled back, no other host was started).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError

from fleetcfg.apply.batches import resolve_rollout
from fleetcfg.apply.journal import Journal, default_journal_path
from fleetcfg.apply.report import ApplyReport
from fleetcfg.apply.rollout import RunEnv
from fleetcfg.cli.env import CommandEnv
from fleetcfg.cli.interrupts import abort
from fleetcfg.cli.rollout_view import Reporter, print_summary
from fleetcfg.core.boundedread import link_out_of
from fleetcfg.core.errors import UsageError
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.host.service import DEFAULT_SERVICE, ServiceCommands
from fleetcfg.host.transport.base import Transport
from fleetcfg.inventory import Inventory
from fleetcfg.inventory.model import Rollout

EXIT_HELP = (
    "Exit codes: 0 done (or nothing to do); 1 a host failed (rolled back where anything "
    "was written), the rollout halted, or a host could not be planned; 2 usage error; "
    "3 a saved plan is stale for some hosts (not touched); 4 another fleetcfg run holds "
    "a host's lock (see --break-lock); 130 interrupted (Ctrl-C)."
)

InventoryPathOption = Annotated[
    str | None,
    typer.Option(
        "--inventory",
        "-i",
        help="inventory file (or its folder); default: the plan's, else ./inventory.yaml",
        envvar="FLEETCFG_INVENTORY",
    ),
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")]
BatchSizeOption = Annotated[
    str | None,
    typer.Option(
        "--batch-size",
        help='hosts per batch: N or "N%" of the hosts that change (default: inventory rollout)',
        metavar="N|N%",
    ),
]
MaxFailuresOption = Annotated[
    str | None,
    typer.Option(
        "--max-failures",
        help='failed hosts tolerated before the rollout halts: N or "N%" (default: inventory, 0)',
        metavar="N|N%",
    ),
]
BreakLockOption = Annotated[
    bool,
    typer.Option(
        "--break-lock",
        help="take over a host's lock left by another run (only when that run is gone)",
    ),
]
JournalOption = Annotated[
    Path | None,
    typer.Option(
        "--journal",
        help="append the journal (JSON lines) here (default: .fleetcfg/journal.jsonl next to "
        "the inventory)",
        metavar="PATH",
    ),
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="print every step of every host")
]


def rollout_settings(
    inventory: Inventory,
    *,
    batch_size: str | None,
    canary: int | None,
    max_failures: str | None,
    pause: str | None,
) -> Rollout:
    """The inventory's rollout with the command's options on top."""
    try:
        return resolve_rollout(
            inventory.rollout,
            batch_size=batch_size,
            canary=canary,
            max_failures=max_failures,
            pause=pause,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        option = "--" + str(first["loc"][0]).replace("_", "-")
        message = str(first["msg"]).removeprefix("Value error, ")  # pydantic's wording
        raise UsageError(f"{option}: {message}") from None


def confirm(env: CommandEnv, question: str) -> bool:
    """Ask ``question`` on stderr; only ``yes`` on stdin approves."""
    console = env.err
    console.print(question, markup=False, highlight=False)
    console.print("  Only 'yes' will be accepted to approve.", markup=False)
    console.print("\n  Enter a value: ", end="", markup=False)
    answer = sys.stdin.readline()
    if not sys.stdin.isatty():
        console.print(answer.strip(), markup=False, highlight=False)
    if not answer:
        raise UsageError(
            "no answer on stdin: pass --yes to apply without confirmation",
        )
    return answer.strip() == "yes"


def open_journal(
    inventory: Inventory, path: Path | None, shard: str | None = None
) -> tuple[Journal, Path]:
    """The journal (``--journal``, else the default; one per shard, so that
    shards applied side by side from one checkout never share one)."""
    where = path or default_journal_path(inventory.path)
    if path is None and shard is not None:
        k, n = shard.split("/")
        where = where.with_name(f"{where.stem}-shard-{k}-of-{n}{where.suffix}")
    if path is None:
        # the default lies in the repo: its .fleetcfg must not lead out of it
        target = link_out_of(where.parent)
        if target is not None:
            raise UsageError(
                f"cannot write the journal {where}: {where.parent} is a symbolic link "
                f"out of the repo (to {target})",
                hint="remove the link, or pass --journal PATH to write it elsewhere",
            )
    return Journal(where), where


def service_for(inventory: Inventory) -> Callable[[str], ServiceCommands]:
    """Each host's service commands (reload, restart, health)."""

    def service(name: str) -> ServiceCommands:
        host = inventory.hosts.get(name)
        return host.service if host is not None else DEFAULT_SERVICE

    return service


def roll_out(
    env: CommandEnv,
    execute: Callable[[RunEnv], ApplyReport],
    *,
    inventory: Inventory,
    connect: Callable[[str], Transport],
    journal: tuple[Journal, Path],
    verbose: bool,
    mask: Callable[[str], str],
    after: str,
) -> NoReturn:
    """Run an apply or rollback (``execute``, given the rollout's
    :class:`RunEnv`) with its journal open, print the summary and exit with
    the report's code. A second Ctrl-C (the first only stops scheduling)
    aborts at once, with each host's state."""
    opened, journal_file = journal
    reporter = Reporter(env.err, verbose=verbose)
    run_env = RunEnv(
        connect=connect,
        service_for=service_for(inventory),
        journal=opened,
        on_event=reporter,
        cancel=env.cancel,
        mask=mask,
    )
    with opened:
        try:
            report = execute(run_env)
        except KeyboardInterrupt:
            env.err.print("interrupted twice: aborted", style="bold red", markup=False)
            for line in reporter.abort_lines():
                env.err.print(line, markup=False, highlight=False)
            env.err.print(f"{journal_file} has what happened {after}", markup=False)
            opened.close()
            abort(ExitCode.INTERRUPTED)
    print_summary(report, journal_file, env.out)
    raise typer.Exit(report.exit_code)
