"""One host's apply or rollback: what the run knows and has done so far.

:class:`HostRun` is the state the steps share (the phase, the files to
change, the host's state.json, the report); the steps are small functions
over it (:mod:`~fleetcfg.apply.lock`, :mod:`~fleetcfg.apply.steps`,
:mod:`~fleetcfg.apply.daemon`, :mod:`~fleetcfg.apply.rollback`) and
:mod:`~fleetcfg.apply.machine` runs them in order and recovers by phase.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from fleetcfg.apply.phases import Phase
from fleetcfg.apply.report import HostResult, HostStatus, StepRecord, StepStatus
from fleetcfg.core.filedigest import file_digest
from fleetcfg.core.versions import DEFAULT_ENGINE, EngineVersion
from fleetcfg.dockerd.flags import ValidateFlags, validate_flags
from fleetcfg.host.service import ServiceCommands
from fleetcfg.host.state import BackupRecord, HostState, LockOwner, Pending, utc_stamp
from fleetcfg.host.transport.base import CommandResult, Transport
from fleetcfg.plan.facts import Facts
from fleetcfg.plan.model import Action, FileKind, FilePlan, HostFacts, HostPlan


class TargetResolver(Protocol):
    """What apply asks the inventory (:class:`fleetcfg.plan.targets.RenderedTargets`)."""

    def __call__(self, host: HostPlan, file: FilePlan, live: bytes | None) -> bytes | None:
        """The exact bytes to write for ``file`` on ``host``, given the live
        content (``None``: absent; the result ``None``: the file is removed);
        raises FleetcfgError when it cannot render."""

    def users(self, host: str) -> tuple[str, ...]:
        """The client users of ``host``."""

    def surface_paths(self, saved: HostPlan, facts: Facts) -> list[str]:
        """The surface files to read to plan ``saved``'s host again."""

    def replan(self, saved: HostPlan, facts: Facts) -> HostPlan:
        """``saved``'s host planned again from ``facts`` gathered now."""


StepCallback = Callable[[StepRecord], None]

#: seconds to wait before retrying a host whose connection dropped
RECONNECT_DELAY = 1.0
_MAX_DETAIL = 600


@dataclass(frozen=True)
class RunContext:
    """What every host of one run shares."""

    run_id: str
    command: str  # "apply" or "rollback"
    user: str
    control_host: str
    pid: int
    plan_id: str | None
    now: Callable[[], datetime]
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    mask: Callable[[str], str] = lambda text: text
    keep_backups: int = 10
    break_lock: bool = False
    poll_interval: float = 0.5
    reconnect_delay: float = RECONNECT_DELAY
    #: the lock owner's secret: only this run removes a lock that holds it
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    def owner(self) -> LockOwner:
        return LockOwner(
            run_id=self.run_id,
            user=self.user,
            control_host=self.control_host,
            pid=self.pid,
            command=self.command,
            started_at=utc_stamp(self.now()),
            plan_id=self.plan_id,
            token=self.token,
        )

    @property
    def written_by(self) -> str:
        return f"{self.user}@{self.control_host}"


@dataclass
class FileChange:
    """One file to replace (or remove) on the host."""

    path: str
    kind: FileKind
    user: str | None
    mode: int
    owner: str
    group: str
    #: the digest the live file must have (None: absent)
    expect_live: str | None = None
    #: the new content (None: the file is to be removed)
    new: bytes | None = None
    #: rollback: the backup on the host the new content is read from
    copy_from: str | None = None
    live: bytes | None = None
    live_exists: bool = False
    parent_exists: bool = True
    #: mode, owner and group of the live file (what a recovery restores)
    live_mode: int | None = None
    live_owner: str | None = None
    live_group: str | None = None
    backup: BackupRecord | None = None
    #: the rename was issued (the file may be the new one)
    maybe_replaced: bool = False
    #: rollback: the backup being put back
    restoring: BackupRecord | None = None
    #: the plan says the target holds a credential (its digests are keyed
    #: even when no secret is found in its bytes: :func:`file_digest`)
    credentials: bool = False

    @property
    def live_bytes(self) -> bytes | None:
        """The live file's content (None: absent)."""
        return self.live if self.live_exists else None

    @property
    def new_sha256(self) -> str | None:
        """The digest of the new content (:func:`file_digest`: never a plain
        sha256 of a file that holds credentials)."""
        if self.new is None:
            return None
        return file_digest(self.new, credentials=self.credentials)

    @property
    def live_sha256(self) -> str | None:
        """The digest of the live file (None: absent)."""
        live = self.live_bytes
        return file_digest(live, credentials=self.credentials) if live is not None else None


def first_lines(text: str, limit: int = _MAX_DETAIL) -> str:
    """``text`` on one line, cut at ``limit`` characters."""
    text = " ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def engine_of(text: str | None) -> EngineVersion:
    if text:
        try:
            return EngineVersion.parse(text)
        except ValueError:
            pass
    return DEFAULT_ENGINE


class HostRun:
    """The state of one host's run; steps change it, the report is
    :attr:`result`."""

    def __init__(
        self,
        host: str,
        transport: Transport,
        ctx: RunContext,
        *,
        service: ServiceCommands,
        action: Action,
        facts: HostFacts | None = None,
        on_step: StepCallback | None = None,
        batch: int | None = None,
    ) -> None:
        self.host = host
        self.t = transport
        self.ctx = ctx
        self.service = service
        self.on_step = on_step
        self.action = action
        self.result = HostResult(host=host, action=action, status=HostStatus.CHANGED)
        self.result.batch = batch
        self.phase = Phase.NEW
        #: the connection dropped: recovery first finds out what happened
        self.lost = False
        self.changes: list[FileChange] = []
        self.state = HostState()
        self.facts = HostFacts()
        self.engine = DEFAULT_ENGINE
        self.flags = ValidateFlags((), ())
        self.set_facts(facts or HostFacts())
        #: running containers before a restart with live-restore
        self.baseline: int | None = None
        #: the host's clock (epoch seconds) before a reload, to read its log since
        self.host_time: str | None = None
        #: backups the new state.json drops (deleted at the unlock)
        self.pruned: list[str] = []
        #: this run's pending mark (set before its first replace)
        self.mark: Pending | None = None
        #: the mark may be in the host's state.json
        self.marked = False
        #: the state.json this run recorded with its new files
        self.recorded: HostState | None = None
        #: from the host planned again under the lock (never from a saved
        #: plan): folders created for surface files (fleetcfg owns them), and
        #: folders fleetcfg created to remove once their files are gone
        self.created_dirs: tuple[str, ...] = ()
        self.remove_dirs: tuple[str, ...] = ()
        #: what state.json keeps with each surface file beyond its hash
        #: (buildkitd.toml: its builder), from the host planned again
        self.records: dict[str, dict[str, str]] = {}
        #: ``systemctl daemon-reload`` before the restart (a unit drop-in changed)
        self.daemon_reload = False
        #: recreate the BuildKit builder once the daemon is healthy
        self.recreate_builder = False
        #: how (each argv in order), from the host planned again under the lock
        self.builder_commands: list[list[str]] = []
        #: the builder's commands started: a recovery recreates it with the old file
        self.builder_touched = False
        #: the install program's health check passed (the builder is still to come)
        self.daemon_checked = False

    def set_facts(self, facts: HostFacts) -> None:
        self.facts = facts
        self.engine = engine_of(facts.engine_version)
        self.flags = validate_flags(facts.exec_start)

    def set_action(self, action: Action) -> None:
        self.action = action
        self.result.action = action

    def reach(self, phase: Phase) -> None:
        self.phase = phase

    @property
    def builds(self) -> bool:
        """The health gate recreates the builder (under the lock, before the
        host counts as healthy)."""
        return self.recreate_builder and bool(self.builder_commands)

    @property
    def daemon_change(self) -> FileChange | None:
        return next((c for c in self.changes if c.kind is FileKind.DAEMON), None)

    @property
    def live_restore(self) -> bool:
        """Whether the running daemon keeps containers through a restart."""
        if self.facts.live_restore is not None:
            return self.facts.live_restore
        return "--live-restore" in self.facts.exec_start

    def said(self, text: str, limit: int = _MAX_DETAIL) -> str:
        """What the host said (``text``), masked, then on one line cut at
        ``limit`` (cut first, a secret across the cut would keep its start)."""
        return first_lines(self.ctx.mask(text), limit)

    def step(
        self, name: str, status: StepStatus = StepStatus.OK, detail: str = "", started: float = 0.0
    ) -> None:
        """Record (and journal) one step."""
        seconds = self.ctx.clock() - started if started else 0.0
        record = StepRecord(self.host, name, status, self.said(detail), round(seconds, 4))
        self.result.steps.append(record)
        if self.on_step is not None:
            self.on_step(record)

    def run_keyed(
        self, commands: Mapping[str, list[str]], *, max_output: int | None = None
    ) -> dict[str, CommandResult]:
        """Run ``commands`` in one round trip; their results by key (each
        command's output at most ``max_output``: the transport's default)."""
        if not commands:
            return {}
        keys = list(commands)
        results = self.t.run_many([commands[k] for k in keys], max_output=max_output)
        return dict(zip(keys, results, strict=True))
