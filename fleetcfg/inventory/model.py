"""The pydantic model of ``inventory.yaml`` (shape and values only).

Why more than 500 lines: about 145 of them are this docstring, the
reference of the file format kept next to the fields it describes; the rest
is one small pydantic class per inventory section (ssh, proxy, buildkit,
service, registries, networks, rollout, secrets, lint) with its validators.
They form one schema (``fleetcfg schema inventory``), built from this module.

Layering, group membership and the cross-checks that need the whole file
(cycles, duplicate hosts and addresses, conflicting groups) live in
:mod:`fleetcfg.inventory`. Every mapping forbids unknown keys.

Top-level sections
------------------

``defaults``
    Settings (below) for every host: the lowest layer.
``groups``
    ``NAME: {settings..., hosts: {...}, children: [...], priority: N,
    description: "..."}``. ``hosts`` defines or lists member hosts; ``children``
    names groups whose hosts are members too (their settings win over this
    group's). ``priority`` (an integer, default 0; a child group without one
    inherits its parent's) decides between groups that are *not* parent and
    child of each other: the higher number wins. Two such groups with the same
    priority that set the same key to different values are an error. A group
    may be empty (``NAME:`` or ``NAME: {}``). ``all`` is reserved: it means
    every host in ``--limit``.
``hosts``
    Hosts that are not defined inside a group: ``NAME: {address: ..., settings...}``.
``networks``
    ``reserved``: CIDRs in use elsewhere in the company (VPN, offices, cloud
    VPCs). Lint reports Docker address pools and bridges that overlap them.
    ``internal_domains``: DNS domains served inside the company
    (``corp.example.com``). Lint reports proxies whose no-proxy would send
    them through the proxy.
``rollout``
    How ``fleetcfg apply`` rolls out: ``batch_size`` (hosts per batch, an
    integer or ``"N%"`` of the selected hosts, default 10), ``canary`` (hosts
    in a first batch of their own, default 1; 0 for none), ``max_failures``
    (failed hosts tolerated before the run halts, an integer or ``"N%"``,
    default 0), ``pause`` (wait between batches: seconds, or ``"30s"``,
    ``"5m"``, ``"1h30m"``; default 0). For ``fleetcfg converge`` (pull mode):
    ``canary_percent`` (hosts picked by a stable hash of their name that
    apply a new revision at once, default 100), ``converge_delay`` (how long
    the others wait after they first saw that revision, default 0) and
    ``maintenance_window`` (``"HH:MM-HH:MM"`` UTC, daily: a change that needs
    a restart waits for it; reload-only changes apply anytime).
``secrets``
    ``env``: the environment variables profiles may read with ``env("NAME")``
    (``[PROXY_PASSWORD]``). Any other name is an error (lint FC058, and in
    render, plan and apply), so a profile under review cannot read the
    variables of the machine that runs fleetcfg.
``lint``
    ``disable``: rule ids lint must not report (``[FC013]``); ``severity``:
    rule id to ``error``/``warning``/``info``. Ids are checked against the rule
    catalogue (``fleetcfg lint --explain``).

Settings (in ``defaults``, any group, any host)
-----------------------------------------------

Each layer overrides the one below: ``defaults < parent group < child group <
host``; mappings (``vars``, ``ssh``, ``service``, ``proxy``, ``buildkit``,
``registries``) are merged key by key, everything else (lists included) is
replaced.

``vars``
    Variables for the profiles (``{{ name }}``). Names are identifiers
    (letters, digits, ``_``); the built-in names (:data:`RESERVED_VARS`) are
    taken.
``ssh``
    ``user``, ``port``, ``identity_file`` (a path or a list), ``known_hosts``,
    ``proxy_jump`` (``[user@]host[:port]``, a comma list or a list),
    ``become`` (run through ``sudo -n``), ``connect_timeout`` and
    ``command_timeout`` (seconds), ``accept_new_host_keys`` (record unknown
    host keys, never changed ones), ``ssh_config_file`` (``"none"`` to ignore
    ``~/.ssh/config``), ``use_agent``. Unset settings come from
    ``~/.ssh/config``, then OpenSSH's defaults.
``connection``
    ``ssh`` (default) or ``local`` (the machine fleetcfg runs on).
``engine_version``
    The Docker Engine the hosts run, quoted (``"26.1"``, ``"28.5.2"``,
    ``"28.x"``). Lint and render validate against it; plan uses what the host
    reports. Default ``28.5``.
``daemon_profile`` / ``client_profile``
    The profile in ``profiles/`` rendered into ``/etc/docker/daemon.json`` and
    into each client user's ``~/.docker/config.json``.
``manage``
    ``full`` (default): fleetcfg owns the whole daemon.json. ``keys``: only the
    top-level keys the profile sets; keys other tools write (the ``runtimes``
    the nvidia-container-toolkit adds) are kept, and a key the profile sets to
    ``null`` is removed.
``client_users``
    Users whose ``~/.docker/config.json`` is managed (default ``[root]``). That
    file is always merged: keys the profile does not set are kept, and
    ``auths``, ``credsStore`` and ``credHelpers`` are never removed.
``service``
    How ``fleetcfg apply`` drives the Docker daemon; the defaults suit systemd.
    ``reload`` (``systemctl reload docker``), ``restart`` (``systemctl restart
    docker``), ``reset_failed`` (``systemctl reset-failed docker``, run before
    each restart; ``""`` for none), ``status`` (exits 0 while the daemon runs:
    ``systemctl is-active docker``), ``logs`` (prints the daemon's recent log
    for error messages: ``journalctl -u docker -n 50 --no-pager -o cat``),
    ``health`` (an extra check that must exit 0 after a reload or restart; none
    by default) and ``health_timeout`` (how long the daemon has to come back
    healthy: seconds or ``"2m"``; default 60). Commands are a string (split like
    a shell would, never run through one) or a list of arguments.

``proxy``
    The proxy dockerd pulls through: ``enabled`` (``false`` turns off a
    proxy a lower layer set), ``http``, ``https`` (URLs; the user in
    the URL, the password from ``password_env``, a variable declared in
    ``secrets.env``), ``no_proxy`` (one list, used everywhere), ``where``:
    ``daemon`` (daemon.json ``proxies``, Engine >= 23.0), ``dropin``
    (``/etc/systemd/system/docker.service.d/http-proxy.conf``, any Engine),
    ``both``, or ``auto`` (the default: daemon.json from 23.0, the drop-in
    below), and ``dropin_lines`` (hand-written ``[Service]`` lines added to
    the drop-in as they are). A profile that sets ``proxies`` itself while
    ``proxy:`` goes to daemon.json must set the same values (else FC083).
``buildkit``
    BuildKit's ``/etc/buildkit/buildkitd.toml``, rendered from the daemon's
    registry mirrors, insecure registries and registry CAs: ``enabled``
    (default true; ``buildkit: {enabled: true}`` alone manages the file),
    ``builder`` (the ``docker buildx`` builder, driver docker-container,
    recreated with the file; default ``fleetcfg``) or
    ``service`` (a standalone buildkitd unit, restarted), ``settings`` (more
    buildkitd.toml tables, merged over the generated ones).
``registries``
    Private registries and pull-through mirrors, by name:
    ``NAME: {host, port, ca | ca_file, client_cert | client_cert_file,
    client_key_file | client_key_env, mirror_of, insecure}``. ``host``
    defaults to the name. Layers merge registries by name and each registry
    field by field (a host may change only ``port``); ``NAME: null`` removes
    a registry a lower layer defined. From each registry fleetcfg writes
    ``/etc/docker/certs.d/<host[:port]>/ca.crt`` (and ``client.cert``,
    ``client.key`` 0600 for mutual TLS), adds ``https://host[:port]`` to
    daemon.json ``registry-mirrors`` when ``mirror_of: docker.io`` (``http://``
    when ``insecure``), and ``host[:port]`` to ``insecure-registries`` when
    ``insecure: true``; these come after the entries the profile writes
    itself (no duplicates). ``ca_file`` and ``client_cert_file`` are read from
    the repo (like ``file()``: relative, never outside it). The client key is
    a secret: ``client_key_file`` (a file of the repo, e.g. one a deploy step
    puts there) or ``client_key_env`` (a variable declared in
    ``secrets.env``); never inline.

Host entries also take ``address`` (IP or DNS name, default: the host name).
A host is defined in one place; other groups list it with an empty entry
(``web-01:`` or ``web-01: {}``) to make it a member.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.fields import ComputedFieldInfo, FieldInfo

from fleetcfg.core.numbers import is_digits
from fleetcfg.core.rules import all_rules, get_rule, suggest_rule
from fleetcfg.core.versions import OLDEST_ENGINE, EngineVersion

#: variable names the renderer provides itself; inventory vars may not use them
RESERVED_VARS = frozenset(
    {"host", "address", "groups", "engine_version", "kind", "user", "env", "file"}
)

HOST_NAME_RE = r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$"
GROUP_NAME_RE = r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$"
VAR_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"
PROFILE_NAME_RE = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$"
USER_NAME_RE = r"^[a-z_][a-z0-9_-]*\$?$"
RULE_ID_RE = r"^FC[0-9]{3}$"
_HOSTNAME_LABEL = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_PERCENT = re.compile(r"^(\d{1,3})%$")


def _title(name: str, info: FieldInfo | ComputedFieldInfo) -> str:
    return name


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        field_title_generator=_title,
        validate_default=False,
        str_strip_whitespace=False,
    )


HostName = Annotated[str, StringConstraints(pattern=HOST_NAME_RE)]
GroupName = Annotated[str, StringConstraints(pattern=GROUP_NAME_RE)]
ProfileName = Annotated[str, StringConstraints(pattern=PROFILE_NAME_RE)]
UserName = Annotated[str, StringConstraints(pattern=USER_NAME_RE)]


def _var_name(name: str) -> str:
    if name in RESERVED_VARS:
        raise ValueError(
            f"{name!r} is a built-in variable of the profiles; choose another name "
            f"(built-ins: {', '.join(sorted(RESERVED_VARS))})"
        )
    return name


VarName = Annotated[str, StringConstraints(pattern=VAR_NAME_RE), AfterValidator(_var_name)]


def _address(value: str) -> str:
    text = value.strip()
    try:
        ipaddress.ip_address(text)
        return text
    except ValueError:
        pass
    if "://" in text or "/" in text:
        raise ValueError(f"{value!r} is not an address; write an IP or a DNS name, no scheme")
    if text.count(":") == 1:
        raise ValueError(f"{value!r} has a port; put the port in ssh.port")
    labels = text.rstrip(".").split(".")
    if not text or len(text) > 253 or not all(_HOSTNAME_LABEL.match(lb) for lb in labels):
        raise ValueError(f"{value!r} is not an IP address or a DNS name")
    return text


Address = Annotated[str, AfterValidator(_address)]


def _engine_version(value: Any) -> str:
    if isinstance(value, float):
        raise ValueError(
            f"write the version as a quoted string (unquoted YAML {value!r} is a number, "
            'and 20.10 would read as 20.1): engine_version: "26.1"'
        )
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError('expected a version string such as "26.1" or "28.5.2"')
    text = str(value)
    try:
        version = EngineVersion.parse(text)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    if version < OLDEST_ENGINE:
        raise ValueError(
            f"Docker Engine {version} is older than {OLDEST_ENGINE}, the oldest modelled"
        )
    return text


EngineVersionText = Annotated[
    str,
    PlainValidator(_engine_version),
    WithJsonSchema(
        {"type": "string", "pattern": r"^v?\d{1,3}(\.(\d{1,3}|x))?(\.\d{1,4})?$"},
        mode="validation",
    ),
]


def _str_or_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


#: a list of strings, or one comma-separated string
CommaList = Annotated[
    list[str] | None,
    BeforeValidator(_str_or_list),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}},
                {"type": "null"},
            ]
        }
    ),
]


class SshSettings(_Model):
    """How to reach a host over SSH; unset settings fall back to ssh_config."""

    user: str | None = Field(None, description="login user")
    port: int | None = Field(None, ge=1, le=65535, description="SSH port")
    identity_file: str | list[str] | None = Field(
        None, description="private key file(s) to offer, ~ expanded"
    )
    known_hosts: str | None = Field(None, description="the known_hosts file to check and record")
    proxy_jump: CommaList = Field(
        None, description="jump hosts, [user@]host[:port], first hop first"
    )
    become: bool | None = Field(None, description="run commands through sudo -n")
    connect_timeout: int | float | None = Field(None, gt=0, description="seconds to connect")
    command_timeout: int | float | None = Field(
        None, gt=0, description="seconds per remote command"
    )
    accept_new_host_keys: bool | None = Field(
        None, description="record unknown host keys (never changed ones)"
    )
    ssh_config_file: str | None = Field(
        None, description='ssh_config to read ("none": do not read ~/.ssh/config)'
    )
    use_agent: bool | None = Field(None, description="offer ssh-agent keys")


#: where ``proxy:`` goes: daemon.json ``proxies`` (Engine >= 23.0), the systemd
#: drop-in (any Engine), ``auto`` (daemon.json from 23.0, the drop-in below) or both
ProxyWhere = Literal["auto", "daemon", "dropin", "both"]
_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def _proxy_url(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a proxy URL such as http://proxy.corp.example.com:3128")
    text = value.strip()
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in _PROXY_SCHEMES or not rest.rpartition("@")[2].strip("/"):
        raise ValueError(
            "not a proxy URL; write scheme://[user@]host:port with scheme "
            f"{', '.join(_PROXY_SCHEMES)} (e.g. http://proxy.corp.example.com:3128)"
        )
    if any(c.isspace() or c in "\"'" for c in text):
        raise ValueError("a proxy URL has no white space or quotes; URL-encode them")
    return text


ProxyUrl = Annotated[
    str,
    PlainValidator(_proxy_url),
    WithJsonSchema({"type": "string", "description": "scheme://[user@]host:port"}),
]


class ProxySettings(_Model):
    """The corporate proxy dockerd uses to pull (``proxy:``)."""

    enabled: bool | None = Field(
        None, description="false: no proxy for these hosts (default: true when a URL is set)"
    )
    http: ProxyUrl | None = Field(None, description="proxy for http:// requests (HTTP_PROXY)")
    https: ProxyUrl | None = Field(None, description="proxy for https:// requests (HTTPS_PROXY)")
    no_proxy: CommaList = Field(
        None, description="hosts, domains and CIDRs reached directly (NO_PROXY)"
    )
    where: ProxyWhere | None = Field(
        None,
        description="daemon (daemon.json proxies, Engine >= 23.0), dropin (the systemd "
        "drop-in), both, or auto (default: daemon.json from 23.0, the drop-in below)",
    )
    password_env: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = (
        Field(
            None,
            description="environment variable holding the proxy password (declare it in "
            "secrets.env); put the user in the URL (http://user@proxy:3128)",
        )
    )
    dropin_lines: list[str] | None = Field(
        None,
        description="hand-written [Service] lines added to the drop-in as they are "
        '(Environment="NAME=value", ...)',
    )


BuildkitKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+$")]


class BuildkitSettings(_Model):
    """BuildKit's ``/etc/buildkit/buildkitd.toml`` and the builder that reads it."""

    enabled: bool | None = Field(None, description="manage buildkitd.toml (default: true)")
    builder: BuildkitKey | None = Field(
        None,
        description="the docker buildx builder (driver docker-container) recreated with the "
        "file (default: fleetcfg)",
    )
    service: BuildkitKey | None = Field(
        None, description="a standalone buildkitd systemd unit restarted instead of a builder"
    )
    settings: dict[str, Any] | None = Field(
        None, description="more buildkitd.toml settings, as TOML tables (debug, [worker.oci], ...)"
    )


def parse_duration(value: Any) -> float:
    """Seconds from a number or a duration string (``90``, ``"30s"``, ``"1h30m"``,
    ``"500ms"``)."""
    if isinstance(value, bool):
        raise ValueError('expected seconds or a duration such as "30s" or "5m"')
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif text and re.fullmatch(rf"(?:{_DURATION_PART.pattern})+", text):
            factor = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
            seconds = sum(float(n) * factor[u] for n, u in _DURATION_PART.findall(text))
        else:
            raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 5m or 1h30m")
    else:
        raise ValueError('expected seconds or a duration such as "30s" or "5m"')
    if seconds < 0:
        raise ValueError("must not be negative")
    return seconds


Duration = Annotated[
    float,
    PlainValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^(\d+(\.\d+)?|(\d+(\.\d+)?(ms|s|m|h))+)$"},
            ]
        }
    ),
]


def _command(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split {value!r} into arguments: {exc}") from None
    return value


Command = Annotated[
    list[str],
    BeforeValidator(_command),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
]


def _required_command(value: list[str]) -> list[str]:
    if not value or not value[0]:
        raise ValueError("needs a command")
    return value


class ServiceSettings(_Model):
    """How apply reloads, restarts and checks the Docker daemon (systemd by default)."""

    reload: Annotated[Command, AfterValidator(_required_command)] | None = Field(
        None, description="reloads daemon.json (SIGHUP); default: systemctl reload docker"
    )
    restart: Annotated[Command, AfterValidator(_required_command)] | None = Field(
        None, description="restarts the daemon; default: systemctl restart docker"
    )
    reset_failed: Command | None = Field(
        None,
        description='run before each restart ("" for none); default: systemctl reset-failed docker',
    )
    status: Annotated[Command, AfterValidator(_required_command)] | None = Field(
        None, description="exits 0 while the daemon runs; default: systemctl is-active docker"
    )
    logs: Command | None = Field(
        None,
        description="prints the daemon's recent log; default: journalctl -u docker -n 50 --no-pager -o cat",
    )
    health: Command | None = Field(
        None, description="an extra check that must exit 0 after a reload or restart"
    )
    health_timeout: Duration | None = Field(
        None, description='time to come back healthy: seconds or "2m" (default 60)'
    )


REGISTRY_NAME_RE = r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$"
RegistryName = Annotated[str, StringConstraints(pattern=REGISTRY_NAME_RE)]


def _registry_host(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a DNS name or an IP address such as registry.corp.example.com")
    text = value.strip()
    if ":" in text and not text.startswith("["):
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            raise ValueError(
                f"{value!r} has a port or a scheme; write the name only and the port in 'port'"
            ) from None
        return text
    return _address(text)


RegistryHost = Annotated[
    str,
    PlainValidator(_registry_host),
    WithJsonSchema({"type": "string", "description": "a DNS name or an IP address, no port"}),
]


class Registry(_Model):
    """One registry of a host: its certs.d folder and its daemon.json entries.

    Every field is optional in a layer (a host may override only ``port``);
    after layering the registry needs its ``host`` (default: its name)."""

    host: RegistryHost | None = Field(
        None, description="DNS name or IP of the registry, no port (default: the entry's name)"
    )
    port: int | None = Field(
        None, ge=1, le=65535, description="the port clients use (part of the certs.d folder name)"
    )
    ca: str | None = Field(None, description="the CA certificate (PEM) that signed the registry's")
    ca_file: str | None = Field(None, description="the CA certificate (PEM), a file of the repo")
    client_cert: str | None = Field(None, description="client certificate (PEM) for mutual TLS")
    client_cert_file: str | None = Field(
        None, description="client certificate (PEM) for mutual TLS, a file of the repo"
    )
    client_key_file: str | None = Field(
        None, description="the client certificate's private key (PEM), a file of the repo (secret)"
    )
    client_key_env: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None
    ) = Field(
        None,
        description="environment variable holding the client key (PEM); declare it in secrets.env",
    )
    mirror_of: RegistryHost | None = Field(
        None,
        description="the registry this one mirrors (docker.io: added to registry-mirrors)",
    )
    insecure: bool | None = Field(
        None, description="add to insecure-registries (prefer a CA: certs.d)"
    )


class Settings(_Model):
    """What every layer (defaults, group, host) may set."""

    vars: dict[VarName, Any] | None = Field(None, description="variables for the profiles")
    ssh: SshSettings | None = None
    connection: Literal["ssh", "local"] | None = Field(
        None, description="ssh (default) or local (this machine)"
    )
    engine_version: EngineVersionText | None = Field(
        None, description='Docker Engine version the hosts run, quoted ("26.1")'
    )
    daemon_profile: ProfileName | None = Field(
        None, description="profile rendered into /etc/docker/daemon.json"
    )
    client_profile: ProfileName | None = Field(
        None, description="profile rendered into ~/.docker/config.json of each client user"
    )
    manage: Literal["full", "keys"] | None = Field(
        None, description="full: own the whole daemon.json; keys: only the keys the profile sets"
    )
    client_users: Annotated[list[UserName], Field(min_length=1)] | None = Field(
        None, description="users whose ~/.docker/config.json is managed (default [root])"
    )
    service: ServiceSettings | None = Field(
        None, description="how apply reloads, restarts and checks dockerd (default: systemd)"
    )
    proxy: ProxySettings | None = Field(
        None, description="the proxy dockerd pulls through: daemon.json proxies or a drop-in"
    )
    buildkit: BuildkitSettings | None = Field(
        None, description="BuildKit's buildkitd.toml, from the registries and mirrors"
    )
    registries: dict[RegistryName, Registry | None] | None = Field(
        None,
        description="private registries and mirrors: certs.d files, registry-mirrors, "
        "insecure-registries (merged by name; null removes one)",
    )


#: the setting names, in the order --explain lists them
SETTING_NAMES: tuple[str, ...] = tuple(Settings.model_fields)


class HostEntry(Settings):
    """A host: where it is, plus any setting that overrides its groups."""

    address: Address | None = Field(None, description="IP or DNS name (default: the host name)")


class Group(Settings):
    """A group of hosts sharing settings."""

    hosts: dict[HostName, HostEntry | None] = Field(
        default_factory=dict, description="member hosts (defined here, or listed with {})"
    )
    children: list[GroupName] = Field(
        default_factory=list, description="groups whose hosts are members too"
    )
    priority: int | None = Field(
        None, description="order among groups that are not parent and child (higher wins)"
    )
    description: str | None = None


def _cidr(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a CIDR string such as 10.0.0.0/8")
    try:
        return str(ipaddress.ip_network(value.strip(), strict=True))
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise ValueError(f"{value!r} is not a CIDR such as 10.0.0.0/8") from exc
        raise ValueError(f"{value!r} has host bits set; did you mean {loose}?") from exc


Cidr = Annotated[
    str,
    PlainValidator(_cidr),
    WithJsonSchema({"type": "string", "description": "a CIDR, e.g. 10.0.0.0/8"}),
]


def _domain(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a DNS domain such as corp.example.com")
    text = value.strip().lower().lstrip("*").lstrip(".").rstrip(".")
    labels = text.split(".")
    if not text or len(text) > 253 or not all(_HOSTNAME_LABEL.match(lb) for lb in labels):
        raise ValueError(f"{value!r} is not a DNS domain such as corp.example.com")
    return text


Domain = Annotated[
    str,
    PlainValidator(_domain),
    WithJsonSchema({"type": "string", "description": "a DNS domain, e.g. corp.example.com"}),
]


class Networks(_Model):
    reserved: list[Cidr] = Field(
        default_factory=list, description="address ranges Docker networks must not overlap"
    )
    internal_domains: list[Domain] = Field(
        default_factory=list,
        description="DNS domains served inside the company: proxies must not carry them",
    )

    def reserved_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(c) for c in self.reserved]


def _count_or_percent(*, minimum: int) -> Any:
    def validate(value: Any) -> int | str:
        if isinstance(value, bool):
            raise ValueError('expected a number of hosts or a percentage such as "25%"')
        if isinstance(value, int):
            if value < minimum:
                raise ValueError(f"must be at least {minimum}")
            return value
        if isinstance(value, str):
            m = _PERCENT.match(value.strip())
            if m and minimum <= int(m.group(1)) <= 100:
                return f"{int(m.group(1))}%"
            if is_digits(value.strip()):
                return validate(int(value.strip()))
        raise ValueError(
            f'expected a number of hosts (at least {minimum}) or a percentage such as "25%"'
        )

    return validate


CountOrPercent = Annotated[
    int | str,
    PlainValidator(_count_or_percent(minimum=0)),
    WithJsonSchema(
        {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^\d{1,3}%$"}]}
    ),
]
BatchSize = Annotated[
    int | str,
    PlainValidator(_count_or_percent(minimum=1)),
    WithJsonSchema(
        {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": r"^\d{1,3}%$"}]}
    ),
]


_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def _maintenance_window(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    match = _WINDOW.match(text)
    if match is None or match.group(1, 2) == match.group(3, 4):
        raise ValueError(
            f'{value!r} is not a daily UTC window; write e.g. "02:00-04:00" (may span midnight)'
        )
    return text


MaintenanceWindow = Annotated[
    str,
    PlainValidator(_maintenance_window),
    WithJsonSchema({"type": "string", "pattern": _WINDOW.pattern}),
]


def _resolve_count(value: int | str, total: int) -> int:
    if isinstance(value, int):
        return value
    return (total * int(value.rstrip("%")) + 99) // 100


class Rollout(_Model):
    """How apply rolls out to the selected hosts."""

    batch_size: BatchSize = Field(10, description='hosts per batch: a number or "N%"')
    canary: int = Field(1, ge=0, description="hosts in a first batch of their own (0: none)")
    max_failures: CountOrPercent = Field(
        0, description='failed hosts tolerated before the run halts: a number or "N%"'
    )
    pause: Duration = Field(0.0, description='wait between batches: seconds or "30s", "5m"')
    canary_percent: int = Field(
        100,
        ge=0,
        le=100,
        description="fleetcfg converge: percent of hosts (by a hash of the name) that apply a "
        "new revision at once; the others wait converge_delay",
    )
    converge_delay: Duration = Field(
        0.0,
        description="fleetcfg converge: how long a host outside the canary set waits after it "
        'first saw a revision: seconds or "30m", "4h"',
    )
    maintenance_window: MaintenanceWindow | None = Field(
        None,
        description='fleetcfg converge: restarts only inside this daily UTC window "HH:MM-HH:MM" '
        "(reload-only changes apply anytime)",
    )

    def batch_size_for(self, total: int) -> int:
        """Hosts per batch when ``total`` hosts are selected (at least 1)."""
        return max(1, _resolve_count(self.batch_size, total))

    def max_failures_for(self, total: int) -> int:
        """Failed hosts tolerated when ``total`` hosts are selected (a percentage
        rounds down, like Ansible's max_fail_percentage)."""
        if isinstance(self.max_failures, int):
            return self.max_failures
        return total * int(self.max_failures.rstrip("%")) // 100


def _rule_id(value: Any) -> str:
    """A rule id (``FC013``) or name (``no-effect``), as its id."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a rule id such as FC013 or a name such as no-effect")
    try:
        return get_rule(value).id
    except KeyError:
        ids = [r.id for r in all_rules()]
        hint = suggest_rule(value) or (
            f"rules are {min(ids)}..{max(ids)} or their names; "
            "fleetcfg lint --explain all lists them"
        )
        raise ValueError(f"unknown rule {value!r} ({hint})") from None


RuleId = Annotated[
    str,
    PlainValidator(_rule_id),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": RULE_ID_RE},
                {"enum": [r.name for r in all_rules()]},
            ]
        }
    ),
]


ENV_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"
EnvName = Annotated[str, StringConstraints(pattern=ENV_NAME_RE)]


class Secrets(_Model):
    """Where the profiles' secrets may come from."""

    env: list[EnvName] = Field(
        default_factory=list,
        description="environment variables profiles may read with env(NAME); no other",
    )


class Lint(_Model):
    """Lint settings for this repo."""

    disable: list[RuleId] = Field(
        default_factory=list,
        description="rules not to report (ids such as FC013 or names such as no-effect)",
    )
    severity: dict[RuleId, Literal["error", "warning", "info"]] = Field(
        default_factory=dict, description="rule (id or name) -> severity"
    )


class InventoryModel(_Model):
    """The whole ``inventory.yaml``."""

    model_config = ConfigDict(title="fleetcfg inventory.yaml")

    defaults: Settings = Field(default_factory=Settings, description="settings for every host")
    networks: Networks = Field(default_factory=Networks)
    rollout: Rollout = Field(default_factory=Rollout)
    secrets: Secrets = Field(default_factory=Secrets)
    lint: Lint = Field(default_factory=Lint)
    groups: dict[GroupName, Group | None] = Field(default_factory=dict)
    hosts: dict[HostName, HostEntry | None] = Field(
        default_factory=dict, description="hosts that are not defined inside a group"
    )


def inventory_json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of inventory.yaml; property titles are the YAML keys."""
    schema = InventoryModel.model_json_schema(mode="validation")
    _close_pattern_maps(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://fleetcfg.dev/schema/inventory.json",
        **schema,
    }


def _close_pattern_maps(node: Any) -> None:
    """Maps with constrained key names (hosts, groups, vars) accept no other keys."""
    if isinstance(node, dict):
        if "patternProperties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close_pattern_maps(value)
    elif isinstance(node, list):
        for value in node:
            _close_pattern_maps(value)
