"""What a host has now (the facts plan decides from), as data; gathered by
:mod:`fleetcfg.plan.facts`, decoded by :mod:`fleetcfg.plan.facts_parse`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from fleetcfg.core.filedigest import digest_matches, file_digest, is_keyed
from fleetcfg.core.versions import EngineVersion
from fleetcfg.dockerd.flags import DAEMON_JSON, config_file_of
from fleetcfg.host.state import STATE_DIR, STATE_PATH, HostState
from fleetcfg.plan.model import HostFacts

STATE_FILE = STATE_PATH
#: where a client user's config lives, relative to the home ``getent`` reports
CLIENT_CONFIG = ".docker/config.json"
UNIT = "docker.service"
#: Engine release that added ``dockerd --validate``
VALIDATE_SINCE = EngineVersion(23, 0)

__all__ = ["DAEMON_JSON", "STATE_DIR"]


@dataclass(frozen=True, slots=True)
class FileFacts:
    """One file on the host. ``problem`` says why it could not be read (its
    content is then unknown, which is not the same as absent)."""

    path: str
    exists: bool
    content: bytes | None = None
    #: the content's digest (:func:`~fleetcfg.core.filedigest.file_digest`:
    #: keyed when it holds credentials, never their plain sha256)
    sha256: str | None = None
    mode: int | None = None
    owner: str | None = None
    group: str | None = None
    #: the folder the file lives in exists (apply creates it otherwise)
    parent_exists: bool = True
    problem: str | None = None
    #: last modification (epoch seconds) of the file, or of its folder when
    #: the file is absent (None: unknown)
    mtime: int | None = None

    @property
    def known(self) -> bool:
        return self.problem is None

    def matches(self, recorded: str | None) -> bool:
        """Whether the file is what a record says (``recorded``: a digest,
        None: absent), compared in the record's own form
        (:func:`~fleetcfg.core.filedigest.digest_matches`)."""
        if recorded == self.sha256:
            return True
        return self.known and digest_matches(recorded, self.content if self.exists else None)

    def digest(self, *, credentials: bool = False) -> str | None:
        """What a plan records of the file (None: absent): :attr:`sha256`,
        keyed as the target's when the target holds credentials
        (:func:`~fleetcfg.core.filedigest.file_digest`: the same bytes, the
        same digest; already keyed when credentials were found in it)."""
        if not self.exists:
            return None
        if not credentials or self.content is None or is_keyed(self.sha256):
            return self.sha256
        return file_digest(self.content, credentials=True)


@dataclass(frozen=True, slots=True)
class UserFacts:
    """A client user as the host knows it (``getent passwd``)."""

    name: str
    exists: bool
    home: str | None = None
    uid: int | None = None
    gid: int | None = None
    #: the user's primary group (its name, or the gid when it has none)
    group: str | None = None
    #: ``~/.docker/config.json`` in the user's real home
    config: FileFacts | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class UnitFacts:
    """docker.service as systemd runs it (drop-ins included)."""

    load_state: str | None = None
    active_state: str | None = None
    sub_state: str | None = None
    main_pid: int | None = None
    #: when the unit last became active (epoch seconds; None: unknown)
    active_since: int | None = None
    #: when dockerd's process started (``ExecMainStartTimestamp``, epoch
    #: seconds; a reload does not change it; None: unknown)
    started: int | None = None
    #: ExecStart's argv with ``$VAR``/``${VAR}`` expanded from Environment=
    #: and EnvironmentFile= (the dockerd binary first)
    exec_start: tuple[str, ...] = ()
    #: ExecStart as systemd shows it (unexpanded)
    exec_start_raw: str = ""
    fragment_path: str | None = None
    drop_in_paths: tuple[str, ...] = ()
    #: variables ExecStart uses that no Environment=/EnvironmentFile= sets
    #: (systemd expands them to nothing)
    unset_variables: tuple[str, ...] = ()
    #: EnvironmentFile= files that exist but could not be read
    unreadable_env_files: tuple[str, ...] = ()
    #: variables ExecStart uses that are set -> where (an EnvironmentFile= path,
    #: or "Environment=")
    variables: Mapping[str, str] = field(default_factory=dict)

    @property
    def loaded(self) -> bool:
        return self.load_state not in (None, "not-found", "masked")

    @property
    def active(self) -> bool:
        return self.active_state in ("active", "reloading")

    @property
    def flags(self) -> tuple[str, ...]:
        """dockerd's command-line arguments (ExecStart without the binary)."""
        return self.exec_start[1:]

    @property
    def config_file(self) -> str:
        """The daemon.json dockerd reads (``--config-file``, else the default)."""
        return config_file_of(self.flags)

    @property
    def sources(self) -> str:
        """Where ExecStart is defined, for messages."""
        places = [p for p in (self.fragment_path, *self.drop_in_paths) if p]
        return ", ".join(places) if places else UNIT


@dataclass(frozen=True, slots=True)
class DaemonInfo:
    """What the running daemon has: its running containers and live-restore."""

    running_containers: int | None = None
    live_restore: bool | None = None
    server_version: str | None = None
    #: where live-restore comes from: "docker info", "ExecStart" (a flag), or
    #: "daemon.json" (the file is unchanged since dockerd started)
    source: str = "docker info"


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the planner needs to know about one host. A ``*_problem``
    field says why the matching fact is unknown."""

    host: str
    daemon_json: FileFacts
    users: Mapping[str, UserFacts] = field(default_factory=dict)
    engine: EngineVersion | None = None
    #: ``dockerd --version`` as printed
    engine_text: str | None = None
    engine_problem: str | None = None
    unit: UnitFacts | None = None
    unit_problem: str | None = None
    info: DaemonInfo | None = None
    info_problem: str | None = None
    #: the daemon's plugins (``docker plugin ls``: name -> enabled), asked only
    #: when the new daemon.json names a logging plugin (``plan.plugins``)
    plugins: Mapping[str, bool] | None = None
    plugins_problem: str | None = None
    #: what fleetcfg last wrote on the host (state.json)
    state: HostState = field(default_factory=HostState)
    state_problem: str | None = None
    #: the surface files read (certs.d, drop-ins, buildkitd.toml): path -> file
    surface: Mapping[str, FileFacts] = field(default_factory=dict)

    @property
    def has_validate(self) -> bool:
        return self.engine is not None and self.engine >= VALIDATE_SINCE

    def to_host_facts(self, mask: Callable[[str], str] | None = None) -> HostFacts:
        """The part of the facts a plan records (``mask`` masks secrets in
        the ExecStart flags, e.g. ``--http-proxy`` credentials)."""
        flags = list(self.unit.flags) if self.unit is not None else []
        if mask is not None:
            flags = [mask(f) for f in flags]
        return HostFacts(
            engine_version=str(self.engine) if self.engine is not None else None,
            has_validate=self.has_validate,
            exec_start=flags,
            active=self.unit.active if self.unit is not None and self.unit.loaded else None,
            running_containers=self.info.running_containers if self.info else None,
            live_restore=self.info.live_restore if self.info else None,
            unit_state=self.unit.active_state if self.unit is not None else None,
            config_file=self.daemon_json.path,
        )
