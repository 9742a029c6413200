"""``fleetcfg hosts``: the inventory's hosts and groups, and what ``--limit``
selects (text, or ``--format json``). Nothing is contacted.

Exit codes: 0 listed; 1 the inventory is invalid; 2 usage error (no
inventory, a --limit pattern that matches nothing).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer

from fleetcfg.cli.common import LimitOption
from fleetcfg.cli.exits import exits_on_error
from fleetcfg.cli.output import stdout_console
from fleetcfg.inventory import Host, Inventory, find_inventory, load_inventory


class HostsFormat(StrEnum):
    text = "text"
    json = "json"


def host_dict(host: Host) -> dict[str, Any]:
    return {
        "name": host.name,
        "address": host.address,
        "connection": host.connection,
        "groups": list(host.groups),
        "engine_version": str(host.engine_version),
        "daemon_profile": host.daemon_profile,
        "client_profile": host.client_profile,
        "client_users": list(host.client_users),
    }


def hosts_json(inventory: Inventory, hosts: list[Host]) -> dict[str, Any]:
    chosen = {h.name for h in hosts}
    return {
        "inventory": inventory.display,
        "hosts": [host_dict(h) for h in hosts],
        "groups": {
            name: {
                "hosts": [h for h in inventory.hosts if h in inventory.members[name]],
                "selected": sorted(
                    chosen & inventory.members[name], key=list(inventory.hosts).index
                ),
                "children": list(info.children),
                "parents": list(info.parents),
            }
            for name, info in inventory.groups.items()
        },
        "selected": len(hosts),
        "total": len(inventory.hosts),
    }


def hosts_lines(inventory: Inventory, hosts: list[Host], limit: list[str] | None) -> list[str]:
    header = ("HOST", "ADDRESS", "ENGINE", "PROFILE", "GROUPS")
    rows = [
        (
            h.name,
            h.address if h.connection == "ssh" else f"{h.address} (local)",
            str(h.engine_version),
            h.daemon_profile or "-",
            ", ".join(h.groups) or "-",
        )
        for h in hosts
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = ["  ".join([*(r[i].ljust(widths[i]) for i in range(4)), r[4]]) for r in [header, *rows]]
    chosen = {h.name for h in hosts}
    groups = [
        f"{name} ({len(chosen & inventory.members[name])})"
        for name in inventory.groups
        if chosen & inventory.members[name]
    ]
    what = f" selected by --limit {','.join(limit)}" if limit else ""
    noun = "host" if len(inventory.hosts) == 1 else "hosts"
    lines.append("")
    lines.append(f"{len(hosts)} of {len(inventory.hosts)} {noun}{what}")
    lines.append(f"groups: {', '.join(groups) or '(none)'}")
    return lines


def register(app: typer.Typer) -> None:
    @app.command("hosts")
    @exits_on_error
    def hosts(
        *,
        inventory_path: Annotated[
            str | None,
            typer.Option(
                "--inventory",
                "-i",
                help="inventory file (or its folder); default: the nearest inventory.yaml "
                "here or above",
                envvar="FLEETCFG_INVENTORY",
            ),
        ] = None,
        limit: LimitOption = None,
        output_format: Annotated[
            HostsFormat, typer.Option("--format", "-f", help="text or json")
        ] = HostsFormat.text,
    ) -> None:
        """List the inventory's hosts (address, Engine version, profile, groups)
        and what --limit selects. Nothing is contacted."""
        inventory = load_inventory(find_inventory(inventory_path))
        selected = inventory.select(limit)
        if output_format is HostsFormat.json:
            typer.echo(json.dumps(hosts_json(inventory, selected), indent=2))
            return
        console = stdout_console()
        for line in hosts_lines(inventory, selected, limit):
            console.print(line, markup=False, highlight=False)
