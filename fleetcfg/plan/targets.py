"""What fleetcfg writes on a host: each host's rendered targets, and the
exact bytes of a file, computed by ONE function (:func:`file_target`) that
plan and apply both call.

A plan stores only hashes (never a secret), so apply renders every target
again (:class:`fleetcfg.plan.replan.RenderedTargets`), for the Engine version
the plan recorded, and merges it with the live file exactly as the plan did
(``manage: keys`` keeps other tools' keys; client config.json keeps
credentials; a live file that does not parse is replaced whole). If the
result does not hash as the plan says, the inventory, a profile or a secret
changed since the plan, and apply refuses the host.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from fleetcfg.core.errors import FleetcfgError
from fleetcfg.core.hashing import canonical_json
from fleetcfg.core.jsondoc import JsonSyntaxError, loads_fast
from fleetcfg.core.versions import EngineVersion
from fleetcfg.inventory import Host
from fleetcfg.render import RenderedConfig, Renderer
from fleetcfg.render.surface import SurfaceFile, SurfaceResult, render_surface

# --------------------------------------------------------------------------
# the exact bytes


@dataclass(frozen=True)
class FileTarget:
    """A rendered target merged with the live file it replaces."""

    #: the live file's data (``{}`` when absent or empty); None: it does not parse
    current: dict[str, Any] | None
    #: why the live file does not parse (it is then replaced whole)
    problem: str | None
    #: the data to write
    desired: dict[str, Any]

    @property
    def content(self) -> bytes:
        """The exact bytes to write: canonical JSON (sorted keys, two-space
        indent, trailing newline)."""
        return canonical_json(self.desired).encode()


def decode_live(live: bytes | None) -> tuple[dict[str, Any] | None, str | None]:
    """A live file's data (``{}`` when it is absent or ``null``), or None and
    the reason it does not parse."""
    if live is None:
        return {}, None
    try:
        value = loads_fast(live)
    except JsonSyntaxError as exc:
        where = f" at line {exc.line}" if exc.line else ""
        return None, f"invalid JSON{where}: {exc.go_message}"
    if value is None:
        return {}, None
    if not isinstance(value, dict):
        return None, "the top level is not a JSON object"
    return value, None


def file_target(rendered: RenderedConfig, live: bytes | None) -> FileTarget:
    """``rendered`` merged with a live file holding ``live`` (None: absent).
    Plan and apply both call this: the stale check compares its hashes."""
    current, problem = decode_live(live)
    return FileTarget(current, problem, rendered.desired(current if problem is None else None))


# --------------------------------------------------------------------------
# rendering a host's targets


@dataclass(frozen=True)
class Targets:
    """What render produced for one host: its daemon.json (``None``: the host
    has no daemon_profile) and each client user's config.json; a render
    error takes the place of its result."""

    daemon: RenderedConfig | FleetcfgError | None = None
    clients: Mapping[str, RenderedConfig | FleetcfgError] = field(default_factory=dict)
    #: the host's surface files (certs.d, drop-ins, buildkitd.toml)
    surface: SurfaceResult | FleetcfgError | None = None

    @property
    def secrets(self) -> frozenset[str]:
        found: set[str] = set()
        for target in (self.daemon, *self.clients.values()):
            if isinstance(target, RenderedConfig):
                found |= target.secrets
        if isinstance(self.surface, SurfaceResult):
            found |= self.surface.secrets
        return frozenset(found)

    @property
    def surface_result(self) -> SurfaceResult | None:
        return self.surface if isinstance(self.surface, SurfaceResult) else None

    def surface_file(self, path: str) -> SurfaceFile | None:
        if isinstance(self.surface, SurfaceResult):
            return next((f for f in self.surface.files if f.path == path), None)
        return None


_LOCKS: weakref.WeakKeyDictionary[Renderer, threading.Lock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _render_lock(renderer: Renderer) -> threading.Lock:
    """Renderer caches are not thread-safe: hosts planned in parallel take
    turns (rendering is CPU work under the GIL anyway)."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(renderer)
        if lock is None:
            lock = _LOCKS[renderer] = threading.Lock()
        return lock


def known_secrets(renderer: Renderer) -> frozenset[str]:
    """Every secret the renderer has seen so far (read under its lock: other
    hosts may be rendering)."""
    with _render_lock(renderer):
        return renderer.secrets.values


def _host_for_engine(host: Host, engine: EngineVersion | None) -> Host:
    """``host`` as the renderer should see it: with the Engine version the
    host reports (templates may test ``engine_version``)."""
    if engine is None or host.engine_version == engine:
        return host
    settings = dict(host.settings)
    settings["engine_version"] = str(engine)
    return replace(host, settings=settings)


def client_users(host: Host) -> tuple[str, ...]:
    """The users whose config.json the plan manages (none without a
    client_profile)."""
    return host.client_users if host.client_profile is not None else ()


def render_targets(renderer: Renderer, host: Host, engine: EngineVersion | None) -> Targets:
    """Render ``host``'s daemon.json, client configs and surface files for
    ``engine``."""
    seen = _host_for_engine(host, engine)
    with _render_lock(renderer):
        daemon: RenderedConfig | FleetcfgError | None = None
        if host.daemon_profile is not None:
            try:
                daemon = renderer.render(seen, "daemon")
            except FleetcfgError as exc:
                daemon = exc
        clients: dict[str, RenderedConfig | FleetcfgError] = {}
        for user in client_users(host):
            try:
                clients[user] = renderer.render(seen, "client", user)
            except FleetcfgError as exc:
                clients[user] = exc
        surface: SurfaceResult | FleetcfgError
        try:
            surface = render_surface(
                renderer, seen, daemon if isinstance(daemon, RenderedConfig) else None
            )
        except FleetcfgError as exc:
            surface = exc
    return Targets(daemon=daemon, clients=clients, surface=surface)
