"""The typed model of ``/etc/docker/daemon.json`` (Linux).

Every key dockerd accepts, with the JSON spelling dockerd uses and the exact
JSON type it decodes (no coercion), plus the value formats it checks when it
loads the file. Each field carries :class:`~fleetcfg.dockerd.base.Key` metadata:
which Engine releases know it, deprecations, secrets. What ``systemctl reload
docker`` does with each key is in :mod:`fleetcfg.dockerd.reload`.

Checks that need several keys, the target Engine version, or that produce
warnings live in :mod:`fleetcfg.dockerd.checks`; the unknown-key check
that mirrors dockerd's lives in :mod:`fleetcfg.dockerd.keys`. Use
:func:`fleetcfg.dockerd.validation.check_daemon` to get every finding at once;
``DaemonConfig.model_validate`` raises on the first kind of error.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fleetcfg.dockerd.base import (
    STRICT,
    Bool,
    GoStruct,
    Int,
    Key,
    Str,
    StrList,
    StrMap,
    check,
    fail,
    v,
)
from fleetcfg.dockerd.unknown_keys import assert_known_keys
from fleetcfg.dockerd.values import (
    daemon_host_problem,
    dns_search_problem,
    duration_problem,
    ip_problem,
    label_problem,
    prefix_problem,
    size_problem,
)

IP = Annotated[Str, check("FC015", ip_problem, decoded=True)]
Size = Annotated[Str, check("FC004", size_problem)]
#: default-shm-size is decoded while the file is read: "" is not a size there
ShmSize = Annotated[Str, check("FC004", size_problem, empty_ok=False, decoded=True)]


def _kebab(name: str) -> str:
    return name.replace("_", "-")


class _Nested(GoStruct):
    """A nested struct of dockerd's config (ulimits, runtimes, pools, builder)."""


class Ulimit(_Nested):
    """One ``default-ulimits`` entry: ``{"Name": "nofile", "Hard": 64000, "Soft": 64000}``."""

    name: Str | None = Field(None, alias="Name")
    hard: Int | None = Field(None, alias="Hard")
    soft: Int | None = Field(None, alias="Soft")


class Runtime(_Nested):
    """An OCI runtime: either ``path`` (+ ``runtimeArgs``) or ``runtimeType``
    (+ ``options``)."""

    path: Str | None = Field(None, alias="path")
    runtime_args: StrList | None = Field(None, alias="runtimeArgs")
    runtime_type: Str | None = Field(None, alias="runtimeType")
    options: dict[str, Any] | None = Field(None, alias="options")


class AddressPool(_Nested):
    """A ``default-address-pools`` entry: networks of prefix length ``size`` are
    carved out of ``base``."""

    base: Annotated[Str, check("FC010", prefix_problem)] | None = Field(None, alias="base")
    size: Int | None = Field(None, alias="size")


class Proxies(BaseModel):
    """``proxies`` (Engine 23.0+). dockerd checks its inner keys as flag names,
    case-sensitively; flag names other than these three are accepted and
    ignored (kept as extras, reported as warnings)."""

    model_config = ConfigDict(**STRICT, extra="allow", alias_generator=_kebab)

    http_proxy: Str | None = None
    https_proxy: Str | None = None
    no_proxy: Str | None = None


class BuilderGCRule(_Nested):
    all: Bool | None = Field(None, alias="all")
    #: ``["unused-for=2200h"]`` or the legacy ``{"unused-for": {"2200h": true}}``
    filter: StrList | dict[str, dict[str, Bool]] | None = Field(None, alias="filter")
    keep_storage: Size | None = Field(None, alias="keepStorage")
    reserved_space: Size | None = Field(None, alias="reservedSpace")
    max_used_space: Size | None = Field(None, alias="maxUsedSpace")
    min_free_space: Size | None = Field(None, alias="minFreeSpace")


class BuilderGC(_Nested):
    enabled: Bool | None = Field(None, alias="enabled")
    policy: list[BuilderGCRule] | None = Field(None, alias="policy")
    default_keep_storage: Size | None = Field(None, alias="defaultKeepStorage")
    default_reserved_space: Size | None = Field(None, alias="defaultReservedSpace")
    default_max_used_space: Size | None = Field(None, alias="defaultMaxUsedSpace")
    default_min_free_space: Size | None = Field(None, alias="defaultMinFreeSpace")


class BuilderEntitlements(_Nested):
    network_host: Bool | None = Field(None, alias="network-host")
    security_insecure: Bool | None = Field(None, alias="security-insecure")


class BuilderHistory(_Nested):
    max_age: Annotated[Str, check("FC004", duration_problem, decoded=True)] | None = Field(
        None, alias="maxAge"
    )
    max_entries: Int | None = Field(None, alias="maxEntries")


class Builder(_Nested):
    gc: BuilderGC | None = Field(None, alias="gc")
    entitlements: BuilderEntitlements | None = Field(None, alias="entitlements")
    history: BuilderHistory | None = Field(None, alias="history")


LOG_LEVELS = ("panic", "fatal", "error", "warn", "info", "debug", "trace")


class DaemonConfig(BaseModel):
    """``daemon.json``. ``None`` means "not set" (a JSON ``null`` is a no-op to
    dockerd too). Keys dockerd accepts but ignores are kept as extras."""

    model_config = ConfigDict(
        **STRICT,
        extra="allow",
        alias_generator=_kebab,
        title="daemon.json",
        json_schema_extra={"$comment": "Generated by fleetcfg from its DaemonConfig model"},
    )

    # -- daemon-wide ---------------------------------------------------------
    allow_nondistributable_artifacts: Annotated[
        StrList | None,
        Key(
            deprecated_since=v("28.0"),
            deprecated_hint="non-distributable artifacts are always pushed from 28.1; remove it",
        ),
    ] = None
    api_cors_header: Annotated[
        Str | None,
        Key(
            until=v("29.0"),
            deprecated_since=v("20.10"),
            removed_hint="use a reverse proxy if you need CORS headers",
            deprecated_hint="removed in Engine 28.0; use a reverse proxy if you need CORS headers",
        ),
    ] = None
    authorization_plugins: Annotated[StrList | None, Key()] = None
    builder: Annotated[Builder | None, Key()] = None
    cdi_spec_dirs: Annotated[StrList | None, Key(since=v("25.0"))] = None
    cgroup_parent: Annotated[Str | None, Key()] = None
    containerd: Annotated[Str | None, Key()] = None
    containerd_namespace: Annotated[Str | None, Key()] = None
    cpu_rt_period: Annotated[Int | None, Key()] = None
    cpu_rt_runtime: Annotated[Int | None, Key()] = None
    cri_containerd: Annotated[Bool | None, Key()] = None
    data_root: Annotated[Str | None, Key()] = None
    debug: Annotated[Bool | None, Key()] = None
    default_cgroupns_mode: Annotated[Str | None, Key()] = None
    default_ipc_mode: Annotated[Str | None, Key()] = None
    default_runtime: Annotated[Str | None, Key()] = None
    default_shm_size: Annotated[ShmSize | None, Key()] = None
    default_ulimits: Annotated[dict[str, Ulimit] | None, Key()] = None
    exec_opts: Annotated[StrList | None, Key()] = None
    exec_root: Annotated[Str | None, Key()] = None
    experimental: Annotated[Bool | None, Key()] = None
    features: Annotated[dict[str, Bool] | None, Key()] = None
    group: Annotated[Str | None, Key()] = None
    hosts: Annotated[list[Annotated[Str, check("FC015", daemon_host_problem)]] | None, Key()] = None
    init: Annotated[Bool | None, Key()] = None
    init_path: Annotated[Str | None, Key()] = None
    labels: Annotated[list[Annotated[Str, check("FC004", label_problem)]] | None, Key()] = None
    live_restore: Annotated[Bool | None, Key()] = None
    log_driver: Annotated[Str | None, Key()] = None
    log_format: Annotated[Str | None, Key(since=v("25.0"))] = None
    log_level: Annotated[Str | None, Key()] = None
    log_opts: Annotated[StrMap | None, Key()] = None
    max_concurrent_downloads: Annotated[Int | None, Key()] = None
    max_concurrent_uploads: Annotated[Int | None, Key()] = None
    max_download_attempts: Annotated[Int | None, Key()] = None
    metrics_addr: Annotated[Str | None, Key()] = None
    network_diagnostic_port: Annotated[Int | None, Key()] = None
    no_new_privileges: Annotated[Bool | None, Key()] = None
    node_generic_resources: Annotated[StrList | None, Key()] = None
    pidfile: Annotated[Str | None, Key()] = None
    proxies: Annotated[Proxies | None, Key(since=v("23.0"), secret=True)] = None
    raw_logs: Annotated[Bool | None, Key()] = None
    rootless: Annotated[Bool | None, Key()] = None
    runtimes: Annotated[dict[str, Runtime] | None, Key()] = None
    seccomp_profile: Annotated[Str | None, Key()] = None
    selinux_enabled: Annotated[Bool | None, Key()] = None
    shutdown_timeout: Annotated[Int | None, Key()] = None
    storage_driver: Annotated[Str | None, Key()] = None
    storage_opts: Annotated[StrList | None, Key()] = None
    swarm_default_advertise_addr: Annotated[Str | None, Key()] = None
    tls: Annotated[Bool | None, Key()] = None
    tlscacert: Annotated[Str | None, Key()] = None
    tlscert: Annotated[Str | None, Key()] = None
    tlskey: Annotated[Str | None, Key()] = None
    tlsverify: Annotated[Bool | None, Key()] = None
    userns_remap: Annotated[Str | None, Key()] = None

    # -- registries ----------------------------------------------------------
    insecure_registries: Annotated[StrList | None, Key()] = None
    registry_mirrors: Annotated[StrList | None, Key(secret=True)] = None

    # -- DNS and host-gateway -----------------------------------------------
    dns: Annotated[list[IP] | None, Key()] = None
    dns_opts: Annotated[StrList | None, Key()] = None
    dns_search: Annotated[
        list[Annotated[Str, check("FC004", dns_search_problem)]] | None, Key()
    ] = None
    host_gateway_ip: Annotated[
        IP | None,
        Key(deprecated_since=v("28.0"), deprecated_hint='use "host-gateway-ips" (a list) instead'),
    ] = None
    host_gateway_ips: Annotated[list[IP] | None, Key(since=v("28.0"))] = None

    # -- bridge and networking ----------------------------------------------
    allow_direct_routing: Annotated[Bool | None, Key(since=v("28.2"))] = None
    bip: Annotated[Str | None, Key()] = None
    bip6: Annotated[Str | None, Key(since=v("28.0"))] = None
    bridge: Annotated[Str | None, Key()] = None
    default_address_pools: Annotated[list[AddressPool] | None, Key()] = None
    default_gateway: Annotated[IP | None, Key()] = None
    default_gateway_v6: Annotated[IP | None, Key()] = None
    default_network_opts: Annotated[dict[str, StrMap] | None, Key(since=v("24.0"))] = None
    fixed_cidr: Annotated[Str | None, Key()] = None
    fixed_cidr_v6: Annotated[Str | None, Key()] = None
    icc: Annotated[Bool | None, Key()] = None
    ip: Annotated[IP | None, Key()] = None
    ip_forward: Annotated[Bool | None, Key()] = None
    ip_forward_no_drop: Annotated[Bool | None, Key(since=v("28.0"))] = None
    ip_masq: Annotated[Bool | None, Key()] = None
    ip6tables: Annotated[Bool | None, Key()] = None
    iptables: Annotated[Bool | None, Key()] = None
    ipv6: Annotated[Bool | None, Key()] = None
    mtu: Annotated[Int | None, Key()] = None
    network_control_plane_mtu: Annotated[Int | None, Key()] = None
    userland_proxy: Annotated[Bool | None, Key()] = None
    userland_proxy_path: Annotated[Str | None, Key()] = None

    # -- Engine 29.0 ----------------------------------------------------------
    bridge_accept_fwmark: Annotated[Str | None, Key(since=v("29.0"))] = None
    firewall_backend: Annotated[Str | None, Key(since=v("29.0"))] = None
    min_api_version: Annotated[Str | None, Key(since=v("29.0"))] = None

    # -- removed keys (kept so that old files parse and get a clear message) -
    cluster_advertise: Annotated[
        Str | None, Key(until=v("24.0"), removed_hint="Swarm replaced the legacy cluster store")
    ] = None
    cluster_store: Annotated[
        Str | None, Key(until=v("24.0"), removed_hint="Swarm replaced the legacy cluster store")
    ] = None
    cluster_store_opts: Annotated[
        StrMap | None, Key(until=v("24.0"), removed_hint="Swarm replaced the legacy cluster store")
    ] = None
    graph: Annotated[
        Str | None,
        Key(
            until=v("23.0"),
            deprecated_since=v("17.05"),
            removed_hint='use "data-root" instead',
            deprecated_hint='use "data-root" instead',
        ),
    ] = None
    oom_score_adjust: Annotated[
        Int | None,
        Key(
            until=v("25.0"),
            deprecated_since=v("24.0"),
            removed_hint="dockerd no longer adjusts its own OOM score; set OOMScoreAdjust in the systemd unit",
            deprecated_hint="set OOMScoreAdjust in the systemd unit instead",
        ),
    ] = None

    @field_validator("default_shm_size", mode="before")
    @classmethod
    def _shm_size_null(cls, value: Any) -> Any:
        # dockerd's size type decodes JSON itself: even null is "invalid size"
        if value is None:
            raise fail(
                "FC004",
                'null is not a size (dockerd: invalid size: "null"); write e.g. "64m" or remove '
                "the key",
                decoded=True,
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _dockerd_key_check(cls, data: Any) -> Any:
        """Reject keys no Engine's key check accepts; the full per-key report
        comes from ``check_daemon`` (:mod:`fleetcfg.dockerd.keys`)."""
        assert_known_keys(data, key_metadata())
        return data

    def to_json_dict(self) -> dict[str, Any]:
        """The config as daemon.json content (set keys only, JSON spelling)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# Value enumerations checked by the rules (kept here, next to the fields).
IPC_MODES = ("private", "shareable")
CGROUPNS_MODES = ("private", "host")
LOG_FORMATS: tuple[Literal["text", "json"], ...] = ("text", "json")


@functools.cache
def key_metadata() -> dict[str, Key]:
    """JSON key -> Key metadata, for every real key of the model."""
    out: dict[str, Key] = {}
    for name, info in DaemonConfig.model_fields.items():
        meta = next((m for m in info.metadata if isinstance(m, Key)), Key())
        out[info.alias or _kebab(name)] = meta
    return out
