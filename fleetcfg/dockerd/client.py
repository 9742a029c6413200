"""The typed model of the docker CLI's ``~/.docker/config.json``.

The CLI decodes the file with Go's encoding/json into its ConfigFile struct:
field names match case-insensitively, unknown keys are ignored (and kept when
the CLI rewrites the file), and a type error makes the CLI print a warning and
ignore the file, credentials included. ``auths`` and every credential are
secrets: the model never shows them in its repr, and fleetcfg never prints
them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import ConfigDict, Field

from fleetcfg.core.findings import Finding, Severity
from fleetcfg.core.jsondoc import format_loc
from fleetcfg.core.rules import CLIENT, CLIENT_UNKNOWN_KEY, DEPRECATED, IGNORED_KEY, PROXY, Rule
from fleetcfg.core.urlcreds import mask_url_credentials
from fleetcfg.dockerd.base import STRICT, GoStruct, Str, StrList, StrMap
from fleetcfg.dockerd.values import proxy_url_problem

#: key paths (prefixes) whose values are secrets in config.json
SECRET_PREFIXES: tuple[tuple[str, ...], ...] = (("auths",),)


class AuthConfig(GoStruct):
    """One ``auths`` entry. Never printed."""

    username: Str | None = Field(None, alias="username", repr=False)
    password: Str | None = Field(None, alias="password", repr=False)
    auth: Str | None = Field(None, alias="auth", repr=False)
    email: Str | None = Field(None, alias="email", repr=False)
    serveraddress: Str | None = Field(None, alias="serveraddress", repr=False)
    identitytoken: Str | None = Field(None, alias="identitytoken", repr=False)
    registrytoken: Str | None = Field(None, alias="registrytoken", repr=False)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        yield None, "<secret>"


class ProxyConfig(GoStruct):
    """Proxy settings the CLI injects into containers and builds."""

    http_proxy: Str | None = Field(None, alias="httpProxy")
    https_proxy: Str | None = Field(None, alias="httpsProxy")
    no_proxy: Str | None = Field(None, alias="noProxy")
    ftp_proxy: Str | None = Field(None, alias="ftpProxy")
    all_proxy: Str | None = Field(None, alias="allProxy")


_FORMAT_KEYS = (
    "psFormat",
    "imagesFormat",
    "networksFormat",
    "pluginsFormat",
    "volumesFormat",
    "statsFormat",
    "serviceInspectFormat",
    "servicesFormat",
    "tasksFormat",
    "secretFormat",
    "configFormat",
    "nodesFormat",
)


class ClientConfig(GoStruct):
    """``config.json``. Unknown keys are kept (the CLI keeps them too)."""

    model_config = ConfigDict(**STRICT, extra="allow", title="config.json")

    auths: dict[str, AuthConfig] | None = Field(None, alias="auths", repr=False)
    http_headers: StrMap | None = Field(None, alias="HttpHeaders")
    ps_format: Str | None = Field(None, alias="psFormat")
    images_format: Str | None = Field(None, alias="imagesFormat")
    networks_format: Str | None = Field(None, alias="networksFormat")
    plugins_format: Str | None = Field(None, alias="pluginsFormat")
    volumes_format: Str | None = Field(None, alias="volumesFormat")
    stats_format: Str | None = Field(None, alias="statsFormat")
    service_inspect_format: Str | None = Field(None, alias="serviceInspectFormat")
    services_format: Str | None = Field(None, alias="servicesFormat")
    tasks_format: Str | None = Field(None, alias="tasksFormat")
    secret_format: Str | None = Field(None, alias="secretFormat")
    config_format: Str | None = Field(None, alias="configFormat")
    nodes_format: Str | None = Field(None, alias="nodesFormat")
    detach_keys: Str | None = Field(None, alias="detachKeys")
    creds_store: Str | None = Field(None, alias="credsStore")
    cred_helpers: StrMap | None = Field(None, alias="credHelpers")
    prune_filters: StrList | None = Field(None, alias="pruneFilters")
    proxies: dict[str, ProxyConfig] | None = Field(None, alias="proxies")
    experimental: Str | None = Field(None, alias="experimental")
    current_context: Str | None = Field(None, alias="currentContext")
    cli_plugins_extra_dirs: StrList | None = Field(None, alias="cliPluginsExtraDirs")
    plugins: dict[str, StrMap] | None = Field(None, alias="plugins")
    aliases: StrMap | None = Field(None, alias="aliases")
    features: StrMap | None = Field(None, alias="features")

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


#: keys the CLI once knew and now ignores
_HISTORIC = {"stackOrchestrator": "removed in CLI 24.0", "kubernetes": "removed in CLI 21.x"}
_CREDENTIAL_KEYS = ("auths", "credsStore", "credHelpers")
_HELPER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_DETACH_RE = re.compile(r"^(ctrl-[a-z@\[\\\]^_]|[a-zA-Z0-9,._-])$")


def _find(rule: Rule, severity: Severity, message: str, *loc: str | int) -> Finding:
    return Finding(rule.id, severity, message, format_loc(loc), loc=tuple(loc))


def client_checks(config: ClientConfig, raw: Mapping[str, Any]) -> list[Finding]:
    """The checks that need more than a type: unknown keys, auth entries,
    proxies, aliases, helpers. ``auths`` values never appear in a message."""
    return list(_client_checks(config, raw))


def _client_checks(config: ClientConfig, raw: Mapping[str, Any]) -> Iterator[Finding]:
    for key in config.model_extra or {}:
        if key in _HISTORIC:
            yield _find(
                IGNORED_KEY,
                Severity.WARNING,
                f'"{key}" is ignored by the docker CLI ({_HISTORIC[key]}); remove it',
                key,
            )
        else:
            yield _find(
                CLIENT_UNKNOWN_KEY,
                Severity.WARNING,
                f'"{key}" is not a docker CLI setting; the CLI ignores it (and keeps it '
                "when it rewrites the file)",
                key,
            )
    if config.experimental is not None:
        yield _find(
            DEPRECATED,
            Severity.WARNING,
            '"experimental" is ignored: experimental CLI features are always on since '
            "20.10; remove it",
            "experimental",
        )
    for registry, entry in (config.auths or {}).items():
        if entry is None or not entry.auth:
            continue
        try:
            decoded = base64.b64decode(entry.auth, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            yield _find(
                CLIENT,
                Severity.ERROR,
                f'auths entry for "{registry}": "auth" is not valid base64 of '
                "user:password; docker commands fail to read the credentials "
                "(illegal base64 data). Log in again with `docker login`",
                "auths",
                registry,
            )
            continue
        user, sep, _ = decoded.partition(":")
        if not sep or not user:
            yield _find(
                CLIENT,
                Severity.ERROR,
                f'auths entry for "{registry}": "auth" does not decode to user:password '
                "(Invalid auth configuration file). Log in again with `docker login`",
                "auths",
                registry,
            )
    helpers = {"credsStore": config.creds_store} if config.creds_store else {}
    for registry, helper in (config.cred_helpers or {}).items():
        helpers[f"credHelpers.{registry}"] = helper
    for where, helper in helpers.items():
        if helper and not _HELPER_RE.match(helper):
            loc = ("credsStore",) if where == "credsStore" else ("credHelpers", where[12:])
            yield _find(
                CLIENT,
                Severity.ERROR,
                f'"{where}" is "{helper}": a credential helper is named by the suffix of '
                f"its binary docker-credential-<name> (e.g. pass, secretservice, "
                "ecr-login), not a path",
                *loc,
            )
    for host, proxy in (config.proxies or {}).items():
        if proxy is None:
            continue
        for field_name, alias in (
            ("http_proxy", "httpProxy"),
            ("https_proxy", "httpsProxy"),
            ("ftp_proxy", "ftpProxy"),
            ("all_proxy", "allProxy"),
        ):
            value = getattr(proxy, field_name)
            if not value:
                continue
            problem = proxy_url_problem(value)
            if problem:
                yield _find(
                    PROXY,
                    Severity.ERROR,
                    f"proxies.{host}.{alias} {mask_url_credentials(problem)}; containers "
                    "and builds get a broken proxy. Write http://host:port",
                    "proxies",
                    host,
                    alias,
                )
    for name, target in (config.aliases or {}).items():
        if name != "builder":
            yield _find(
                CLIENT,
                Severity.ERROR,
                f'alias "{name}" is not allowed: the docker CLI only accepts an alias for '
                '"builder" and fails every command otherwise (not allowed to alias)',
                "aliases",
                name,
            )
        elif target in ("builder", "image", "container", "build", "run"):
            yield _find(
                CLIENT,
                Severity.ERROR,
                f'aliases.builder must name a CLI plugin such as "buildx", not the builtin '
                f'"{target}"; every command fails (not allowed to alias with builtin)',
                "aliases",
                name,
            )
    if config.detach_keys:
        for part in config.detach_keys.split(","):
            if not _DETACH_RE.match(part):
                yield _find(
                    CLIENT,
                    Severity.ERROR,
                    f'detachKeys "{config.detach_keys}": "{part}" is not a key (use a '
                    "letter or ctrl-<letter>, e.g. ctrl-p,ctrl-q); `docker run -it` and "
                    "`docker attach` fail",
                    "detachKeys",
                )
                break
    hooks = (config.features or {}).get("hooks")
    if hooks is not None and hooks not in (
        "1",
        "t",
        "T",
        "TRUE",
        "true",
        "True",
        "0",
        "f",
        "F",
        "FALSE",
        "false",
        "False",
    ):
        yield _find(
            CLIENT,
            Severity.WARNING,
            f'features.hooks is "{hooks}", which the CLI reads as false; write "true" or "false"',
            "features",
            "hooks",
        )
    for key in _CREDENTIAL_KEYS:
        if key in raw and raw[key] is None:
            yield _find(CLIENT, Severity.INFO, f'"{key}" is null; the CLI treats it as unset', key)
