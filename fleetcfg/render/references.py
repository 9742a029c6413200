"""The repo files a repo's hosts read besides inventory.yaml and profiles/:
what ``fleetcfg bundle`` must carry so that a host converges from the bundle
alone.

Those files are found by rendering every host (daemon.json, every client
user's config.json and the surface files: certs.d, the drop-in,
buildkitd.toml) through :class:`RecordingLookups`, which records every repo
file a render reads, whatever reads it (``file()`` in a profile, a registry's
``ca_file``, ``client_cert_file`` or ``client_key_file``): the renderer's own
path to the repo, so no reference is missed by a second parser. ``env()``
answers a stand-in (the values are the host's, at converge time).

Secrets: what ``file()`` and ``client_key_file`` read is secret (a password,
a private key). A bundle is signed, not encrypted: whoever can read it can
read them. So reading one is an error here unless ``include_secrets``: the
renderer then names the template line (``file()``) or the inventory line
(``client_key_file``) and the file.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from fleetcfg.core.errors import FleetcfgError, SecretLookupError
from fleetcfg.core.findings import Finding, Severity
from fleetcfg.core.rules import REGISTRY_DEFINITION
from fleetcfg.core.secrets import Lookups
from fleetcfg.inventory import Host, Inventory
from fleetcfg.render.renderer import Renderer
from fleetcfg.render.result import Kind, RenderedConfig
from fleetcfg.render.surface import render_surface

#: what ``env()`` answers while references are collected
STAND_IN = "fleetcfg-bundle-stand-in"
_UNSET = object()
SECRETS_ADVICE = (
    "a bundle is signed, not encrypted: pass --include-secrets to carry it anyway, or "
    "read the value on the host (env() in a profile, client_key_env for a registry's "
    "key, set in the converge service's environment)"
)


class RecordingLookups(Lookups):
    """:class:`Lookups` that record every repo file read (by its name in the
    repo), read the real files, and answer a stand-in for ``env()``."""

    def __init__(self, base_dir: Path, allowed_env: Iterable[str], *, include_secrets: bool):
        super().__init__(base_dir, {}, allowed_env=allowed_env)
        self.include_secrets = include_secrets

    def env(self, name: object, default: object = _UNSET) -> str:
        self.env_name(name)
        return STAND_IN

    def file_path(self, name: object) -> Path:
        path = super().file_path(name)
        relative = posixpath.normpath(str(name).replace("\\", "/"))
        if relative.startswith("../") or relative == "..":
            self.read.pop(relative, None)
            raise SecretLookupError(
                f"{name} leaves the repo before it comes back (through a symlinked folder): "
                "a bundle holds files by their name in the repo",
                hint="write the path without '..'",
            )
        return path

    def file(self, name: object) -> str:
        self.file_path(name)
        relative = posixpath.normpath(str(name))
        if not self.include_secrets:
            raise SecretLookupError(
                f"{relative} is a secret and would travel in clear in the bundle: " + SECRETS_ADVICE
            )
        return super().file(name)


@dataclass(frozen=True)
class RepoReferences:
    #: name in the repo -> the file, for every file a host reads (not
    #: inventory.yaml and profiles/, which are always carried)
    files: Mapping[str, Path]
    #: the names among them that are secrets (with ``include_secrets``)
    secrets: frozenset[str]
    #: why the set may be incomplete: render errors, registries that cannot
    #: be rendered (FC077), each located; empty when complete
    problems: tuple[FleetcfgError, ...]


def _from_finding(finding: Finding, host: str) -> FleetcfgError:
    return FleetcfgError(finding.message, file=finding.file, line=finding.line, host=host)


def repo_references(inventory: Inventory, *, include_secrets: bool = False) -> RepoReferences:
    """Render every host of ``inventory`` and return the repo files they read."""
    lookups = RecordingLookups(
        inventory.root, inventory.secret_env, include_secrets=include_secrets
    )
    renderer = Renderer(inventory, environ={})
    renderer.lookups = lookups
    renderer.trace_secrets = False
    problems: dict[tuple[str | None, int | None, str], FleetcfgError] = {}

    def add(error: FleetcfgError) -> None:
        problems.setdefault((error.file, error.line, error.message), error)

    for host in inventory.hosts.values():
        daemon: RenderedConfig | None = None
        for kind, user in _documents(host):
            try:
                rendered = renderer.render(host, kind, user)
            except FleetcfgError as exc:
                add(exc)
                continue
            if kind == "daemon":
                daemon = rendered
        try:
            surface = render_surface(renderer, host, daemon)
        except FleetcfgError as exc:
            add(exc)
            continue
        for finding in surface.findings:
            if finding.rule == REGISTRY_DEFINITION.id and finding.severity is Severity.ERROR:
                add(_from_finding(finding, host.name))
    read = {
        name: path
        for name, path in sorted(lookups.read.items())
        if name != "inventory.yaml" and not name.startswith("profiles/")
    }
    return RepoReferences(read, frozenset(lookups.secret_names), tuple(problems.values()))


def _documents(host: Host) -> list[tuple[Kind, str | None]]:
    out: list[tuple[Kind, str | None]] = []
    if host.daemon_profile is not None:
        out.append(("daemon", None))
    if host.client_profile is not None:
        out += [("client", user) for user in host.client_users]
    return out
