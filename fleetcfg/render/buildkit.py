"""The ``buildkit:`` of a host: ``/etc/buildkit/buildkitd.toml`` rendered from
the daemon's registry mirrors, insecure registries and registry CAs, and the
findings about it (FC085, FC086, FC088).

The file is applied by recreating the builder (``builder``, default
``fleetcfg``: ``docker buildx rm --keep-state NAME`` then ``docker buildx
create --name NAME --driver docker-container --buildkitd-config FILE``) or by
restarting a standalone buildkitd unit (``service``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fleetcfg.core.findings import Finding
from fleetcfg.core.rules import BUILDKIT_BUILDER, BUILDKIT_MIRROR_URL, BUILDKIT_TOML
from fleetcfg.dockerd.buildkitd import registry_tables, to_toml, unknown_keys
from fleetcfg.inventory import Host, deep_merge
from fleetcfg.render.proxy import finding_at

#: the builder fleetcfg recreates when ``buildkit.builder`` is not set
DEFAULT_BUILDER = "fleetcfg"


@dataclass(frozen=True)
class HostBuildkit:
    """A host's buildkitd.toml and what applies it."""

    #: the file's text (None: the findings say why it cannot be written)
    text: str | None
    #: the buildx builder to recreate (None: a standalone service)
    builder: str | None
    #: the standalone buildkitd unit to restart
    service: str | None
    findings: tuple[Finding, ...]


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _mirror_urls(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(registry, mirror) for each mirror in ``settings`` written as a URL."""
    registries = settings.get("registry")
    found: list[tuple[str, str]] = []
    if isinstance(registries, Mapping):
        for name, table in registries.items():
            if isinstance(table, Mapping):
                found += [(name, m) for m in _strings(table.get("mirrors")) if "://" in m]
    return found


def render_buildkit(
    host: Host,
    daemon: Mapping[str, Any] | None,
    cas: Mapping[str, Iterable[str]] | None = None,
    tables: Mapping[str, Mapping[str, Any]] | None = None,
) -> HostBuildkit | None:
    """``host``'s buildkitd.toml from its daemon.json data (``registry-mirrors``,
    ``insecure-registries``), the CA files of its registries (``host[:port]``
    -> paths on the host) and more ``[registry."..."]`` ``tables`` (client key
    pairs, mirrors of other registries); None when it has no ``buildkit:`` or
    ``enabled: false``."""
    settings = host.settings.get("buildkit")
    if not isinstance(settings, Mapping) or settings.get("enabled") is False:
        return None
    findings: list[Finding] = []
    builder, service = settings.get("builder"), settings.get("service")
    if builder and service:
        findings.append(
            finding_at(
                host,
                BUILDKIT_BUILDER,
                f"buildkit sets builder {builder!r} and service {service!r}: set one",
                ("buildkit", "service"),
            )
        )
    extra = settings.get("settings") or {}
    for registry, mirror in _mirror_urls(extra):
        findings.append(
            finding_at(
                host,
                BUILDKIT_MIRROR_URL,
                f'buildkit.settings registry."{registry}".mirrors holds the URL {mirror!r}: '
                "buildkitd.toml takes host names (host:port), not URLs",
                ("buildkit", "settings", "registry", registry, "mirrors"),
            )
        )
    for problem in unknown_keys(extra):
        findings.append(
            finding_at(
                host,
                BUILDKIT_TOML,
                f"buildkit.settings: {problem.message}",
                ("buildkit", "settings", *problem.path),
                path="buildkit.settings." + ".".join(str(p) for p in problem.path),
            )
        )
    data = daemon or {}
    generated: dict[str, Any] = {}
    generated_tables = registry_tables(
        _strings(data.get("registry-mirrors")), _strings(data.get("insecure-registries")), cas
    )
    registries = deep_merge(generated_tables, dict(tables or {}))
    if registries:
        generated["registry"] = registries
    text: str | None = None
    try:
        text = to_toml(deep_merge(generated, extra))
    except ValueError as exc:
        findings.append(
            finding_at(
                host,
                BUILDKIT_TOML,
                f"buildkit.settings cannot be written as TOML: {exc} (no null values)",
                ("buildkit", "settings"),
            )
        )
    return HostBuildkit(
        text=text,
        builder=None if service else str(builder or DEFAULT_BUILDER),
        service=str(service) if service else None,
        findings=tuple(findings),
    )
