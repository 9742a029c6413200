"""JSON Schemas (draft 2020-12) generated from the models, for editors and CI.

The schema says what JSON Schema can say about a file: types, enumerations,
ranges, patterns, and dockerd's key check (a key that is no daemon.json option
is refused unless dockerd would accept it as an ignored flag name). Checks that
need several keys or the Engine version stay in ``fleetcfg lint``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from fleetcfg.dockerd.client import ClientConfig
from fleetcfg.dockerd.daemon import (
    CGROUPNS_MODES,
    IPC_MODES,
    LOG_LEVELS,
    DaemonConfig,
)
from fleetcfg.dockerd.daemon import key_metadata as _keys
from fleetcfg.dockerd.flags import IGNORED_FLAGS, SELF_CONFLICTING, flag_key
from fleetcfg.dockerd.keys import FLAT_OPTIONS, PROXY_KEYS
from fleetcfg.dockerd.reload import key_reload

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SIZE_PATTERN = r"^(\d+(\.\d+)? ?([kKmMgGtTpP]([iI]?[bB])?|[bB])?)?$"


def _case_insensitive(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


#: what JSON Schema can add to a daemon.json property ("" always means unset)
_DAEMON_EXTRA: dict[str, dict[str, Any]] = {
    "log-level": {"pattern": "^(" + "|".join(_case_insensitive(x) for x in LOG_LEVELS) + ")?$"},
    "log-format": {"enum": ["", "text", "json"]},
    "default-ipc-mode": {"enum": ["", *IPC_MODES]},
    "default-cgroupns-mode": {"enum": ["", *CGROUPNS_MODES]},
    "default-shm-size": {"pattern": SIZE_PATTERN, "minLength": 1},
    "mtu": {"minimum": 0},
    "max-concurrent-downloads": {"minimum": 0},
    "max-concurrent-uploads": {"minimum": 0},
    "max-download-attempts": {"minimum": 0},
    "network-diagnostic-port": {"minimum": 0, "maximum": 65535},
}


def _titled(schema: Any) -> None:
    """Titles are the JSON key names (not pydantic's Title Case)."""
    if isinstance(schema, dict):
        for name, prop in (schema.get("properties") or {}).items():
            if isinstance(prop, dict):
                prop["title"] = name
        for value in schema.values():
            _titled(value)
    elif isinstance(schema, list):
        for item in schema:
            _titled(item)


def _with_extra(prop: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Attach constraints to the non-null branch of ``X | None``."""
    for branch in prop.get("anyOf", []):
        if branch.get("type") not in (None, "null"):
            branch.update(extra)
            return prop
    prop.update(extra)
    return prop


def _int64_bounds(schema: Any) -> None:
    """Go decodes integers into 64-bit fields: bound every integer."""
    if isinstance(schema, dict):
        if schema.get("type") == "integer":
            schema.setdefault("minimum", -(2**63))
            schema.setdefault("maximum", 2**63 - 1)
        for value in schema.values():
            _int64_bounds(value)
    elif isinstance(schema, list):
        for item in schema:
            _int64_bounds(item)


def _model_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, mode="validation")
    _titled(schema)
    return schema


def daemon_json_schema() -> dict[str, Any]:
    schema = _model_schema(DaemonConfig)
    props: dict[str, Any] = schema["properties"]
    for key, extra in _DAEMON_EXTRA.items():
        _with_extra(props[key], extra)
    flag_names = sorted(set(_keys()) | set(IGNORED_FLAGS) | set(SELF_CONFLICTING))
    flattened = {"type": "object", "propertyNames": {"enum": flag_names}}
    for key, meta in _keys().items():
        if (meta.since or meta.until) and key not in FLAT_OPTIONS and key != "proxies":
            # an Engine that does not know the key flattens an object value
            props[key] = {"anyOf": [props[key], flattened], "title": key}
        notes = []
        if meta.since:
            notes.append(f"Engine {meta.since.short}+")
        if meta.until:
            notes.append(f"removed in Engine {meta.until.short}")
        notes.append(f"reload: {key_reload(key).value}")
        props[key]["description"] = "; ".join(notes)
        if meta.deprecated_since or meta.until:
            props[key]["deprecated"] = True
    for flag in IGNORED_FLAGS:
        target = flag_key(flag)
        props[flag] = {
            "title": flag,
            "deprecated": True,
            "description": "accepted by dockerd but has no effect"
            + (f"; use {target}" if target else ""),
            # dockerd flattens an object value: its keys must be flag names
            "anyOf": [{"not": {"type": "object"}}, flattened],
        }
    # an unknown key passes dockerd only as an object whose keys are flag names
    schema["additionalProperties"] = flattened
    _int64_bounds(schema)
    proxies = schema["$defs"]["Proxies"]
    proxies["additionalProperties"] = True
    proxies["propertyNames"] = {"enum": sorted(set(flag_names) | set(PROXY_KEYS))}
    pool = schema["$defs"]["AddressPool"]["properties"]
    _with_extra(pool["size"], {"minimum": 1, "maximum": 128})
    for name in (
        "defaultKeepStorage",
        "defaultReservedSpace",
        "defaultMaxUsedSpace",
        "defaultMinFreeSpace",
    ):
        _with_extra(schema["$defs"]["BuilderGC"]["properties"][name], {"pattern": SIZE_PATTERN})
    schema["$schema"] = DRAFT
    schema["title"] = "daemon.json"
    return schema


def client_json_schema() -> dict[str, Any]:
    schema = _model_schema(ClientConfig)
    aliases = schema["properties"]["aliases"]
    _with_extra(aliases, {"propertyNames": {"enum": ["builder"]}})
    schema["$schema"] = DRAFT
    schema["title"] = "config.json"
    return schema
