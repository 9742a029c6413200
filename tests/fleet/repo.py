"""Write a fleetcfg repo (inventory.yaml + profiles/) that points at fleet hosts.

Shared by the end-to-end tests and the benchmarks: root logs in with the fleet's
key and known_hosts, with no ssh_config and no agent, so that nothing on the
machine running the tests changes what fleetcfg does.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.fleet.fleet import Fleet
    from tests.fleet.host import FleetHost


def write_fleet_repo(
    root: Path,
    *,
    identity_file: Path | str,
    known_hosts: Path | str,
    hosts: Iterable[tuple[str, str]],
    profiles: Mapping[str, str],
    defaults: str = "",
    sections: str = "",
    host_extra: Mapping[str, str] | None = None,
    connect_timeout: int | None = 5,
) -> Path:
    """inventory.yaml for ``hosts`` (name, address) and the ``profiles``
    (file name -> text, dedented). ``defaults`` is YAML added under
    ``defaults:`` (e.g. ``vars:``), ``sections`` top-level YAML (e.g. a
    ``rollout:``), ``host_extra`` inline settings per host name
    (``"manage: keys"``). Returns the inventory path."""
    extra = host_extra or {}
    timeout = f"    connect_timeout: {connect_timeout}\n" if connect_timeout else ""
    lines = [
        f"  {name}: {{address: {address}{', ' + extra[name] if name in extra else ''}}}"
        for name, address in hosts
    ]
    root.mkdir(parents=True, exist_ok=True)
    text = (
        "defaults:\n"
        "  daemon_profile: base\n"
        '  engine_version: "26.1"\n'
        "  ssh:\n"
        "    user: root\n"
        f"    identity_file: {identity_file}\n"
        f"    known_hosts: {known_hosts}\n"
        "    ssh_config_file: none\n"
        "    use_agent: false\n"
        + timeout
        + textwrap.indent(textwrap.dedent(defaults), "  ")
        + "secrets: {env: [PROXY_PASSWORD]}\n"
        + textwrap.dedent(sections)
        + "hosts:\n"
        + "\n".join(lines)
        + "\n"
    )
    (root / "inventory.yaml").write_text(text)
    (root / "profiles").mkdir(exist_ok=True)
    for name, body in profiles.items():
        (root / "profiles" / name).write_text(textwrap.dedent(body).lstrip())
    return root / "inventory.yaml"


def write_repo_of(
    root: Path,
    fleet: Fleet,
    hosts: Iterable[FleetHost],
    *,
    profiles: Mapping[str, str],
    known_hosts: Path | str | None = None,
    defaults: str = "",
    sections: str = "",
    host_extra: Mapping[str, str] | None = None,
    connect_timeout: int | None = 5,
) -> Path:
    """:func:`write_fleet_repo` for ``hosts`` of ``fleet``: root logs in with
    the fleet's key and its known_hosts (unless ``known_hosts`` is given)."""
    return write_fleet_repo(
        root,
        identity_file=fleet.identity_file,
        known_hosts=fleet.known_hosts if known_hosts is None else known_hosts,
        hosts=[(h.name, h.address) for h in hosts],
        profiles=profiles,
        defaults=defaults,
        sections=sections,
        host_extra=host_extra,
        connect_timeout=connect_timeout,
    )
