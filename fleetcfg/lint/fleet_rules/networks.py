"""Address range rules: dockerd's pools and bridges against the inventory's
reserved ranges and hosts (FC030, FC031, FC032)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from fleetcfg.core.rules import (
    COVERS_INVENTORY,
    RANGE_OVERLAP,
    RESERVED_OVERLAP,
)
from fleetcfg.core.yamlsource import KeyPath
from fleetcfg.lint.fleet_rules.base import (
    Fleet,
    Hit,
    Target,
    daemon_rule,
    get_ci,
    hosts_text,
    network_of,
)
from fleetcfg.lint.noproxy import IPNetwork

BUILTIN_POOLS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in ("172.17.0.0/16", "172.18.0.0/15", "172.20.0.0/14", "172.24.0.0/13", "192.168.0.0/16")
)
BUILTIN_POOLS_TEXT = "172.17.0.0-172.31.255.255 and 192.168.0.0/16"


@dataclass(frozen=True, slots=True)
class DockerRange:
    """An address range dockerd allocates from on one host."""

    label: str  # "default-address-pools[0] 172.18.0.0/15"
    net: IPNetwork
    path: KeyPath
    text: str  # as written
    kind: str  # "pool" or "bridge"


def docker_ranges(data: Mapping[str, Any]) -> list[DockerRange]:
    """The explicit ranges of a daemon.json: pools, then the default bridge
    (bip, else fixed-cidr; bip6, else fixed-cidr-v6)."""
    out: list[DockerRange] = []
    pools = data.get("default-address-pools")
    if isinstance(pools, list):
        for i, pool in enumerate(pools):
            base = get_ci(pool, "base") if isinstance(pool, dict) else None
            net = network_of(base, False) if isinstance(base, str) else None
            if net is not None and isinstance(base, str):
                out.append(
                    DockerRange(
                        f"default-address-pools[{i}] {base}",
                        net,
                        ("default-address-pools", i, _base_key(pool)),
                        base,
                        "pool",
                    )
                )
    for bridge, cidr in (("bip", "fixed-cidr"), ("bip6", "fixed-cidr-v6")):
        for key, interface in ((bridge, True), (cidr, False)):
            value = data.get(key)
            net = network_of(value, interface) if isinstance(value, str) and value else None
            if net is not None and isinstance(value, str):
                out.append(DockerRange(f"{key} {value}", net, (key,), value, "bridge"))
                break
    return out


def _base_key(pool: Mapping[str, Any]) -> str:
    return next((k for k in pool if k.lower() == "base"), "base")


def uses_builtin_pools(data: Mapping[str, Any]) -> bool:
    pools = data.get("default-address-pools")
    return not (isinstance(pools, list) and pools)


_RANGE_KEYS = ("default-address-pools", "bip", "fixed-cidr", "bip6", "fixed-cidr-v6")


@daemon_rule(*_RANGE_KEYS)
def address_ranges(t: Target, fleet: Fleet) -> Iterator[Hit]:
    """FC030 (reserved ranges) and FC032 (inventory hosts) for every range."""
    for r in docker_ranges(t.data):
        clash = [
            (net, where)
            for net, where in fleet.reserved
            if net.version == r.net.version and net.overlaps(r.net)
        ]
        if clash:
            listed = ", ".join(f"{net} ({where})" for net, where in clash)
            yield Hit(
                RESERVED_OVERLAP,
                f"{r.label} overlaps networks.reserved {listed}: a Docker network there "
                "routes those addresses into a local bridge, and the host and its containers "
                "lose the real machines. Move it out of the reserved ranges",
                r.path,
                value=r.text,
            )
            continue
        covered = fleet.hosts_in(r.net)
        if covered:
            yield Hit(
                COVERS_INVENTORY,
                f"{r.label} contains the addresses of {hosts_text(covered)}: once dockerd "
                "creates a network there, this host and its containers cannot reach them. "
                "Move it out of the fleet's addresses",
                r.path,
                value=r.text,
            )
    if uses_builtin_pools(t.data):
        yield from _builtin_pools(t, fleet)


def _builtin_pools(t: Target, fleet: Fleet) -> Iterator[Hit]:
    clash = [
        (net, where)
        for net, where in fleet.reserved
        if net.version == 4 and any(net.overlaps(p) for p in BUILTIN_POOLS)
    ]
    where = ("default-address-pools",)
    if clash:
        listed = ", ".join(f"{net} ({loc})" for net, loc in clash)
        yield Hit(
            RESERVED_OVERLAP,
            "default-address-pools is not set, so dockerd creates networks from its built-in "
            f"pools ({BUILTIN_POOLS_TEXT}), which overlap networks.reserved {listed}. Set "
            "default-address-pools to ranges clear of the reserved ones",
            where,
            absent=True,
        )
        return
    covered = sorted(
        {hit for net in BUILTIN_POOLS for hit in fleet.hosts_in(net)}, key=lambda h: int(h[1])
    )
    if covered:
        yield Hit(
            COVERS_INVENTORY,
            "default-address-pools is not set, so dockerd creates networks from its built-in "
            f"pools ({BUILTIN_POOLS_TEXT}), which contain the addresses of "
            f"{hosts_text(covered)}. Set default-address-pools to ranges clear of the fleet",
            where,
            absent=True,
        )


@daemon_rule(*_RANGE_KEYS)
def overlapping_ranges(t: Target, fleet: Fleet) -> Iterator[Hit]:
    """FC031: pools overlapping each other or the default bridge."""
    ranges = docker_ranges(t.data)
    pools = [r for r in ranges if r.kind == "pool"]
    for i, later in enumerate(pools):
        for earlier in pools[:i]:
            if later.net.version == earlier.net.version and later.net.overlaps(earlier.net):
                yield Hit(
                    RANGE_OVERLAP,
                    f"{later.label} overlaps {earlier.label}: the same addresses are handed "
                    "out by two pools. Give each pool its own range",
                    later.path,
                    value=later.text,
                )
                break
    for bridge in (r for r in ranges if r.kind == "bridge"):
        for pool in pools:
            if bridge.net.version == pool.net.version and bridge.net.overlaps(pool.net):
                yield Hit(
                    RANGE_OVERLAP,
                    f"the default bridge ({bridge.label}) overlaps {pool.label}: dockerd skips "
                    "the bridge's subnet in the pool, which hides where networks come from. "
                    "Keep the bridge outside the pools",
                    bridge.path,
                    value=bridge.text,
                )
                break
