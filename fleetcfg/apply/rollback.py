"""``fleetcfg rollback HOST``: put back the backups of the last apply, with
the same care as apply (lock, validate, replace, restart, health gate, and a
roll-forward to the file it replaced if the restored one fails).

Which files: by default every file the host's newest fleetcfg run wrote
(state.json's ``run_id``), each restored from the backup that run made;
``files`` narrows that to some paths, ``backup`` picks one backup by name.
A file changed since fleetcfg wrote it is refused (``force`` overrides).

The rollback is itself recorded with a backup of the file it replaced, so
rolling back twice returns to where the host was.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import unquote

from fleetcfg.apply.hostrun import (
    FileChange,
    HostRun,
    RunContext,
    StepCallback,
    _Failed,
    _first_lines,
    _Refused,
    _short,
)
from fleetcfg.apply.report import HostStatus, StepStatus
from fleetcfg.core.hashing import sha256_hex
from fleetcfg.dockerd.flags import validate_flags
from fleetcfg.host.service import ServiceCommands
from fleetcfg.host.state import FileRecord, backup_path
from fleetcfg.host.transport.base import CommandResult, Transport
from fleetcfg.plan.facts import fact_commands, parse_facts
from fleetcfg.plan.model import Action, FileKind, HostPlan


def backup_target(name: str) -> str:
    """The file a backup name belongs to (``etc%2Fdocker%2Fdaemon.json.2024...``
    -> ``/etc/docker/daemon.json``)."""
    quoted = name.rsplit(".", 2)[0] if name.count(".") >= 2 else name
    return "/" + unquote(quoted)


class RollbackRun(HostRun):
    """Roll one host back (see the module docstring)."""

    def __init__(
        self,
        host: str,
        transport: Transport,
        ctx: RunContext,
        *,
        service: ServiceCommands,
        on_step: StepCallback | None = None,
        files: Sequence[str] = (),
        backup: str | None = None,
        force: bool = False,
        address: str | None = None,
        groups: Sequence[str] = (),
        batch: int | None = None,
    ) -> None:
        plan = HostPlan(host=host, address=address, groups=list(groups), action=Action.RESTART)
        super().__init__(plan, transport, ctx, service=service, on_step=on_step, batch=batch)
        self.wanted = list(files)
        if backup is not None:
            self.wanted = [backup_target(backup)]
        self.backup_name = backup
        self.force = force
        self.records: dict[str, FileRecord] = {}
        self.facts_count = len(fact_commands())

    # -- choosing what to restore ---------------------------------------------------

    def _collect_changes(self) -> None:
        return  # decided from state.json once the lock is held

    def _extra_reads(self) -> dict[str, list[str]]:
        return {f"fact:{i}": argv for i, argv in enumerate(fact_commands())}

    def _after_lock(self, results: dict[str, CommandResult]) -> dict[str, CommandResult]:
        facts = parse_facts(
            self.plan.host, [], [results[f"fact:{i}"] for i in range(self.facts_count)]
        )
        host_facts = facts.to_host_facts(self.ctx.mask)
        self.plan = self.plan.model_copy(update={"facts": host_facts})
        self.engine = self._engine(host_facts.engine_version)
        self.has_validate = host_facts.has_validate
        self.flags = validate_flags(host_facts.exec_start)
        self._choose()
        daemon = self.daemon_change
        self.action = Action.RESTART if daemon is not None else Action.WRITE
        self.result.action = self.action
        if daemon is not None and facts.info is not None and facts.info.live_restore:
            self.baseline = facts.info.running_containers
        reads: dict[str, list[str]] = dict(self._file_reads())
        for index, change in enumerate(self.changes):
            if change.copy_from is not None:
                reads[f"backup:{index}"] = ["cat", change.copy_from]
        keys = list(reads)
        more = dict(zip(keys, self.t.run_many([reads[k] for k in keys]), strict=True))
        for index, change in enumerate(self.changes):
            read = more.get(f"backup:{index}")
            if read is None:
                continue
            if not read.ok:
                raise _Failed(
                    "recheck",
                    f"cannot read the backup {change.copy_from}: {_first_lines(read.stderr)}",
                )
            change.new = read.stdout_bytes
            expected = change.restoring.sha256 if change.restoring is not None else None
            if expected is not None and sha256_hex(change.new) != expected:
                raise _Failed(
                    "recheck",
                    f"the backup {change.copy_from} does not hash as state.json records "
                    f"(sha256 {_short(sha256_hex(change.new))}, expected {_short(expected)}): "
                    "it was changed; pick another with --backup",
                )
        return more

    def _choose(self) -> None:
        files = self.state.files
        if not files:
            raise _Failed(
                "recheck",
                "nothing to roll back: state.json records no file fleetcfg wrote on this host",
            )
        if self.wanted:
            unknown = [p for p in self.wanted if p not in files]
            if unknown:
                raise _Failed(
                    "recheck",
                    f"fleetcfg has not written {', '.join(unknown)} on this host "
                    f"(state.json knows {', '.join(sorted(files))})",
                )
            chosen = [files[p] for p in self.wanted]
        else:
            newest = max(files.values(), key=lambda r: r.written_at)
            chosen = [r for r in files.values() if r.run_id == newest.run_id]
        for record in sorted(chosen, key=lambda r: (r.kind != "daemon", r.path)):
            backup = record.last_backup
            if self.backup_name is not None:
                backup = next((b for b in record.backups if b.name == self.backup_name), None)
                if backup is None:
                    raise _Failed(
                        "recheck",
                        f"no backup {self.backup_name} of {record.path} in state.json "
                        f"(known: {', '.join(b.name or '(absent)' for b in record.backups)})",
                    )
            if backup is None:
                raise _Failed("recheck", f"state.json records no backup of {record.path}")
            kind = FileKind.DAEMON if record.kind == "daemon" else FileKind.CLIENT
            owner = record.user if kind is FileKind.CLIENT and record.user else "root"
            change = FileChange(
                path=record.path,
                kind=kind,
                user=record.user,
                mode=0o600 if kind is FileKind.CLIENT else 0o644,
                owner=owner,
                group="" if kind is FileKind.CLIENT else "root",
                expect_live=record.sha256,
                copy_from=backup_path(backup.name) if backup.name else None,
            )
            change.restoring = backup
            self.records[record.path] = record
            self.changes.append(change)

    # -- checks ---------------------------------------------------------------------------

    def _recheck(self) -> None:
        started = self.ctx.clock()
        problems = []
        for change in self.changes:
            record = self.records[change.path]
            if change.live_sha256 != record.sha256:
                problems.append(
                    f"{change.path} changed since fleetcfg {record.command} wrote it at "
                    f"{record.written_at} (sha256 {_short(record.sha256)} then, "
                    f"{_short(change.live_sha256)} now)"
                )
        if problems and not self.force:
            self.step("recheck", StepStatus.FAILED, "; ".join(problems), started)
            raise _Refused(
                HostStatus.STALE,
                "; ".join(problems)
                + ": rolling back would discard that change (use --force to do it anyway)",
            )
        shown = ", ".join(
            f"{c.path} <- {c.restoring.name or '(absent: remove it)'}"
            for c in self.changes
            if c.restoring is not None
        )
        note = f" (--force: {'; '.join(problems)})" if problems else ""
        self.step("recheck", StepStatus.OK, f"restoring {shown}{note}", started)

    def _make_parent(self, change: FileChange) -> None:
        if change.new is None:
            return
        super()._make_parent(change)
