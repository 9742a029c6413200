"""Rolling apply and rollback: batches, halting, Ctrl-C, the journal.

:func:`apply_plan` executes a :class:`~fleetcfg.plan.model.Plan` exactly:
the hosts whose action is write, reload or restart go in batches
(:mod:`fleetcfg.apply.batches`: canary first, group by group, reload-only hosts in
wider batches); each host runs :class:`~fleetcfg.apply.hostrun.HostRun` (lock,
recheck, validate, backup, replace, reload/restart, health gate, rollback on
failure). :func:`rollback_hosts` does the same with
:class:`~fleetcfg.apply.rollback.RollbackRun`.

Halting
    Once more than ``max_failures`` hosts have failed (a failed host, or one
    refused because another run holds its lock), no new host is started: the
    hosts of later batches (and those of the current batch that had not
    started) are reported ``not-reached`` and never touched. Hosts refused as
    stale do not count: nothing was done to them and nothing is broken.
Ctrl-C
    Stops scheduling the same way; hosts already in flight finish, or roll
    back, so that no host is left half-done (a second Ctrl-C aborts at once).
Progress
    ``on_event`` receives :class:`ApplyEvent` s (a batch starts, a host
    finishes a step, a host is done, a pause, a halt), always from one thread
    at a time. Nothing here prints.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from fleetcfg.apply.batches import Batch, make_batches
from fleetcfg.apply.hostrun import HostRun, RunContext, StepCallback, TargetResolver
from fleetcfg.apply.journal import Journal
from fleetcfg.apply.report import (
    ApplyReport,
    HostResult,
    HostStatus,
    StepRecord,
    StepStatus,
)
from fleetcfg.apply.rollback import RollbackRun
from fleetcfg.core.errors import FleetcfgError
from fleetcfg.core.parallel import DEFAULT_FORKS, Outcome, map_hosts
from fleetcfg.host.service import DEFAULT_SERVICE, ServiceCommands
from fleetcfg.host.state import DEFAULT_KEEP_BACKUPS
from fleetcfg.host.transport.base import Transport
from fleetcfg.inventory.model import Rollout
from fleetcfg.plan.model import Action, HostPlan, Plan

#: opens a transport to the host with this inventory name
Connect = Callable[[str], Transport]
#: the service commands of the host with this inventory name
ServiceFor = Callable[[str], ServiceCommands]

EventKind = Literal["run", "batch", "step", "host", "pause", "halt"]


@dataclass(frozen=True)
class ApplyEvent:
    kind: EventKind
    batch: Batch | None = None
    step: StepRecord | None = None
    result: HostResult | None = None
    seconds: float = 0.0
    message: str = ""
    total_batches: int = 0


EventCallback = Callable[[ApplyEvent], None]


@dataclass(frozen=True)
class ApplyOptions:
    rollout: Rollout = field(default_factory=Rollout)
    forks: int = DEFAULT_FORKS
    break_lock: bool = False
    keep_backups: int = DEFAULT_KEEP_BACKUPS
    #: seconds between health checks
    poll_interval: float = 0.5


@dataclass
class _Job:
    host: str
    plan: HostPlan
    run: Callable[[Transport, StepCallback, int], HostResult]


class _Rolling:
    """The batch loop shared by apply and rollback."""

    def __init__(
        self,
        *,
        command: str,
        plan_id: str | None,
        connect: Connect,
        options: ApplyOptions,
        journal: Journal | None,
        on_event: EventCallback | None,
        cancel: threading.Event | None,
        mask: Callable[[str], str],
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        now: Callable[[], datetime],
        user: str | None,
        control_host: str | None,
    ) -> None:
        self.connect = connect
        self.options = options
        self.journal = journal
        self.on_event = on_event
        self.stop = cancel if cancel is not None else threading.Event()
        self.halting = False
        self.halt_reason = ""
        self.failures = 0
        self.limit = 0
        self._lock = threading.Lock()
        self.ctx = RunContext(
            run_id=uuid.uuid4().hex[:12],
            command=command,
            user=user or _user(),
            control_host=control_host or socket.gethostname(),
            pid=os.getpid(),
            plan_id=plan_id,
            now=now,
            clock=clock,
            sleep=sleep,
            mask=mask,
            keep_backups=options.keep_backups,
            break_lock=options.break_lock,
            poll_interval=options.poll_interval,
        )

    # -- events -----------------------------------------------------------------

    def emit(self, event: ApplyEvent) -> None:
        with self._lock:
            if self.on_event is not None:
                self.on_event(event)

    def log(self, event: str, **fields: object) -> None:
        if self.journal is not None:
            self.journal.write(event, self.ctx.run_id, fields)

    def on_step(self, record: StepRecord) -> None:
        self.log(
            "step",
            host=record.host,
            step=record.step,
            status=record.status.value,
            detail=record.detail,
            seconds=record.seconds,
        )
        self.emit(ApplyEvent("step", step=record))

    # -- the loop -------------------------------------------------------------------

    def run(
        self,
        batches: list[tuple[Batch, list[_Job]]],
        report: ApplyReport,
        results: dict[str, HostResult],
        *,
        hosts_changing: int,
    ) -> None:
        self.limit = self.options.rollout.max_failures_for(hosts_changing)
        report.batches = [b.names for b, _ in batches]
        for position, (batch, jobs) in enumerate(batches):
            if self.stop.is_set():
                self._not_reached(jobs, results)
                continue
            if position > 0 and self.options.rollout.pause > 0:
                self._pause(self.options.rollout.pause)
                if self.stop.is_set():
                    self._not_reached(jobs, results)
                    continue
            self.log("batch", batch=batch.index, hosts=batch.names, canary=batch.canary)
            self.emit(ApplyEvent("batch", batch=batch, total_batches=len(batches)))
            self._run_batch(batch, jobs, results)
        report.halted = self.halting
        report.halt_reason = self.halt_reason
        report.interrupted = self.stop.is_set() and not self.halting

    def _run_batch(self, batch: Batch, jobs: list[_Job], results: dict[str, HostResult]) -> None:
        def one(job: _Job) -> HostResult:
            try:
                transport = self.connect(job.host)
            except FleetcfgError as exc:
                return _connect_failed(job, exc, self.ctx.mask, batch.index)
            try:
                return job.run(transport, self.on_step, batch.index)
            finally:
                with contextlib.suppress(Exception):  # closing must not hide the result
                    transport.close()

        def done(outcome: Outcome[_Job, HostResult]) -> None:
            job = outcome.item
            if outcome.value is not None:
                result = outcome.value
            elif outcome.cancelled:
                why = self.halt_reason if self.halting else "interrupted before its turn"
                result = HostResult(job.host, job.plan.action, HostStatus.NOT_REACHED, why)
            else:
                error = outcome.error
                result = HostResult(
                    job.host,
                    job.plan.action,
                    HostStatus.FAILED,
                    self.ctx.mask(str(error)) if error else "unknown error",
                    nothing_written=False,
                    lock_left=True,
                )
            result.batch = batch.index
            results[job.host] = result
            self.log(
                "host-end",
                host=result.host,
                status=result.status.value,
                action=result.action.value,
                reason=result.reason or None,
                rolled_back=result.rolled_back or None,
                recovered=result.recovered,
                lock_left=result.lock_left or None,
                backups=result.backups or None,
            )
            self.emit(ApplyEvent("host", result=result, batch=batch))
            if result.status in (HostStatus.FAILED, HostStatus.LOCKED):
                self.failures += 1
                if self.failures > self.limit and not self.halting:
                    self.halting = True
                    noun = "host" if self.failures == 1 else "hosts"
                    self.halt_reason = (
                        f"halted after {self.failures} failed {noun} (--max-failures "
                        f"{self.limit}): {result.host}: {result.reason}"
                    )
                    self.log("halt", reason=self.halt_reason)
                    self.emit(ApplyEvent("halt", message=self.halt_reason))
                    self.stop.set()

        map_hosts(
            jobs,
            one,
            forks=self.options.forks,
            on_done=done,
            cancel=self.stop,
            label=lambda job: job.host,
        )

    def _pause(self, seconds: float) -> None:
        self.log("pause", seconds=seconds)
        self.emit(ApplyEvent("pause", seconds=seconds))
        try:
            self.stop.wait(seconds)
        except KeyboardInterrupt:
            self.stop.set()

    def _not_reached(self, jobs: Sequence[_Job], results: dict[str, HostResult]) -> None:
        why = self.halt_reason if self.halting else "interrupted before its turn"
        for job in jobs:
            result = HostResult(job.host, job.plan.action, HostStatus.NOT_REACHED, why)
            results[job.host] = result
            self.log("host-end", host=job.host, status=result.status.value, reason=why)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's uid)
        return str(os.getuid())


def _connect_failed(
    job: _Job, exc: FleetcfgError, mask: Callable[[str], str], batch: int
) -> HostResult:
    result = HostResult(
        job.host,
        job.plan.action,
        HostStatus.FAILED,
        mask(f"cannot connect: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")),
        batch=batch,
    )
    result.steps.append(StepRecord(job.host, "connect", StepStatus.FAILED, result.reason))
    return result


def _now() -> datetime:
    return datetime.now(UTC)


def _skipped(host: HostPlan) -> HostResult:
    if host.action is Action.NONE:
        return HostResult(host.host, host.action, HostStatus.UNCHANGED)
    if host.unreachable:
        why = "unreachable when planned: " + "; ".join(host.errors)
    else:
        why = "the plan has errors: " + "; ".join(host.errors or ["(no detail)"])
    return HostResult(host.host, host.action, HostStatus.SKIPPED, why)


def apply_plan(
    plan: Plan,
    *,
    connect: Connect,
    targets: TargetResolver,
    options: ApplyOptions | None = None,
    service_for: ServiceFor | None = None,
    group_order: Sequence[str] = (),
    journal: Journal | None = None,
    on_event: EventCallback | None = None,
    cancel: threading.Event | None = None,
    mask: Callable[[str], str] = lambda text: text,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = _now,
    user: str | None = None,
    control_host: str | None = None,
) -> ApplyReport:
    """Execute ``plan`` (see the module docstring). ``targets`` gives the
    exact bytes of each file (re-rendered; compared with the plan's hashes);
    ``service_for`` the service commands of each host (inventory
    ``service``)."""
    options = options or ApplyOptions()
    services = service_for or (lambda name: DEFAULT_SERVICE)
    rolling = _Rolling(
        command="apply",
        plan_id=plan.plan_id,
        connect=connect,
        options=options,
        journal=journal,
        on_event=on_event,
        cancel=cancel,
        mask=mask,
        clock=clock,
        sleep=sleep,
        now=now,
        user=user,
        control_host=control_host,
    )
    report = ApplyReport(run_id=rolling.ctx.run_id, command="apply", results=[])
    results: dict[str, HostResult] = {}
    for host in plan.hosts:
        if host.action not in (Action.WRITE, Action.RELOAD, Action.RESTART) or host.unreachable:
            results[host.host] = _skipped(host)
    batches = make_batches(plan.hosts, options.rollout, group_order=group_order)
    rolling.log(
        "run-start",
        command="apply",
        plan_id=plan.plan_id,
        inventory=plan.inventory,
        hosts=[h.host for h in plan.hosts],
        user=rolling.ctx.user,
        control_host=rolling.ctx.control_host,
        batches=[b.names for b in batches],
    )

    def job_for(host: HostPlan) -> _Job:
        def run(transport: Transport, on_step: StepCallback, batch: int) -> HostResult:
            return HostRun(
                host,
                transport,
                rolling.ctx,
                service=services(host.host),
                on_step=on_step,
                targets=targets,
                batch=batch,
            ).run()

        return _Job(host.host, host, run)

    work = [(batch, [job_for(h) for h in batch.hosts]) for batch in batches]
    changing = sum(len(b.hosts) for b in batches)
    try:
        rolling.run(work, report, results, hosts_changing=changing)
    finally:
        report.results = [results[h.host] for h in plan.hosts if h.host in results]
        rolling.log(
            "run-end",
            exit_code=report.exit_code,
            summary=report.summary_line(),
            halted=report.halted,
            interrupted=report.interrupted,
        )
    return report


@dataclass(frozen=True)
class RollbackTarget:
    """A host to roll back."""

    host: str
    address: str | None = None
    groups: tuple[str, ...] = ()


def rollback_hosts(
    hosts: Sequence[RollbackTarget],
    *,
    connect: Connect,
    options: ApplyOptions | None = None,
    service_for: ServiceFor | None = None,
    files: Sequence[str] = (),
    backup: str | None = None,
    force: bool = False,
    journal: Journal | None = None,
    on_event: EventCallback | None = None,
    cancel: threading.Event | None = None,
    mask: Callable[[str], str] = lambda text: text,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = _now,
    user: str | None = None,
    control_host: str | None = None,
) -> ApplyReport:
    """Restore the last backups on ``hosts`` (see :mod:`fleetcfg.apply.rollback`),
    in batches of the rollout's size (no canary), halting like apply."""
    options = options or ApplyOptions()
    services = service_for or (lambda name: DEFAULT_SERVICE)
    rolling = _Rolling(
        command="rollback",
        plan_id=None,
        connect=connect,
        options=options,
        journal=journal,
        on_event=on_event,
        cancel=cancel,
        mask=mask,
        clock=clock,
        sleep=sleep,
        now=now,
        user=user,
        control_host=control_host,
    )
    report = ApplyReport(run_id=rolling.ctx.run_id, command="rollback", results=[])
    placeholders = [
        HostPlan(host=h.host, address=h.address, groups=list(h.groups), action=Action.RESTART)
        for h in hosts
    ]
    rollout = options.rollout.model_copy(update={"canary": 0})
    batches = make_batches(placeholders, rollout)
    by_name = {h.host: h for h in hosts}
    rolling.log(
        "run-start",
        command="rollback",
        hosts=[h.host for h in hosts],
        files=list(files) or None,
        backup=backup,
        force=force or None,
        user=rolling.ctx.user,
        control_host=rolling.ctx.control_host,
    )

    def job_for(placeholder: HostPlan) -> _Job:
        target = by_name[placeholder.host]

        def run(transport: Transport, on_step: StepCallback, batch: int) -> HostResult:
            return RollbackRun(
                target.host,
                transport,
                rolling.ctx,
                service=services(target.host),
                on_step=on_step,
                files=files,
                backup=backup,
                force=force,
                address=target.address,
                groups=target.groups,
                batch=batch,
            ).run()

        return _Job(placeholder.host, placeholder, run)

    work = [(batch, [job_for(h) for h in batch.hosts]) for batch in batches]
    results: dict[str, HostResult] = {}
    try:
        rolling.run(work, report, results, hosts_changing=len(hosts))
    finally:
        report.results = [results[h.host] for h in hosts if h.host in results]
        rolling.log(
            "run-end",
            exit_code=report.exit_code,
            summary=report.summary_line(),
            halted=report.halted,
            interrupted=report.interrupted,
        )
    return report
