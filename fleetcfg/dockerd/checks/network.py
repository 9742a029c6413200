"""The default bridge, IPv6, address pools and the metrics address (checked at start)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from fleetcfg.core.findings import Finding
from fleetcfg.core.rules import (
    ADDRESS,
    ADDRESS_POOLS,
    CONFLICT,
    INVALID_VALUE,
)
from fleetcfg.core.versions import EngineVersion
from fleetcfg.dockerd.base import v
from fleetcfg.dockerd.checks.context import (
    START,
    E,
    RuleContext,
    W,
    check,
    find,
)
from fleetcfg.dockerd.values import (
    ip_version,
    is_canonical_prefix,
    listen_address_problem,
    network,
    prefix_problem,
)


def _cidr_check(ctx: RuleContext, key: str, family: int) -> Iterator[Finding]:
    value = ctx.get(key)
    if not ctx.has(key) or value == "":
        return
    problem = prefix_problem(value)
    if problem:
        yield find(ADDRESS, E, f'"{key}": {problem}; {START}', key)
    elif ip_version(value.partition("/")[0]) != family:
        yield find(ADDRESS, E, f'"{key}" must be an IPv{family} CIDR, not "{value}"; {START}', key)


@check
def bridge_addresses(ctx: RuleContext) -> Iterator[Finding]:
    yield from _cidr_check(ctx, "bip", 4)
    yield from _cidr_check(ctx, "fixed-cidr", 4)
    if ctx.at_least("28.0"):
        yield from _cidr_check(ctx, "bip6", 6)
    bridge = ctx.get("bridge") if ctx.has("bridge") else ""
    for key in ("bip", "bip6"):
        if bridge and ctx.has(key) and ctx.raw[key]:
            yield find(
                CONFLICT,
                E,
                f'"bridge" and "{key}" exclude each other (dockerd: You specified -b & '
                f"--{key}, mutually exclusive options); {START}. Set the address on the "
                f'bridge {bridge!r} itself, or drop "bridge"',
                key,
            )
    bip, fixed = ctx.get("bip"), ctx.get("fixed-cidr")
    if ctx.has("bip") and ctx.has("fixed-cidr") and bip and fixed:
        bnet, fnet = network(bip), network(fixed)
        if (
            bnet is not None
            and fnet is not None
            and fnet.version == bnet.version
            and not (
                fnet.subnet_of(bnet)  # type: ignore[arg-type]
            )
        ):
            # dockerd accepts it, and hands out addresses at the same offsets
            # inside the bip network: almost certainly not what was meant
            yield find(
                ADDRESS,
                W,
                f'"fixed-cidr" {fixed} is not inside the bridge network {bnet} of "bip"; dockerd '
                "does not refuse it, but containers get addresses from the bip network, not from "
                "fixed-cidr. Make fixed-cidr a subnet of bip",
                "fixed-cidr",
            )
    for key, family in (("default-gateway", 4), ("default-gateway-v6", 6)):
        value = ctx.get(key)
        if ctx.has(key) and value and ip_version(value) not in (None, family):
            yield find(
                ADDRESS, E, f'"{key}" must be an IPv{family} address, not "{value}"; {START}', key
            )
    gateway = ctx.get("default-gateway")
    bnet = network(bip) if ctx.has("bip") and bip else None
    if (
        ctx.has("default-gateway")
        and gateway
        and bnet is not None
        and ip_version(gateway) == 4 == bnet.version
        and ipaddress.ip_address(gateway) not in bnet
        and ctx.get("bridge") != "none"
    ):
        yield find(
            ADDRESS,
            E,
            f'"default-gateway" {gateway} is outside the bridge network {bnet} of "bip"; {START} '
            "(invalid gateway for the default bridge). Use an address inside it",
            "default-gateway",
        )
    mtu = ctx.get("mtu")
    if ctx.has("mtu") and isinstance(mtu, int) and (0 < mtu < 68 or mtu > 65535):
        yield find(
            INVALID_VALUE,
            E,
            f'"mtu" {mtu} is outside what Linux accepts for a bridge (68 to 65535); dockerd '
            f"{START[8:]} when it creates the default bridge (invalid argument)",
            "mtu",
        )


@check
def ipv6_bridge(ctx: RuleContext) -> Iterator[Finding]:
    raw = ctx.raw
    if (
        raw.get("ip6tables") is True
        and raw.get("experimental") is not True
        and ctx.engine < v("27.0")
    ):
        yield find(
            CONFLICT,
            E,
            f'"ip6tables" needs "experimental": true on Engine {ctx.engine.short} (ip6tables rules '
            f"are only available if experimental features are enabled); {START}. Enable "
            "experimental or upgrade to 27.0, where ip6tables is on by default",
            "ip6tables",
        )
    no_bridge = raw.get("bridge") == "none"
    if (
        raw.get("ipv6") is True
        and not raw.get("fixed-cidr-v6")
        and not no_bridge
        and ctx.engine < v("28.0")
    ):
        yield find(
            CONFLICT,
            E,
            f'"ipv6" is enabled for the default bridge but "fixed-cidr-v6" is not set; Engine '
            f"{ctx.engine.short} {START[8:]} (IPv6 is enabled for the default bridge, but no "
            "subnet is configured). Set fixed-cidr-v6 (e.g. a /64 from your ULA range); from "
            "28.0 dockerd picks one itself",
            "ipv6",
        )
    if (
        raw.get("icc") is False
        and raw.get("ipv6") is True
        and raw.get("ip6tables") is False
        and raw.get("iptables") is not False
        and ctx.engine >= v("27.0")
    ):
        yield find(
            CONFLICT,
            E,
            'icc=false on an IPv6 default bridge needs ip6tables, but "ip6tables" is false '
            f"(dockerd: You specified --ip6tables=false with --icc=false); {START}. Set icc or "
            "ip6tables to true",
            "icc",
        )


@check
def icc_without_iptables(ctx: RuleContext) -> Iterator[Finding]:
    if ctx.get("icc") is False and ctx.get("iptables") is False:
        yield find(
            CONFLICT,
            E,
            'icc=false needs iptables to work, but "iptables" is false (dockerd: You '
            "specified --iptables=false with --icc=false); "
            + START
            + ". Set icc or iptables to true",
            "icc",
        )


#: Engine < 27 expands every pool into all its subnets at start
_EAGER_SPLIT_LIMIT = 24


@check
def address_pools(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.has("default-address-pools"):
        return
    for i, pool in enumerate(ctx.cfg.default_address_pools or []):
        loc = ("default-address-pools", i)
        if pool is None:
            yield find(ADDRESS_POOLS, E, f"pool {i} is null; {START}", *loc)
            continue
        if not pool.base:
            yield find(
                ADDRESS_POOLS,
                E,
                f'pool {i} has no "base" CIDR; {START} (could not construct local address space)',
                *loc,
            )
            continue
        net = network(pool.base)
        if net is None:
            continue  # reported by the field check
        if not is_canonical_prefix(pool.base):
            yield find(
                ADDRESS_POOLS,
                W,
                f'pool {i} base "{pool.base}" has host bits set; dockerd masks it and uses '
                f"{net}. Write {net} so that reviews and overlap checks read the same",
                *loc,
                "base",
            )
        size = pool.size
        limit = 32 if net.version == 4 else 128
        if not size:
            yield find(
                ADDRESS_POOLS,
                E,
                f'pool {i} ({pool.base}) has no "size" (or 0): the size is the prefix '
                f"length of each network carved from it, e.g. 24; {START}",
                *loc,
                "size",
            )
        elif size < net.prefixlen:
            yield find(
                ADDRESS_POOLS,
                E,
                f"pool {i} ({pool.base}) has size /{size}, smaller than its own prefix "
                f"/{net.prefixlen}: no /{size} network fits in it; {START}. Use a size "
                f"of at least {net.prefixlen} (e.g. 24)",
                *loc,
                "size",
            )
        elif size > limit:
            yield find(
                ADDRESS_POOLS,
                E,
                f"pool {i} ({pool.base}) has size /{size}, larger than /{limit}: no network "
                f"of that size exists; {START} or network creation fails",
                *loc,
                "size",
            )
        elif size - net.prefixlen > _EAGER_SPLIT_LIMIT and ctx.engine < v("27.0"):
            yield find(
                ADDRESS_POOLS,
                E,
                f"pool {i} ({pool.base}) splits into 2^{size - net.prefixlen} networks of /{size}; "
                f"Engine {ctx.engine.short} lists every one of them when it starts and runs out "
                "of memory (27.0 and later allocate lazily). Use a smaller base or size",
                *loc,
                "size",
            )


@check
def metrics_address(ctx: RuleContext) -> Iterator[Finding]:
    value = ctx.get("metrics-addr")
    if ctx.has("metrics-addr") and value:
        problem = listen_address_problem(value)
        if problem:
            yield find(
                ADDRESS,
                E,
                f'"metrics-addr" {problem}: it must be host:port, e.g. 127.0.0.1:9323; '
                f"{START} (error starting metrics server)",
                "metrics-addr",
            )


_LINK_LOCAL = ipaddress.ip_network("fe80::/64")


def _ipv6_subnet_problem(value: str, engine: EngineVersion) -> str | None:
    net = network(value)
    if net is None or net.version != 6:
        return None
    addr = ipaddress.ip_address(value.partition("/")[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return f'"{value}" is an IPv4-mapped prefix, not an IPv6 subnet'
    if engine >= v("27.0"):
        if net.is_multicast:
            return f'"{value}" is a multicast subnet, which is not allowed'
        if net != _LINK_LOCAL and net.overlaps(_LINK_LOCAL):
            return f'"{value}" clashes with the link-local prefix fe80::/64'
    elif net.network_address in _LINK_LOCAL and net.prefixlen != 64:
        return f'"{value}" clashes with the link-local prefix fe80::/64'
    return None


@check
def fixed_cidr_v6(ctx: RuleContext) -> Iterator[Finding]:
    value = ctx.get("fixed-cidr-v6")
    if not ctx.has("fixed-cidr-v6") or value == "":
        return
    problem = prefix_problem(value)
    if problem:
        yield find(ADDRESS, E, f'"fixed-cidr-v6": {problem}; {START}', "fixed-cidr-v6")
    elif ip_version(value.partition("/")[0]) == 6 and (
        message := _ipv6_subnet_problem(value, ctx.engine)
    ):
        yield find(ADDRESS, E, f'"fixed-cidr-v6" {message}; {START}', "fixed-cidr-v6")
    elif ip_version(value.partition("/")[0]) != 6:
        yield find(
            ADDRESS,
            E,
            f'"fixed-cidr-v6" must be an IPv6 subnet, not "{value}"; {START}',
            "fixed-cidr-v6",
        )


@check
def host_gateway(ctx: RuleContext) -> Iterator[Finding]:
    if ctx.has("host-gateway-ip") and ctx.has("host-gateway-ips") and ctx.at_least("28.0"):
        yield find(
            CONFLICT,
            E,
            '"host-gateway-ip" and "host-gateway-ips" must not both be set; '
            f"{START}. Keep host-gateway-ips",
            "host-gateway-ip",
        )
    if ctx.has("host-gateway-ips"):
        for family in (4, 6):
            ips = [ip for ip in ctx.cfg.host_gateway_ips or [] if ip and ip_version(ip) == family]
            if len(ips) > 1:
                yield find(
                    INVALID_VALUE,
                    E,
                    f'"host-gateway-ips" may hold one IPv{family} address, not {len(ips)}; {START}',
                    "host-gateway-ips",
                )
