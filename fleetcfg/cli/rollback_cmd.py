"""``fleetcfg rollback``: put back the backups fleetcfg made, with the same
care as apply (lock, validate on the host, atomic replace, restart, health),
or list them (``--list``). Exit codes: :mod:`fleetcfg.cli.rolling`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated

import typer
from rich.console import Console

from fleetcfg.apply.rollback import (
    builder_of,
    choose,
    effect_notes,
    restore_effects,
    wanted_files,
)
from fleetcfg.apply.rollout import ApplyOptions, RollbackTarget, rollback_hosts
from fleetcfg.cli.common import (
    AcceptNewHostKeysOption,
    AllowLocalHostsOption,
    ForksOption,
    TrustRepoSshConfigOption,
)
from fleetcfg.cli.env import CommandEnv
from fleetcfg.cli.exits import exits_on_error
from fleetcfg.cli.output import print_error
from fleetcfg.cli.rolling import (
    BatchSizeOption,
    BreakLockOption,
    JournalOption,
    MaxFailuresOption,
    VerboseOption,
    YesOption,
    confirm,
    open_journal,
    roll_out,
    rollout_settings,
)
from fleetcfg.core.errors import StepFailedError, UsageError
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.core.parallel import Outcome, idle_connections_budget, map_hosts
from fleetcfg.host.connections import ReusingConnector
from fleetcfg.host.state import STATE_PATH, HostState, StateFileError
from fleetcfg.host.transport.base import Transport
from fleetcfg.plan.access import Access
from fleetcfg.plan.model import FileKind
from fleetcfg.render import Renderer
from fleetcfg.render.surface import builder_commands


def register(app: typer.Typer) -> None:
    @app.command("rollback", epilog=ROLLBACK_EXIT_HELP)
    @exits_on_error
    def rollback(
        hosts: Annotated[
            list[str],
            typer.Argument(
                help="hosts to roll back: names, groups or globs like --limit",
                metavar="HOST...",
            ),
        ],
        *,
        inventory_path: Annotated[
            str | None,
            typer.Option(
                "--inventory",
                "-i",
                help="inventory file (or its folder); default: the nearest inventory.yaml here "
                "or above",
                envvar="FLEETCFG_INVENTORY",
            ),
        ] = None,
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
        allow_local_hosts: AllowLocalHostsOption = False,
    ) -> None:
        """Put back the backups fleetcfg made on HOST... with the same care as
        apply: lock, validate on the host, replace atomically, restart, check
        health (and undo the rollback if the restored file fails)."""
        env = CommandEnv(
            inventory_path=inventory_path,
            forks=forks,
            access=Access(
                accept_new_host_keys=accept_new_host_keys,
                trust_repo_ssh_config=trust_repo_ssh_config,
                local_hosts=allow_local_hosts,
            ),
        )
        inventory = env.load_inventory()
        selected = inventory.select(hosts)
        if not selected:
            raise UsageError("the patterns select no host")
        rollout = rollout_settings(
            inventory,
            batch_size=batch_size,
            canary=0,
            max_failures=max_failures,
            pause=None,
        )
        connector = ReusingConnector(env.connector(), keep=idle_connections_budget(env.forks))
        try:
            connect = env.opener(inventory, connector)
            names = [h.name for h in selected]
            if list_only:
                raise typer.Exit(_list_backups(names, connect, env.forks, env.out))
            wanted = wanted_files(files or (), backup)
            builders = {h.name: builder_commands(h) for h in selected}
            names = _what_is_restored(
                _read_states(names, connect, env.forks), wanted, backup, builders, env.out
            )
            if not names:
                raise typer.Exit(ExitCode.OK)
            selected = [h for h in selected if h.name in names]
            if not yes:
                noun = "host" if len(names) == 1 else "hosts"
                question = f"Roll back {len(names)} {noun} ({', '.join(names)}) as shown above?"
                if not confirm(env, question):
                    env.out.print("Rollback cancelled: nothing was changed.", markup=False)
                    raise typer.Exit(ExitCode.OK)
            renderer = Renderer(inventory)
            connector.last_use()  # each host is rolled back once
            roll_out(
                env,
                lambda run_env: rollback_hosts(
                    [
                        RollbackTarget(h.name, h.address, h.groups, builder=builders[h.name])
                        for h in selected
                    ],
                    run_env,
                    options=ApplyOptions(rollout=rollout, forks=env.forks, break_lock=break_lock),
                    files=files or (),
                    backup=backup,
                    force=force,
                ),
                inventory=inventory,
                connect=connect,
                journal=open_journal(inventory, journal_path),
                verbose=verbose,
                mask=renderer.mask,
                after="to each host",
            )
        finally:
            connector.close()


ROLLBACK_EXIT_HELP = (
    "Exit codes: 0 done, or nothing to roll back; 1 a host failed (what it had is put "
    "back) or the rollout halted; 2 usage error; 3 a file changed since fleetcfg wrote "
    "it (not touched; --force); 4 another fleetcfg run holds a host's lock (see "
    "--break-lock); 130 interrupted (Ctrl-C)."
)


def _read_states(
    names: list[str], connect: Callable[[str], Transport], forks: int | None
) -> list[Outcome[str, HostState]]:
    """Each host's state.json (what fleetcfg wrote there and its backups)."""

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

    return map_hosts(names, read, forks=forks)


def _what_is_restored(
    states: list[Outcome[str, HostState]],
    wanted: list[str],
    backup: str | None,
    builders: Mapping[str, Sequence[Sequence[str]]],
    out: Console,
) -> list[str]:
    """Print what rollback will put back on each host (or remove) and what
    that takes beyond daemon.json's reload or restart (decided once the
    files are read), and which hosts have nothing to roll back; returns the
    hosts to roll back (a host whose state cannot be read is kept: its
    rollback reports why)."""
    chosen: list[str] = []
    nothing: list[str] = []
    for outcome in states:
        name, state = outcome.item, outcome.value
        if outcome.error is None and (state is None or not state.files):
            nothing.append(name)
            continue
        chosen.append(name)
        if state is None:
            continue
        try:
            picked = choose(state, wanted, backup)
        except StepFailedError as exc:
            out.print(f"{name}: {exc.message}", markup=False, highlight=False)
            continue
        for change, _record in picked:
            restoring = change.restoring
            if restoring is not None and restoring.name:
                what = f"put back {restoring.name} (made {restoring.made_at})"
            else:
                what = "removed (it did not exist before fleetcfg wrote it)"
            out.print(f"{name}: {change.path} {what}", markup=False, highlight=False)
        changing = [
            (change.kind, record)
            for change, record in picked
            if change.restoring is not None and change.restoring.sha256 != record.sha256
        ]
        config = next((r for k, r in changing if k is FileKind.BUILDKIT), None)
        builder = builder_of(config, builders.get(name, ()))
        for note in effect_notes(restore_effects(k for k, _ in changing), builder):
            out.print(f"{name}: {note}", markup=False, highlight=False)
    if nothing:
        out.print(
            f"nothing to roll back on {', '.join(nothing)}: fleetcfg has not written "
            "anything there",
            markup=False,
            highlight=False,
        )
    return chosen


def _list_backups(
    names: list[str], connect: Callable[[str], Transport], forks: int | None, out: Console
) -> ExitCode:
    """``rollback --list``: each host's state.json, file by file."""
    code = ExitCode.OK
    for outcome in _read_states(names, connect, forks):
        name = outcome.item
        if outcome.error is not None:
            print_error(outcome.error)
            code = ExitCode.ERROR
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
    return code
