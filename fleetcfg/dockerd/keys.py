"""dockerd's unknown-key check, reproduced.

dockerd does not compare daemon.json against its config struct. It flattens
every top-level object (except a few map-valued options) one level deep and
looks each resulting key up as a long command-line flag name, or the plural
name of a list/map option; a few keys are exempt. So:

* a key with no flag (``default-init``) is rejected although the struct has it;
* a flag name with no struct field (``registry-mirror``, ``containerd-plugins-
  namespace``, top-level ``http-proxy``) passes and is silently ignored;
* an unknown key whose value is an object passes when its inner keys are flag
  names (``{"foo": {"debug": true}}``), and is ignored.

This module knows the flag set of each Engine release and classifies every key.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fleetcfg.core.findings import Finding, Severity
from fleetcfg.core.jsondoc import Loc, format_loc
from fleetcfg.core.rules import ENGINE_VERSION, IGNORED_KEY, UNKNOWN_KEY, WRONG_TYPE
from fleetcfg.core.versions import EngineVersion
from fleetcfg.dockerd.base import Key, fail, v
from fleetcfg.dockerd.daemon import key_metadata

#: top-level objects dockerd does NOT flatten before the key check
FLAT_OPTIONS = frozenset(
    {
        "cluster-store-opts",
        "default-network-opts",
        "log-opts",
        "runtimes",
        "default-ulimits",
        "features",
        "builder",
    }
)

_ALWAYS = (None, None)

#: Long flag names (and option names) that pass dockerd's key check without
#: being a daemon.json field: (first release that has it, first that does not).
#: The flag spellings of list/map options are the common trap.
IGNORED_FLAGS: dict[str, tuple[EngineVersion | None, EngineVersion | None]] = {
    "add-runtime": _ALWAYS,
    "authorization-plugin": _ALWAYS,
    "cdi-spec-dir": (v("25.0"), None),
    "containerd-plugins-namespace": _ALWAYS,
    "default-address-pool": _ALWAYS,
    "default-network-opt": (v("24.0"), None),
    "default-ulimit": _ALWAYS,
    "deprecated-key-path": _ALWAYS,
    "dns-opt": _ALWAYS,
    "exec-opt": _ALWAYS,
    "feature": (v("27.3"), None),
    "help": _ALWAYS,
    "host": _ALWAYS,
    "http-proxy": (v("23.0"), None),
    "https-proxy": (v("23.0"), None),
    "insecure-registry": _ALWAYS,
    "label": _ALWAYS,
    "log-opt": _ALWAYS,
    "no-proxy": (v("23.0"), None),
    "node-generic-resource": _ALWAYS,
    "registry-mirror": _ALWAYS,
    "restart": _ALWAYS,
    "storage-opt": _ALWAYS,
    "version": _ALWAYS,
    "cluster-store-opt": (None, v("24.0")),
}

#: what each ignored flag spelling should have been
IGNORED_FLAG_TARGET = {
    "add-runtime": "runtimes",
    "authorization-plugin": "authorization-plugins",
    "cdi-spec-dir": "cdi-spec-dirs",
    "containerd-plugins-namespace": "",
    "default-address-pool": "default-address-pools",
    "default-network-opt": "default-network-opts",
    "default-ulimit": "default-ulimits",
    "dns-opt": "dns-opts",
    "exec-opt": "exec-opts",
    "feature": "features",
    "host": "hosts",
    "http-proxy": "proxies.http-proxy",
    "https-proxy": "proxies.https-proxy",
    "no-proxy": "proxies.no-proxy",
    "insecure-registry": "insecure-registries",
    "label": "labels",
    "log-opt": "log-opts",
    "node-generic-resource": "node-generic-resources",
    "registry-mirror": "registry-mirrors",
    "storage-opt": "storage-opts",
    "cluster-store-opt": "cluster-store-opts",
}

#: flags that conflict with themselves: dockerd passes them on its own
#: command line, so a file value is a fatal "specified both as a flag and in
#: the configuration file" (always so for ``dockerd --validate --config-file``)
SELF_CONFLICTING = {"config-file": None, "validate": v("23.0")}

#: keys people write that dockerd rejects, with what to do instead
KNOWN_MISTAKES = {
    "default-init": 'there is no daemon.json key for it; use "init": true',
    "resolv-conf": "dockerd has no such option; it reads /etc/resolv.conf (or systemd-resolved's)",
    "containerd-plugin-namespace": (
        "not a dockerd option; the flag spelling containerd-plugins-namespace is accepted "
        "but ignored, so the plugin namespace cannot be set in daemon.json"
    ),
    "swarm-raft-heartbeat-tick": "not settable in daemon.json",
    "swarm-raft-election-tick": "not settable in daemon.json",
    "graph-driver": 'use "storage-driver"',
    "storage-options": 'use "storage-opts"',
    "log-options": 'use "log-opts"',
    "disable-legacy-registry": "removed in Engine 17.12; remove it",
}

#: fields of dockerd's config struct that have no flag (so no key check
#: passes them by name), with their Go types
HIDDEN_FIELDS = {
    "default-init": "string",
    "resolv-conf": "string",
    "containerd-plugin-namespace": "string",
    "swarm-raft-heartbeat-tick": "uint32",
    "swarm-raft-election-tick": "uint32",
}
#: daemon.json settings whose value is a JSON object
OBJECT_KEYS = frozenset(
    {
        "proxies",
        "builder",
        "log-opts",
        "default-ulimits",
        "runtimes",
        "features",
        "default-network-opts",
        "cluster-store-opts",
    }
)


def struct_field_for(name: str, engine: EngineVersion) -> str | None:
    """The setting dockerd's JSON decoder fills from ``name`` (Go matches struct
    field names case-insensitively), or None."""
    folded = name.casefold()
    for key, meta in key_metadata().items():
        if key.casefold() == folded and _in_range(engine, meta.since, meta.until):
            return key
    for key in HIDDEN_FIELDS:
        if key.casefold() == folded:
            return key
    return None


#: keys of ``proxies`` that dockerd reads
PROXY_KEYS = ("http-proxy", "https-proxy", "no-proxy")


class KeyKind(StrEnum):
    CONFIG = "config"  # a real daemon.json key
    IGNORED = "ignored"  # passes dockerd's check, never applied
    CONFLICT = "conflict"  # a flag dockerd sets itself
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """The verdict on the top-level keys of one document."""

    findings: list[Finding]
    #: top-level keys whose value must not reach typed validation
    drop: frozenset[str]
    #: keys dockerd decodes into another setting (``"Proxies"`` -> ``proxies``)
    aliases: dict[str, str]


def _in_range(
    engine: EngineVersion, since: EngineVersion | None, until: EngineVersion | None
) -> bool:
    return (since is None or engine >= since) and (until is None or engine < until)


def _known_somewhere(name: str) -> KeyKind:
    """Classification that ignores the Engine version."""
    if name in key_metadata():
        return KeyKind.CONFIG
    if name in SELF_CONFLICTING:
        return KeyKind.CONFLICT
    if name in IGNORED_FLAGS:
        return KeyKind.IGNORED
    return KeyKind.UNKNOWN


def passes_flag_check(name: str, engine: EngineVersion | None = None) -> bool:
    """Would dockerd's key check accept ``name`` (for ``engine``, or any release)?"""
    meta = key_metadata().get(name)
    if meta is not None:
        return engine is None or _in_range(engine, meta.since, meta.until)
    if name in IGNORED_FLAGS:
        return engine is None or _in_range(engine, *IGNORED_FLAGS[name])
    return name in SELF_CONFLICTING


def suggest(name: str, candidates: Iterable[str] | None = None) -> str:
    """A "did you mean" for an unknown key, or ``""``."""
    pool = sorted(candidates if candidates is not None else key_metadata())
    for candidate in pool:
        if candidate.casefold() == name.casefold():
            return candidate
    folded = name.lower().replace("_", "-")
    if folded in pool:
        return folded
    close = difflib.get_close_matches(folded, pool, n=1, cutoff=0.75)
    return close[0] if close else ""


def _unknown_message(name: str, where: str = "") -> str:
    hint = KNOWN_MISTAKES.get(name)
    base = f'"{name}" is not a dockerd option{where}; dockerd refuses to start'
    base += " (the following directives don't match any configuration option)"
    if hint:
        return f"{base}: {hint}"
    guess = suggest(name)
    if guess:
        return f'{base}. Did you mean "{guess}"?'
    return f"{base}. Remove it or fix its spelling (keys are case-sensitive)"


def _version_message(name: str, meta: Key, engine: EngineVersion) -> str:
    if meta.since is not None and engine < meta.since:
        return (
            f'"{name}" was added in Engine {meta.since.short}; Engine {engine.short} does not '
            "know it and refuses to start. Upgrade these hosts or drop the key for them"
        )
    assert meta.until is not None
    hint = f": {meta.removed_hint}" if meta.removed_hint else ""
    return (
        f'"{name}" was removed in Engine {meta.until.short}; Engine {engine.short} refuses '
        f"to start with it{hint}"
    )


def check_keys(data: Mapping[str, Any], engine: EngineVersion) -> KeyCheck:
    """Classify every top-level key (and the keys inside flattened objects)
    the way ``engine``'s dockerd does."""
    findings: list[Finding] = []
    drop: set[str] = set()
    aliases: dict[str, str] = {}
    meta_by_key = key_metadata()

    def add(rule: Any, severity: Severity, message: str, loc: Loc) -> None:
        findings.append(Finding(rule.id, severity, message, format_loc(loc), loc=loc))

    for name, value in data.items():
        loc: Loc = (name,)
        meta = meta_by_key.get(name)
        known_here = meta is not None and _in_range(engine, meta.since, meta.until)
        if meta is not None and known_here:
            if name == "proxies":
                drop.update(_check_proxies(value, engine, add))
            continue
        if meta is not None and not (isinstance(value, dict) and name not in FLAT_OPTIONS):
            add(ENGINE_VERSION, Severity.ERROR, _version_message(name, meta, engine), loc)
            drop.add(name)
            continue
        if isinstance(value, dict) and name not in FLAT_OPTIONS:
            # dockerd replaces the object by its inner keys for this check
            bad = [k for k in value if not passes_flag_check(k, engine)]
            if bad and meta is not None:
                # a key of another Engine release: say so rather than blame its keys
                add(ENGINE_VERSION, Severity.ERROR, _version_message(name, meta, engine), loc)
                drop.add(name)
                continue
            for inner in bad:
                add(
                    UNKNOWN_KEY,
                    Severity.ERROR,
                    _unknown_message(inner, f' (inside "{name}", which dockerd flattens)'),
                    (name, inner),
                )
            target = struct_field_for(name, engine)
            if bad:
                drop.add(name)
            elif target is not None and target not in OBJECT_KEYS:
                drop.add(name)
                add(
                    WRONG_TYPE,
                    Severity.ERROR,
                    f'dockerd decodes "{name}" into its "{target}" setting (setting names match '
                    "case-insensitively once the key check passed), and an object is not a valid "
                    f'value there; it refuses to start. Remove "{name}"'
                    + (
                        f' or write "{target}" with a proper value' if target in meta_by_key else ""
                    ),
                    loc,
                )
            elif target is not None:
                drop.add(name)
                aliases[name] = target
                add(
                    IGNORED_KEY,
                    Severity.WARNING,
                    f'dockerd reads "{name}" as "{target}" (setting names match '
                    f'case-insensitively here); write "{target}" so that every tool reads it',
                    loc,
                )
            else:
                drop.add(name)
                add(IGNORED_KEY, Severity.WARNING, _flattened_message(name, value, engine), loc)
            continue
        if name in SELF_CONFLICTING and _in_range(engine, SELF_CONFLICTING[name], None):
            drop.add(name)
            add(
                UNKNOWN_KEY,
                Severity.ERROR,
                f'"{name}" is dockerd\'s own command-line flag; in daemon.json it conflicts with '
                f'the --{name} flag ("specified both as a flag and in the configuration file"), '
                f"so `dockerd --validate --config-file` always fails. Remove it",
                loc,
            )
            continue
        if name in IGNORED_FLAGS and _in_range(engine, *IGNORED_FLAGS[name]):
            target = IGNORED_FLAG_TARGET.get(name)
            if name in PROXY_KEYS:
                why = f'dockerd reads proxy settings only inside "proxies"; move it to "{target}"'
            elif name == "containerd-plugins-namespace":
                why = "dockerd accepts the flag spelling but never applies it; remove it"
            elif target:
                why = f'this is the command-line flag spelling; the daemon.json key is "{target}"'
            else:
                why = "dockerd accepts it but never applies it; remove it"
            add(IGNORED_KEY, Severity.WARNING, f'"{name}" has no effect: {why}', loc)
            continue
        drop.add(name)
        if name in IGNORED_FLAGS:
            since, _ = IGNORED_FLAGS[name]
            add(
                ENGINE_VERSION,
                Severity.ERROR,
                f'"{name}" is unknown to Engine {engine.short} (it exists from '
                f"{since.short if since else '?'}), and has no effect in later releases "
                "either; remove it",
                loc,
            )
        else:
            add(UNKNOWN_KEY, Severity.ERROR, _unknown_message(name), loc)
    return KeyCheck(findings, frozenset(drop), aliases)


#: dockerd's boolean flags: they take no value on the command line, and dockerd
#: applies them even from inside a flattened object
BOOL_FLAGS = frozenset(
    {
        "debug",
        "icc",
        "iptables",
        "ip6tables",
        "ip-forward",
        "ip-forward-no-drop",
        "ip-masq",
        "ipv6",
        "live-restore",
        "userland-proxy",
        "selinux-enabled",
        "experimental",
        "init",
        "no-new-privileges",
        "raw-logs",
        "rootless",
        "cri-containerd",
        "tls",
        "tlsverify",
        "allow-direct-routing",
        "restart",
        "validate",
        "version",
        "help",
    }
)


def _flattened_message(name: str, value: Mapping[str, Any], engine: EngineVersion) -> str:
    known = key_metadata().get(name)
    if known is not None and not _in_range(engine, known.since, known.until):
        what = f'"{name}" is unknown to Engine {engine.short}; it accepts it only because'
    else:
        what = f'"{name}" is not a dockerd option; dockerd accepts it only because'
    message = f"{what} its value is an object whose keys are flag names"
    applied = sorted(k for k in value if k in BOOL_FLAGS and k in key_metadata())
    if applied:
        return (
            f"{message}, and it still applies the boolean flags inside it "
            f"({', '.join(applied)}) as if they were set on the command line, overriding the "
            "top-level keys. Move them to the top level and remove the object"
        )
    guess = suggest(name)
    return f"{message}, and ignores it entirely. It has no effect: remove it" + (
        f' (did you mean "{guess}"?)' if guess else ""
    )


def _check_proxies(value: Any, engine: EngineVersion, add: Any) -> set[str]:
    """``proxies`` is flattened too: its keys are checked as flag names."""
    if value is None or not isinstance(value, dict):
        kind = "null" if value is None else type(value).__name__
        add(
            WRONG_TYPE,
            Severity.ERROR,
            f'"proxies" must be an object with http-proxy, https-proxy and no-proxy, not {kind}; '
            "dockerd refuses to start (the following directives don't match any configuration "
            "option: proxies)",
            ("proxies",),
        )
        return {"proxies"}
    for inner in value:
        loc = ("proxies", inner)
        if inner in PROXY_KEYS:
            continue
        if passes_flag_check(inner, engine):
            add(
                IGNORED_KEY,
                Severity.WARNING,
                f'"proxies.{inner}" has no effect: dockerd reads only http-proxy, https-proxy '
                "and no-proxy inside proxies",
                loc,
            )
        else:
            guess = suggest(inner, PROXY_KEYS)
            add(
                UNKNOWN_KEY,
                Severity.ERROR,
                f'"{inner}" is not a proxies option; dockerd refuses to start. Use '
                + (f'"{guess}"' if guess else "http-proxy, https-proxy or no-proxy")
                + " (keys are case-sensitive)",
                loc,
            )
    return set()


def assert_known_keys(data: Any) -> None:
    """For ``DaemonConfig.model_validate``: raise on keys no Engine knows."""
    if not isinstance(data, Mapping):
        return
    unknown = [
        str(k)
        for k, val in data.items()
        if _known_somewhere(k) in (KeyKind.UNKNOWN, KeyKind.CONFLICT)
        and not (isinstance(val, dict) and all(passes_flag_check(i) for i in val))
    ]
    if unknown:
        raise fail("FC002", "; ".join(_unknown_message(k) for k in unknown))
