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

The views (text and JSON) are in :mod:`fleetcfg.cli.plan_view`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from fleetcfg.cli.common import (
    AcceptNewHostKeysOption,
    AllowLocalHostsOption,
    ForksOption,
    InventoryOption,
    LimitOption,
    ShardOption,
    TrustRepoSshConfigOption,
)
from fleetcfg.cli.env import CommandEnv
from fleetcfg.cli.exits import exits_on_error
from fleetcfg.cli.interrupts import planning_aborts, planning_stops
from fleetcfg.cli.plan_view import exit_code, print_plan, write_plan_json
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.inventory import DEFAULT_INVENTORY, Host, Inventory
from fleetcfg.plan.access import Access
from fleetcfg.plan.fleet import plan_fleet, save_plan
from fleetcfg.plan.model import HostPlan, Plan
from fleetcfg.plan.shards import Shard

if TYPE_CHECKING:
    from rich.progress import Progress


class PlanFormat(StrEnum):
    text = "text"
    json = "json"


# the options `plan` and `plan merge` share
PlanFormatOption = Annotated[
    PlanFormat, typer.Option("--format", help="text (like terraform plan) or json")
]
DetailedExitcodeOption = Annotated[
    bool,
    typer.Option(
        "--detailed-exitcode",
        help="exit 0: no changes, 2: changes, 1: errors or unreachable hosts",
    ),
]


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


def parse_shard(text: str | None) -> Shard | None:
    return Shard.parse(text) if text is not None else None


def run_plan(
    env: CommandEnv,
    inventory: Inventory,
    hosts: list[Host],
    *,
    on_host_done: Callable[[HostPlan], None] | None = None,
    shard: Shard | None = None,
) -> Plan:
    """Plan ``hosts`` over SSH (one connector for the run)."""
    connector = env.connector()
    try:
        return plan_fleet(
            inventory,
            hosts,
            connector=connector,
            forks=env.forks,
            on_host_done=on_host_done,
            cancel=env.cancel,
            access=env.access,
            shard=str(shard) if shard is not None else None,
            on_interrupt=planning_stops(env),
        )
    finally:
        close = getattr(connector, "close", None)
        if close is not None:
            close()


def register(app: typer.Typer) -> None:
    group = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.add_typer(group, name="plan")

    @group.command("merge")
    @exits_on_error
    def merge(
        files: Annotated[
            list[Path],
            typer.Argument(help="the `fleetcfg plan --format json` output of each shard"),
        ],
        output_format: PlanFormatOption = PlanFormat.text,
        detailed_exitcode: DetailedExitcodeOption = False,
    ) -> None:
        """Merge the JSON plans of several shards (`plan --shard K/N --format
        json`) into one plan and one summary."""
        from fleetcfg.cli.plan_merge import merge_command

        raise typer.Exit(merge_command(files, output_format.value, detailed=detailed_exitcode))

    @group.callback(invoke_without_command=True)
    @exits_on_error
    def plan(
        ctx: typer.Context,
        *,
        inventory_path: InventoryOption = DEFAULT_INVENTORY,
        limit: LimitOption = None,
        forks: ForksOption = None,
        output_format: PlanFormatOption = PlanFormat.text,
        out: Annotated[
            Path | None,
            typer.Option(
                "--out",
                "-o",
                help="save the plan to this file; `fleetcfg apply FILE` executes exactly it",
                metavar="FILE",
            ),
        ] = None,
        detailed_exitcode: DetailedExitcodeOption = False,
        accept_new_host_keys: AcceptNewHostKeysOption = False,
        trust_repo_ssh_config: TrustRepoSshConfigOption = False,
        allow_local_hosts: AllowLocalHostsOption = False,
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
        env = CommandEnv(
            inventory_path=inventory_path,
            forks=forks,
            access=Access(
                accept_new_host_keys=accept_new_host_keys,
                trust_repo_ssh_config=trust_repo_ssh_config,
                local_hosts=allow_local_hosts,
            ),
        )
        shard = parse_shard(shard_text)
        inventory = env.load_inventory()
        hosts = env.select_hosts(inventory, limit)
        if shard is not None:
            hosts = shard.select(hosts)
        with planning_aborts(env), _Progress(len(hosts), env.err) as progress:
            result = run_plan(env, inventory, hosts, on_host_done=progress, shard=shard)
        if output_format is PlanFormat.json:
            # one line, host by host (pipe through jq to read it)
            write_plan_json(result, sys.stdout)
        else:
            print_plan(result, env.out, per_host=verbose)
        if out is not None:
            save_plan(result, out)
            note = f"Saved the plan to {out}: `fleetcfg apply {out}` executes exactly this plan."
            console = env.err if output_format is PlanFormat.json else env.out
            console.print(note, markup=False, highlight=False)
        if env.cancel.is_set():
            env.err.print(
                "interrupted: hosts not planned yet are reported as errors",
                style="yellow",
                markup=False,
            )
            raise typer.Exit(ExitCode.INTERRUPTED)
        raise typer.Exit(exit_code(result, detailed=detailed_exitcode))
