"""BuildKit's ``buildkitd.toml``: its keys, registry tables, writing and checks.

BuildKit builders (``docker buildx`` builders with the docker-container
driver, and standalone buildkitd) ignore daemon.json: its registry mirrors,
insecure registries and certs.d CAs must be repeated in buildkitd.toml, where
``[registry."docker.io"] mirrors`` take host names (``mirror.corp:5000``),
not the URLs daemon.json uses. buildkitd reads the file when it starts, so a
change means recreating the builder (``docker buildx rm --keep-state`` then
``docker buildx create --buildkitd-config``) or restarting buildkitd.

The key table follows buildkitd's configuration structure
(``cmd/buildkitd/config``); buildkitd ignores keys it does not know, so a
misspelt key is a setting silently lost.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

#: where the file lives on the host (rootful buildkitd's default)
BUILDKITD_PATH = "/etc/buildkit/buildkitd.toml"

#: a table whose keys are free (labels, registry names, options)
ANY = "*"
Leaf = None
Schema = Mapping[str, Any]

_GC: dict[str, Any] = {
    "gc": Leaf,
    "gckeepstorage": Leaf,
    "reservedSpace": Leaf,
    "maxUsedSpace": Leaf,
    "minFreeSpace": Leaf,
    "gcpolicy": [
        {
            "all": Leaf,
            "filters": Leaf,
            "keepDuration": Leaf,
            "keepBytes": Leaf,
            "reservedSpace": Leaf,
            "maxUsedSpace": Leaf,
            "minFreeSpace": Leaf,
        }
    ],
}
_NETWORK: dict[str, Any] = dict.fromkeys(
    (
        "networkMode",
        "cniConfigPath",
        "cniBinaryPath",
        "cniPoolSize",
        "bridgeName",
        "bridgeSubnet",
    )
)
_WORKER_COMMON: dict[str, Any] = {
    "enabled": Leaf,
    "labels": ANY,
    "platforms": Leaf,
    "snapshotter": Leaf,
    "rootless": Leaf,
    "apparmor-profile": Leaf,
    "selinux": Leaf,
    "max-parallelism": Leaf,
    "defaultCgroupParent": Leaf,
    **_GC,
    **_NETWORK,
}
#: every key buildkitd.toml knows: a mapping is a table, ``[mapping]`` an array
#: of tables, ``ANY`` a table with free keys, ``{ANY: ...}`` tables by name
SCHEMA: dict[str, Any] = {
    "debug": Leaf,
    "trace": Leaf,
    "root": Leaf,
    "insecure-entitlements": Leaf,
    "provenanceEnvDir": Leaf,
    "log": {"format": Leaf},
    "grpc": {
        "address": Leaf,
        "debugAddress": Leaf,
        "uid": Leaf,
        "gid": Leaf,
        "securityDescriptor": Leaf,
        "tls": {"cert": Leaf, "key": Leaf, "ca": Leaf},
    },
    "otel": {"socketPath": Leaf},
    "cdi": {"disabled": Leaf, "specDirs": Leaf, "autoAllowed": Leaf},
    "worker": {
        "oci": {
            **_WORKER_COMMON,
            "noProcessSandbox": Leaf,
            "userRemapUnsupported": Leaf,
            "binary": Leaf,
            "proxySnapshotterPath": Leaf,
            "isolateCgroups": Leaf,
            "stargzSnapshotter": ANY,
        },
        "containerd": {
            **_WORKER_COMMON,
            "address": Leaf,
            "namespace": Leaf,
            "runtime": {"name": Leaf, "path": Leaf, "options": ANY},
        },
    },
    "registry": {
        ANY: {
            "mirrors": Leaf,
            "http": Leaf,
            "insecure": Leaf,
            "ca": Leaf,
            "keypair": [{"key": Leaf, "cert": Leaf}],
            "tlsconfigdir": Leaf,
        }
    },
    "dns": {"nameservers": Leaf, "options": Leaf, "searchDomains": Leaf},
    "history": {"maxAge": Leaf, "maxEntries": Leaf},
    "frontend": {
        "dockerfile.v0": {"enabled": Leaf},
        "gateway.v0": {"enabled": Leaf, "allowedRepositories": Leaf},
    },
    "system": {"platformsCacheMaxAge": Leaf},
}


@dataclass(frozen=True, slots=True)
class TomlProblem:
    """A key buildkitd does not know, or a value of the wrong shape."""

    path: tuple[str | int, ...]
    message: str


def unknown_keys(data: Mapping[str, Any], schema: Schema = SCHEMA) -> list[TomlProblem]:
    """Keys of ``data`` that buildkitd.toml does not have (with the nearest
    known one as a suggestion), and tables written as plain values."""
    problems: list[TomlProblem] = []
    _walk(data, schema, (), problems)
    return problems


def _walk(
    data: Mapping[str, Any], schema: Schema, path: tuple[str | int, ...], out: list[TomlProblem]
) -> None:
    for key, value in data.items():
        here = (*path, key)
        if key in schema:
            sub = schema[key]
        elif ANY in schema:
            sub = schema[ANY]
        else:
            near = difflib.get_close_matches(key, [k for k in schema if k != ANY], n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            where = ".".join(str(p) for p in path) or "the top level"
            out.append(TomlProblem(here, f"buildkitd.toml has no key {key!r} in {where}{hint}"))
            continue
        if isinstance(sub, Mapping):
            if not isinstance(value, Mapping):
                out.append(TomlProblem(here, f"{_dotted(here)} must be a table"))
            else:
                _walk(value, sub, here, out)
        elif isinstance(sub, list):
            if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
                out.append(TomlProblem(here, f"{_dotted(here)} must be an array of tables"))
            else:
                for i, item in enumerate(value):
                    _walk(item, sub[0], (*here, i), out)
        elif sub == ANY and not isinstance(value, Mapping):
            out.append(TomlProblem(here, f"{_dotted(here)} must be a table"))


def _dotted(path: Iterable[str | int]) -> str:
    return ".".join(str(p) for p in path)


# --------------------------------------------------------------------------
# registry tables from daemon.json


def registry_host(entry: str) -> str | None:
    """The ``host[:port]`` buildkitd names a registry by, from a daemon.json
    mirror URL (``https://mirror.corp:5000/`` -> ``mirror.corp:5000``) or an
    insecure-registries entry; None for a CIDR or what is no address."""
    text = entry.strip()
    try:
        parts = urlsplit(text if "://" in text else f"//{text}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or (parts.path.strip("/") and "://" not in text):
        return None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{host}:{port}" if port else host


def registry_tables(
    mirrors: Iterable[str],
    insecure: Iterable[str] = (),
    cas: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, dict[str, Any]]:
    """``[registry."..."]`` tables: Docker Hub's mirrors by host name (an
    ``http://`` mirror gets ``http = true``), insecure registries (``http``
    and ``insecure``: try HTTPS without verification, then HTTP, as dockerd
    does), and the CA files of each registry (``host[:port]`` -> paths)."""
    tables: dict[str, dict[str, Any]] = {}
    hub: list[str] = []
    for url in mirrors:
        host = registry_host(url)
        if host is None or host in hub:
            continue
        hub.append(host)
        if url.strip().lower().startswith("http://"):
            tables.setdefault(host, {})["http"] = True
    for entry in insecure:
        host = registry_host(entry)
        if host is not None:
            tables.setdefault(host, {}).update(http=True, insecure=True)
    for host, paths in (cas or {}).items():
        listed = list(dict.fromkeys(paths))
        if listed:
            tables.setdefault(host, {})["ca"] = listed
    if hub:
        tables = {"docker.io": {"mirrors": hub}, **tables}
    return tables


# --------------------------------------------------------------------------
# writing TOML

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"{value!r} has no TOML form")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _table(data: Mapping[str, Any], path: tuple[str, ...], out: list[str]) -> None:
    plain = [(k, v) for k, v in data.items() if not isinstance(v, Mapping)]
    plain = [(k, v) for k, v in plain if not _is_table_array(v)]
    tables = [(k, v) for k, v in data.items() if isinstance(v, Mapping)]
    arrays = [(k, v) for k, v in data.items() if _is_table_array(v)]
    if path and (plain or not (tables or arrays)):
        out.append(f"\n[{'.'.join(_key(p) for p in path)}]")
    out.extend(f"{_key(k)} = {_value(v)}" for k, v in plain)
    for key, value in tables:
        _table(value, (*path, key), out)
    for key, items in arrays:
        for item in items:
            out.append(f"\n[[{'.'.join(_key(p) for p in (*path, key))}]]")
            out.extend(f"{_key(k)} = {_value(v)}" for k, v in item.items())


def to_toml(data: Mapping[str, Any]) -> str:
    """``data`` as TOML text (tables after the plain keys of each level),
    checked to read back as ``data``."""
    out: list[str] = ["# Written by fleetcfg: changes here are overwritten."]
    _table(data, (), out)
    text = "\n".join(out).replace("\n\n\n", "\n\n") + "\n"
    if tomllib.loads(text) != data:
        raise ValueError("the settings do not survive a TOML round trip")
    return text


def parse_toml(text: str) -> dict[str, Any]:
    """The data of a buildkitd.toml; :class:`ValueError` naming the line when
    it is not valid TOML."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not valid TOML: {exc}") from None
