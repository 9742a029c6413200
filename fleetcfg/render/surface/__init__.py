"""Surface files: the files of a Docker host beyond daemon.json and
config.json that fleetcfg manages, each kind with its producer.

A producer is a function ``(SurfaceContext) -> SurfaceOutput``: from the host
(its settings, its registries, its rendered daemon.json) it makes the host's
files of its kind (:class:`SurfaceFile`: absolute path, exact bytes, mode,
secret or not, the folder fleetcfg owns for it, the :class:`ApplyAction` a
change to it needs) and findings located at the inventory or template line.
:data:`PRODUCERS` lists them, one line per kind; :func:`render_surface` runs
them all for a host.

Kinds and what applying a change to them does:

``certs.d``
    ``/etc/docker/certs.d/<host[:port]>/{ca.crt,client.cert,client.key}``
    from ``registries:`` (:mod:`.certsd`): nothing (dockerd reads them on
    every pull). fleetcfg owns each ``<host[:port]>`` folder it creates.
``dropin``
    ``/etc/systemd/system/docker.service.d/*.conf``: ``systemctl
    daemon-reload`` then a restart.
``buildkit``
    ``/etc/buildkit/buildkitd.toml``: the builder is recreated (and
    bootstrapped) while apply holds the host's lock.

Registries (:mod:`.registries`) are the model the kinds share: the certs.d
folder name and daemon.json's ``registry-mirrors``/``insecure-registries``
entries come from :class:`RegistryEntry`; buildkitd.toml's mirrors from
:func:`mirror_hosts`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fleetcfg.inventory import Host
from fleetcfg.render.registries import (
    CERTS_D,
    DOCKER_HUB,
    RegistryEntry,
    RegistryTarget,
    mirror_hosts,
    registry_entries,
    resolve_registries,
)
from fleetcfg.render.renderer import Renderer
from fleetcfg.render.result import RenderedConfig
from fleetcfg.render.surface.buildkitd import builder_commands, buildkitd_config
from fleetcfg.render.surface.certsd import certs_d_files
from fleetcfg.render.surface.dropin import proxy_dropin
from fleetcfg.render.surface.model import (
    DIR_MODE,
    FILE_MODE,
    KIND_ACTIONS,
    SECRET_MODE,
    SURFACE_KINDS,
    ApplyAction,
    SurfaceContext,
    SurfaceFile,
    SurfaceKind,
    SurfaceOutput,
    SurfaceResult,
    combined_action,
)

Producer = Callable[[SurfaceContext], SurfaceOutput]

#: one line per file kind: its producer, run in this order
PRODUCERS: tuple[tuple[SurfaceKind, Producer], ...] = (
    ("certs.d", certs_d_files),
    ("dropin", proxy_dropin),
    ("buildkit", buildkitd_config),
)


def render_surface(
    renderer: Renderer,
    host: Host,
    daemon: RenderedConfig | None = None,
    *,
    now: datetime | None = None,
) -> SurfaceResult:
    """Every surface file of ``host`` and every finding about them. Files are
    read through the renderer's lookups (confined to the repo; stand-ins in
    lint) and every secret joins the renderer's, so that all output masks it.
    Not thread-safe, like the renderer (plan holds its lock)."""
    resolved = resolve_registries(host, renderer.lookups)
    ctx = SurfaceContext(
        host=host,
        lookups=renderer.lookups,
        registries=resolved.targets,
        daemon=daemon,
        now=now or datetime.now(UTC),
    )
    files: list[SurfaceFile] = []
    findings = list(resolved.findings)
    secrets = set(resolved.secrets)
    for _kind, producer in PRODUCERS:
        output = producer(ctx)
        files.extend(output.files)
        findings.extend(output.findings)
        secrets |= output.secrets
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths):
        raise ValueError(f"two producers made the same file for {host.name}")
    renderer.secrets.update(secrets)
    findings.sort(key=lambda f: f.sort_key())
    return SurfaceResult(
        host=host.name,
        files=tuple(sorted(files, key=lambda f: f.path)),
        findings=tuple(findings),
        secrets=frozenset(secrets),
        registries=tuple(t.entry for t in resolved.targets),
    )


__all__ = [
    "CERTS_D",
    "DIR_MODE",
    "DOCKER_HUB",
    "FILE_MODE",
    "KIND_ACTIONS",
    "PRODUCERS",
    "SECRET_MODE",
    "SURFACE_KINDS",
    "ApplyAction",
    "Producer",
    "RegistryEntry",
    "RegistryTarget",
    "SurfaceContext",
    "SurfaceFile",
    "SurfaceKind",
    "SurfaceOutput",
    "SurfaceResult",
    "builder_commands",
    "combined_action",
    "mirror_hosts",
    "registry_entries",
    "render_surface",
]
