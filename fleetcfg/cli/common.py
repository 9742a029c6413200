"""Option parsing shared by the commands (turns bad values into usage errors),
and the options every command that reaches hosts takes (``plan``, ``apply``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from fleetcfg.core.errors import UsageError
from fleetcfg.core.versions import EngineVersion


class FileKind(StrEnum):
    daemon = "daemon"
    client = "client"


def parse_engine(text: str | None, *, option: str = "--engine-version") -> EngineVersion | None:
    if text is None:
        return None
    try:
        return EngineVersion.parse(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


# -- options shared by the commands that reach hosts (plan, apply) -------------

InventoryOption = Annotated[
    str,
    typer.Option(
        "--inventory",
        "-i",
        help="inventory file (or its folder); profiles/ is next to it",
        envvar="FLEETCFG_INVENTORY",
    ),
]
LimitOption = Annotated[
    list[str] | None,
    typer.Option(
        "--limit",
        "-l",
        help="hosts to act on: host names, group names, globs ('ci-*'); repeat or "
        "comma-separate; '!pattern' excludes, '&pattern' intersects",
        metavar="PATTERN",
    ),
]
ForksOption = Annotated[
    int | None,
    typer.Option(
        "--forks",
        min=1,
        max=500,
        help="hosts handled at the same time (default: the smallest of 64, the number of "
        "hosts and what the open-files limit allows)",
        show_default=False,
        envvar="FLEETCFG_FORKS",
    ),
]
ShardOption = Annotated[
    str | None,
    typer.Option(
        "--shard",
        help="only slice K of N of the selected hosts (by a hash of the host name: adding a "
        "host moves no other), for N parallel CI jobs",
        metavar="K/N",
    ),
]
AcceptNewHostKeysOption = Annotated[
    bool,
    typer.Option(
        "--accept-new-host-keys",
        help="record the keys of hosts known_hosts does not list yet (never a changed key)",
    ),
]
TrustRepoSshConfigOption = Annotated[
    bool,
    typer.Option(
        "--trust-repo-ssh-config",
        help="let the ssh_config file the inventory names run commands (ProxyCommand, Match exec, "
        "LocalCommand, KnownHostsCommand); only for a reviewed repo",
    ),
]
AllowLocalHostsOption = Annotated[
    bool,
    typer.Option(
        "--allow-local-hosts",
        help="also reach hosts with connection: local: this machine, whose Docker files "
        "fleetcfg then reads (and apply changes); off by default, the inventory chose them",
    ),
]
