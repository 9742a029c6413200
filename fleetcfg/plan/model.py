"""The Plan: pure, JSON-serialisable data that ``plan`` prints and ``apply``
executes exactly.

A plan never holds a secret in clear: file targets are identified by the
digest of their content (sha256; for a file that holds credentials a keyed
``hmac-sha256:`` digest, :mod:`fleetcfg.core.filedigest`; apply re-renders the
target and refuses a host whose
target or live file no longer hashes the same), and every diff is masked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field

PLAN_FORMAT_VERSION = 1


class Action(StrEnum):
    """What applying does to a host, in order of severity."""

    NONE = "none"  # nothing to write
    WRITE = "write"  # files change but dockerd needs neither reload nor restart
    RELOAD = "reload"  # systemctl reload docker (SIGHUP) applies every change
    RESTART = "restart"  # some change needs systemctl restart docker
    ERROR = "error"  # the host cannot be planned (unreachable, invalid target, ...)


class FileKind(StrEnum):
    DAEMON = "daemon"
    CLIENT = "client"
    #: the surface files (:mod:`fleetcfg.render.surface`)
    CERTS_D = "certs.d"
    DROPIN = "dropin"
    BUILDKIT = "buildkit"

    @property
    def surface(self) -> bool:
        return self not in (FileKind.DAEMON, FileKind.CLIENT)


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyChange(_Data):
    """One semantic change, already masked for display."""

    path: str
    kind: Literal["added", "removed", "changed", "kept"]
    display: str  # e.g. '~ log-opts.max-size: "10m" -> "50m"'
    #: what dockerd does with this key on ``systemctl reload docker``
    reload: Literal["restart", "if-present", "always", "no-effect"] = "restart"


class FilePlan(_Data):
    """One file on one host: where it is, what it is now, what it becomes."""

    kind: FileKind
    path: str
    user: str | None = None  # the owner of a client config.json
    #: digest of the live file the plan was computed from (None: absent;
    #: :func:`~fleetcfg.core.filedigest.file_digest`)
    live_sha256: str | None
    #: digest of the exact bytes apply will write (None: nothing to write)
    target_sha256: str | None
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"
    changes: list[KeyChange] = Field(default_factory=list)
    #: unified diff of the live and target texts, masked
    text_diff: str = ""
    #: keys fleetcfg does not own and leaves as they are (manage: keys)
    kept_keys: list[str] = Field(default_factory=list)
    #: mode, owner and group of the live file (None: absent or unknown)
    live_mode: int | None = None
    live_owner: str | None = None
    live_group: str | None = None
    #: the file's folder exists on the host (e.g. ~/.docker; else apply creates it)
    parent_exists: bool = True
    #: the target holds a credential (a URL password, an env()/file() value,
    #: a client key): written readable by its owner only, its diff masked (a
    #: client key's content is never shown: its sha256 only)
    credentials: bool = False
    #: a surface file: how a change to it takes effect (``none``, ``reload``,
    #: ``restart``, ``daemon-reload+restart``, ``recreate-builder``)
    effect: str | None = None
    #: the file is removed (a surface file fleetcfg created that the
    #: inventory no longer gives)
    remove: bool = False
    #: what state.json keeps with the file once written (buildkitd.toml: the
    #: builder it is for); apply takes it from the host planned again under
    #: the lock, never from a saved plan
    record: dict[str, str] = Field(default_factory=dict)

    @property
    def changed(self) -> bool:
        if self.remove:
            return self.live_sha256 is not None
        return self.target_sha256 is not None and self.target_sha256 != self.live_sha256


class HostFacts(_Data):
    """What the host had when it was planned (the parts the plan depends on)."""

    engine_version: str | None = None  # from ``dockerd --version``
    has_validate: bool = False  # dockerd --validate exists (Engine 23.0+)
    exec_start: list[str] = Field(default_factory=list)  # dockerd flags of the unit
    active: bool | None = None  # the docker unit is active
    #: running containers and live-restore as the running daemon has them;
    #: gathered only for hosts whose plan restarts a running dockerd (None
    #: otherwise)
    running_containers: int | None = None
    live_restore: bool | None = None
    #: systemd's ActiveState of docker.service (active, failed, inactive, ...)
    unit_state: str | None = None
    #: the daemon.json dockerd reads (``--config-file`` in ExecStart, else the default)
    config_file: str | None = None


class HostPlan(_Data):
    host: str
    address: str | None = None
    groups: list[str] = Field(default_factory=list)
    action: Action
    #: why this action (e.g. the keys that need a restart)
    reasons: list[str] = Field(default_factory=list)
    files: list[FilePlan] = Field(default_factory=list)
    facts: HostFacts = Field(default_factory=HostFacts)
    warnings: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    #: the host could not be reached (counted apart in the summary)
    unreachable: bool = False
    #: rule ids the inventory's ``lint: disable`` turns off: the plan did not
    #: count them as errors, so apply's model check does not either
    lint_disabled: list[str] = Field(default_factory=list)
    #: ``systemctl daemon-reload`` before the restart (a unit drop-in changed)
    daemon_reload: bool = False
    #: the BuildKit builder is recreated after the daemon (its config changed)
    recreate_builder: bool = False
    #: how: each argv in order (from the host planned again under the lock
    #: when applying, never from a saved plan)
    builder_commands: list[list[str]] = Field(default_factory=list)
    #: folders apply creates for surface files (fleetcfg owns them afterwards)
    created_dirs: list[str] = Field(default_factory=list)
    #: folders fleetcfg created that apply removes once their files are gone
    remove_dirs: list[str] = Field(default_factory=list)

    @property
    def changes(self) -> list[str]:
        return [c.path for f in self.files for c in f.changes if c.kind != "kept"]


class PlanSummary(_Data):
    reload: int = 0
    restart: int = 0
    write: int = 0
    unchanged: int = 0
    error: int = 0
    unreachable: int = 0

    def line(self) -> str:
        parts = [
            f"{self.reload} to reload",
            f"{self.restart} to restart",
        ]
        if self.write:
            parts.append(f"{self.write} to write only")
        parts.append(f"{self.unchanged} unchanged")
        if self.error:
            parts.append(f"{self.error} with errors")
        if self.unreachable:
            parts.append(f"{self.unreachable} unreachable")
        return ", ".join(parts)


class Plan(_Data):
    format_version: int = PLAN_FORMAT_VERSION
    fleetcfg_version: str
    #: identifies this plan (apply records it in the host's state.json)
    plan_id: str = Field(default_factory=lambda: uuid4().hex)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    inventory: str  # path of inventory.yaml as given
    #: sha256 over inventory.yaml, every profile and every repo file the
    #: renders read, for the stale-plan check (:mod:`fleetcfg.plan.repohash`)
    repo_sha256: str | None = None
    #: those files' sha256 by name in the repo (None in plans of older
    #: fleetcfg, whose ``repo_sha256`` covers inventory.yaml and profiles/ only)
    repo_files: dict[str, str] | None = None
    #: ``K/N`` when the plan covers one shard of the selected hosts (``--shard``)
    shard: str | None = None
    hosts: list[HostPlan]

    @property
    def summary(self) -> PlanSummary:
        counts = {
            "reload": 0,
            "restart": 0,
            "write": 0,
            "unchanged": 0,
            "error": 0,
            "unreachable": 0,
        }
        for h in self.hosts:
            if h.unreachable:
                counts["unreachable"] += 1
            elif h.action is Action.ERROR:
                counts["error"] += 1
            elif h.action is Action.NONE:
                counts["unchanged"] += 1
            else:
                counts[h.action.value] += 1
        return PlanSummary(**counts)

    def host(self, name: str) -> HostPlan:
        for h in self.hosts:
            if h.host == name:
                return h
        raise KeyError(name)
