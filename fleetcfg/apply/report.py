"""What an apply or rollback did: per host, per step, and for the whole run.

Exit codes of ``fleetcfg apply`` and ``fleetcfg rollback`` (:attr:`ApplyReport.exit_code`,
values of :class:`~fleetcfg.core.exitcodes.ExitCode`):

====  ====================================================================
0     every host that had changes now runs them (or there was nothing to do)
1     a host failed (its files were restored where anything had been
      written), the rollout halted, or hosts could not be planned
2     usage error (bad option, unknown host, unreadable plan file)
3     refused: a saved plan is stale for some hosts (their files or their
      rendered target changed since the plan); those hosts were not touched
4     refused: another fleetcfg run holds the lock on a host (or a run that
      died left it; see ``--break-lock``)
130   interrupted (Ctrl-C): no new host was started; hosts already in flight
      finished or were rolled back
====  ====================================================================

When several apply, the first in this order wins: 1, 130, 4, 3.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.plan.model import Action


class HostStatus(StrEnum):
    CHANGED = "changed"  # applied and healthy
    UNCHANGED = "unchanged"  # the plan had nothing to do
    FAILED = "failed"  # see HostResult.rolled_back / nothing_written
    STALE = "stale"  # refused: the host or its target changed since the plan
    LOCKED = "locked"  # refused: another run holds the lock
    SKIPPED = "skipped"  # the plan could not be computed for this host
    NOT_REACHED = "not-reached"  # the rollout halted or was interrupted first


class StepStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class StepRecord:
    host: str
    step: str
    status: StepStatus
    detail: str = ""
    seconds: float = 0.0


@dataclass
class HostResult:
    host: str
    action: Action
    status: HostStatus
    #: why the host failed, was refused or skipped (masked)
    reason: str = ""
    #: files replaced (and kept) on the host
    written: list[str] = field(default_factory=list)
    #: the failure came after a file was replaced, and the backups were put back
    rolled_back: bool = False
    #: after a rollback: whether the daemon passed the health gate again
    recovered: bool | None = None
    #: nothing was changed on the host (failures before the rename)
    nothing_written: bool = True
    #: the lock could not be released (the host's state is unknown)
    lock_left: bool = False
    batch: int | None = None
    steps: list[StepRecord] = field(default_factory=list)
    #: backups made by this run (names under /etc/docker/.fleetcfg/backups)
    backups: list[str] = field(default_factory=list)
    #: the action as plan words it when it is more than ``action``
    #: ("daemon-reload + restart + builder recreation")
    effect: str = ""

    @property
    def failed(self) -> bool:
        return self.status is HostStatus.FAILED

    def describe(self) -> str:
        """One line for the summary."""
        if self.status is HostStatus.CHANGED:
            return f"{self.host}: {self.effect or self.action.value} done"
        if self.status is HostStatus.FAILED:
            if self.rolled_back:
                back = (
                    "rolled back, healthy again"
                    if self.recovered
                    else "rolled back, but NOT healthy"
                    if self.recovered is False
                    else "rolled back"
                )
                return f"{self.host}: failed, {back}: {self.reason}"
            if self.nothing_written:
                reason = self.reason.replace(" (nothing was changed)", "")
                return f"{self.host}: failed, nothing changed: {reason}"
            return f"{self.host}: failed, NOT rolled back: {self.reason}"
        if self.reason:
            return f"{self.host}: {self.status.value}: {self.reason}"
        return f"{self.host}: {self.status.value}"


@dataclass
class ApplyReport:
    run_id: str
    command: str
    results: list[HostResult]
    halted: bool = False
    halt_reason: str = ""
    interrupted: bool = False
    batches: list[list[str]] = field(default_factory=list)

    def with_status(self, *statuses: HostStatus) -> list[HostResult]:
        return [r for r in self.results if r.status in statuses]

    @property
    def changed(self) -> list[HostResult]:
        return self.with_status(HostStatus.CHANGED)

    @property
    def failed(self) -> list[HostResult]:
        return self.with_status(HostStatus.FAILED)

    @property
    def rolled_back(self) -> list[HostResult]:
        return [r for r in self.failed if r.rolled_back]

    @property
    def not_reached(self) -> list[HostResult]:
        return self.with_status(HostStatus.NOT_REACHED)

    def result(self, host: str) -> HostResult:
        for r in self.results:
            if r.host == host:
                return r
        raise KeyError(host)

    @property
    def exit_code(self) -> ExitCode:
        return exit_code(self.results, halted=self.halted, interrupted=self.interrupted)

    def summary_line(self) -> str:
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.status.value] = counts.get(r.status.value, 0) + 1
        rolled = len(self.rolled_back)
        parts = [f"{counts.get('changed', 0)} changed"]
        if counts.get("failed"):
            parts.append(f"{counts['failed']} failed ({rolled} rolled back)")
        for name in ("stale", "locked", "skipped", "not-reached", "unchanged"):
            if counts.get(name):
                parts.append(f"{counts[name]} {name.replace('-', ' ')}")
        return ", ".join(parts)


def exit_code(results: Iterable[HostResult], *, halted: bool, interrupted: bool) -> ExitCode:
    statuses = {r.status for r in results}
    if HostStatus.FAILED in statuses or HostStatus.SKIPPED in statuses:
        return ExitCode.ERROR
    if interrupted:
        return ExitCode.INTERRUPTED
    if HostStatus.LOCKED in statuses:
        return ExitCode.LOCKED
    if HostStatus.STALE in statuses:
        return ExitCode.STALE
    if halted:
        return ExitCode.ERROR
    return ExitCode.OK
