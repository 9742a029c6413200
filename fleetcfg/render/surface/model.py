"""The contract of a surface file: one file of the Docker host beyond
daemon.json and config.json (a certs.d certificate, a systemd drop-in,
buildkitd.toml), with its exact bytes and how a change to it takes effect."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from fleetcfg.core.filedigest import file_digest, short_digest
from fleetcfg.core.findings import Finding
from fleetcfg.core.hashing import sha256_hex
from fleetcfg.core.yamlsource import SourceLocation

if TYPE_CHECKING:
    from fleetcfg.core.secrets import Lookups
    from fleetcfg.inventory import Host
    from fleetcfg.render.registries import RegistryEntry, RegistryTarget
    from fleetcfg.render.result import RenderedConfig

#: the kinds of surface files (each has one producer)
SurfaceKind = Literal["certs.d", "dropin", "buildkit"]
SURFACE_KINDS: tuple[SurfaceKind, ...] = ("certs.d", "dropin", "buildkit")

#: modes fleetcfg writes (owner and group are always root)
FILE_MODE = 0o644
SECRET_MODE = 0o600
DIR_MODE = 0o755


class ApplyAction(StrEnum):
    """How a change to a file takes effect, mildest first.

    A host's changes combine into one action (:func:`combined_action`): the
    strongest of the daemon actions (``none`` < ``reload`` < ``restart`` <
    ``daemon-reload+restart``), plus ``recreate-builder`` when a builder's
    config changed (it runs after the daemon is back)."""

    NONE = "none"  # read on use: dockerd reads certs.d on every pull
    RELOAD = "reload"  # SIGHUP: systemctl reload docker
    RESTART = "restart"  # systemctl restart docker
    DAEMON_RELOAD_RESTART = "daemon-reload+restart"  # a unit drop-in changed
    RECREATE_BUILDER = "recreate-builder"  # buildx rm --keep-state + create, or buildkitd restart

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    ApplyAction.NONE: "nothing to reload",
    ApplyAction.RELOAD: "reload",
    ApplyAction.RESTART: "restart",
    ApplyAction.DAEMON_RELOAD_RESTART: "daemon-reload + restart",
    ApplyAction.RECREATE_BUILDER: "builder recreation",
}
#: how a change to each kind of file takes effect (its producer's files carry
#: the same action; rollback, which renders nothing, reads it here)
KIND_ACTIONS: Mapping[str, ApplyAction] = {
    "certs.d": ApplyAction.NONE,
    "dropin": ApplyAction.DAEMON_RELOAD_RESTART,
    "buildkit": ApplyAction.RECREATE_BUILDER,
}
#: the daemon actions in order of strength
DAEMON_ACTIONS: tuple[ApplyAction, ...] = (
    ApplyAction.NONE,
    ApplyAction.RELOAD,
    ApplyAction.RESTART,
    ApplyAction.DAEMON_RELOAD_RESTART,
)


def combined_action(actions: Iterable[ApplyAction]) -> tuple[ApplyAction, ...]:
    """The one action a host's changes need: the strongest daemon action
    (``none`` when there is none), then ``recreate-builder`` if any."""
    seen = set(actions)
    daemon = max(
        (a for a in seen if a in DAEMON_ACTIONS),
        key=DAEMON_ACTIONS.index,
        default=ApplyAction.NONE,
    )
    builder = (ApplyAction.RECREATE_BUILDER,) if ApplyAction.RECREATE_BUILDER in seen else ()
    return (daemon, *builder)


@dataclass(frozen=True)
class SurfaceFile:
    """One managed file of a host: its exact bytes and how they are applied.

    ``owned_dir`` is the folder fleetcfg creates for the file and removes
    when the file's source leaves the inventory (``certs.d/<host:port>``);
    ``None``: the folder is not fleetcfg's (it is created when missing but
    never removed). A ``secret`` file's content is never displayed: plans show
    its sha256 only. A file that ``holds_credentials`` (the proxy drop-in with
    a password; every ``secret`` file) is written 0600 and displayed masked.
    ``record`` is what state.json keeps with the file beyond its hash (the
    builder buildkitd.toml is for: what its removal recreates)."""

    kind: SurfaceKind
    #: absolute path on the host
    path: str
    content: bytes = field(repr=False)
    mode: int = FILE_MODE
    secret: bool = False
    owned_dir: str | None = None
    action: ApplyAction = ApplyAction.NONE
    #: why a change needs ``action`` ("the proxy drop-in changed")
    reason: str = ""
    #: where the file's content comes from (the inventory or template line)
    source: SourceLocation | None = None
    #: the commands that apply a change once the daemon is healthy (the
    #: builder's recreation), each run only after the one before succeeded
    commands: tuple[tuple[str, ...], ...] = ()
    credentials: bool = False
    record: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not posixpath.isabs(self.path) or posixpath.normpath(self.path) != self.path:
            raise ValueError(f"surface file path must be absolute and normal: {self.path!r}")
        if self.owned_dir is not None and posixpath.dirname(self.path) != self.owned_dir:
            raise ValueError(f"{self.path} is not directly in its folder {self.owned_dir}")
        if self.holds_credentials and self.mode & 0o077:
            raise ValueError(f"{self.path} holds credentials: mode {self.mode:04o} is not 0600")

    @classmethod
    def produced(
        cls,
        kind: SurfaceKind,
        path: str,
        content: bytes,
        *,
        reason: str,
        source: SourceLocation | None,
        secret: bool = False,
        credentials: bool = False,
        owned_dir: str | None = None,
        commands: tuple[tuple[str, ...], ...] = (),
        record: Mapping[str, str] | None = None,
    ) -> SurfaceFile:
        """A producer's file: the action of its kind (:data:`KIND_ACTIONS`),
        written 0600 when it holds credentials, 0644 otherwise."""
        return cls(
            kind=kind,
            path=path,
            content=content,
            mode=SECRET_MODE if secret or credentials else FILE_MODE,
            secret=secret,
            owned_dir=owned_dir,
            action=KIND_ACTIONS[kind],
            reason=reason,
            source=source,
            commands=commands,
            credentials=credentials,
            record=dict(record or {}),
        )

    @property
    def holds_credentials(self) -> bool:
        return self.secret or self.credentials

    @property
    def sha256(self) -> str:
        """The content's plain sha256 (for what checks the bytes themselves:
        cloud-init's user-data, which carries them anyway)."""
        return sha256_hex(self.content)

    @property
    def digest(self) -> str:
        """What plans record and print about the content (keyed when it
        holds credentials: :func:`~fleetcfg.core.filedigest.file_digest`)."""
        return file_digest(self.content, credentials=self.holds_credentials)

    @property
    def folder(self) -> str:
        return posixpath.dirname(self.path)

    def display_text(self) -> str:
        """The content as it may be shown (a secret file: its hash only)."""
        if self.secret:
            return f"(secret, {len(self.content)} bytes, sha256 {short_digest(self.digest)})\n"
        return self.content.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class SurfaceOutput:
    """What one producer made for one host."""

    files: tuple[SurfaceFile, ...] = ()
    findings: tuple[Finding, ...] = ()
    #: values to mask in every output (a client key, a proxy password)
    secrets: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SurfaceContext:
    """What a producer gets: the host, the repo-confined lookups, the host's
    registries, its rendered daemon.json (``None``: it has no daemon_profile
    or it did not render) and the time to check certificates against."""

    host: Host
    lookups: Lookups
    registries: tuple[RegistryTarget, ...]
    daemon: RenderedConfig | None
    now: datetime


@dataclass(frozen=True)
class SurfaceResult:
    """Every surface file of one host and every finding its producers made."""

    host: str
    files: tuple[SurfaceFile, ...] = ()
    findings: tuple[Finding, ...] = ()
    secrets: frozenset[str] = frozenset()
    #: the host's registries (plan checks the host's certs.d against them)
    registries: tuple[RegistryEntry, ...] = ()

    def of_kind(self, kind: SurfaceKind) -> tuple[SurfaceFile, ...]:
        return tuple(f for f in self.files if f.kind == kind)

    @property
    def owned_dirs(self) -> tuple[str, ...]:
        """The folders fleetcfg owns for these files (sorted, no duplicates)."""
        return tuple(sorted({f.owned_dir for f in self.files if f.owned_dir is not None}))
