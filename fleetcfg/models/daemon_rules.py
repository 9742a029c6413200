"""Checks on a typed daemon.json that need more than one field's type.

Each check is a small function from a :class:`RuleContext` to findings, and
each message says what dockerd would do and how to fix it. They cover:

* values dockerd checks when it loads the file (``dockerd --validate``):
  enumerations, ranges, labels, exec-opts, userland-proxy-path, TLS files;
* what ``--validate`` lets through but the daemon refuses at START (runtimes,
  pools, bip/bridge, icc/iptables, storage driver, log driver and options when
  log-opts is set, registries, metrics address, containerd namespaces);
* what breaks every container create or start (ulimits, log options' values);
* version-dependent behaviour, deprecations and settings with no effect.

Checks never see a top-level key whose value failed typed validation
(``ctx.invalid``), so one mistake is reported once.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fleetcfg.findings import Finding, Severity
from fleetcfg.jsondoc import Loc, format_loc
from fleetcfg.models import logdrivers as ld
from fleetcfg.models.base import v
from fleetcfg.models.daemon import (
    CGROUPNS_MODES,
    IPC_MODES,
    LOG_LEVELS,
    DaemonConfig,
    _Nested,
    key_metadata,
)
from fleetcfg.models.daemon_keys import FLAT_OPTIONS
from fleetcfg.models.values import (
    ip_problem,
    ip_version,
    is_canonical_prefix,
    listen_address_problem,
    network,
    parse_size,
    port_problem,
    prefix_problem,
    proxy_url_problem,
    split_host_port,
    url_problem,
)
from fleetcfg.rules import (
    ADDRESS,
    ADDRESS_POOLS,
    CONFLICT,
    DEPRECATED,
    ENGINE_VERSION,
    IGNORED_KEY,
    INVALID_VALUE,
    LOGGING,
    NO_EFFECT,
    PROXY,
    REGISTRY,
    RUNTIMES,
    STORAGE,
    ULIMITS,
    Rule,
)
from fleetcfg.secrets import mask_url_credentials
from fleetcfg.versions import EngineVersion

E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO
START = "dockerd refuses to start"
EVERY_CONTAINER = "every container create fails"


@dataclass
class RuleContext:
    cfg: DaemonConfig
    raw: Mapping[str, Any]
    engine: EngineVersion
    invalid: frozenset[str]

    def has(self, key: str) -> bool:
        """The key is set (not null) and its value is well-typed."""
        return key not in self.invalid and self.raw.get(key) is not None

    def get(self, key: str) -> Any:
        """The raw value of a top-level key (None when absent)."""
        return self.raw.get(key)

    def at_least(self, version: str) -> bool:
        return self.engine >= v(version)


Check = Callable[[RuleContext], Iterator[Finding]]
CHECKS: list[Check] = []


def check(fn: Check) -> Check:
    CHECKS.append(fn)
    return fn


def find(rule: Rule, severity: Severity, message: str, *loc: str | int) -> Finding:
    return Finding(rule.id, severity, message, format_loc(loc), loc=tuple(loc))


def run_checks(ctx: RuleContext) -> list[Finding]:
    out: list[Finding] = []
    for fn in CHECKS:
        out.extend(fn(ctx))
    return out


# ---------------------------------------------------------------------------
# versions and deprecations


@check
def deprecated_keys(ctx: RuleContext) -> Iterator[Finding]:
    for key, meta in key_metadata().items():
        if not ctx.has(key) or meta.deprecated_since is None:
            continue
        if ctx.engine < meta.deprecated_since:
            continue
        if key == "allow-nondistributable-artifacts" and ctx.at_least("28.1"):
            yield find(
                IGNORED_KEY,
                W,
                '"allow-nondistributable-artifacts" has no effect from Engine 28.1 '
                "(non-distributable layers are always pushed); remove it",
                key,
            )
            continue
        if key == "api-cors-header" and ctx.at_least("28.0"):
            continue  # reported by the key check or as an empty no-op below
        yield find(
            DEPRECATED,
            W,
            f'"{key}" is deprecated since Engine {meta.deprecated_since.short}: '
            f"{meta.deprecated_hint}",
            key,
        )


@check
def builder_gc_policy(ctx: RuleContext) -> Iterator[Finding]:
    """Engine 26.1 parses every GC policy's keepStorage at start, even when
    it is missing; an enabled GC with such a policy stops the daemon."""
    gc = ctx.cfg.builder.gc if ctx.has("builder") and ctx.cfg.builder else None
    if gc is None or gc.enabled is not True or ctx.engine >= v("27.0"):
        return
    for i, policy in enumerate(gc.policy or []):
        if not policy.keep_storage:
            yield find(
                INVALID_VALUE,
                E,
                f"builder GC policy {i} has no keepStorage; Engine {ctx.engine.short} parses it "
                f"when it starts and {START} (invalid size: ''). Set keepStorage, e.g. \"10GB\"",
                "builder",
                "gc",
                "policy",
                i,
            )


@check
def api_cors_header(ctx: RuleContext) -> Iterator[Finding]:
    # 28.x still knows the key (29.0 does not) but refuses any non-empty value
    if ctx.get("api-cors-header") and ctx.has("api-cors-header") and ctx.at_least("28.0"):
        yield find(
            ENGINE_VERSION,
            E,
            '"api-cors-header" was removed in Engine 28.0; it refuses to start with a value '
            "(DEPRECATED: ... use a reverse proxy if you need CORS headers). Remove it and put "
            "a reverse proxy in front of the API if you need CORS",
            "api-cors-header",
        )


def _nested_extras(model: object, loc: Loc) -> Iterator[tuple[Loc, str]]:
    if isinstance(model, _Nested):
        for extra in model.model_extra or {}:
            yield (*loc, extra), extra
        for name, info in type(model).model_fields.items():
            yield from _nested_extras(getattr(model, name), (*loc, info.alias or name))
    elif isinstance(model, dict):
        for key, child in model.items():
            yield from _nested_extras(child, (*loc, key))
    elif isinstance(model, list):
        for index, child in enumerate(model):
            yield from _nested_extras(child, (*loc, index))


_BUILDER_28 = {
    "defaultReservedSpace",
    "defaultMaxUsedSpace",
    "defaultMinFreeSpace",
    "reservedSpace",
    "maxUsedSpace",
    "minFreeSpace",
}


@check
def ignored_nested_fields(ctx: RuleContext) -> Iterator[Finding]:
    """dockerd silently ignores unknown fields inside nested objects."""
    for key in ("default-ulimits", "runtimes", "default-address-pools", "builder"):
        if not ctx.has(key):
            continue
        value = getattr(ctx.cfg, key.replace("-", "_"))
        for loc, _name in _nested_extras(value, (key,)):
            yield find(
                IGNORED_KEY,
                W,
                f'"{format_loc(loc)}" is not a field dockerd knows here; it ignores it '
                "(nested field names are matched case-insensitively, and unknown ones "
                "are dropped). Check the spelling or remove it",
                *loc,
            )
    if ctx.has("builder") and ctx.engine < v("28.0"):
        gc = ctx.cfg.builder.gc if ctx.cfg.builder else None
        if gc is not None:
            for name in sorted(_BUILDER_28 & set(gc.set_aliases())):
                yield find(
                    IGNORED_KEY,
                    W,
                    f'"builder.gc.{name}" was added in Engine 28.0; Engine '
                    f"{ctx.engine.short} ignores it (use defaultKeepStorage / "
                    "keepStorage)",
                    "builder",
                    "gc",
                    name,
                )
            for i, policy in enumerate(gc.policy or []):
                for name in sorted(_BUILDER_28 & set(policy.set_aliases())):
                    yield find(
                        IGNORED_KEY,
                        W,
                        f'"builder.gc.policy[{i}].{name}" was added in Engine 28.0; '
                        f"Engine {ctx.engine.short} ignores it (use keepStorage)",
                        "builder",
                        "gc",
                        "policy",
                        i,
                        name,
                    )


# ---------------------------------------------------------------------------
# values dockerd checks when it loads the file


def _enum(
    ctx: RuleContext, key: str, allowed: Iterable[str], *, fold: bool, extra: str = ""
) -> Iterator[Finding]:
    value = ctx.get(key)
    if not ctx.has(key) or value == "":
        return
    options = list(allowed)
    probe = value.lower() if fold else value
    if probe not in options:
        near = [o for o in options if o.startswith(probe[:3].lower())]
        hint = f' Did you mean "{near[0]}"?' if near else ""
        yield find(
            INVALID_VALUE,
            E,
            f'"{key}" must be one of {", ".join(options)}, not "{value}"{extra}; {START}.{hint}',
            key,
        )


@check
def enumerations(ctx: RuleContext) -> Iterator[Finding]:
    yield from _enum(
        ctx,
        "log-level",
        LOG_LEVELS,
        fold=True,
        extra=' ("warning" is not accepted, write "warn")'
        if str(ctx.get("log-level") or "").lower() == "warning"
        else "",
    )
    yield from _enum(ctx, "log-format", ("text", "json"), fold=False)
    yield from _enum(ctx, "default-ipc-mode", IPC_MODES, fold=False)
    yield from _enum(ctx, "default-cgroupns-mode", CGROUPNS_MODES, fold=False)
    if ctx.at_least("29.0"):
        yield from _enum(ctx, "firewall-backend", ("iptables", "nftables"), fold=False)


@check
def non_negative(ctx: RuleContext) -> Iterator[Finding]:
    for key, what in (
        ("mtu", "MTU"),
        ("max-concurrent-downloads", "max concurrent downloads"),
        ("max-concurrent-uploads", "max concurrent uploads"),
        ("max-download-attempts", "max download attempts"),
    ):
        value = ctx.get(key)
        if ctx.has(key) and value < 0:
            yield find(
                INVALID_VALUE,
                E,
                f'"{key}" must be 0 or more, not {value} (dockerd: invalid {what}); '
                f"{START}. 0 means the default",
                key,
            )
    port = ctx.get("network-diagnostic-port")
    if ctx.has("network-diagnostic-port") and not 0 <= port <= 65535:
        sev = E if ctx.at_least("28.0") else W
        yield find(
            INVALID_VALUE,
            sev,
            f'"network-diagnostic-port" must be 0 to 65535, not {port}; '
            + (START if sev is E else "the diagnostic server cannot listen"),
            "network-diagnostic-port",
        )


@check
def label_conflicts(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.has("labels"):
        return
    seen: dict[str, tuple[str, int]] = {}
    for i, label in enumerate(ctx.cfg.labels or []):
        key, _, value = label.partition("=")
        if key in seen and seen[key][0] != value:
            yield find(
                INVALID_VALUE,
                E,
                f'labels "{key}={seen[key][0]}" and "{label}" give one key two values '
                f"(dockerd: conflict labels); {START}. Keep one",
                "labels",
                i,
            )
        seen.setdefault(key, (value, i))


_EXEC_OPT_KEYS = {"native.cgroupdriver"}


def cgroup_driver(cfg: DaemonConfig) -> str | None:
    """The cgroup driver exec-opts select (None: dockerd's default)."""
    for opt in cfg.exec_opts or []:
        key, sep, value = opt.partition("=")
        if sep and key.strip().lower() == "native.cgroupdriver":
            return value.strip()
    return None


def _exec_opt_problem(opt: str) -> str | None:
    """Why Engine 28's --validate refuses an exec-opts entry, or None."""
    key, sep, value = opt.partition("=")
    key, value = key.strip().lower(), value.strip()
    if not sep or not key or not value:
        return "must be formatted opt=value"
    if key == "isolation":
        return "option 'isolation' is only supported on Windows"
    if key not in _EXEC_OPT_KEYS:
        return f"unknown option '{key}' (Linux only knows native.cgroupdriver)"
    return None


@check
def exec_opts(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.has("exec-opts"):
        return
    strict = ctx.at_least("28.0")
    driver_checked = False
    for i, opt in enumerate(ctx.cfg.exec_opts or []):
        problem = _exec_opt_problem(opt)
        if problem and strict:
            yield find(INVALID_VALUE, E, f'exec-opts "{opt}": {problem}; {START}', "exec-opts", i)
            continue
        if problem:
            yield find(
                IGNORED_KEY,
                W,
                f'exec-opts "{opt}" {problem}: Engine {ctx.engine.short} ignores it, and 28.0 '
                "refuses to start with it. Remove it",
                "exec-opts",
                i,
            )
            continue
        key, _, value = opt.partition("=")
        if key.strip().lower() != "native.cgroupdriver" or (driver_checked and not strict):
            continue
        driver_checked = True
        value = value.strip()
        if value == "none":
            yield find(
                INVALID_VALUE,
                E,
                "native.cgroupdriver=none is internally used and cannot be specified manually; "
                f"{START}. Use cgroupfs or systemd",
                "exec-opts",
                i,
            )
        elif value not in ("", "cgroupfs", "systemd"):
            yield find(
                INVALID_VALUE,
                E,
                f'exec-opts "{opt}": the cgroup driver must be cgroupfs or systemd (lower case); '
                f"{START} (native.cgroupdriver option {value} not supported)",
                "exec-opts",
                i,
            )


@check
def node_generic_resources(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.has("node-generic-resources"):
        return
    for i, term in enumerate(ctx.cfg.node_generic_resources or []):
        key, sep, value = term.partition("=")
        if not sep or not key.strip() or not value.strip():
            yield find(
                INVALID_VALUE,
                E,
                f'node-generic-resources entry "{term}" must be NAME=VALUE (e.g. '
                f"gpu=2 or gpu=UUID1); {START} (could not parse GenericResource)",
                "node-generic-resources",
                i,
            )
        elif value.strip().lstrip("-").isdigit() and int(value) < 0:
            yield find(
                INVALID_VALUE,
                E,
                f'node-generic-resources entry "{term}" asks for a negative amount; {START} '
                "(cannot ask for negative resource)",
                "node-generic-resources",
                i,
            )


@check
def userland_proxy_path(ctx: RuleContext) -> Iterator[Finding]:
    path = ctx.get("userland-proxy-path")
    if not ctx.has("userland-proxy-path") or path == "" or ctx.get("userland-proxy") is False:
        return
    if not path.startswith("/"):
        yield find(
            INVALID_VALUE,
            E,
            f'"userland-proxy-path" must be an absolute path, not "{path}"; {START} '
            "(invalid userland-proxy-path)",
            "userland-proxy-path",
        )


@check
def tls_files(ctx: RuleContext) -> Iterator[Finding]:
    # the mere presence of tlsverify (even false) turns TLS on, also when it is
    # written inside an object dockerd flattens (an unknown key, or proxies)
    nested = [
        k
        for k, val in ctx.raw.items()
        if isinstance(val, dict) and k not in FLAT_OPTIONS and "tlsverify" in val
    ]
    tls_on = ctx.get("tls") is True or ctx.has("tlsverify") or bool(nested)
    if not tls_on:
        return
    missing = [k for k in ("tlscert", "tlskey") if not ctx.get(k)]
    if missing:
        key = "tlsverify" if ctx.has("tlsverify") else (nested[0] if nested else "tls")
        yield find(
            INVALID_VALUE,
            E,
            f'TLS is enabled (by "{key}") but {" and ".join(missing)} '
            f"{'is' if len(missing) == 1 else 'are'} not set; dockerd would look for "
            "~/.docker/cert.pem and key.pem of the user it runs as and, without them, "
            f"{START} (could not load X509 key pair). Set tlscert and tlskey to the "
            "server certificate and key",
            key,
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


# ---------------------------------------------------------------------------
# networking checked at daemon start


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
            yield find(
                ADDRESS,
                E,
                f'"fixed-cidr" {fixed} is not inside the bridge network {bnet} of "bip"; {START}',
                "fixed-cidr",
            )
    for key, family in (("default-gateway", 4), ("default-gateway-v6", 6)):
        value = ctx.get(key)
        if ctx.has(key) and value and ip_version(value) not in (None, family):
            yield find(
                ADDRESS, E, f'"{key}" must be an IPv{family} address, not "{value}"; {START}', key
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


# ---------------------------------------------------------------------------
# runtimes


def _shim_name(name: str) -> bool:
    """containerd's shim.BinaryName accepts any name with a dot and a non-empty
    first part (io.containerd.kata.v2, but also foo.bar); no paths."""
    head, dot, _ = name.partition(".")
    return bool(dot and head and "/" not in name)


STOCK_RUNTIMES = ("runc", "io.containerd.runc.v2")


@check
def runtimes(ctx: RuleContext) -> Iterator[Finding]:
    defined: set[str] = set()
    if ctx.has("runtimes"):
        for name, rt in (ctx.cfg.runtimes or {}).items():
            loc = ("runtimes", name)
            defined.add(name)
            if name == "runc":
                yield find(
                    RUNTIMES,
                    E,
                    f"the runtime name 'runc' is reserved; {START}. Give it another name "
                    "(runc is always available)",
                    *loc,
                )
                continue
            if rt is None or (not rt.path and not rt.runtime_type):
                yield find(
                    RUNTIMES,
                    E,
                    f'runtime "{name}" needs either "path" (an OCI runtime binary) or '
                    f'"runtimeType" (a containerd shim); {START}',
                    *loc,
                )
                continue
            if rt.path and rt.runtime_type:
                yield find(
                    RUNTIMES,
                    E,
                    f'runtime "{name}" sets both "path" and "runtimeType"; {START}. Keep one',
                    *loc,
                )
            elif rt.path and rt.options:
                yield find(
                    RUNTIMES,
                    E,
                    f'runtime "{name}": "options" go with runtimeType, not with path; '
                    f'{START}. Use "runtimeArgs" for a path runtime',
                    *loc,
                    "options",
                )
            elif rt.runtime_type and rt.runtime_args:
                yield find(
                    RUNTIMES,
                    E,
                    f'runtime "{name}": "runtimeArgs" go with path, not with '
                    f'runtimeType; {START}. Use "options" for a shim',
                    *loc,
                    "runtimeArgs",
                )
    default = ctx.get("default-runtime")
    if (
        ctx.has("default-runtime")
        and default
        and "runtimes" not in ctx.invalid
        and default not in defined
        and default not in STOCK_RUNTIMES
        and not _shim_name(default)
    ):
        names = ", ".join(sorted(defined | set(STOCK_RUNTIMES)))
        yield find(
            RUNTIMES,
            E,
            f"default-runtime '{default}' is not defined (dockerd: specified default "
            f"runtime '{default}' does not exist); {START}. Define it in "
            f'"runtimes" or use one of: {names}',
            "default-runtime",
        )


# ---------------------------------------------------------------------------
# ulimits

ULIMIT_NAMES = (
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
)


@check
def ulimits(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.has("default-ulimits"):
        return
    for key, ul in (ctx.cfg.default_ulimits or {}).items():
        loc = ("default-ulimits", key)
        if ul is None:
            yield find(ULIMITS, E, f'default ulimit "{key}" is null; {EVERY_CONTAINER}', *loc)
            continue
        name = ul.name if ul.name is not None else ""
        if name not in ULIMIT_NAMES:
            shown = f'"{name}"' if name else "missing"
            yield find(
                ULIMITS,
                E,
                f'default ulimit "{key}": Name is {shown}, not a ulimit type ('
                f"{', '.join(ULIMIT_NAMES)}); dockerd does not check it when it loads "
                f"the file, and then {EVERY_CONTAINER} (invalid ulimit type)",
                *loc,
            )
        elif name != key:
            yield find(
                ULIMITS,
                W,
                f'default ulimit "{key}" sets Name "{name}": dockerd applies it as '
                f'{name} (the map key only names the entry). Use "{name}" as the key '
                "too",
                *loc,
            )
        if ul.soft is not None and ul.hard is not None and ul.soft > ul.hard and ul.hard >= 0:
            yield find(
                ULIMITS,
                E,
                f'default ulimit "{key}": Soft {ul.soft} is above Hard {ul.hard}; '
                f"{EVERY_CONTAINER} (ulimit soft limit must be less than or equal to "
                "hard limit)",
                *loc,
            )


# ---------------------------------------------------------------------------
# storage


STORAGE_DRIVERS = ("overlay2", "fuse-overlayfs", "btrfs", "zfs", "vfs")
REMOVED_STORAGE = {"aufs": v("24.0"), "overlay": v("24.0"), "devicemapper": v("25.0")}
STORAGE_OPTS = {
    "overlay2": ("overlay2.size",),
    "btrfs": ("btrfs.min_space",),
    "zfs": ("zfs.fsname",),
    "vfs": ("size", "vfs.xattrs"),
}


@check
def storage(ctx: RuleContext) -> Iterator[Finding]:
    driver = ctx.get("storage-driver") if ctx.has("storage-driver") else ""
    snapshotter = bool((ctx.cfg.features or {}).get("containerd-snapshotter"))
    if driver and not snapshotter:
        removed = REMOVED_STORAGE.get(driver)
        if removed is not None and ctx.engine >= removed:
            yield find(
                STORAGE,
                E,
                f'storage driver "{driver}" was removed in Engine {removed.short}; '
                f"{START}. Use overlay2 (migrating images means re-pulling them)",
                "storage-driver",
            )
        elif removed is not None:
            yield find(
                DEPRECATED,
                W,
                f'storage driver "{driver}" is deprecated and removed in Engine '
                f"{removed.short}; move to overlay2",
                "storage-driver",
            )
        elif driver not in STORAGE_DRIVERS:
            yield find(
                STORAGE,
                E,
                f'"{driver}" is not a storage driver (dockerd: driver not supported); '
                f"{START}. Use one of {', '.join(STORAGE_DRIVERS)}",
                "storage-driver",
            )
    if not ctx.has("storage-opts") or snapshotter:
        return
    known = STORAGE_OPTS.get(driver, ()) if driver else None
    for i, opt in enumerate(ctx.cfg.storage_opts or []):
        key, sep, _ = opt.partition("=")
        key = key.strip()
        if not sep:
            yield find(
                STORAGE,
                E,
                f'storage-opts entry "{opt}" must be key=value; {START} (unable to parse '
                "storage-opt key/value)",
                "storage-opts",
                i,
            )
            continue
        lookup = key if driver == "vfs" else key.lower()
        if key.lower() == "overlay2.override_kernel_check":
            yield find(
                STORAGE,
                E,
                f'"{key}" was removed in Engine 24.0 (overlay2: unknown option); '
                f"{START}. Remove it",
                "storage-opts",
                i,
            )
        elif known is not None and driver != "fuse-overlayfs" and lookup not in known:
            yield find(
                STORAGE,
                E,
                f'storage option "{key}" is unknown to the {driver} driver; {START}. '
                f"It knows: {', '.join(known) or 'no options'}",
                "storage-opts",
                i,
            )
        elif known is None and not any(lookup in opts for opts in STORAGE_OPTS.values()):
            yield find(
                STORAGE,
                E,
                f'storage option "{key}" is unknown to every storage driver; dockerd '
                f"refuses to start with whichever driver it picks",
                "storage-opts",
                i,
            )


# ---------------------------------------------------------------------------
# logging


def _bool_text(text: str) -> bool | None:
    """Go's strconv.ParseBool."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


@check
def logging(ctx: RuleContext) -> Iterator[Finding]:
    if "log-driver" in ctx.invalid or "log-opts" in ctx.invalid:
        return
    driver_name = ctx.get("log-driver") or "json-file"
    opts: dict[str, str] = dict(ctx.cfg.log_opts or {})
    when = START if opts else EVERY_CONTAINER
    if driver_name in ld.WINDOWS_ONLY_DRIVERS:
        yield find(
            LOGGING, E, f'log driver "{driver_name}" exists only on Windows; {when}', "log-driver"
        )
        return
    driver = ld.DRIVERS.get(driver_name)
    if driver is None:
        if ld.is_plugin_name(driver_name):
            yield find(
                LOGGING,
                INFO,
                f'log driver "{driver_name}" is a logging plugin: it must be installed '
                "and enabled on every host before dockerd starts, or " + when,
                "log-driver",
            )
        else:
            removed = ld.REMOVED_DRIVERS.get(driver_name)
            gone = f" (removed in Engine {removed.short})" if removed else ""
            yield find(
                LOGGING,
                E,
                f'"{driver_name}" is not a log driver{gone}; {when} (plugin '
                f'"{driver_name}" not found). Use one of '
                f"{', '.join(sorted(ld.DRIVERS))}, or a plugin's full name "
                "(repo/name:tag)",
                "log-driver",
            )
        yield from _generic_log_opts(opts, when)
        return
    if driver.name == "none":
        if opts:
            yield find(
                NO_EFFECT,
                W,
                'log-opts have no effect with log-driver "none" (no logs are kept); remove them',
                "log-opts",
            )
        return
    yield from _generic_log_opts(opts, when)
    for key in opts:
        if not driver.accepts(key, ctx.engine):
            yield find(
                LOGGING,
                E,
                f"log option '{key}' is unknown to the {driver.name} log driver; {when} "
                f"(unknown log opt). It knows: "
                f"{', '.join(sorted(driver.opts))}",
                "log-opts",
                key,
            )
    for key in driver.required:
        if key not in opts:
            yield find(
                LOGGING,
                E,
                f'the {driver.name} log driver needs "{key}" in log-opts; {EVERY_CONTAINER}',
                "log-opts",
            )
    if driver.name == "json-file":
        yield from _json_file_rotation(opts)
    elif driver.name == "local":
        yield from _local_rotation(opts)
    elif driver.name == "syslog":
        yield from _syslog_opts(opts, when)
    elif driver.name == "gelf":
        yield from _gelf_opts(opts, when)
    elif driver.name == "fluentd":
        yield from _fluentd_opts(opts, when)
    elif driver.name == "awslogs":
        yield from _awslogs_opts(opts, when)


def _generic_log_opts(opts: dict[str, str], when: str) -> Iterator[Finding]:
    mode = opts.get("mode", "")
    if mode not in ld.LOG_MODES:
        yield find(
            LOGGING,
            E,
            f'log option mode must be "blocking" or "non-blocking", not "{mode}"; {when}',
            "log-opts",
            "mode",
        )
    if "max-buffer-size" in opts:
        if mode != "non-blocking":
            yield find(
                LOGGING,
                E,
                f"log option max-buffer-size only works with mode=non-blocking; {when}",
                "log-opts",
                "max-buffer-size",
            )
        elif parse_size(opts["max-buffer-size"]) is None:
            yield find(
                LOGGING,
                E,
                f'log option max-buffer-size "{opts["max-buffer-size"]}" is not a size; {when}',
                "log-opts",
                "max-buffer-size",
            )
    cache_disabled = opts.get("cache-disabled", "")
    if cache_disabled and _bool_text(cache_disabled) is None:
        yield find(
            LOGGING,
            E,
            f'log option cache-disabled must be true or false, not "{cache_disabled}"; {when}',
            "log-opts",
            "cache-disabled",
        )


def _json_file_rotation(opts: dict[str, str]) -> Iterator[Finding]:
    size_text, file_text, compress = (
        opts.get("max-size"),
        opts.get("max-file"),
        opts.get("compress"),
    )
    size = parse_size(size_text, binary=False) if size_text is not None else None
    if size_text is not None and (size is None or size <= 0):
        yield find(
            LOGGING,
            E,
            f'log option max-size "{size_text}" must be a positive size such as 10m or '
            f"1g; {EVERY_CONTAINER} (start)",
            "log-opts",
            "max-size",
        )
    files: int | None = None
    if file_text is not None:
        if not re.fullmatch(r"[+-]?\d+", file_text):
            yield find(
                LOGGING,
                E,
                f'log option max-file "{file_text}" must be a whole number (as a JSON '
                f'string, e.g. "5"); {EVERY_CONTAINER} (start)',
                "log-opts",
                "max-file",
            )
        else:
            files = int(file_text)
            if files < 1:
                yield find(
                    LOGGING,
                    E,
                    f"log option max-file must be at least 1, not {files}; "
                    f"{EVERY_CONTAINER} (start)",
                    "log-opts",
                    "max-file",
                )
            elif size_text is None:
                yield find(
                    NO_EFFECT,
                    W,
                    "log option max-file has no effect without max-size: json-file "
                    "never rotates, so the log grows without limit. Add max-size "
                    '(e.g. "50m")',
                    "log-opts",
                    "max-file",
                )
    if compress is not None:
        flag = _bool_text(compress)
        if flag is None:
            yield find(
                LOGGING,
                E,
                f'log option compress must be "true" or "false", not "{compress}"; '
                f"{EVERY_CONTAINER} (start)",
                "log-opts",
                "compress",
            )
        elif flag and (size_text is None or (files is not None and files < 2) or file_text is None):
            yield find(
                LOGGING,
                E,
                "log option compress=true needs rotation: max-size set and max-file of "
                f"2 or more (compress cannot be true when max-file is less than 2 or "
                f"max-size is not set); {EVERY_CONTAINER} (start)",
                "log-opts",
                "compress",
            )


def _local_rotation(opts: dict[str, str]) -> Iterator[Finding]:
    size_text, file_text, compress = (
        opts.get("max-size"),
        opts.get("max-file"),
        opts.get("compress"),
    )
    if size_text is not None and parse_size(size_text) is None:
        yield find(
            LOGGING,
            E,
            f'log option max-size "{size_text}" is not a size; {EVERY_CONTAINER} (start)',
            "log-opts",
            "max-size",
        )
    files: int | None = None
    if file_text is not None:
        if not re.fullmatch(r"[+-]?\d+", file_text) or int(file_text) < 0:
            yield find(
                LOGGING,
                E,
                f'log option max-file "{file_text}" must be a whole number of 0 or more; '
                f"{EVERY_CONTAINER} (start)",
                "log-opts",
                "max-file",
            )
        else:
            files = int(file_text)
    compressed = True if compress is None else _bool_text(compress)
    if compress is not None and compressed is None:
        yield find(
            LOGGING,
            E,
            f'log option compress must be "true" or "false", not "{compress}"; '
            f"{EVERY_CONTAINER} (start)",
            "log-opts",
            "compress",
        )
    elif compressed and files is not None and files <= 1:
        yield find(
            LOGGING,
            E,
            f"the local log driver compresses by default, and compression cannot be "
            f"enabled when max-file is {files}; {EVERY_CONTAINER} (start). Set "
            'max-file to 2 or more, or compress to "false"',
            "log-opts",
            "max-file",
        )


def _syslog_opts(opts: dict[str, str], when: str) -> Iterator[Finding]:
    address = opts.get("syslog-address", "")
    if address:
        scheme, sep, rest = address.partition("://")
        if not sep or scheme not in ld.SYSLOG_SCHEMES:
            yield find(
                LOGGING,
                E,
                f'syslog-address "{address}" needs a scheme: '
                f"{', '.join(s + '://' for s in ld.SYSLOG_SCHEMES)}; {when}",
                "log-opts",
                "syslog-address",
            )
        elif scheme in ("tcp", "udp", "tcp+tls"):
            hp = split_host_port(rest) if ":" in rest else (rest, "514")
            if hp is None or (hp[1] and port_problem(hp[1])):
                yield find(
                    LOGGING,
                    E,
                    f'syslog-address "{address}" has a bad host:port; {when}',
                    "log-opts",
                    "syslog-address",
                )
    facility = opts.get("syslog-facility", "")
    if (
        facility
        and facility not in ld.SYSLOG_FACILITIES
        and not (facility.isdigit() and 0 <= int(facility) <= 23)
    ):
        yield find(
            LOGGING,
            E,
            f'syslog-facility "{facility}" is not a syslog facility; {when}',
            "log-opts",
            "syslog-facility",
        )
    fmt = opts.get("syslog-format", "")
    if fmt not in ld.SYSLOG_FORMATS:
        yield find(
            LOGGING,
            E,
            f'syslog-format must be rfc3164, rfc5424 or rfc5424micro, not "{fmt}"; {when}',
            "log-opts",
            "syslog-format",
        )


def _gelf_opts(opts: dict[str, str], when: str) -> Iterator[Finding]:
    address = opts.get("gelf-address")
    if address is None:
        return  # the required-option check reports it
    scheme, sep, rest = address.partition("://")
    hp = split_host_port(rest) if sep else None
    if scheme not in ("udp", "tcp") or hp is None or not hp[1] or port_problem(hp[1]):
        yield find(
            LOGGING,
            E,
            f'gelf-address "{address}" must be udp://host:port or tcp://host:port; {when}',
            "log-opts",
            "gelf-address",
        )
        return
    for key in ("gelf-compression-level", "gelf-compression-type"):
        if key in opts and scheme != "udp":
            yield find(
                LOGGING, E, f"{key} only works with a udp:// gelf-address; {when}", "log-opts", key
            )
    for key in ("gelf-tcp-max-reconnect", "gelf-tcp-reconnect-delay"):
        if key in opts and scheme != "tcp":
            yield find(
                LOGGING, E, f"{key} only works with a tcp:// gelf-address; {when}", "log-opts", key
            )
        elif key in opts and not opts[key].isdigit():
            yield find(
                LOGGING, E, f"{key} must be a whole number of 0 or more; {when}", "log-opts", key
            )
    level = opts.get("gelf-compression-level")
    if level is not None and not re.fullmatch(r"-1|[0-9]", level):
        yield find(
            LOGGING,
            E,
            f'gelf-compression-level must be -1 to 9, not "{level}"; {when}',
            "log-opts",
            "gelf-compression-level",
        )
    kind = opts.get("gelf-compression-type")
    if kind is not None and kind not in ("gzip", "zlib", "none"):
        yield find(
            LOGGING,
            E,
            f'gelf-compression-type must be gzip, zlib or none, not "{kind}"; {when}',
            "log-opts",
            "gelf-compression-type",
        )


def _fluentd_opts(opts: dict[str, str], when: str) -> Iterator[Finding]:
    address = opts.get("fluentd-address", "")
    if address:
        target = address if "://" in address else f"tcp://{address}"
        scheme, _, rest = target.partition("://")
        if scheme not in ("tcp", "tls", "unix"):
            yield find(
                LOGGING,
                E,
                f'fluentd-address "{address}": unsupported scheme "{scheme}" (use tcp, '
                f"tls or unix); {when}",
                "log-opts",
                "fluentd-address",
            )
        elif scheme == "unix" and not rest:
            yield find(
                LOGGING,
                E,
                f'fluentd-address "{address}" has an empty socket path; {when}',
                "log-opts",
                "fluentd-address",
            )
        elif scheme != "unix":
            host, _, path = rest.partition("/")
            hp = split_host_port(host) if ":" in host else (host, "24224")
            if path:
                yield find(
                    LOGGING,
                    E,
                    f'fluentd-address "{address}" must not contain a path; {when}',
                    "log-opts",
                    "fluentd-address",
                )
            elif hp is None or (hp[1] and port_problem(hp[1])):
                yield find(
                    LOGGING,
                    E,
                    f'fluentd-address "{address}" has a bad port; {when}',
                    "log-opts",
                    "fluentd-address",
                )
    for key in (
        "fluentd-async",
        "fluentd-sub-second-precision",
        "fluentd-request-ack",
        "fluentd-async-connect",
    ):
        if key in opts and _bool_text(opts[key]) is None:
            yield find(
                LOGGING,
                E,
                f'{key} must be true or false, not "{opts[key]}"; {when}',
                "log-opts",
                key,
            )
    if "fluentd-async" in opts and "fluentd-async-connect" in opts:
        yield find(
            LOGGING,
            E,
            f"fluentd-async and fluentd-async-connect cannot both be set; {when}",
            "log-opts",
            "fluentd-async-connect",
        )
    if "fluentd-buffer-limit" in opts and parse_size(opts["fluentd-buffer-limit"]) is None:
        yield find(
            LOGGING,
            E,
            f"fluentd-buffer-limit must be a size; {when}",
            "log-opts",
            "fluentd-buffer-limit",
        )
    if "fluentd-max-retries" in opts and not opts["fluentd-max-retries"].isdigit():
        yield find(
            LOGGING,
            E,
            f"fluentd-max-retries must be a whole number; {when}",
            "log-opts",
            "fluentd-max-retries",
        )


def _awslogs_opts(opts: dict[str, str], when: str) -> Iterator[Finding]:
    if "awslogs-create-group" in opts and _bool_text(opts["awslogs-create-group"]) is None:
        yield find(
            LOGGING,
            E,
            f"awslogs-create-group must be true or false; {when}",
            "log-opts",
            "awslogs-create-group",
        )
    for key in ("awslogs-force-flush-interval-seconds", "awslogs-max-buffered-events"):
        if key in opts and not (opts[key].isdigit() and int(opts[key]) > 0):
            yield find(
                LOGGING, E, f"{key} must be a positive whole number; {when}", "log-opts", key
            )
    if "awslogs-datetime-format" in opts and "awslogs-multiline-pattern" in opts:
        yield find(
            LOGGING,
            E,
            "awslogs-datetime-format and awslogs-multiline-pattern cannot both be set; " + when,
            "log-opts",
            "awslogs-multiline-pattern",
        )
    fmt = opts.get("awslogs-format")
    if fmt is not None and fmt != "json/emf":
        yield find(
            LOGGING,
            E,
            f'awslogs-format must be "json/emf", not "{fmt}"; {when}',
            "log-opts",
            "awslogs-format",
        )


# ---------------------------------------------------------------------------
# registries and proxies


@check
def registry_mirrors(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.has("registry-mirrors"):
        return
    for i, mirror in enumerate(ctx.cfg.registry_mirrors or []):
        shown = mask_url_credentials(mirror)
        problem = url_problem(mirror, schemes=("http", "https"))
        if problem:
            yield find(
                REGISTRY,
                E,
                f"registry mirror {mask_url_credentials(problem)}; {START} (invalid "
                "mirror). Write it as https://host[:port]",
                "registry-mirrors",
                i,
            )
            continue
        parts = urlsplit(mirror)
        if parts.username is not None or parts.password is not None:
            yield find(
                REGISTRY,
                E,
                f'registry mirror "{shown}" contains credentials (username/password not '
                f"allowed in URI); {START}. Log in with `docker login` on the mirror or "
                "let the mirror authenticate upstream",
                "registry-mirrors",
                i,
            )
        if parts.query or parts.fragment or mirror.endswith(("?", "#")):
            yield find(
                REGISTRY,
                E,
                f'registry mirror "{shown}" has a query or fragment; {START}. Remove '
                "everything from ? or #",
                "registry-mirrors",
                i,
            )
        if parts.path not in ("", "/"):
            yield find(
                REGISTRY,
                INFO,
                f'registry mirror "{shown}" has a path: dockerd then requests '
                f"{parts.path.rstrip('/')}/v2/... on the mirror. Most registries "
                "(Distribution, Harbor, Nexus) serve /v2/ only at the root; keep the path "
                "only if your mirror really serves it there",
                "registry-mirrors",
                i,
            )


_DOMAIN_PORT = re.compile(
    r"^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$"
)


def insecure_registry_problem(entry: str) -> tuple[str | None, bool]:
    """(problem, had_scheme) for one insecure-registries entry, as dockerd's
    loadInsecureRegistries sees it."""
    if entry.startswith("-") or entry.endswith("-"):
        return "cannot begin or end with a hyphen", False
    value, had_scheme = entry, False
    for prefix in ("http://", "https://"):
        if value.lower().startswith(prefix):
            value, had_scheme = value[len(prefix) :], True
            break
    if "://" in value:
        return "should not contain '://'", had_scheme
    if prefix_problem(value) is None:
        return None, had_scheme
    hp = split_host_port(value)
    host, port = hp if hp is not None else (value, "")
    if not (_DOMAIN_PORT.match(value) or ip_problem(host) is None):
        return f'invalid host "{host}" (a host[:port] or a CIDR, no path)', had_scheme
    if port and (not port.isdigit() or int(port) > 65535):
        return f'invalid port "{port}"', had_scheme
    return None, had_scheme


@check
def insecure_registries(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.has("insecure-registries"):
        return
    for i, entry in enumerate(ctx.cfg.insecure_registries or []):
        problem, had_scheme = insecure_registry_problem(entry)
        if problem:
            yield find(
                REGISTRY,
                E,
                f'insecure registry "{entry}" is not valid: {problem}; {START}. Write '
                "host:port or a CIDR",
                "insecure-registries",
                i,
            )
        elif had_scheme:
            yield find(
                REGISTRY,
                W,
                f'insecure registry "{entry}": dockerd strips the scheme and warns; write '
                "it without http:// or https://",
                "insecure-registries",
                i,
            )


@check
def allow_nondistributable(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.has("allow-nondistributable-artifacts") or ctx.at_least("28.1"):
        return
    for i, entry in enumerate(ctx.cfg.allow_nondistributable_artifacts or []):
        problem, had_scheme = insecure_registry_problem(entry)
        if had_scheme:
            problem = "should not contain '://'"
        if problem:
            yield find(
                REGISTRY,
                E,
                f'allow-nondistributable-artifacts entry "{entry}" is not valid: '
                f"{problem}; {START}",
                "allow-nondistributable-artifacts",
                i,
            )


@check
def proxies(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.has("proxies") or ctx.cfg.proxies is None:
        return
    for key in ("http-proxy", "https-proxy"):
        value = getattr(ctx.cfg.proxies, key.replace("-", "_"))
        if not value:
            continue
        problem = proxy_url_problem(value)
        if problem:
            yield find(
                PROXY,
                E,
                f"proxies.{key} {mask_url_credentials(problem)}; every image pull "
                "through the proxy fails. Write http://host:port",
                "proxies",
                key,
            )


# ---------------------------------------------------------------------------
# containerd, cgroups, features


@check
def containerd_namespaces(ctx: RuleContext) -> Iterator[Finding]:
    if ctx.get("containerd-namespace") == "plugins.moby":
        yield find(
            CONFLICT,
            E,
            '"containerd-namespace" must differ from the plugins namespace '
            f'"plugins.moby" (containers namespace and plugins namespace cannot be the '
            f"same); {START}",
            "containerd-namespace",
        )


@check
def cgroup_parent(ctx: RuleContext) -> Iterator[Finding]:
    parent = ctx.get("cgroup-parent")
    if not ctx.has("cgroup-parent") or not parent or parent.endswith(".slice"):
        return
    if "exec-opts" in ctx.invalid:
        return
    if cgroup_driver(ctx.cfg) == "systemd":
        yield find(
            INVALID_VALUE,
            E,
            f'"cgroup-parent" "{parent}" must be a systemd slice ending in ".slice" with '
            f"the systemd cgroup driver; {START}",
            "cgroup-parent",
        )
    elif cgroup_driver(ctx.cfg) is None:
        yield find(
            INVALID_VALUE,
            W,
            f'"cgroup-parent" "{parent}" is not a ".slice": on hosts where dockerd uses '
            "the systemd cgroup driver (the default on cgroup v2) it refuses to start. "
            "Pin exec-opts native.cgroupdriver=cgroupfs or use a .slice",
            "cgroup-parent",
        )


@check
def cpu_rt(ctx: RuleContext) -> Iterator[Finding]:
    for key in ("cpu-rt-period", "cpu-rt-runtime"):
        if ctx.has(key) and ctx.raw[key]:
            yield find(
                INVALID_VALUE,
                W,
                f'"{key}" works only on cgroup v1 hosts; on cgroup v2 (current '
                f"distributions) {START}",
                key,
            )


KNOWN_FEATURES = ("buildkit", "containerd-snapshotter", "cdi", "windows-dns-proxy")


@check
def features(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.has("features"):
        return
    for name in ctx.cfg.features or {}:
        if name == "windows-dns-proxy":
            if ctx.engine < v("28.0"):
                yield find(
                    INVALID_VALUE,
                    E,
                    "feature option 'windows-dns-proxy' is only available on Windows; Engine "
                    f"{ctx.engine.short} {START[8:]}. Remove it",
                    "features",
                    name,
                )
            else:
                yield find(
                    NO_EFFECT,
                    W,
                    '"windows-dns-proxy" has no effect on Linux; remove it',
                    "features",
                    name,
                )
        elif name not in KNOWN_FEATURES:
            guess = difflib.get_close_matches(name, KNOWN_FEATURES, n=1, cutoff=0.6)
            yield find(
                IGNORED_KEY,
                W,
                f'"{name}" is not a feature dockerd knows; it is accepted and does nothing'
                + (f'. Did you mean "{guess[0]}"?' if guess else ""),
                "features",
                name,
            )
