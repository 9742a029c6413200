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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fleetcfg.core.findings import Finding, Severity
from fleetcfg.core.jsondoc import Loc, format_loc
from fleetcfg.core.rules import ENGINE_VERSION, IGNORED_KEY, UNKNOWN_KEY, WRONG_TYPE
from fleetcfg.core.versions import EngineVersion
from fleetcfg.dockerd.base import Key
from fleetcfg.dockerd.daemon import key_metadata
from fleetcfg.dockerd.flags import BOOL_FLAGS, IGNORED_FLAGS, SELF_CONFLICTING, flag_key
from fleetcfg.dockerd.unknown_keys import suggest, unknown_message

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


def passes_flag_check(name: str, engine: EngineVersion | None = None) -> bool:
    """Would dockerd's key check accept ``name`` (for ``engine``, or any release)?"""
    meta = key_metadata().get(name)
    if meta is not None:
        return engine is None or _in_range(engine, meta.since, meta.until)
    if name in IGNORED_FLAGS:
        return engine is None or _in_range(engine, *IGNORED_FLAGS[name])
    return name in SELF_CONFLICTING


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
                    unknown_message(
                        inner, key_metadata(), f' (inside "{name}", which dockerd flattens)'
                    ),
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
            target = flag_key(name)
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
            add(UNKNOWN_KEY, Severity.ERROR, unknown_message(name, key_metadata()), loc)
    return KeyCheck(findings, frozenset(drop), aliases)


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
    guess = suggest(name, key_metadata())
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
