"""``fleetcfg apply``: plans (like ``fleetcfg plan``), prints the plan, asks
for ``yes`` (``--yes`` skips the question) and rolls it out; ``fleetcfg apply
PLAN.json`` executes a plan saved with ``fleetcfg plan -o`` exactly, refusing
each host whose files or rendered target changed since. Progress goes to
stderr (one line per host; ``--verbose``: one per step), the summary to
stdout, every step to the journal. Exit codes: :mod:`fleetcfg.cli.rolling`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from fleetcfg.apply.rollout import ApplyOptions, apply_plan
from fleetcfg.cli import plan_view
from fleetcfg.cli.common import (
    AcceptNewHostKeysOption,
    AllowLocalHostsOption,
    ForksOption,
    LimitOption,
    ShardOption,
    TrustRepoSshConfigOption,
)
from fleetcfg.cli.env import CommandEnv
from fleetcfg.cli.exits import exits_on_error
from fleetcfg.cli.interrupts import planning_aborts, planning_stops
from fleetcfg.cli.rolling import (
    EXIT_HELP,
    BatchSizeOption,
    BreakLockOption,
    InventoryPathOption,
    JournalOption,
    MaxFailuresOption,
    VerboseOption,
    YesOption,
    confirm,
    open_journal,
    roll_out,
    rollout_settings,
)
from fleetcfg.cli.rollout_view import describe_rollout
from fleetcfg.core.errors import UsageError
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.core.parallel import idle_connections_budget
from fleetcfg.host.connections import ReusingConnector
from fleetcfg.host.state import DEFAULT_KEEP_BACKUPS
from fleetcfg.inventory import DEFAULT_INVENTORY
from fleetcfg.plan.access import Access
from fleetcfg.plan.fleet import load_plan, plan_fleet
from fleetcfg.plan.model import Action
from fleetcfg.plan.replan import RenderedTargets
from fleetcfg.plan.repohash import repo_changes, stale_repo_warning
from fleetcfg.plan.shards import Shard
from fleetcfg.render import Renderer

#: seconds of waiting for "yes" after which apply opens fresh connections
IDLE_RECONNECT = 30.0


def register(app: typer.Typer) -> None:
    @app.command("apply", epilog=EXIT_HELP)
    @exits_on_error
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
        allow_local_hosts: AllowLocalHostsOption = False,
    ) -> None:
        """Roll the configuration out: plan (or read PLAN.json), show the plan,
        ask, then change a few hosts at a time: validate on the host, back up,
        replace atomically, reload or restart, check health, roll back and halt
        on failure."""
        env = CommandEnv(
            inventory_path=inventory_path,
            forks=forks,
            access=Access(
                accept_new_host_keys=accept_new_host_keys,
                trust_repo_ssh_config=trust_repo_ssh_config,
                local_hosts=allow_local_hosts,
            ),
        )
        saved = load_plan(plan_file) if plan_file is not None else None
        if saved is not None and (limit or shard_text):
            option = "--limit" if limit else "--shard"
            raise UsageError(
                f"{option} cannot narrow a saved plan: it is applied as a whole",
                hint=f"make a plan for those hosts with fleetcfg plan {option} ... -o FILE",
            )
        shard = Shard.parse(shard_text) if shard_text is not None else None
        inventory = env.load_inventory(saved.inventory if saved else DEFAULT_INVENTORY)
        rollout = rollout_settings(
            inventory,
            batch_size=batch_size,
            canary=canary,
            max_failures=max_failures,
            pause=pause,
        )
        renderer = Renderer(inventory)
        connector = ReusingConnector(env.connector(), keep=idle_connections_budget(env.forks))
        try:
            if saved is None:
                hosts = env.select_hosts(inventory, limit)
                with planning_aborts(env):
                    plan = plan_fleet(
                        inventory,
                        shard.select(hosts) if shard is not None else hosts,
                        connector=connector,
                        forks=env.forks,
                        cancel=env.cancel,
                        access=env.access,
                        renderer=renderer,
                        shard=str(shard) if shard is not None else None,
                        on_interrupt=planning_stops(env),
                    )
                if env.cancel.is_set():
                    env.err.print("interrupted while planning: nothing was changed", markup=False)
                    raise typer.Exit(ExitCode.INTERRUPTED)
            else:
                plan = saved
                changed = repo_changes(inventory, plan.repo_sha256, plan.repo_files)
                if changed:
                    env.err.print(stale_repo_warning(changed), style="yellow", markup=False)
            plan_view.print_plan(plan, env.out)
            todo = [
                h
                for h in plan.hosts
                if h.action in (Action.WRITE, Action.RELOAD, Action.RESTART) and not h.unreachable
            ]
            if not todo:
                env.out.print("Nothing to apply.", markup=False)
                raise typer.Exit(plan_view.exit_code(plan, detailed=False))
            env.out.print(describe_rollout(plan, rollout, inventory), markup=False, highlight=False)
            if not yes:
                asked = time.monotonic()
                if not confirm(env, f"\nApply these changes to {len(todo)} hosts?"):
                    env.out.print("Apply cancelled: nothing was changed.", markup=False)
                    raise typer.Exit(ExitCode.OK)
                if time.monotonic() - asked > IDLE_RECONNECT:
                    connector.reset()  # connections idle that long may be dead
            options = ApplyOptions(
                rollout=rollout, forks=env.forks, break_lock=break_lock, keep_backups=keep_backups
            )
            connector.last_use()  # each host is applied once
            roll_out(
                env,
                lambda run_env: apply_plan(
                    plan,
                    run_env,
                    targets=RenderedTargets(inventory, renderer),
                    options=options,
                    group_order=list(inventory.groups),
                ),
                inventory=inventory,
                connect=env.opener(inventory, connector),
                journal=open_journal(inventory, journal_path, plan.shard),
                verbose=verbose,
                mask=renderer.mask,
                after="to each host (check them with fleetcfg plan)",
            )
        finally:
            connector.close()
