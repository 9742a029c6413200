"""One host's apply or rollback, step by step, through the Transport.

Steps, in order, each one journaled through ``on_step`` (round trips in
brackets: four for a host whose change passes):

``lock`` [1]
    create ``/etc/docker/.fleetcfg/{,backups}`` (0700), ``mkdir`` the lock
    (atomic) and write its ``owner.json`` (:data:`~fleetcfg.host.programs.LOCK_PROGRAM`);
    in the same round trip read what the next steps need (state.json, the live
    files, the host's clock before a reload, the running containers before a
    restart with live-restore). A held lock refuses the host, naming the holder.
``recheck``
    the live files still hash as the plan says, and the target re-rendered
    from the inventory (for the live content) hashes as the plan says;
    otherwise the host is refused as stale, saying what changed.
``validate-model``
    fleetcfg's own validation of the exact bytes for the host's Engine version.
``upload``, ``validate``, ``backup``, ``replace``, ``state``, ``reload``/``restart`` [2]
    one program per file (:data:`~fleetcfg.host.programs.INSTALL_PROGRAM`),
    each step only after the one before succeeded: the new file goes to a
    ``mktemp`` file next to its target with the target's mode and owner
    (size and sha256 checked, fsynced); ``dockerd --validate --config-file
    <upload> <the unit's flags>`` (Engine 23.0+; ``--config-file`` and
    unexpanded ``$VARS`` left out); ``cp -p`` of the live file into
    ``backups/``; ``mv`` of the upload over the target (a rename: the file is
    the old one or the new one, never a mix) and fsync of the folder;
    state.json; ``systemctl reset-failed`` + ``restart``, or ``reload``, as
    the plan says (nothing for client config.json changes). A rejected or
    failed upload leaves the target untouched and no backup behind.
``health`` [3, more while it waits]
    the unit is active, ``docker info`` answers, with live-restore the running
    containers are back to their count before the restart, and the optional
    health command passes, within ``health_timeout``; after a reload, the
    daemon's log must show it applied the file (dockerd handles SIGHUP
    asynchronously and keeps its old settings when it refuses a file).
``unlock`` [4]
    old backups beyond the retention count are deleted, the lock removed.

On a failure after ``replace`` the old files are put back (``restore``, the
same program with the content read under the lock), the daemon is restarted
(or reloaded, when a reload failed and it still runs) and checked again
(``recover``), state.json is written again, and the host is reported failed
with dockerd's own words (the validate output or its log). A dropped
connection is retried once to find out what happened and clean up or roll
back the same way; if the host stays unreachable its lock is left in place
(its state is unknown) and the report says so.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fleetcfg.apply.report import HostResult, HostStatus, StepRecord, StepStatus
from fleetcfg.core.errors import (
    ConnectError,
    ConnectionLostError,
    FleetcfgError,
    TransportError,
)
from fleetcfg.core.findings import Severity
from fleetcfg.core.hashing import sha256_hex
from fleetcfg.core.versions import DEFAULT_ENGINE, EngineVersion
from fleetcfg.dockerd.flags import ValidateFlags, validate_argv, validate_flags
from fleetcfg.dockerd.log import reload_outcome, start_error
from fleetcfg.dockerd.validation import check_client_bytes, check_daemon_bytes
from fleetcfg.host.programs import (
    STAGE,
    Check,
    Install,
    check_of,
    install_failure,
    lock_argv,
    stage_of,
    steps_done,
)
from fleetcfg.host.service import ServiceCommands
from fleetcfg.host.state import (
    BACKUP_DIR,
    LOCK_DIR,
    LOCK_OWNER_PATH,
    STATE_DIR,
    STATE_PATH,
    BackupRecord,
    FileRecord,
    HostState,
    LockOwner,
    StateFileError,
    backup_name,
    backup_path,
    prune_backups,
    utc_stamp,
)
from fleetcfg.host.transport.base import CommandResult, Transport
from fleetcfg.plan.model import Action, FileKind, FilePlan, HostPlan

#: the exact bytes to write for ``file`` on ``host``, given the live content
#: (``None``: the file is absent); raises FleetcfgError when it cannot render
TargetResolver = Callable[[HostPlan, FilePlan, bytes | None], bytes]
StepCallback = Callable[[StepRecord], None]

DOCKER_INFO = ("docker", "info", "--format", "{{json .ContainersRunning}}")
DOCKER_PS = ("docker", "ps", "-q")
#: seconds to wait before retrying a host whose connection dropped
RECONNECT_DELAY = 1.0
#: seconds to wait for dockerd to log the outcome of a reload (SIGHUP is
#: handled asynchronously) before passing the host without that confirmation
RELOAD_SETTLE = 10.0
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

    def owner(self) -> LockOwner:
        return LockOwner(
            run_id=self.run_id,
            user=self.user,
            control_host=self.control_host,
            pid=self.pid,
            command=self.command,
            started_at=utc_stamp(self.now()),
            plan_id=self.plan_id,
        )

    @property
    def written_by(self) -> str:
        return f"{self.user}@{self.control_host}"


@dataclass
class FileChange:
    """One file to replace on the host."""

    path: str
    kind: FileKind
    user: str | None
    mode: int
    owner: str
    group: str
    #: sha256 the live file must have (None: absent)
    expect_live: str | None = None
    #: the new content (None: the file is to be removed)
    new: bytes | None = None
    #: rollback: the backup on the host the new content is read from
    copy_from: str | None = None
    live: bytes | None = None
    live_exists: bool = False
    parent_exists: bool = True
    #: mode, owner and group of the live file (what a rollback restores)
    live_mode: int | None = None
    live_owner: str | None = None
    live_group: str | None = None
    backup: BackupRecord | None = None
    #: the rename was issued (the file may be the new one)
    maybe_replaced: bool = False
    #: rollback: the backup being put back
    restoring: BackupRecord | None = None

    @property
    def new_sha256(self) -> str | None:
        return sha256_hex(self.new) if self.new is not None else None

    @property
    def live_sha256(self) -> str | None:
        return sha256_hex(self.live) if self.live_exists and self.live is not None else None


class _Refused(Exception):
    def __init__(self, status: HostStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Failed(Exception):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason


def _first_lines(text: str, limit: int = _MAX_DETAIL) -> str:
    text = " ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "absent"


class HostRun:
    """Apply (or roll back) one host; :meth:`run` never raises for host
    problems, it reports them in the :class:`HostResult`."""

    def __init__(
        self,
        plan: HostPlan,
        transport: Transport,
        ctx: RunContext,
        *,
        service: ServiceCommands,
        on_step: StepCallback | None = None,
        targets: TargetResolver | None = None,
        batch: int | None = None,
    ) -> None:
        self.plan = plan
        self.t = transport
        self.ctx = ctx
        self.service = service
        self.on_step = on_step
        self.targets = targets
        self.action = plan.action
        self.result = HostResult(host=plan.host, action=plan.action, status=HostStatus.CHANGED)
        self.result.batch = batch
        self.changes: list[FileChange] = []
        self.state = HostState()
        self.locked = False
        self.service_touched = False
        self.baseline: int | None = None
        self.flags = ValidateFlags((), ())
        self.engine = self._engine(plan.facts.engine_version)
        self.has_validate = plan.facts.has_validate
        self.pruned: list[str] = []
        self.state_written = False
        self.lock_attempted = False
        #: the change is in place and passed the health gate
        self.healthy = False
        #: the host's clock (epoch seconds) before a reload, to read its log since
        self.host_time: str | None = None

    # -- reporting ----------------------------------------------------------

    def step(
        self, name: str, status: StepStatus = StepStatus.OK, detail: str = "", started: float = 0.0
    ) -> None:
        seconds = self.ctx.clock() - started if started else 0.0
        record = StepRecord(
            self.plan.host, name, status, _first_lines(self.ctx.mask(detail)), round(seconds, 4)
        )
        self.result.steps.append(record)
        if self.on_step is not None:
            self.on_step(record)

    @staticmethod
    def _engine(text: str | None) -> EngineVersion:
        if text:
            try:
                return EngineVersion.parse(text)
            except ValueError:
                pass
        return DEFAULT_ENGINE

    # -- the run ------------------------------------------------------------

    def run(self) -> HostResult:
        try:
            self._run()
        except _Refused as refused:
            self.result.status = refused.status
            self.result.reason = self.ctx.mask(refused.reason)
            self._release_quietly()
        except _Failed as failed:
            self._fail(failed.step, failed.reason)
        except (ConnectError, ConnectionLostError) as exc:
            self._lost(exc)
        except FleetcfgError as exc:
            self._fail("error", exc.message + (f" ({exc.hint})" if exc.hint else ""))
        return self.result

    def _run(self) -> None:
        self._prepare()
        self._recheck()
        self._validate_model()
        self._commit()
        if not self.healthy:
            self._health(after=self.action)
            self.healthy = True
        if self.locked:
            self._unlock(prune=True)
        self.result.status = HostStatus.CHANGED

    # -- 1. lock and read -----------------------------------------------------

    def _collect_changes(self) -> None:
        for fp in self.plan.files:
            if not fp.changed:
                continue
            self.changes.append(
                FileChange(
                    path=fp.path,
                    kind=fp.kind,
                    user=fp.user,
                    mode=fp.mode,
                    owner=fp.owner,
                    group=fp.group,
                    expect_live=fp.live_sha256,
                    live_mode=fp.live_mode,
                    live_owner=fp.live_owner,
                    live_group=fp.live_group,
                )
            )

    def _file_plan(self, path: str) -> FilePlan:
        for fp in self.plan.files:
            if fp.path == path:
                return fp
        raise KeyError(path)

    @property
    def daemon_change(self) -> FileChange | None:
        for change in self.changes:
            if change.kind is FileKind.DAEMON:
                return change
        return None

    def _prepare(self) -> None:
        started = self.ctx.clock()
        self._collect_changes()
        owner = self.ctx.owner().to_bytes()
        commands: dict[str, list[str]] = {
            "lock": lock_argv(STATE_DIR, BACKUP_DIR, LOCK_DIR, LOCK_OWNER_PATH, owner),
            "state": ["cat", STATE_PATH],
        }
        commands.update(self._file_reads())
        commands.update(self._extra_reads())
        keys = list(commands)
        self.lock_attempted = True
        results = dict(zip(keys, self.t.run_many([commands[k] for k in keys]), strict=True))
        self._take_lock(results)
        self._read_state(results)
        results.update(self._after_lock(results))
        self._store_reads(results)
        self.step("lock", StepStatus.OK, f"locked {LOCK_DIR} (run {self.ctx.run_id})", started)

    def _extra_reads(self) -> dict[str, list[str]]:
        """What else the lock round trip reads: the host's clock before a
        reload (to read the daemon's log since), the running containers
        before a restart with live-restore."""
        commands: dict[str, list[str]] = {}
        if self.action is Action.RELOAD:
            commands["time"] = ["date", "+%s"]
        if self.action is Action.RESTART and self._live_restore_running():
            commands["containers"] = list(DOCKER_PS)
        return commands

    def _after_lock(self, results: dict[str, CommandResult]) -> dict[str, CommandResult]:
        """Use the extra reads; returns more results for :meth:`_store_reads`."""
        self.flags = validate_flags(self.plan.facts.exec_start)
        containers = results.get("containers")
        if containers is not None and containers.ok:
            self.baseline = len(containers.stdout.split())
        clock = results.get("time")
        if clock is not None and clock.ok and clock.stdout.strip().isdigit():
            self.host_time = clock.stdout.strip()
        return {}

    def _file_reads(self) -> dict[str, list[str]]:
        commands: dict[str, list[str]] = {}
        for index, change in enumerate(self.changes):
            commands[f"file:{index}"] = ["cat", change.path]
            if change.kind is not FileKind.DAEMON:
                commands[f"dir:{index}"] = ["test", "-d", posixpath.dirname(change.path)]
        return commands

    def _read_files_now(self) -> dict[str, CommandResult]:
        reads = self._file_reads()
        if not reads:
            return {}
        keys = list(reads)
        return dict(zip(keys, self.t.run_many([reads[k] for k in keys]), strict=True))

    def _store_reads(self, results: dict[str, CommandResult]) -> None:
        for index, change in enumerate(self.changes):
            self._read_live(change, results[f"file:{index}"])
            parent = results.get(f"dir:{index}")
            change.parent_exists = parent is None or parent.ok

    def _take_lock(self, results: dict[str, CommandResult]) -> None:
        lock = results["lock"]
        if lock.exit_status == 0:
            self.locked = True
            return
        if lock.exit_status == 4:
            why = _first_lines(lock.stderr) or "write error"
            if "No space left on device" in why:
                why = f"no space left on device in {STATE_DIR}"
            raise _Failed(
                "lock",
                f"cannot record the lock's owner in {LOCK_OWNER_PATH}: {why} (nothing was changed)",
            )
        if lock.exit_status != 3:
            raise _Failed(
                "lock",
                f"cannot create {LOCK_DIR}: {_first_lines(lock.stderr) or 'mkdir failed'} "
                "(fleetcfg needs root on the host: connect as root or set ssh.become)",
            )
        holder = LockOwner.from_bytes(lock.stdout_bytes) if lock.stdout.strip() else None
        if not self.ctx.break_lock:
            self.step("lock", StepStatus.FAILED, self._held_message(holder))
            raise _Refused(HostStatus.LOCKED, self._held_message(holder))
        self._break_lock(holder)

    def _held_message(self, holder: LockOwner | None) -> str:
        if holder is None:
            who = (
                "a run that recorded no owner (it may have died while taking the lock, "
                "or be taking it right now)"
            )
        else:
            who = holder.describe(self.ctx.now())
            if holder.control_host == self.ctx.control_host and not _pid_alive(holder.pid):
                who += "; that process is gone from this machine, so the lock is stale"
        return (
            f"locked by {who}: {LOCK_DIR} exists on the host. If no fleetcfg run is "
            "working on this host any more, check it (fleetcfg plan) and run again with "
            "--break-lock"
        )

    def _break_lock(self, holder: LockOwner | None) -> None:
        who = holder.describe(self.ctx.now()) if holder else "no recorded owner"
        owner = self.ctx.owner().to_bytes()
        results = self.t.run_many(
            [
                ["rm", "-f", LOCK_OWNER_PATH],
                ["rmdir", LOCK_DIR],
                lock_argv(STATE_DIR, BACKUP_DIR, LOCK_DIR, LOCK_OWNER_PATH, owner),
            ]
        )
        if results[2].exit_status != 0:
            raise _Refused(
                HostStatus.LOCKED,
                f"--break-lock could not take the lock held by {who}: "
                f"{_first_lines(results[1].stderr or results[2].stderr) or 'held again'}",
            )
        self.locked = True
        self.step("break-lock", StepStatus.OK, f"broke the lock held by {who}")

    def _read_state(self, results: dict[str, CommandResult]) -> None:
        raw = results["state"]
        if not raw.ok:
            if "No such file" not in raw.stderr:
                raise _Failed("lock", f"cannot read {STATE_PATH}: {_first_lines(raw.stderr)}")
            return
        try:
            self.state = HostState.from_bytes(raw.stdout_bytes)
        except StateFileError as exc:
            aside = f"{STATE_PATH}.unreadable-{self.ctx.run_id}"
            self.t.run(["cp", "-p", STATE_PATH, aside])
            self.step("state", StepStatus.SKIPPED, f"{exc}; kept it as {aside} and started afresh")

    def _read_live(self, change: FileChange, result: CommandResult) -> None:
        if result.ok:
            change.live, change.live_exists = result.stdout_bytes, True
        elif "No such file" in result.stderr:
            change.live, change.live_exists = None, False
        else:
            raise _Failed("lock", f"cannot read {change.path}: {_first_lines(result.stderr)}")

    def _live_restore_running(self) -> bool:
        """Whether the running daemon keeps containers through a restart."""
        if self.plan.facts.live_restore is not None:
            return self.plan.facts.live_restore
        return "--live-restore" in self.plan.facts.exec_start

    # -- 2. recheck -----------------------------------------------------------

    def _recheck(self) -> None:
        started = self.ctx.clock()
        problems: list[str] = []
        for change in self.changes:
            if change.live_sha256 != change.expect_live:
                problems.append(
                    f"{change.path} changed since the plan (sha256 {_short(change.expect_live)} "
                    f"in the plan, {_short(change.live_sha256)} now)" + self._who_wrote(change)
                )
        if problems:
            self.step("recheck", StepStatus.FAILED, "; ".join(problems), started)
            raise _Refused(HostStatus.STALE, "; ".join(problems) + ": run fleetcfg plan again")
        if self.targets is None:
            raise _Failed("recheck", "no way to render the targets was given (a bug)")
        for change in self.changes:
            fp = self._file_plan(change.path)
            try:
                change.new = self.targets(self.plan, fp, change.live)
            except FleetcfgError as exc:
                raise _Failed(
                    "recheck", f"cannot render the target of {change.path}: {exc}"
                ) from None
            if change.new_sha256 != fp.target_sha256:
                problems.append(
                    f"the target of {change.path} rendered from the inventory changed since "
                    f"the plan (sha256 {_short(fp.target_sha256)} in the plan, "
                    f"{_short(change.new_sha256)} now): inventory.yaml, a profile or an "
                    "env()/file() value was edited"
                )
        if problems:
            self.step("recheck", StepStatus.FAILED, "; ".join(problems), started)
            raise _Refused(HostStatus.STALE, "; ".join(problems) + ": run fleetcfg plan again")
        self.step("recheck", StepStatus.OK, "live files and targets match the plan", started)

    def _who_wrote(self, change: FileChange) -> str:
        record = self.state.record(change.path)
        if record is None:
            return ""
        if record.sha256 == change.live_sha256:
            return f"; fleetcfg {record.command} by {record.written_by} wrote it at {record.written_at}"
        return "; it was edited outside fleetcfg"

    # -- 3. model validation ------------------------------------------------------

    def _validate_model(self) -> None:
        started = self.ctx.clock()
        notes: list[str] = []
        for change in self.changes:
            if change.new is None:
                continue
            if change.kind is FileKind.DAEMON:
                check: Any = check_daemon_bytes(change.new, file=change.path, engine=self.engine)
                what = f"Engine {self.engine.short}"
            else:
                check = check_client_bytes(change.new, file=change.path)
                what = "the docker CLI"
            errors = [f for f in check.findings if f.severity is Severity.ERROR]
            if errors:
                shown = "; ".join(
                    f"{f.rule} {f.path or ''}: {f.message}".strip() for f in errors[:3]
                )
                raise _Failed(
                    "validate-model",
                    f"fleetcfg's validation for {what} rejects the new {change.path}: {shown}",
                )
            notes.append(f"{change.path} valid for {what}")
        self.step("validate-model", StepStatus.OK, "; ".join(notes), started)

    # -- 4. upload, validate, backup, replace, state, reload/restart ---------------

    def _commit(self) -> None:
        """Everything from the upload to the reload or restart, each step only
        after the one before succeeded: one round trip per file (see
        :mod:`fleetcfg.host.programs`); the last file's program also records
        state.json and runs the reload or restart."""
        moment = self.ctx.now()
        for change in self.changes:
            if change.live_exists:
                name = backup_name(change.path, moment)
                change.backup = BackupRecord(
                    name, change.live_sha256, utc_stamp(moment), self.ctx.run_id
                )
            else:
                change.backup = BackupRecord(None, None, utc_stamp(moment), self.ctx.run_id)
        for change in self.changes:
            if not change.parent_exists and change.new is not None:
                self._make_parent(change)
        removals = [c for c in self.changes if c.new is None]
        installs = [c for c in self.changes if c.new is not None]
        for change in removals:
            self._remove(change)
        for index, change in enumerate(installs):
            self._install(change, last=index == len(installs) - 1)
        if not installs:
            self._record_state()
            self._service_action()

    def _pre_action(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        if self.action is Action.RELOAD:
            return (), self.service.reload
        if self.action is Action.RESTART:
            return self.service.reset_failed, self.service.restart
        return (), ()

    def _validate_command(self, change: FileChange) -> list[str]:
        if change.kind is not FileKind.DAEMON or not self.has_validate:
            return []
        return validate_argv(STAGE, self.flags.flags)

    def _install(self, change: FileChange, *, last: bool) -> None:
        assert change.new is not None
        started = self.ctx.clock()
        pre, action = self._pre_action() if last else ((), ())
        new_state = self._new_state(restored=False) if last else None
        backup = change.backup
        check: dict[str, Any] = {}
        if last and self.action is Action.RESTART:
            check = {
                "status": self.service.status,
                "info": DOCKER_INFO,
                "health": self.service.health,
                "want": self.baseline,
            }
        finish: list[list[str]] = []
        if last and self.action in (Action.RESTART, Action.WRITE):
            finish = self._unlock_commands(prune=True)
        program = Install(
            target=change.path,
            content=change.new,
            mode=change.mode,
            owner=change.owner,
            group=change.group,
            backup=backup_path(backup.name) if backup is not None and backup.name else None,
            validate=self._validate_command(change),
            state_path=STATE_PATH if last else None,
            state=new_state.to_bytes() if new_state is not None else None,
            pre=pre,
            action=action,
            finish=finish,
            **check,
        )
        change.maybe_replaced = True  # until the host says otherwise
        if last:
            self.state_written = True
            self.service_touched = bool(action)
        result = self.t.run(program.argv(), stdin=change.new)
        done = steps_done(result)
        stage = stage_of(result)
        change.maybe_replaced = "replace" in done
        if change.maybe_replaced:
            self.result.nothing_written = False
            self.result.written.append(change.path)
        if last:
            self.state_written = "state" in done
            self.service_touched = "state" in done and bool(action)
        if "backup" in done and backup is not None and backup.name:
            self.result.backups.append(backup.name)
        self._report_install(change, done, started, check_of(result))
        if "health" in done:
            self.healthy = True
        if "unlock" in done:
            self.locked = False
        failure = install_failure(result)
        if failure is None:
            return
        step, what = failure
        if step in ("health", "unlock"):
            return  # not healthy yet, or not unlocked: the caller goes on
        output = _first_lines(result.stderr or "")
        if stage:
            output = output.replace(stage, change.path)
        what = what.format(path=change.path)
        if "No space left on device" in output:
            output = f"no space left on device in {posixpath.dirname(change.path)}"
        if step == "validate":
            flags = " ".join(self.flags.flags) or "no flags"
            self.step("validate", StepStatus.FAILED, output, started)
            raise _Failed(
                "validate",
                f"dockerd --validate rejects the new {change.path} with the unit's flags "
                f"({flags}){self._dropped_note()}: {output}",
            )
        if step == "action":
            command = " ".join(action)
            why = self._daemon_error() if self.action is Action.RESTART else None
            name = "restart" if self.action is Action.RESTART else "reload"
            self.step(name, StepStatus.FAILED, why or output, started)
            raise _Failed(name, f"`{command}` failed: {why or output or 'no error output'}")
        unchanged = (
            ""
            if change.maybe_replaced or not self.result.nothing_written
            else (" (nothing was changed)")
        )
        self.step(step, StepStatus.FAILED, f"{what}: {output}", started)
        raise _Failed(step, f"{what}: {output or 'no error output'}{unchanged}")

    def _dropped_note(self) -> str:
        if not self.flags.dropped:
            return ""
        return f" (left out of the unit's flags: {' '.join(self.flags.dropped)})"

    def _report_install(
        self, change: FileChange, done: list[str], started: float, check: Check | None
    ) -> None:
        """Journal the steps one install round trip finished, in order (their
        time is on the last of them)."""
        assert change.new is not None
        action = self._pre_action()[1] if "state" in done else ()
        backup = change.backup
        details = {
            "upload": f"{change.path}: {len(change.new)} bytes, {change.mode:04o} "
            f"{change.owner}:{change.group}, uploaded next to it",
            "validate": f"dockerd --validate with {' '.join(self.flags.flags) or 'no flags'}: "
            f"configuration OK{self._dropped_note()}",
            "backup": backup_path(backup.name) if backup is not None and backup.name else "",
            "replace": f"{change.path} sha256 {_short(change.new_sha256)}",
            "state": f"recorded in {STATE_PATH}",
            "action": " ".join(action),
            "health": "daemon active, docker info answers"
            + (f", {check.info} containers running" if check and check.info.isdigit() else ""),
            "unlock": self._unlock_note(prune=True),
        }
        entries: list[tuple[str, StepStatus, str]] = []
        for name in (
            "upload",
            "validate",
            "backup",
            "replace",
            "state",
            "action",
            "health",
            "unlock",
        ):
            if name in done:
                shown: str = name
                if name == "action":
                    shown = "restart" if self.action is Action.RESTART else "reload"
                entries.append((shown, StepStatus.OK, details[name]))
            elif name == "validate" and "upload" in done and change.kind is FileKind.DAEMON:
                if not self.has_validate:
                    engine = self.plan.facts.engine_version or "(unknown)"
                    entries.append(
                        (
                            "validate",
                            StepStatus.SKIPPED,
                            f"dockerd {engine} has no --validate (Engine 23.0+); fleetcfg's "
                            f"validation for Engine {self.engine.short} passed",
                        )
                    )
            elif name == "backup" and "replace" in done and backup is not None and backup.absent:
                entries.append(("backup", StepStatus.SKIPPED, f"{change.path} is new"))
            elif name == "action" and "state" in done and not action:
                entries.append(
                    ("service", StepStatus.SKIPPED, "client config only: dockerd is not touched")
                )
        for index, (name, status, detail) in enumerate(entries):
            self.step(name, status, detail, started if index == len(entries) - 1 else 0.0)

    def _remove(self, change: FileChange) -> None:
        """Rollback to "the file did not exist": back it up, then remove it."""
        started = self.ctx.clock()
        backup = change.backup
        if change.live_exists and backup is not None and backup.name:
            copied = self.t.run(["cp", "-p", change.path, backup_path(backup.name)])
            if not copied.ok:
                raise _Failed(
                    "backup",
                    f"cannot back up {change.path}: {_first_lines(copied.stderr)} "
                    "(nothing was changed)",
                )
            self.result.backups.append(backup.name)
            self.step("backup", StepStatus.OK, backup_path(backup.name), started)
        change.maybe_replaced = True
        removed = self.t.run(["rm", "-f", change.path])
        if not removed.ok:
            change.maybe_replaced = False
            raise _Failed("replace", f"cannot remove {change.path}: {_first_lines(removed.stderr)}")
        self.result.nothing_written = False
        self.result.written.append(change.path)
        self.step("replace", StepStatus.OK, f"removed {change.path}", started)

    def _make_parent(self, change: FileChange) -> None:
        parent = posixpath.dirname(change.path)
        results = self.t.run_many(
            [["mkdir", "-m", "0700", parent], ["chown", f"{change.owner}:{change.group}", parent]]
        )
        if not results[0].ok and "File exists" not in results[0].stderr:
            raise _Failed("upload", f"cannot create {parent}: {_first_lines(results[0].stderr)}")
        if not results[1].ok:
            raise _Failed(
                "upload",
                f"cannot give {parent} to {change.owner}: {_first_lines(results[1].stderr)}",
            )

    # -- 7. state -------------------------------------------------------------------

    def _new_state(self, *, restored: bool) -> HostState:
        state = self.state
        moment = utc_stamp(self.ctx.now())
        self.pruned = []
        for change in self.changes:
            old = state.record(change.path)
            backups = old.backups if old else ()
            if change.backup is not None and change.backup not in backups:
                backups = (*backups, change.backup)
            if restored:
                sha = change.live_sha256
                command = f"{self.ctx.command} (rolled back)"
            else:
                sha = change.new_sha256
                command = self.ctx.command
                backups, dropped = prune_backups(backups, self.ctx.keep_backups)
                self.pruned.extend(dropped)
            record = FileRecord(
                path=change.path,
                kind=change.kind.value,
                user=change.user,
                sha256=sha,
                written_at=moment,
                written_by=self.ctx.written_by,
                run_id=self.ctx.run_id,
                plan_id=self.ctx.plan_id,
                command=command,
                backups=backups,
                extra=old.extra if old else {},
            )
            state = state.with_record(record)
        return state

    def _record_state(self) -> None:
        started = self.ctx.clock()
        new_state = self._new_state(restored=False)
        self.t.write_file(STATE_PATH, new_state.to_bytes(), mode=0o600)
        self.state_written = True
        self.step("state", StepStatus.OK, f"recorded in {STATE_PATH}", started)

    # -- 8. reload / restart -----------------------------------------------------------

    def _service_action(self) -> None:
        started = self.ctx.clock()
        if self.action is Action.RELOAD:
            self.service_touched = True
            result = self.t.run(list(self.service.reload))
            if not result.ok:
                raise _Failed(
                    "reload",
                    f"`{' '.join(self.service.reload)}` failed: {_first_lines(result.stderr or result.stdout)}",
                )
            self.step("reload", StepStatus.OK, " ".join(self.service.reload), started)
        elif self.action is Action.RESTART:
            self.service_touched = True
            result = self._restart()
            if not result.ok:
                why = self._daemon_error() or _first_lines(result.stderr or result.stdout)
                raise _Failed("restart", f"`{' '.join(self.service.restart)}` failed: {why}")
            self.step("restart", StepStatus.OK, " ".join(self.service.restart), started)
        else:
            self.step("service", StepStatus.SKIPPED, "client config only: dockerd is not touched")

    def _restart(self) -> CommandResult:
        if self.service.reset_failed:
            return self.t.run_many([list(self.service.reset_failed), list(self.service.restart)])[1]
        return self.t.run(list(self.service.restart))

    def _daemon_error(self) -> str | None:
        if not self.service.logs:
            return None
        try:
            logs = self.t.run(list(self.service.logs))
        except TransportError:
            return None
        return start_error(logs.stdout) if logs.ok else None

    # -- 9. health -----------------------------------------------------------------------

    def _reload_log_command(self) -> list[str]:
        """The log command, limited to what the daemon logged since before
        the reload when it is journalctl and the host's clock is known."""
        logs = list(self.service.logs)
        if logs and posixpath.basename(logs[0]) == "journalctl" and self.host_time:
            logs += ["--since", f"@{self.host_time}"]
        return logs

    def _health(self, *, after: Action, baseline: bool = True, step: str = "health") -> None:
        """Poll until the daemon is healthy or ``health_timeout`` passes."""
        if after not in (Action.RELOAD, Action.RESTART):
            return
        started = self.ctx.clock()
        deadline = started + self.service.health_timeout
        settle = started + min(RELOAD_SETTLE, self.service.health_timeout)
        watch_reload = after is Action.RELOAD and bool(self.service.logs) and step == "health"
        want = self.baseline if baseline else None
        reload_note = ""
        while True:
            commands = [list(self.service.status), list(DOCKER_INFO)]
            if self.service.health:
                commands.append(list(self.service.health))
            if watch_reload:
                commands.append(self._reload_log_command())
            results = self.t.run_many(commands)
            status, info = results[0], results[1]
            health = results[2] if self.service.health else None
            problems: list[str] = []
            if watch_reload:
                outcome, error = reload_outcome(results[-1].stdout)
                if outcome == "error":
                    self.step(step, StepStatus.FAILED, f"dockerd: {error}", started)
                    raise _Failed(step, f"dockerd refused the reloaded configuration: {error}")
                if outcome == "ok":
                    watch_reload = False
                    reload_note = "; dockerd reloaded the file"
                elif self.ctx.clock() >= settle:
                    watch_reload = False
                    reload_note = (
                        "; the daemon's log does not confirm the reload"
                        if outcome == "unseen"
                        else "; dockerd has not finished reloading yet"
                    )
                else:
                    problems.append("dockerd is reloading")
            unit = status.stdout.strip() or status.stderr.strip() or f"exit {status.exit_status}"
            if not status.ok:
                problems.append(f"the daemon is {unit}")
            running: int | None = None
            if info.ok:
                try:
                    running = int(info.stdout.strip())
                except ValueError:
                    running = None
            else:
                problems.append(f"docker info: {_first_lines(info.stderr or info.stdout, 200)}")
            if health is not None and not health.ok:
                problems.append(
                    f"`{' '.join(self.service.health)}` exits {health.exit_status}: "
                    f"{_first_lines(health.stderr or health.stdout, 200)}"
                )
            if not problems and want is not None and running is not None and running < want:
                problems.append(f"{running} of the {want} containers that ran before are running")
            if not problems:
                count = f", {running} containers running" if running is not None else ""
                self.step(
                    step,
                    StepStatus.OK,
                    f"daemon active, docker info answers{count}{reload_note}",
                    started,
                )
                return
            if unit == "failed" or self.ctx.clock() >= deadline:
                why = self._daemon_error() if not status.ok or not info.ok else None
                detail = "; ".join(problems) + (f"; dockerd: {why}" if why else "")
                self.step(step, StepStatus.FAILED, detail, started)
                within = f" within {self.service.health_timeout:g}s" if unit != "failed" else ""
                raise _Failed(step, f"not healthy after the {after.value}{within}: {detail}")
            self.ctx.sleep(self.ctx.poll_interval)

    # -- 10. unlock ----------------------------------------------------------------------

    def _unlock_commands(self, *, prune: bool) -> list[list[str]]:
        pruned = [backup_path(n) for n in self.pruned] if prune else []
        return [["rm", "-f", "--", *pruned, LOCK_OWNER_PATH], ["rmdir", "--", LOCK_DIR]]

    def _unlock_note(self, *, prune: bool) -> str:
        old = f"deleted {len(self.pruned)} old backups; " if prune and self.pruned else ""
        return f"{old}removed {LOCK_DIR}"

    def _unlock(self, *, prune: bool) -> None:
        started = self.ctx.clock()
        results = self.t.run_many(self._unlock_commands(prune=prune))
        self.locked = False
        if not results[-1].ok:
            self.step(
                "unlock",
                StepStatus.FAILED,
                f"cannot remove {LOCK_DIR}: {_first_lines(results[-1].stderr)}",
                started,
            )
            return
        self.step("unlock", StepStatus.OK, self._unlock_note(prune=prune), started)

    def _release_quietly(self) -> None:
        """Clean up and unlock after a refusal or a failure (never raises)."""
        if not self.locked:
            return
        try:
            self._cleanup_uploads()
            self._unlock(prune=False)
        except (ConnectError, ConnectionLostError) as exc:
            self._unreachable(exc)
        except TransportError as exc:
            self.result.lock_left = True
            self.step("unlock", StepStatus.FAILED, str(exc))
            self.result.reason += (
                f"; the lock {LOCK_DIR} could not be removed ({exc.message}): "
                "run again with --break-lock once the host is fixed"
            )

    def _cleanup_uploads(self) -> None:
        """Remove uploads this run may have left next to targets it did not
        replace (an interrupted install; removing them also stops a program
        still running on the host from renaming one later), and, when nothing
        was replaced, the backups it made (copies of unchanged files). Once a
        file was replaced, its backup is never deleted."""
        commands = [
            [
                "find",
                posixpath.dirname(c.path) or "/",
                "-maxdepth",
                "1",
                "-name",
                f".{posixpath.basename(c.path)}.fleetcfg-*",
                "-type",
                "f",
                "-delete",
            ]
            for c in self.changes
            if not c.maybe_replaced and c.new is not None
        ]
        if self.result.nothing_written:
            made = [backup_path(c.backup.name) for c in self.changes if c.backup and c.backup.name]
            if made:
                commands.append(["rm", "-f", *made])
            self.result.backups = [n for n in self.result.backups if backup_path(n) not in made]
        if commands:
            self.t.run_many(commands)

    # -- failure handling ------------------------------------------------------------------

    def _fail(self, step: str, reason: str) -> None:
        self.result.status = HostStatus.FAILED
        self.result.reason = self.ctx.mask(reason)
        if not any(s.step == step and s.status is StepStatus.FAILED for s in self.result.steps):
            self.step(step, StepStatus.FAILED, reason)
        try:
            if any(c.maybe_replaced for c in self.changes):
                self._roll_back()
            self._release_quietly()
        except (ConnectError, ConnectionLostError) as exc:
            self._unreachable(exc)
        except TransportError as exc:
            self.result.lock_left = self.locked
            self.step("recover", StepStatus.FAILED, str(exc))
            self.result.reason += f"; recovering failed too: {self.ctx.mask(str(exc))}"

    def _roll_back(self) -> None:
        """Put the backups back, bring the daemon back, record it."""
        started = self.ctx.clock()
        restored: list[str] = []
        problems: list[str] = []
        for change in self.changes:
            if not change.maybe_replaced:
                continue
            backup = change.backup
            if backup is None:
                problems.append(f"{change.path}: no backup")
                continue
            if backup.absent or change.live is None:
                result = self.t.run(["rm", "-f", change.path])
            else:
                restore = Install(
                    target=change.path,
                    content=change.live,
                    mode=change.live_mode if change.live_mode is not None else change.mode,
                    owner=change.live_owner or change.owner,
                    group=change.live_group or change.group,
                )
                result = self.t.run(restore.argv(), stdin=change.live)
            if result.ok:
                change.maybe_replaced = False
                restored.append(change.path if not backup.absent else f"{change.path} (removed)")
            else:
                problems.append(f"{change.path}: {_first_lines(result.stderr)}")
        if problems:
            self.step("restore", StepStatus.FAILED, "; ".join(problems), started)
            self.result.rolled_back = False
            self.result.reason += f"; restoring the backup failed: {'; '.join(problems)}"
            return
        self.result.rolled_back = True
        self.result.written = []
        self.step("restore", StepStatus.OK, "restored " + ", ".join(restored), started)
        if self.state_written:
            self.t.write_file(STATE_PATH, self._new_state(restored=True).to_bytes(), mode=0o600)
        self._recover_service()

    def _recover_service(self) -> None:
        daemon = self.daemon_change
        if daemon is None or not self.service_touched:
            return
        started = self.ctx.clock()
        status = self.t.run(list(self.service.status))
        if self.action is Action.RELOAD and status.ok:
            result = self.t.run(list(self.service.reload))
            again = Action.RELOAD
            command = self.service.reload
        else:
            result = self._restart()
            again = Action.RESTART
            command = self.service.restart
        if not result.ok:
            why = self._daemon_error() or _first_lines(result.stderr or result.stdout)
            self.step("recover", StepStatus.FAILED, f"`{' '.join(command)}` failed: {why}", started)
            self.result.recovered = False
            self.result.reason += (
                f"; the daemon does not start with the restored file either: {why}"
            )
            return
        self.step("recover", StepStatus.OK, " ".join(command), started)
        try:
            self._health(after=again, baseline=False, step="recover-health")
        except _Failed as failed:
            self.result.recovered = False
            self.result.reason += f"; after the rollback: {failed.reason}"
            return
        self.result.recovered = True

    def _lost(self, exc: TransportError) -> None:
        """The connection dropped or the host vanished: try once more to
        clean up or roll back; otherwise leave the lock and say so."""
        self.result.status = HostStatus.FAILED
        self.result.reason = self.ctx.mask(str(exc.message))
        self.step("connection", StepStatus.FAILED, str(exc.message))
        self.ctx.sleep(self.ctx.reconnect_delay)
        try:
            if self.healthy:
                self._unlock(prune=True)
                self.result.status = HostStatus.CHANGED
                self.result.reason = ""
                return
            if not self.locked:
                self._reclaim_lock()
                return
            self._find_replaced()
            if any(c.maybe_replaced for c in self.changes):
                self._roll_back()
            self._release_quietly()
        except (ConnectError, ConnectionLostError) as again:
            self._unreachable(again)
        except TransportError as again:
            self.result.lock_left = self.locked
            self.result.reason += f"; cleaning up failed: {self.ctx.mask(str(again))}"

    def _reclaim_lock(self) -> None:
        """The connection dropped while taking the lock: remove it if it
        names this run as its owner."""
        owner = self.t.run(["cat", LOCK_OWNER_PATH])
        holder = LockOwner.from_bytes(owner.stdout_bytes) if owner.ok else None
        if holder is not None and holder.run_id == self.ctx.run_id:
            self.locked = True
            self._unlock(prune=False)

    def _find_replaced(self) -> None:
        """After a dropped connection: which targets are really the new file."""
        candidates = [c for c in self.changes if c.maybe_replaced]
        if not candidates:
            return
        results = self.t.run_many([["sha256sum", c.path] for c in candidates])
        for change, result in zip(candidates, results, strict=True):
            now = result.stdout.split()[0] if result.ok and result.stdout.split() else None
            if now != change.new_sha256:
                change.maybe_replaced = False
            else:
                self.result.nothing_written = False

    def _unreachable(self, exc: TransportError) -> None:
        maybe_locked = not self.locked and self.lock_attempted
        self.result.lock_left = self.locked or maybe_locked
        maybe = any(c.maybe_replaced for c in self.changes)
        if self.healthy:
            state = (
                "the change is in place and had passed the health gate; the host became "
                "unreachable while fleetcfg unlocked it"
            )
        elif maybe:
            self.result.nothing_written = False
            state = "its files are either the old or the new ones, never a mix"
        else:
            state = "nothing was changed"
        lock = ""
        if self.locked:
            lock = (
                f"; the lock {LOCK_DIR} stays on the host: check it (fleetcfg plan), then run "
                "again with --break-lock"
            )
        elif maybe_locked:
            lock = (
                f"; if {LOCK_DIR} exists on the host and names run {self.ctx.run_id}, it is "
                "this run's: remove it with --break-lock"
            )
        self.result.reason = self.ctx.mask(
            f"{self.result.reason}; the host stays unreachable ({exc.message}): {state}{lock}"
        )
        self.step("recover", StepStatus.FAILED, f"unreachable: {exc.message}")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
