"""``fleetcfg plan``: what apply would change on each host, like ``terraform plan``.

Output (stdout): a block per host that changes or needs attention (the
semantic diff of each file first, then its text diff, then why this action,
warnings and errors), then a summary line::

    Plan: 12 to reload, 30 to restart, 758 unchanged, 2 unreachable.

``--format json`` prints one object instead (on one line): ``hosts`` (each with ``host``,
``action``, ``changes`` (the changed key paths), ``warnings``, ``errors``,
``unreachable``, ``files`` with their diffs and hashes, ``reasons``,
``facts``) and ``summary`` (the counts and the line). Progress goes to stderr:
a progress bar on a terminal, one plain line per host otherwise (CI logs).

Exit codes: 0 when every host was planned; 1 when a host has errors or could
not be reached (the rest of the fleet is still planned and printed); 2 for a
usage error. With ``--detailed-exitcode`` (Terraform's): 0 no changes, 2
changes, 1 errors; an unreachable host counts as an error (like a failed
refresh in Terraform), and so does a usage error. 130 after Ctrl-C.

:func:`plan_lines`, :func:`plan_json` and :func:`print_plan` are reused by
``fleetcfg apply`` to show the plan before it asks for confirmation.
"""

from __future__ import annotations

import io
import json
import sys
import threading
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer
from rich.console import Console

from fleetcfg.cli.common import (
    AcceptNewHostKeysOption,
    ForksOption,
    InventoryOption,
    LimitOption,
    ShardOption,
    TrustRepoSshConfigOption,
)
from fleetcfg.cli.output import print_error, stderr_console, stdout_console
from fleetcfg.cli.plan_groups import grouped_lines
from fleetcfg.core.errors import FleetcfgError, UsageError
from fleetcfg.inventory import DEFAULT_INVENTORY, Host, Inventory, load_inventory
from fleetcfg.plan.fleet import Connector, plan_fleet, save_plan
from fleetcfg.plan.model import Action, FileKind, FilePlan, HostPlan, Plan
from fleetcfg.plan.shards import Shard
from fleetcfg.plan.streams import json_output_chunks

if TYPE_CHECKING:
    from rich.progress import Progress

EXIT_OK = 0
EXIT_ERRORS = 1
EXIT_USAGE = 2
EXIT_CHANGES = 2
EXIT_INTERRUPTED = 130

Line = tuple[str, str]  # (text, rich style)

_ACTION_WORDS = {
    Action.NONE: "no changes",
    Action.WRITE: "write (no reload or restart)",
    Action.RELOAD: "reload",
    Action.RESTART: "restart",
    Action.ERROR: "error",
}
_ACTION_STYLE = {
    Action.NONE: "",
    Action.WRITE: "cyan",
    Action.RELOAD: "yellow",
    Action.RESTART: "bold magenta",
    Action.ERROR: "bold red",
}
_CHANGE_STYLE = {"+": "green", "-": "red", "~": "yellow", "=": "dim"}


class PlanFormat(StrEnum):
    text = "text"
    json = "json"


# --------------------------------------------------------------------------
# rendering (pure)


def _file_header(f: FilePlan) -> Line:
    who = f" ({f.user})" if f.kind is FileKind.CLIENT and f.user else ""
    notes: list[str] = []
    if f.live_sha256 is None:
        notes.append("new file")
        if not f.parent_exists:
            notes.append("its folder is created")
    elif f.live_mode is not None and (f.live_mode, f.live_owner, f.live_group) != (
        f.mode,
        f.owner,
        f.group,
    ):
        notes.append(
            f"{f.live_mode:04o} {f.live_owner}:{f.live_group} -> {f.mode:04o} {f.owner}:{f.group}"
        )
    if f.credentials:
        shown = any(n.endswith(f"-> {f.mode:04o} {f.owner}:{f.group}") for n in notes)
        notes.append("holds credentials" if shown else f"holds credentials: {f.mode:04o}")
    symbol = "+" if f.live_sha256 is None else "~"
    extra = f" [{', '.join(notes)}]" if notes else ""
    return f"  {symbol} {f.path}{who}{extra}", "bold"


def host_lines(host: HostPlan) -> list[Line]:
    """The block of one host (empty for an unchanged host with nothing to say)."""
    if host.action is Action.NONE and not host.warnings and not host.errors:
        return []
    address = f" ({host.address})" if host.address and host.address != host.host else ""
    state = "unreachable" if host.unreachable else _ACTION_WORDS[host.action]
    lines: list[Line] = [(f"# {host.host}{address}: {state}", _ACTION_STYLE[host.action])]
    for f in host.files:
        if not f.changed:
            continue
        lines.append(_file_header(f))
        for change in f.changes:
            lines.append((f"      {change.display}", _CHANGE_STYLE.get(change.display[:1], "")))
        if f.text_diff:
            lines.append(("", ""))
            for text in f.text_diff.splitlines():
                style = ""
                if text.startswith(("+++", "---")):
                    style = "bold"
                elif text.startswith("@@"):
                    style = "cyan"
                elif text.startswith("+"):
                    style = "green"
                elif text.startswith("-"):
                    style = "red"
                lines.append((f"      {text}", style))
    for reason in host.reasons:
        lines.append((f"  {reason}", "dim"))
    for warning in host.warnings:
        lines.append((f"  warning: {warning}", "yellow"))
    for error in host.errors:
        lines.append((f"  error: {error}", "red"))
    lines.append(("", ""))
    return lines


def summary_line(plan: Plan) -> str:
    summary = plan.summary
    if not plan.hosts:
        return "No hosts to plan."
    changes = summary.reload + summary.restart + summary.write
    if not changes and not summary.error and not summary.unreachable:
        noun = "host matches" if summary.unchanged == 1 else "hosts match"
        return f"No changes. {summary.unchanged} {noun} the configuration."
    return f"Plan: {summary.line()}."


def plan_lines(plan: Plan, *, per_host: bool = False) -> list[Line]:
    """The whole text report: host blocks (hosts with identical changes in
    one block unless ``per_host``), then the summary line."""
    lines: list[Line] = []
    if per_host:
        for host in plan.hosts:
            lines.extend(host_lines(host))
    else:
        lines.extend(grouped_lines(plan.hosts, host_lines))
    lines.append((summary_line(plan), "bold"))
    return lines


def summary_json(plan: Plan) -> dict[str, Any]:
    """The ``summary`` object of ``--format json``: the counts and the line."""
    summary = plan.summary.model_dump(mode="json")
    summary["line"] = summary_line(plan)
    return summary


def write_plan_json(plan: Plan, out: TextIO) -> None:
    """The ``--format json`` object, on one line, written host by host."""
    for chunk in json_output_chunks(plan, summary_json(plan)):
        out.write(chunk)
    out.flush()


def plan_json(plan: Plan) -> dict[str, Any]:
    """The ``--format json`` object."""
    buffer = io.StringIO()
    write_plan_json(plan, buffer)
    data: dict[str, Any] = json.loads(buffer.getvalue())
    return data


def print_plan(plan: Plan, console: Console, *, per_host: bool = False) -> None:
    """Print :func:`plan_lines` (colours only on a terminal)."""
    for text, style in plan_lines(plan, per_host=per_host):
        console.print(text, style=style or None, markup=False, highlight=False)


def exit_code(plan: Plan, *, detailed: bool) -> int:
    """0 / 1 (errors or unreachable hosts); with ``detailed``: 0 no changes,
    2 changes, 1 errors."""
    summary = plan.summary
    if summary.error or summary.unreachable:
        return EXIT_ERRORS
    if detailed and summary.reload + summary.restart + summary.write:
        return EXIT_CHANGES
    return EXIT_OK


# --------------------------------------------------------------------------
# progress


class _Progress:
    """A progress bar on a terminal; one plain line per host otherwise."""

    def __init__(self, total: int, console: Console) -> None:
        self.total = total
        self.done = 0
        self.console = console
        self.bar: Progress | None = None
        if console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(
                TextColumn("planning"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[last]}"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self.task = self.bar.add_task("plan", total=total, last="")

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, host: HostPlan) -> None:
        self.done += 1
        state = "unreachable" if host.unreachable else host.action.value
        if self.bar is not None:
            self.bar.update(self.task, advance=1, last=f"{host.host}: {state}")
        else:  # plain lines (CI logs): no need for rich's layout per line
            width = len(str(self.total))
            self.console.file.write(
                f"plan [{self.done:>{width}}/{self.total}] {host.host}: {state}\n"
            )
            self.console.file.flush()


# --------------------------------------------------------------------------
# the command


def make_connector() -> Connector:
    """One SSH connector per run (tests replace this)."""
    from fleetcfg.host.transport.ssh import SshConnector

    return SshConnector()


def _report(exc: FleetcfgError) -> None:
    for problem in getattr(exc, "problems", None) or [exc]:
        print_error(problem)


def select_hosts(
    inventory_path: str, limit: list[str] | None, shard: Shard | None = None
) -> tuple[Inventory, list[Host]]:
    """Load the inventory and the hosts ``--limit`` selects, then keep
    ``shard``'s slice of them (which may be empty). Raises
    :class:`FleetcfgError` for a bad inventory or selection."""
    inventory = load_inventory(inventory_path)
    hosts = inventory.select(limit)
    if not hosts:
        raise UsageError(
            f"--limit selects no host in {inventory.display}",
            hint="check the patterns (host names, group names, globs)",
        )
    return inventory, shard.select(hosts) if shard is not None else hosts


def parse_shard(text: str | None) -> Shard | None:
    return Shard.parse(text) if text is not None else None


def run_plan(
    inventory: Inventory,
    hosts: list[Host],
    forks: int | None,
    *,
    accept_new_host_keys: bool = False,
    trust_repo_ssh_config: bool = False,
    on_host_done: Callable[[HostPlan], None] | None = None,
    cancel: threading.Event | None = None,
    shard: Shard | None = None,
) -> Plan:
    """Plan ``hosts`` over SSH (one connector for the run)."""
    connector = make_connector()
    try:
        return plan_fleet(
            inventory,
            hosts,
            connector=connector,
            forks=forks,
            on_host_done=on_host_done,
            cancel=cancel,
            accept_new_host_keys=accept_new_host_keys,
            shard=str(shard) if shard is not None else None,
            trust_repo_ssh_config=trust_repo_ssh_config,
        )
    finally:
        close = getattr(connector, "close", None)
        if close is not None:
            close()


def register(app: typer.Typer) -> None:
    group = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.add_typer(group, name="plan")

    @group.command("merge")
    def merge(
        files: Annotated[
            list[Path],
            typer.Argument(help="the `fleetcfg plan --format json` output of each shard"),
        ],
        output_format: Annotated[
            PlanFormat, typer.Option("--format", help="text (like terraform plan) or json")
        ] = PlanFormat.text,
        detailed_exitcode: Annotated[
            bool,
            typer.Option(
                "--detailed-exitcode",
                help="exit 0: no changes, 2: changes, 1: errors or unreachable hosts",
            ),
        ] = False,
    ) -> None:
        """Merge the JSON plans of several shards (`plan --shard K/N --format
        json`) into one plan and one summary."""
        from fleetcfg.cli.plan_merge import merge_command

        raise typer.Exit(merge_command(files, output_format.value, detailed=detailed_exitcode))

    @group.callback(invoke_without_command=True)
    def plan(
        ctx: typer.Context,
        *,
        inventory_path: InventoryOption = DEFAULT_INVENTORY,
        limit: LimitOption = None,
        forks: ForksOption = None,
        output_format: Annotated[
            PlanFormat, typer.Option("--format", help="text (like terraform plan) or json")
        ] = PlanFormat.text,
        out: Annotated[
            Path | None,
            typer.Option(
                "--out",
                "-o",
                help="save the plan to this file; `fleetcfg apply FILE` executes exactly it",
                metavar="FILE",
            ),
        ] = None,
        detailed_exitcode: Annotated[
            bool,
            typer.Option(
                "--detailed-exitcode",
                help="exit 0: no changes, 2: changes, 1: errors or unreachable hosts",
            ),
        ] = False,
        accept_new_host_keys: AcceptNewHostKeysOption = False,
        trust_repo_ssh_config: TrustRepoSshConfigOption = False,
        verbose: Annotated[
            bool,
            typer.Option(
                "--verbose",
                "-v",
                help="one block per host (hosts with identical changes share one otherwise)",
            ),
        ] = False,
        shard_text: ShardOption = None,
    ) -> None:
        """Show what apply would change on each host: semantic and text diffs,
        reload or restart, warnings and errors. Nothing on the hosts changes.
        `fleetcfg plan merge` merges the JSON plans of several shards."""
        if ctx.invoked_subcommand is not None:
            return
        errors_console = stderr_console()
        cancel = threading.Event()
        try:
            shard = parse_shard(shard_text)
            inventory, hosts = select_hosts(inventory_path, limit, shard)
            with _Progress(len(hosts), errors_console) as progress:
                result = run_plan(
                    inventory,
                    hosts,
                    forks,
                    accept_new_host_keys=accept_new_host_keys,
                    trust_repo_ssh_config=trust_repo_ssh_config,
                    on_host_done=progress,
                    cancel=cancel,
                    shard=shard,
                )
        except FleetcfgError as exc:
            _report(exc)
            code = exc.exit_code
            raise typer.Exit(EXIT_ERRORS if detailed_exitcode else code) from None
        if output_format is PlanFormat.json:
            # one line, host by host (pipe through jq to read it)
            write_plan_json(result, sys.stdout)
        else:
            print_plan(result, stdout_console(), per_host=verbose)
        if out is not None:
            try:
                save_plan(result, out)
            except FleetcfgError as exc:
                _report(exc)
                raise typer.Exit(EXIT_ERRORS) from None
            note = f"Saved the plan to {out}: `fleetcfg apply {out}` executes exactly this plan."
            if output_format is PlanFormat.json:
                errors_console.print(note, markup=False, highlight=False)
            else:
                stdout_console().print(note, markup=False, highlight=False)
        if cancel.is_set():
            errors_console.print(
                "interrupted: hosts not planned yet are reported as errors",
                style="yellow",
                markup=False,
            )
            raise typer.Exit(EXIT_INTERRUPTED)
        raise typer.Exit(exit_code(result, detailed=detailed_exitcode))
