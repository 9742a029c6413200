"""``fleetcfg status``: what ``fleetcfg converge`` last did, on this machine
(``--local``) or on the hosts ``--limit`` selects, over SSH like ``plan``
(the same selection, ``--forks`` at once): per host the last run and its exit
code, the revision, the drifted files, a pending restart, who disabled
converge and why, and the hosts that stopped reporting. Text, or ``--format
json``. Nothing on the hosts changes.

Exit codes: 0 every host is fine; 2 some host needs attention (stopped
reporting or never ran, disabled, its last run failed or was locked out,
restart pending, drift) and every host answered; 1 some host could not be
asked or its state could not be read (a usage error is also 2); 130 Ctrl-C.
"""

from __future__ import annotations

import json
import socket
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from fleetcfg.cli.common import (
    AcceptNewHostKeysOption,
    AllowLocalHostsOption,
    ForksOption,
    InventoryOption,
    LimitOption,
    TrustRepoSshConfigOption,
)
from fleetcfg.cli.env import CommandEnv
from fleetcfg.cli.exits import exits_on_error
from fleetcfg.cli.status_view import print_local, print_table, summary_line
from fleetcfg.core.errors import FleetcfgError, UsageError
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.host.pull import SYSTEMD_DIR, PullPaths
from fleetcfg.host.pull_record import parse_timespan
from fleetcfg.host.pull_status import (
    PullStatus,
    StatusPaths,
    assess,
    exit_code,
    failed,
    fleet_status,
    read_host,
    status_dict,
    summary,
)
from fleetcfg.host.state import STATE_DIR
from fleetcfg.host.transport.local import LocalTransport
from fleetcfg.host.transport.targets import LocalTarget
from fleetcfg.inventory import DEFAULT_INVENTORY
from fleetcfg.plan.access import Access


class StatusFormat(StrEnum):
    text = "text"
    json = "json"


StatusFormatOption = Annotated[StatusFormat, typer.Option("--format", help="text or json")]


def _stale_after(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        seconds = parse_timespan(text)
    except ValueError as exc:
        raise UsageError(f"--stale-after: {exc}") from None
    if seconds <= 0:
        raise UsageError("--stale-after must be longer than 0s")
    return seconds


def _local(paths: StatusPaths, stale_after: float | None) -> PullStatus:
    name = socket.gethostname().split(".")[0]
    try:
        with LocalTransport(LocalTarget(host=name)) as transport:
            readout = read_host(transport, paths)
    except FleetcfgError as exc:
        return failed(name, exc)
    host = readout.record.host if readout.record and readout.record.host else name
    return assess(host, readout, stale_after)


def _json(statuses: list[PullStatus]) -> str:
    doc: dict[str, Any] = {
        "hosts": [status_dict(s) for s in statuses],
        "summary": {"states": summary(statuses), "line": summary_line(statuses)},
    }
    return json.dumps(doc)


def register(app: typer.Typer) -> None:
    @app.command("status")
    @exits_on_error
    def status(
        *,
        local: Annotated[
            bool,
            typer.Option("--local", help="this machine's converge state (no inventory, no SSH)"),
        ] = False,
        inventory_path: InventoryOption = DEFAULT_INVENTORY,
        limit: LimitOption = None,
        forks: ForksOption = None,
        output_format: StatusFormatOption = StatusFormat.text,
        stale_after_text: Annotated[
            str | None,
            typer.Option(
                "--stale-after",
                help="a host whose last run is older stopped reporting (a systemd time span: "
                "2h, 90min; default: twice its timer's OnUnitActiveSec + RandomizedDelaySec)",
                metavar="SPAN",
            ),
        ] = None,
        accept_new_host_keys: AcceptNewHostKeysOption = False,
        trust_repo_ssh_config: TrustRepoSshConfigOption = False,
        allow_local_hosts: AllowLocalHostsOption = False,
        state_dir: Annotated[
            str, typer.Option("--state-dir", hidden=True, help="converge's state folder")
        ] = STATE_DIR,
        systemd_dir: Annotated[
            str, typer.Option("--systemd-dir", hidden=True, help="where the timer unit is")
        ] = SYSTEMD_DIR,
    ) -> None:
        """Show what `fleetcfg converge` last did: on this machine (--local) or,
        over SSH, on the hosts --limit selects: last run, exit code, revision,
        drift, pending restart, disabled (who, why, when), and the hosts that
        stopped reporting.

        Exit codes: 0 all fine; 2 some host needs attention (stopped reporting,
        disabled, last run failed, restart pending, drift); 1 some host could not
        be asked or its state not read."""
        stale_after = _stale_after(stale_after_text)
        paths = StatusPaths(PullPaths(state_dir=Path(state_dir)), systemd_dir)
        env = CommandEnv(
            inventory_path=inventory_path,
            forks=forks,
            access=Access(
                accept_new_host_keys=accept_new_host_keys,
                trust_repo_ssh_config=trust_repo_ssh_config,
                local_hosts=allow_local_hosts,
            ),
        )
        if local:
            if limit:
                raise UsageError("--local and --limit exclude each other")
            statuses = [_local(paths, stale_after)]
        else:
            inventory = env.load_inventory()
            hosts = env.select_hosts(inventory, limit)
            connector = env.connector()
            try:
                statuses = fleet_status(
                    [h.name for h in hosts],
                    env.opener(inventory, connector),
                    paths=paths,
                    stale_after=stale_after,
                    forks=env.forks,
                    cancel=env.cancel,
                )
            finally:
                close = getattr(connector, "close", None)
                if close is not None:
                    close()
        if output_format is StatusFormat.json:
            sys.stdout.write(_json(statuses) + "\n")
        elif local:
            print_local(statuses[0], paths, env.out)
        else:
            print_table(statuses, paths, env.out)
        if env.cancel.is_set():
            env.err.print("interrupted: hosts not asked yet are errors", markup=False)
            raise typer.Exit(ExitCode.INTERRUPTED)
        raise typer.Exit(exit_code(statuses))
