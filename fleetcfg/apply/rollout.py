"""Rolling apply and rollback: batches, halting, Ctrl-C, the journal.

:func:`apply_plan` executes a :class:`~fleetcfg.plan.model.Plan` exactly:
the hosts whose action is write, reload or restart go in batches
(:mod:`fleetcfg.apply.batches`: canary first, group by group, reload-only hosts in
wider batches); each host runs the steps of :mod:`fleetcfg.apply.steps` (lock,
recheck, validate, backup, replace, reload/restart, health gate) through
:func:`fleetcfg.apply.machine.execute` (recovery by phase on failure).
:func:`rollback_hosts` does the same with :mod:`fleetcfg.apply.rollback`'s steps.
Both take one :class:`RunEnv` (the connections, the journal, the callbacks).

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
from typing import Any, Literal

from fleetcfg.apply.batches import Batch, chunk_batches, make_batches
from fleetcfg.apply.hostrun import HostRun, RunContext, TargetResolver
from fleetcfg.apply.journal import Journal
from fleetcfg.apply.machine import execute
from fleetcfg.apply.report import (
    ApplyReport,
    HostResult,
    HostStatus,
    StepRecord,
    StepStatus,
)
from fleetcfg.apply.rollback import rollback_steps
from fleetcfg.apply.steps import Step, apply_steps
from fleetcfg.core.errors import FleetcfgError
from fleetcfg.core.parallel import Outcome, map_hosts
from fleetcfg.host.service import DEFAULT_SERVICE, ServiceCommands
from fleetcfg.host.state import DEFAULT_KEEP_BACKUPS
from fleetcfg.host.transport.base import Transport
from fleetcfg.inventory.model import Rollout
from fleetcfg.plan.model import Action, HostFacts, HostPlan, Plan

#: opens a transport to the host with this inventory name
Connect = Callable[[str], Transport]
#: the service commands of the host with this inventory name
ServiceFor = Callable[[str], ServiceCommands]

EventKind = Literal["run", "batch", "step", "host", "pause", "halt", "interrupt"]


@dataclass(frozen=True)
class ApplyEvent:
    kind: EventKind
    batch: Batch[Any] | None = None
    step: StepRecord | None = None
    result: HostResult | None = None
    seconds: float = 0.0
    message: str = ""
    total_batches: int = 0


EventCallback = Callable[[ApplyEvent], None]


@dataclass(frozen=True)
class ApplyOptions:
    rollout: Rollout = field(default_factory=Rollout)
    #: hosts at once (None: the default for each batch's size)
    forks: int | None = None
    break_lock: bool = False
    keep_backups: int = DEFAULT_KEEP_BACKUPS
    #: seconds between health checks
    poll_interval: float = 0.5


def _now() -> datetime:
    return datetime.now(UTC)


def _same(text: str) -> str:
    return text


def _default_service(name: str) -> ServiceCommands:
    return DEFAULT_SERVICE


@dataclass(frozen=True)
class RunEnv:
    """What an apply or rollback run talks to and reports through, built
    once by the CLI (tests give fakes and a fake clock)."""

    connect: Connect
    #: the service commands of each host (inventory ``service``)
    service_for: ServiceFor = _default_service
    journal: Journal | None = None
    on_event: EventCallback | None = None
    cancel: threading.Event | None = None
    mask: Callable[[str], str] = _same
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = _now
    user: str | None = None
    control_host: str | None = None


@dataclass(frozen=True)
class _Job:
    host: str
    steps: Callable[[], list[Step]]
    #: the result's action until the host's run knows better
    action: Action
    #: the host's facts when planned (None: the run reads them)
    facts: HostFacts | None = None


class _Rolling:
    """The batch loop shared by apply and rollback."""

    def __init__(
        self, command: str, plan_id: str | None, env: RunEnv, options: ApplyOptions
    ) -> None:
        self.env = env
        self.options = options
        self.stop = env.cancel if env.cancel is not None else threading.Event()
        self.halting = False
        self.halt_reason = ""
        self.failures = 0
        self.limit = 0
        self._lock = threading.Lock()
        self.ctx = RunContext(
            run_id=uuid.uuid4().hex[:12],
            command=command,
            user=env.user or _user(),
            control_host=env.control_host or socket.gethostname(),
            pid=os.getpid(),
            plan_id=plan_id,
            now=env.now,
            clock=env.clock,
            sleep=env.sleep,
            mask=env.mask,
            keep_backups=options.keep_backups,
            break_lock=options.break_lock,
            poll_interval=options.poll_interval,
        )
        self.report = ApplyReport(run_id=self.ctx.run_id, command=command, results=[])

    # -- events -----------------------------------------------------------------

    def emit(self, event: ApplyEvent) -> None:
        with self._lock:
            if self.env.on_event is not None:
                self.env.on_event(event)

    def log(self, event: str, **fields: object) -> None:
        if self.env.journal is not None:
            self.env.journal.write(event, self.ctx.run_id, fields)

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

    def execute(
        self,
        batches: Sequence[tuple[Batch[Any], list[_Job]]],
        results: dict[str, HostResult],
        order: Sequence[str],
        *,
        hosts_changing: int,
    ) -> ApplyReport:
        """Run the batches, journal the run's end; the report lists the
        hosts in ``order``."""
        try:
            self._run(batches, results, hosts_changing=hosts_changing)
        finally:
            self.report.results = [results[h] for h in order if h in results]
            self.log(
                "run-end",
                exit_code=self.report.exit_code,
                summary=self.report.summary_line(),
                halted=self.report.halted,
                interrupted=self.report.interrupted,
            )
        return self.report

    def _run(
        self,
        batches: Sequence[tuple[Batch[Any], list[_Job]]],
        results: dict[str, HostResult],
        *,
        hosts_changing: int,
    ) -> None:
        report = self.report
        self.limit = self.options.rollout.max_failures_for(hosts_changing)
        report.batches = [b.names for b, _ in batches]
        for position, (batch, jobs) in enumerate(batches):
            if self.stop.is_set():
                self._not_reached(jobs, results)
                continue
            try:
                if position > 0 and self.options.rollout.pause > 0:
                    self._pause(self.options.rollout.pause)
                    if self.stop.is_set():
                        self._not_reached(jobs, results)
                        continue
                self.log("batch", batch=batch.index, hosts=batch.names, canary=batch.canary)
                self.emit(ApplyEvent("batch", batch=batch, total_batches=len(batches)))
                self._run_batch(batch, jobs, results)
            except KeyboardInterrupt:
                if self.stop.is_set():
                    raise  # the second Ctrl-C: abort
                # the first Ctrl-C, between two batches (outside map_hosts)
                self.stop.set()
                self.interrupted(0)
                self._not_reached([j for j in jobs if j.host not in results], results)
        report.halted = self.halting
        report.halt_reason = self.halt_reason
        report.interrupted = self.stop.is_set() and not self.halting

    def _run_host(self, job: _Job, transport: Transport, batch: int) -> HostResult:
        run = HostRun(
            job.host,
            transport,
            self.ctx,
            service=self.env.service_for(job.host),
            action=job.action,
            facts=job.facts,
            on_step=self.on_step,
            batch=batch,
        )
        return execute(run, job.steps())

    def _run_batch(
        self, batch: Batch[Any], jobs: list[_Job], results: dict[str, HostResult]
    ) -> None:
        def one(job: _Job) -> HostResult:
            try:
                transport = self.env.connect(job.host)
            except FleetcfgError as exc:
                return _connect_failed(job, exc, self.ctx.mask, batch.index)
            try:
                return self._run_host(job, transport, batch.index)
            finally:
                with contextlib.suppress(Exception):  # closing must not hide the result
                    transport.close()

        def done(outcome: Outcome[_Job, HostResult]) -> None:
            job = outcome.item
            if outcome.value is not None:
                result = outcome.value
                if result.status is HostStatus.NOT_REACHED and not result.reason:
                    # its connection was still being opened: cancelled
                    result.reason = self.halt_reason if self.halting else "interrupted"
            elif outcome.cancelled:
                why = self.halt_reason if self.halting else "interrupted before its turn"
                result = HostResult(job.host, job.action, HostStatus.NOT_REACHED, why)
            else:
                error = outcome.error
                result = HostResult(
                    job.host,
                    job.action,
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
            on_interrupt=self.interrupted,
        )

    def interrupted(self, in_flight: int) -> None:
        """The first Ctrl-C: say at once what happens now."""
        noun = "host" if in_flight == 1 else "hosts"
        waiting = (
            f"waiting for {in_flight} {noun} in flight to finish or roll back"
            if in_flight
            else "no host is in flight"
        )
        self.log("interrupt", in_flight=in_flight)
        self.emit(ApplyEvent("interrupt", message=f"stopping: {waiting}; Ctrl-C again to abort"))

    def _pause(self, seconds: float) -> None:
        self.log("pause", seconds=seconds)
        self.emit(ApplyEvent("pause", seconds=seconds))
        try:
            self.stop.wait(seconds)
        except KeyboardInterrupt:
            self.stop.set()
            self.interrupted(0)

    def _not_reached(self, jobs: Sequence[_Job], results: dict[str, HostResult]) -> None:
        why = self.halt_reason if self.halting else "interrupted before its turn"
        for job in jobs:
            result = HostResult(job.host, job.action, HostStatus.NOT_REACHED, why)
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
        job.action,
        HostStatus.FAILED,
        mask(f"cannot connect: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")),
        batch=batch,
    )
    result.steps.append(StepRecord(job.host, "connect", StepStatus.FAILED, result.reason))
    return result


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
    env: RunEnv,
    *,
    targets: TargetResolver,
    options: ApplyOptions | None = None,
    group_order: Sequence[str] = (),
) -> ApplyReport:
    """Execute ``plan`` (see the module docstring). ``targets`` gives the
    exact bytes of each file (re-rendered; compared with the plan's hashes)."""
    options = options or ApplyOptions()
    rolling = _Rolling("apply", plan.plan_id, env, options)
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
        return _Job(host.host, lambda: apply_steps(host, targets), host.action, host.facts)

    work = [(batch, [job_for(h) for h in batch.hosts]) for batch in batches]
    changing = sum(len(b.hosts) for b in batches)
    return rolling.execute(work, results, [h.host for h in plan.hosts], hosts_changing=changing)


@dataclass(frozen=True)
class RollbackTarget:
    """A host to roll back."""

    host: str
    address: str | None = None
    groups: tuple[str, ...] = ()
    #: what recreates its BuildKit builder (from the inventory's ``buildkit:``)
    builder: tuple[tuple[str, ...], ...] = ()


def rollback_hosts(
    hosts: Sequence[RollbackTarget],
    env: RunEnv,
    *,
    options: ApplyOptions | None = None,
    files: Sequence[str] = (),
    backup: str | None = None,
    force: bool = False,
) -> ApplyReport:
    """Restore the last backups on ``hosts`` (see :mod:`fleetcfg.apply.rollback`),
    in batches of the rollout's size (no canary), halting like apply."""
    options = options or ApplyOptions()
    rolling = _Rolling("rollback", None, env, options)
    batches = chunk_batches(list(hosts), options.rollout)
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

    def job_for(target: RollbackTarget) -> _Job:
        # a rollback restarts the daemon unless state.json says it wrote
        # only client files (known once the host is locked)
        return _Job(
            target.host,
            lambda: rollback_steps(files, backup, force=force, builder=target.builder),
            Action.RESTART,
        )

    work = [(batch, [job_for(h) for h in batch.hosts]) for batch in batches]
    return rolling.execute(work, {}, [h.host for h in hosts], hosts_changing=len(hosts))
