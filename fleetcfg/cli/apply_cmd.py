"""``fleetcfg apply`` and ``fleetcfg rollback``.

``fleetcfg apply`` plans (like ``fleetcfg plan``), prints the plan, asks for
``yes`` (``--yes`` skips the question) and rolls it out; ``fleetcfg apply
PLAN.json`` executes a plan saved with ``fleetcfg plan -o`` exactly, refusing
each host whose files or rendered target changed since. Progress goes to
stderr (one line per host; ``--verbose``: one per step), the summary to
stdout, every step to the journal.

Exit codes (both commands): 0 every host is done (or nothing to do); 1 a host
failed (rolled back where anything was written), the rollout halted, or a
host could not be planned; 2 usage error; 3 a saved plan is stale for some
hosts (they were not touched); 4 another fleetcfg run holds the lock on a
host (see ``--break-lock``); 130 interrupted (Ctrl-C: hosts in flight
finished or rolled back, no other host was started).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from fleetcfg.apply.batches import make_batches, resolve_rollout
from fleetcfg.apply.journal import Journal, default_journal_path
from fleetcfg.apply.report import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, ApplyReport, HostStatus
from fleetcfg.apply.rollout import (
    ApplyEvent,
    ApplyOptions,
    RollbackTarget,
    RunEnv,
    apply_plan,
    rollback_hosts,
)
from fleetcfg.cli import plan_cmd
from fleetcfg.cli.common import (
    AcceptNewHostKeysOption,
    ForksOption,
    LimitOption,
    ShardOption,
    TrustRepoSshConfigOption,
)
from fleetcfg.cli.output import print_error, stderr_console, stdout_console
from fleetcfg.core.errors import FleetcfgError, UsageError
from fleetcfg.core.parallel import map_hosts
from fleetcfg.host.connections import ReusingConnector
from fleetcfg.host.service import DEFAULT_SERVICE, ServiceCommands
from fleetcfg.host.state import DEFAULT_KEEP_BACKUPS, STATE_PATH, HostState, StateFileError
from fleetcfg.host.transport.base import Transport
from fleetcfg.inventory import DEFAULT_INVENTORY, Inventory, load_inventory
from fleetcfg.inventory.model import Rollout
from fleetcfg.plan.fleet import load_plan, open_transport, plan_fleet, repo_sha256
from fleetcfg.plan.model import Action, Plan
from fleetcfg.plan.shards import Shard
from fleetcfg.plan.targets import RenderedTargets
from fleetcfg.render import Renderer

EXIT_HELP = (
    "Exit codes: 0 done (or nothing to do); 1 a host failed (rolled back where anything "
    "was written), the rollout halted, or a host could not be planned; 2 usage error; "
    "3 a saved plan is stale for some hosts (not touched); 4 another fleetcfg run holds "
    "a host's lock (see --break-lock); 130 interrupted (Ctrl-C)."
)

#: seconds of waiting for "yes" after which apply opens fresh connections
IDLE_RECONNECT = 30.0

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


# --------------------------------------------------------------------------
# progress and summary


class _Reporter:
    """Prints progress to stderr, one line per host (per step with
    ``verbose``); called from one thread at a time."""

    def __init__(self, console: Console, *, verbose: bool) -> None:
        self.console = console
        self.verbose = verbose

    def line(self, text: str, style: str | None = None) -> None:
        self.console.print(text, style=style, markup=False, highlight=False)

    def __call__(self, event: ApplyEvent) -> None:
        if event.kind == "batch" and event.batch is not None:
            kind = " (canary)" if event.batch.canary else ""
            self.line(
                f"batch {event.batch.index}/{event.total_batches}{kind}: "
                + " ".join(event.batch.names),
                "bold",
            )
        elif event.kind == "step" and event.step is not None and self.verbose:
            step = event.step
            detail = f": {step.detail}" if step.detail else ""
            dim = "red" if step.status.value == "failed" else "dim"
            self.line(f"  {step.host} {step.step} {step.status.value}{detail}", dim)
        elif event.kind == "host" and event.result is not None:
            result = event.result
            style = {
                HostStatus.CHANGED: "green",
                HostStatus.FAILED: "bold red",
                HostStatus.STALE: "yellow",
                HostStatus.LOCKED: "yellow",
            }.get(result.status)
            self.line(f"  {result.describe()}", style)
        elif event.kind == "pause":
            self.line(f"pausing {event.seconds:g}s before the next batch", "dim")
        elif event.kind in ("halt", "interrupt"):
            self.line(event.message, "bold red")


def _summary(report: ApplyReport, journal: Path | None, console: Console) -> None:
    verb = "Apply" if report.command == "apply" else "Rollback"
    console.print(f"{verb}: {report.summary_line()}.", style="bold", markup=False)
    groups: list[tuple[str, list[str]]] = [
        ("changed", [r.host for r in report.changed]),
        ("failed", [r.describe() for r in report.failed]),
        (
            "refused",
            [r.describe() for r in report.with_status(HostStatus.STALE, HostStatus.LOCKED)],
        ),
        ("skipped", [r.describe() for r in report.with_status(HostStatus.SKIPPED)]),
        ("not reached", [r.host for r in report.not_reached]),
    ]
    for title, items in groups:
        if not items:
            continue
        if title in ("changed", "not reached"):
            console.print(f"  {title}: {', '.join(items)}", markup=False, highlight=False)
        else:
            console.print(f"  {title}:", markup=False)
            for item in items:
                console.print(f"    {item}", markup=False, highlight=False)
    if report.interrupted:
        console.print(
            "  interrupted: hosts in flight finished or rolled back; no other host was started",
            markup=False,
        )
    left = [r.host for r in report.results if r.lock_left]
    if left:
        console.print(
            f"  the lock is left on {', '.join(left)}: check those hosts, then run again "
            "with --break-lock",
            markup=False,
        )
    if journal is not None:
        console.print(f"Journal: {journal} (run {report.run_id})", markup=False, highlight=False)


def _fail(exc: FleetcfgError) -> typer.Exit:
    for problem in getattr(exc, "problems", None) or [exc]:
        print_error(problem)
    return typer.Exit(exc.exit_code)


def _rollout(
    inventory: Inventory,
    *,
    batch_size: str | None,
    canary: int | None,
    max_failures: str | None,
    pause: str | None,
) -> Rollout:
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
        raise UsageError(f"{option}: {first['msg']}") from None


def _confirm(question: str) -> bool:
    console = stderr_console()
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


def _journal(
    inventory: Inventory, path: Path | None, shard: str | None = None
) -> tuple[Journal, Path]:
    """The journal (``--journal``, else the default; one per shard, so that
    shards applied side by side from one checkout never share one)."""
    where = path or default_journal_path(inventory.path)
    if path is None and shard is not None:
        k, n = shard.split("/")
        where = where.with_name(f"{where.stem}-shard-{k}-of-{n}{where.suffix}")
    return Journal(where), where


def _service_for(inventory: Inventory) -> Callable[[str], ServiceCommands]:
    def service(name: str) -> ServiceCommands:
        host = inventory.hosts.get(name)
        return host.service if host is not None else DEFAULT_SERVICE

    return service


def _connect(
    inventory: Inventory,
    connector: ReusingConnector,
    accept_new_host_keys: bool,
    trust_repo_ssh_config: bool,
) -> Callable[[str], Transport]:
    def connect(name: str) -> Transport:
        return open_transport(
            inventory.host(name),
            connector,
            repo_root=inventory.root,
            accept_new_host_keys=accept_new_host_keys,
            trust_repo_ssh_config=trust_repo_ssh_config,
        )

    return connect


def _describe_rollout(plan: Plan, rollout: Rollout, inventory: Inventory) -> str:
    batches = make_batches(plan.hosts, rollout, group_order=list(inventory.groups))
    hosts = sum(len(b.hosts) for b in batches)
    counts = {a: sum(1 for h in plan.hosts if h.action is a and not h.unreachable) for a in Action}
    parts = []
    if counts[Action.RESTART]:
        parts.append(f"restart docker on {_count(counts[Action.RESTART], 'host')}")
    if counts[Action.RELOAD]:
        parts.append(f"reload docker on {_count(counts[Action.RELOAD], 'host')}")
    if counts[Action.WRITE]:
        parts.append(f"only write client config.json on {_count(counts[Action.WRITE], 'host')}")
    canary = f"canary {', '.join(batches[0].names)}, then " if batches and batches[0].canary else ""
    limit = rollout.max_failures_for(hosts)
    pause = f", {rollout.pause:g}s between batches" if rollout.pause else ""
    return (
        f"Rollout: {_count(hosts, 'host')} in {_count(len(batches), 'batch')} ({canary}up to "
        f"{_count(rollout.batch_size_for(hosts), 'host')} at a time, reload-only hosts count "
        f"half{pause}); halt after {_count(limit + 1, 'failed host')}. "
        f"fleetcfg will {', '.join(parts) or 'change nothing'}."
    )


def _count(n: int, noun: str) -> str:
    if n == 1:
        return f"1 {noun}"
    return f"{n} {noun}es" if noun.endswith("ch") else f"{n} {noun}s"


# --------------------------------------------------------------------------
# the commands


def register(app: typer.Typer) -> None:
    @app.command("apply", epilog=EXIT_HELP)
    def apply(
        plan_file: Annotated[
            Path | None,
            typer.Argument(
                help="a plan saved with `fleetcfg plan -o`: apply exactly it",
                metavar="[PLAN.json]",
            ),
        ] = None,
        *,
        inventory_path: InventoryPathOption = None,
        limit: LimitOption = None,
        forks: ForksOption = None,
        yes: YesOption = False,
        batch_size: BatchSizeOption = None,
        canary: Annotated[
            int | None,
            typer.Option("--canary", min=0, help="hosts in the first batch of their own"),
        ] = None,
        max_failures: MaxFailuresOption = None,
        pause: Annotated[
            str | None,
            typer.Option("--pause", help='wait between batches: seconds or "30s", "5m"'),
        ] = None,
        break_lock: BreakLockOption = False,
        keep_backups: Annotated[
            int,
            typer.Option("--keep-backups", min=1, help="backups kept per file on each host"),
        ] = DEFAULT_KEEP_BACKUPS,
        journal_path: JournalOption = None,
        verbose: VerboseOption = False,
        accept_new_host_keys: AcceptNewHostKeysOption = False,
        shard_text: ShardOption = None,
        trust_repo_ssh_config: TrustRepoSshConfigOption = False,
    ) -> None:
        """Roll the configuration out: plan (or read PLAN.json), show the plan,
        ask, then change a few hosts at a time: validate on the host, back up,
        replace atomically, reload or restart, check health, roll back and halt
        on failure."""
        err = stderr_console()
        out = stdout_console()
        cancel = threading.Event()
        connector = ReusingConnector(plan_cmd.make_connector())
        try:
            try:
                saved = load_plan(plan_file) if plan_file is not None else None
                if saved is not None and (limit or shard_text):
                    option = "--limit" if limit else "--shard"
                    raise UsageError(
                        f"{option} cannot narrow a saved plan: it is applied as a whole",
                        hint=f"make a plan for those hosts with fleetcfg plan {option} ... -o FILE",
                    )
                shard = Shard.parse(shard_text) if shard_text is not None else None
                where = inventory_path or (saved.inventory if saved else DEFAULT_INVENTORY)
                inventory = load_inventory(where)
                rollout = _rollout(
                    inventory,
                    batch_size=batch_size,
                    canary=canary,
                    max_failures=max_failures,
                    pause=pause,
                )
                renderer = Renderer(inventory)
                if saved is None:
                    hosts = inventory.select(limit)
                    if not hosts:
                        raise UsageError(f"--limit selects no host in {inventory.display}")
                    plan = plan_fleet(
                        inventory,
                        shard.select(hosts) if shard is not None else hosts,
                        connector=connector,
                        forks=forks,
                        cancel=cancel,
                        accept_new_host_keys=accept_new_host_keys,
                        trust_repo_ssh_config=trust_repo_ssh_config,
                        renderer=renderer,
                        shard=str(shard) if shard is not None else None,
                    )
                    if cancel.is_set():
                        err.print("interrupted while planning: nothing was changed", markup=False)
                        raise typer.Exit(EXIT_INTERRUPTED)
                else:
                    plan = saved
                    if plan.repo_sha256 and plan.repo_sha256 != repo_sha256(inventory):
                        err.print(
                            "warning: inventory.yaml or a profile changed since the plan was "
                            "made; hosts whose target changed will be refused",
                            style="yellow",
                            markup=False,
                        )
            except FleetcfgError as exc:
                raise _fail(exc) from None
            plan_cmd.print_plan(plan, out)
            todo = [
                h
                for h in plan.hosts
                if h.action in (Action.WRITE, Action.RELOAD, Action.RESTART) and not h.unreachable
            ]
            if not todo:
                out.print("Nothing to apply.", markup=False)
                raise typer.Exit(plan_cmd.exit_code(plan, detailed=False))
            out.print(_describe_rollout(plan, rollout, inventory), markup=False, highlight=False)
            if not yes:
                asked = time.monotonic()
                try:
                    approved = _confirm(f"\nApply these changes to {len(todo)} hosts?")
                except FleetcfgError as exc:
                    raise _fail(exc) from None
                if not approved:
                    out.print("Apply cancelled: nothing was changed.", markup=False)
                    raise typer.Exit(EXIT_OK)
                if time.monotonic() - asked > IDLE_RECONNECT:
                    connector.reset()  # connections idle that long may be dead
            try:
                journal, journal_file = _journal(inventory, journal_path, plan.shard)
            except FleetcfgError as exc:
                raise _fail(exc) from None
            options = ApplyOptions(
                rollout=rollout, forks=forks, break_lock=break_lock, keep_backups=keep_backups
            )
            report = _run(
                lambda: apply_plan(
                    plan,
                    RunEnv(
                        connect=_connect(
                            inventory, connector, accept_new_host_keys, trust_repo_ssh_config
                        ),
                        service_for=_service_for(inventory),
                        journal=journal,
                        on_event=_Reporter(err, verbose=verbose),
                        cancel=cancel,
                        mask=renderer.mask,
                    ),
                    targets=RenderedTargets(inventory, renderer),
                    options=options,
                    group_order=list(inventory.groups),
                ),
                journal,
                journal_file,
                err,
                after="to each host (check them with fleetcfg plan)",
            )
            _summary(report, journal_file, out)
            raise typer.Exit(report.exit_code)
        finally:
            connector.close()

    @app.command("rollback", epilog=EXIT_HELP)
    def rollback(
        hosts: Annotated[
            list[str],
            typer.Argument(
                help="hosts to roll back: names, groups or globs like --limit",
                metavar="HOST...",
            ),
        ],
        *,
        inventory_path: InventoryPathOption = None,
        files: Annotated[
            list[str] | None,
            typer.Option(
                "--file",
                help="only this file (a path fleetcfg wrote; repeat for more); default: every "
                "file of the host's last fleetcfg run",
                metavar="PATH",
            ),
        ] = None,
        backup: Annotated[
            str | None,
            typer.Option(
                "--backup", help="restore this backup (a name from --list) instead of the last"
            ),
        ] = None,
        force: Annotated[
            bool,
            typer.Option("--force", help="roll back even a file changed since fleetcfg wrote it"),
        ] = False,
        list_only: Annotated[
            bool, typer.Option("--list", help="list each host's backups and change nothing")
        ] = False,
        forks: ForksOption = None,
        yes: YesOption = False,
        batch_size: BatchSizeOption = None,
        max_failures: MaxFailuresOption = None,
        break_lock: BreakLockOption = False,
        journal_path: JournalOption = None,
        verbose: VerboseOption = False,
        accept_new_host_keys: AcceptNewHostKeysOption = False,
        trust_repo_ssh_config: TrustRepoSshConfigOption = False,
    ) -> None:
        """Put back the backups fleetcfg made on HOST... with the same care as
        apply: lock, validate on the host, replace atomically, restart, check
        health (and undo the rollback if the restored file fails)."""
        err = stderr_console()
        out = stdout_console()
        cancel = threading.Event()
        connector = ReusingConnector(plan_cmd.make_connector())
        try:
            try:
                inventory = load_inventory(inventory_path or DEFAULT_INVENTORY)
                selected = inventory.select(hosts)
                if not selected:
                    raise UsageError("the patterns select no host")
                rollout = _rollout(
                    inventory,
                    batch_size=batch_size,
                    canary=0,
                    max_failures=max_failures,
                    pause=None,
                )
            except FleetcfgError as exc:
                raise _fail(exc) from None
            connect = _connect(inventory, connector, accept_new_host_keys, trust_repo_ssh_config)
            names = [h.name for h in selected]
            if list_only:
                raise typer.Exit(_list_backups(names, connect, forks, out))
            if not yes:
                what = ", ".join(files) if files else "the files of their last fleetcfg run"
                try:
                    approved = _confirm(
                        f"Roll back {what} on {len(names)} hosts ({', '.join(names)})?"
                    )
                except FleetcfgError as exc:
                    raise _fail(exc) from None
                if not approved:
                    out.print("Rollback cancelled: nothing was changed.", markup=False)
                    raise typer.Exit(EXIT_OK)
            try:
                journal, journal_file = _journal(inventory, journal_path)
            except FleetcfgError as exc:
                raise _fail(exc) from None
            renderer = Renderer(inventory)
            report = _run(
                lambda: rollback_hosts(
                    [RollbackTarget(h.name, h.address, h.groups) for h in selected],
                    RunEnv(
                        connect=connect,
                        service_for=_service_for(inventory),
                        journal=journal,
                        on_event=_Reporter(err, verbose=verbose),
                        cancel=cancel,
                        mask=renderer.mask,
                    ),
                    options=ApplyOptions(rollout=rollout, forks=forks, break_lock=break_lock),
                    files=files or (),
                    backup=backup,
                    force=force,
                ),
                journal,
                journal_file,
                err,
                after="to each host",
            )
            _summary(report, journal_file, out)
            raise typer.Exit(report.exit_code)
        finally:
            connector.close()


def _run(
    execute: Callable[[], ApplyReport],
    journal: Journal,
    journal_file: Path,
    err: Console,
    *,
    after: str,
) -> ApplyReport:
    """Run an apply or rollback with its journal open; a second Ctrl-C (the
    first only stops scheduling) ends the command without a summary."""
    with journal:
        try:
            return execute()
        except KeyboardInterrupt:
            err.print(
                f"interrupted twice: no summary; {journal_file} has what happened {after}",
                style="bold red",
                markup=False,
            )
            raise typer.Exit(EXIT_INTERRUPTED) from None


def _list_backups(
    names: list[str], connect: Callable[[str], Transport], forks: int | None, out: Console
) -> int:
    """``rollback --list``: each host's state.json, file by file."""

    def read(name: str) -> HostState:
        transport = connect(name)
        try:
            state = transport.read_file(STATE_PATH)
        finally:
            transport.close()
        try:
            return HostState.from_bytes(state.content if state.exists else None)
        except StateFileError as exc:
            raise UsageError(str(exc), host=name) from None

    code = EXIT_OK
    for outcome in map_hosts(names, read, forks=forks):
        name = outcome.item
        if outcome.error is not None:
            print_error(outcome.error)
            code = 1
            continue
        state = outcome.value
        if state is None or not state.files:
            out.print(f"{name}: no backups (fleetcfg has not written anything here)", markup=False)
            continue
        out.print(f"{name}:", style="bold", markup=False)
        for path, record in sorted(state.files.items()):
            out.print(
                f"  {path}: written by fleetcfg {record.command} ({record.written_by}, "
                f"{record.written_at}, run {record.run_id})",
                markup=False,
                highlight=False,
            )
            for backup in reversed(record.backups):
                shown = backup.name or "(the file did not exist)"
                out.print(
                    f"    {shown}  made {backup.made_at} by run {backup.run_id}",
                    markup=False,
                    highlight=False,
                )
    return code if code else EXIT_OK


__all__ = ["EXIT_USAGE", "register"]
