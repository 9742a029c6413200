"""Values dockerd checks when it loads the file (caught by ``dockerd --validate``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from fleetcfg.core.findings import Finding
from fleetcfg.core.numbers import is_digits
from fleetcfg.core.rules import (
    IGNORED_KEY,
    INVALID_VALUE,
)
from fleetcfg.dockerd.checks.context import (
    START,
    E,
    RuleContext,
    W,
    check,
    find,
)
from fleetcfg.dockerd.daemon import (
    CGROUPNS_MODES,
    IPC_MODES,
    LOG_LEVELS,
    DaemonConfig,
)
from fleetcfg.dockerd.keys import FLAT_OPTIONS


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
        elif is_digits(value.strip().lstrip("-")) and int(value) < 0:
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
