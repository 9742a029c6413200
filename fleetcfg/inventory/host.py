"""A host with every setting resolved, and where each setting came from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fleetcfg.core.versions import DEFAULT_ENGINE, EngineVersion
from fleetcfg.core.yamlsource import KeyPath, SourceLocation, format_path, iter_leaves
from fleetcfg.host.service import ServiceCommands
from fleetcfg.host.transport.targets import DEFAULT_COMMAND_TIMEOUT, LocalTarget, SshTarget
from fleetcfg.inventory.model import SETTING_NAMES

#: what a setting is when no layer sets it (``None``: not set, e.g. no profile)
BUILTIN_DEFAULTS: dict[str, Any] = {
    "connection": "ssh",
    "engine_version": str(DEFAULT_ENGINE),
    "manage": "full",
    "client_users": ["root"],
    "daemon_profile": None,
    "client_profile": None,
}
BUILTIN_LAYER = "built-in default"


@dataclass(frozen=True, slots=True)
class Origin:
    """Which layer set a value, and where it is written."""

    layer: str  # "defaults", "group ci-runners", "host ci-01" or BUILTIN_LAYER
    location: SourceLocation | None = None

    def __str__(self) -> str:
        return f"{self.layer} ({self.location})" if self.location else self.layer


@dataclass(frozen=True, slots=True)
class GroupInfo:
    name: str
    #: groups that list this one in ``children``
    parents: tuple[str, ...]
    children: tuple[str, ...]
    #: hosts listed directly in this group's ``hosts``
    hosts: tuple[str, ...]
    #: own priority, else the highest of its parents', else 0
    priority: int
    #: longest distance from a group without parents (0 for those)
    depth: int
    location: SourceLocation
    description: str | None = None


@dataclass(frozen=True, eq=False)
class Host:
    """One host with every setting resolved.

    ``settings`` is the merged settings tree (only what some layer set);
    ``origins`` maps each of its leaves (``("vars", "mirror")``) to the layer
    that won. Hosts that share their groups and set nothing themselves share
    these mappings: treat them as read-only.
    """

    name: str
    address: str
    groups: tuple[str, ...]
    settings: Mapping[str, Any]
    origins: Mapping[KeyPath, Origin]
    location: SourceLocation
    address_origin: Origin

    def setting(self, name: str) -> Any:
        """A top-level setting, or its built-in default."""
        if name in self.settings:
            return self.settings[name]
        return BUILTIN_DEFAULTS.get(name)

    @property
    def vars(self) -> Mapping[str, Any]:
        value = self.settings.get("vars")
        return value if isinstance(value, dict) else {}

    @property
    def ssh(self) -> Mapping[str, Any]:
        value = self.settings.get("ssh")
        return value if isinstance(value, dict) else {}

    @property
    def service(self) -> ServiceCommands:
        """How apply reloads, restarts and checks dockerd on this host."""
        value = self.settings.get("service")
        return ServiceCommands.from_settings(value if isinstance(value, dict) else None)

    @property
    def connection(self) -> Literal["ssh", "local"]:
        return "local" if self.setting("connection") == "local" else "ssh"

    @property
    def engine_version(self) -> EngineVersion:
        return EngineVersion.parse(str(self.setting("engine_version")))

    @property
    def daemon_profile(self) -> str | None:
        value = self.setting("daemon_profile")
        return str(value) if value is not None else None

    @property
    def client_profile(self) -> str | None:
        value = self.setting("client_profile")
        return str(value) if value is not None else None

    @property
    def manage(self) -> Literal["full", "keys"]:
        return "keys" if self.setting("manage") == "keys" else "full"

    @property
    def client_users(self) -> tuple[str, ...]:
        return tuple(self.setting("client_users") or ("root",))

    def origin(self, path: KeyPath) -> Origin | None:
        """The layer that set ``path`` (a leaf, or the nearest leaf above it)."""
        path = tuple(path)
        for n in range(len(path), 0, -1):
            found = self.origins.get(path[:n])
            if found is not None:
                return found
        return None

    def origins_under(self, path: KeyPath) -> list[tuple[KeyPath, Origin]]:
        """Every leaf at or below ``path`` with its origin (for a mapping
        variable used whole), or the leaf above it."""
        path = tuple(path)
        found = [(p, o) for p, o in self.origins.items() if p[: len(path)] == path]
        if found:
            return found
        above = self.origin(path)
        return [(path, above)] if above else []

    def explain(self) -> list[tuple[str, Any, Origin]]:
        """Every setting and variable of this host: (dotted name, value, origin),
        including the address and the built-in defaults that apply."""
        rows: list[tuple[str, Any, Origin]] = [("address", self.address, self.address_origin)]
        for name in SETTING_NAMES:
            if name not in self.settings:
                if name in BUILTIN_DEFAULTS:
                    rows.append((name, BUILTIN_DEFAULTS[name], Origin(BUILTIN_LAYER)))
                continue
            for path, value in iter_leaves(self.settings[name], (name,)):
                origin = self.origins.get(path) or Origin(BUILTIN_LAYER)
                rows.append((format_path(path), value, origin))
        return rows

    def target(self) -> SshTarget | LocalTarget:
        """What the transport needs to reach this host."""
        ssh = self.ssh
        if self.connection == "local":
            return LocalTarget(
                host=self.name,
                become=bool(ssh.get("become", False)),
                command_timeout=float(ssh.get("command_timeout") or DEFAULT_COMMAND_TIMEOUT),
            )
        identity = ssh.get("identity_file")
        identity_files = (
            None if identity is None else (identity,) if isinstance(identity, str) else identity
        )
        jumps = ssh.get("proxy_jump")
        return SshTarget(
            host=self.name,
            address=self.address,
            port=ssh.get("port"),
            user=ssh.get("user"),
            identity_files=tuple(identity_files) if identity_files is not None else None,
            known_hosts_file=ssh.get("known_hosts"),
            proxy_jump=tuple(jumps) if jumps is not None else None,
            become=bool(ssh.get("become", False)),
            connect_timeout=ssh.get("connect_timeout"),
            command_timeout=ssh.get("command_timeout"),
            accept_new_host_keys=ssh.get("accept_new_host_keys"),
            ssh_config_file=ssh.get("ssh_config_file"),
            use_agent=ssh.get("use_agent"),
        )
