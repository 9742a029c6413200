"""The BuildKit producer: ``/etc/buildkit/buildkitd.toml`` from ``buildkit:``,
the daemon's mirrors and insecure registries and the host's registries
(:mod:`fleetcfg.render.buildkit`).

Applying a change recreates the builder once dockerd is healthy: ``docker
buildx rm --keep-state NAME`` (when it exists; its build cache is kept: a new
builder of the same name reuses the state) then ``docker buildx create --name
NAME --driver docker-container --buildkitd-config
/etc/buildkit/buildkitd.toml --bootstrap`` (``--bootstrap`` starts the builder
now, so a config buildkitd rejects fails the apply instead of the first
build; buildx keeps a builder whose bootstrap failed, which the next ``rm``
removes); or, for a standalone buildkitd (``buildkit.service``), ``systemctl
restart SERVICE``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

from fleetcfg.dockerd.buildkitd import BUILDKITD_PATH
from fleetcfg.inventory import Host
from fleetcfg.render.buildkit import HostBuildkit, render_buildkit
from fleetcfg.render.proxy import setting_location
from fleetcfg.render.registries import DOCKER_HUB, RegistryTarget, mirror_hosts
from fleetcfg.render.surface.certsd import CA_FILE, CLIENT_CERT_FILE, CLIENT_KEY_FILE
from fleetcfg.render.surface.model import SurfaceContext, SurfaceFile, SurfaceOutput

#: state.json keys of buildkitd.toml's record: what applies it
BUILDER_KEY = "builder"
SERVICE_KEY = "service"
#: a builder or unit name fleetcfg accepts back from a host's state.json
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")
#: ``docker buildx create``'s flags: the builder's buildkitd.toml, and start it now
CONFIG_FLAG = "--buildkitd-config"
BOOTSTRAP_FLAG = "--bootstrap"


def apply_commands(
    builder: str | None, service: str | None, *, config: bool = True
) -> tuple[tuple[str, ...], ...]:
    """What applies a new buildkitd.toml: recreate the builder, or restart
    the standalone buildkitd. ``config=False``: the file was removed (the
    builder is created again without ``--buildkitd-config``; a standalone
    buildkitd restarts with its defaults)."""
    if service is not None:
        return (("systemctl", "restart", service),)
    name = builder or ""
    quoted = shlex.quote(name)
    create = ("docker", "buildx", "create", "--name", name, "--driver", "docker-container")
    return (
        (
            "sh",
            "-c",
            f"if docker buildx inspect {quoted} >/dev/null 2>&1; then "
            f"docker buildx rm --keep-state {quoted}; fi",
        ),
        (*create, CONFIG_FLAG, BUILDKITD_PATH, BOOTSTRAP_FLAG) if config else create,
    )


def record_of(out: HostBuildkit) -> dict[str, str]:
    """What state.json keeps with buildkitd.toml: the builder or service it
    is for (:func:`removal` reads it back)."""
    if out.service is not None:
        return {SERVICE_KEY: out.service}
    return {BUILDER_KEY: out.builder or ""}


def removal(record: Mapping[str, object]) -> tuple[str, tuple[tuple[str, ...], ...]]:
    """What removing buildkitd.toml takes, from its state.json ``record``
    (bytes from the host: a name that is not a plain builder or unit name is
    not used): (what happens, the commands). No commands when the record
    names neither (a file written by an older fleetcfg)."""
    builder, service = recorded(record)
    if service is not None:
        return (
            f"service {service} restarted with buildkitd's defaults",
            apply_commands(None, service, config=False),
        )
    if builder is not None:
        return (
            f"builder {builder} recreated without it",
            apply_commands(builder, None, config=False),
        )
    return "the builder keeps its config until it is recreated by hand", ()


def recorded(record: Mapping[str, object]) -> tuple[str | None, str | None]:
    """(builder, service) buildkitd.toml's state.json ``record`` names, each
    only when it is a plain name (bytes from the host); a service wins."""
    service, builder = record.get(SERVICE_KEY), record.get(BUILDER_KEY)
    if isinstance(service, str) and _NAME.match(service):
        return None, service
    if isinstance(builder, str) and _NAME.match(builder):
        return builder, None
    return None, None


def builder_commands(host: Host) -> tuple[tuple[str, ...], ...]:
    """What applies ``host``'s buildkitd.toml, from its ``buildkit:`` alone
    (no rendering: rollback puts back a file, it does not make one); empty
    when the host has no ``buildkit:`` (or ``enabled: false``)."""
    out = render_buildkit(host, None)
    return apply_commands(out.builder, out.service) if out is not None else ()


def registry_tls_tables(registries: tuple[RegistryTarget, ...]) -> dict[str, dict[str, Any]]:
    """``[registry."host:port"]`` tables for the registries' certs.d files
    (``ca``, ``keypair``) and the mirrors of registries other than Docker
    Hub (which daemon.json cannot express)."""
    tables: dict[str, dict[str, Any]] = {}
    for target in registries:
        folder = target.entry.certs_dir
        table: dict[str, Any] = {}
        if target.ca_pem is not None:
            table["ca"] = [f"{folder}/{CA_FILE}"]
        if target.client_cert_pem is not None and target.client_key_pem is not None:
            table["keypair"] = [
                {"key": f"{folder}/{CLIENT_KEY_FILE}", "cert": f"{folder}/{CLIENT_CERT_FILE}"}
            ]
        if table:
            tables[target.address] = table
    others = {t.entry.mirror_of for t in registries if t.entry.mirror_of not in (None, DOCKER_HUB)}
    for registry in sorted(o for o in others if o is not None):
        tables.setdefault(registry, {})["mirrors"] = mirror_hosts(registries, registry)
    return tables


def buildkitd_config(ctx: SurfaceContext) -> SurfaceOutput:
    """buildkitd.toml of a host with ``buildkit:``, and the findings about it."""
    daemon = ctx.daemon.data if ctx.daemon is not None else None
    out = render_buildkit(ctx.host, daemon, tables=registry_tls_tables(ctx.registries))
    if out is None:
        return SurfaceOutput()
    files: tuple[SurfaceFile, ...] = ()
    if out.text is not None:
        what = f"builder {out.builder}" if out.service is None else f"service {out.service}"
        files = (
            SurfaceFile.produced(
                "buildkit",
                BUILDKITD_PATH,
                out.text.encode(),
                reason=f"buildkitd.toml changed ({what})",
                source=setting_location(ctx.host, ("buildkit",)),
                commands=apply_commands(out.builder, out.service),
                record=record_of(out),
            ),
        )
    return SurfaceOutput(files=files, findings=out.findings)
