"""``fleetcfg status``: what ``fleetcfg converge`` last did on a host, read on
the host itself (the local transport) or over SSH, and what needs attention.

One round trip per host (:func:`read_host`): converge-status.json, the
disable file, the timer unit (how often converge should run) and the host's
clock, each file read with a size cap. Every byte of it is the host's
(:mod:`fleetcfg.host.pull_record` parses it as hostile); a file that does not
parse is that host's error, never the run's.

A host *stopped reporting* when it has no converge state at all, or its last
run is older (on its own clock) than ``stale_after``: ``--stale-after``, else
twice the longest time between two runs of its timer (``OnUnitActiveSec`` +
``RandomizedDelaySec``), else twice that of the timer ``converge
--install-timer`` writes by default (30min + 15min).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fleetcfg.core.errors import FleetcfgError, RemoteCommandError
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.core.numbers import is_digits
from fleetcfg.core.parallel import Outcome, map_hosts
from fleetcfg.core.terminal import clip
from fleetcfg.host.pull import SYSTEMD_DIR, UNIT_NAME, Disabled, PullPaths, disabled_from
from fleetcfg.host.pull_record import (
    RECORD_CAP,
    TIMER_CAP,
    ConvergeRecord,
    RecordError,
    parse_record,
    timer_period,
)
from fleetcfg.host.transport.base import Transport
from fleetcfg.host.transport.scripts import parse_read_file, read_file_argv

#: the longest time between two runs of the default timer (30min + 15min)
DEFAULT_PERIOD = 45 * 60.0
#: a host is stale after this many periods without a run (one run may be missed)
STALE_PERIODS = 2
#: read.sh's exit status for a file larger than the cap
TOO_LARGE = 6
#: a last run this far in the future of the host's clock is reported
CLOCK_SLACK = 300.0


@dataclass(frozen=True)
class StatusPaths:
    """Where converge keeps its state on the hosts asked."""

    state: PullPaths = field(default_factory=PullPaths)
    systemd_dir: str = SYSTEMD_DIR

    @property
    def timer_file(self) -> str:
        return f"{self.systemd_dir}/{UNIT_NAME}.timer"


@dataclass(frozen=True)
class Readout:
    """What one host said."""

    record: ConvergeRecord | None
    disabled: Disabled | None
    #: the longest time between two timer runs (None: no timer unit read)
    period: float | None
    #: the host's clock (seconds since the epoch)
    clock: float


def read_host(transport: Transport, paths: StatusPaths) -> Readout:
    """Ask one host (one round trip)."""
    files = [
        (str(paths.state.status_file), RECORD_CAP),
        (str(paths.state.disable_file), RECORD_CAP),
        (paths.timer_file, TIMER_CAP),
    ]
    results = transport.run_many([*(read_file_argv(p, cap) for p, cap in files), ["date", "+%s"]])
    try:
        status, disable, timer = (
            parse_read_file(path, r.exit_status, r.stdout_bytes, r.stderr.encode(), transport.host)
            for (path, _), r in zip(files, results, strict=False)
        )
    except RemoteCommandError as exc:
        if exc.exit_status == TOO_LARGE:
            exc.hint = "converge never writes a file this large: check the host"
        raise
    clock = results[3].stdout.strip()
    if not results[3].ok or not is_digits(clock):
        raise RecordError(f"`date +%s` printed {clip(clock, 40)!r}, not the time")
    record = None
    if status.exists and status.content is not None:
        record = parse_record(status.content, str(paths.state.status_file))
    disabled = disabled_from(disable.content or b"") if disable.exists else None
    period = None
    if timer.exists and timer.content is not None:
        period = timer_period(timer.content.decode("utf-8", "replace"))
    return Readout(record, disabled, period, float(clock))


# -- what needs attention --------------------------------------------------------------


class Condition(StrEnum):
    """What is wrong with a host, the worst first."""

    ERROR = "error"
    NEVER_RAN = "never ran"
    STALE = "stale"
    DISABLED = "disabled"
    FAILED = "failed"
    LOCKED = "locked"
    OTHER_NAME = "other name"
    CLOCK = "clock"
    RESTART_PENDING = "restart pending"
    DRIFTED = "drifted"


#: what each condition means, for the notes under the table
MEANING = {
    Condition.ERROR: "fleetcfg could not read the host's converge state",
    Condition.NEVER_RAN: "no converge state: converge never ran there (stopped reporting)",
    Condition.STALE: "no converge run for longer than the threshold (stopped reporting)",
    Condition.DISABLED: "converge --disable is in force",
    Condition.FAILED: "the last run failed (rolled back) or refused the repo",
    Condition.LOCKED: "the last run found another converge holding the lock",
    Condition.OTHER_NAME: "converge runs there under another inventory name (--as)",
    Condition.CLOCK: "the last run is in the future of the host's clock",
    Condition.RESTART_PENDING: "a change waits for a dockerd restart (maintenance window)",
    Condition.DRIFTED: "files were changed outside fleetcfg before the last run",
}


@dataclass(frozen=True)
class PullStatus:
    """One host's converge status, assessed."""

    host: str
    readout: Readout | None = None
    #: why the host could not be read (``Condition.ERROR``)
    error: str | None = None
    #: seconds without a run after which the host stopped reporting, and where
    #: that number comes from (``--stale-after``, ``timer``, ``default``)
    stale_after: float | None = None
    stale_source: str = ""
    conditions: tuple[Condition, ...] = ()

    @property
    def state(self) -> str:
        return self.conditions[0].value if self.conditions else "ok"

    @property
    def age(self) -> float | None:
        """Seconds since the last run, on the host's clock."""
        if self.readout is None or self.readout.record is None:
            return None
        return self.readout.clock - self.readout.record.last_run


def assess(host: str, readout: Readout, stale_after: float | None = None) -> PullStatus:
    """What ``readout`` means for ``host``; ``stale_after`` (seconds)
    overrides the threshold derived from the host's timer."""
    if stale_after is not None:
        threshold, source = stale_after, "--stale-after"
    elif readout.period is not None:
        threshold, source = STALE_PERIODS * readout.period, "timer"
    else:
        threshold, source = STALE_PERIODS * DEFAULT_PERIOD, "default"
    record = readout.record
    found: list[Condition] = []
    if record is None:
        found.append(Condition.NEVER_RAN)
    elif readout.clock - record.last_run > threshold:
        found.append(Condition.STALE)
    if readout.disabled is not None:
        found.append(Condition.DISABLED)
    if record is not None:
        if record.exit_code == ExitCode.ERROR:
            found.append(Condition.FAILED)
        if record.exit_code == ExitCode.LOCKED and readout.disabled is None:
            found.append(Condition.LOCKED)
        if record.host and record.host != host:
            found.append(Condition.OTHER_NAME)
        if record.last_run - readout.clock > CLOCK_SLACK:
            found.append(Condition.CLOCK)
        if record.restart_pending:
            found.append(Condition.RESTART_PENDING)
        if record.files_drifted:
            found.append(Condition.DRIFTED)
    return PullStatus(host, readout, None, threshold, source, tuple(found))


def failed(host: str, error: FleetcfgError) -> PullStatus:
    text = error.message + (f" ({error.hint})" if error.hint else "")
    return PullStatus(host, error=clip(text), conditions=(Condition.ERROR,))


def fleet_status(
    hosts: Sequence[str],
    open_host: Callable[[str], Transport],
    *,
    paths: StatusPaths | None = None,
    stale_after: float | None = None,
    forks: int | None = None,
    cancel: threading.Event | None = None,
    on_done: Callable[[PullStatus], None] | None = None,
) -> list[PullStatus]:
    """Ask ``hosts`` (at most ``forks`` at once), in their order."""
    where = paths or StatusPaths()

    def one(name: str) -> Readout:
        transport = open_host(name)
        try:
            return read_host(transport, where)
        finally:
            transport.close()

    def done(outcome: Outcome[str, Readout]) -> PullStatus:
        if outcome.value is not None:
            return assess(outcome.item, outcome.value, stale_after)
        error = outcome.error or FleetcfgError("not asked: the run was interrupted")
        return failed(outcome.item, error)

    results: dict[str, PullStatus] = {}

    def report(outcome: Outcome[str, Readout]) -> None:
        results[outcome.item] = done(outcome)
        if on_done is not None:
            on_done(results[outcome.item])

    map_hosts(hosts, one, forks=forks, cancel=cancel, on_done=report, label=str)
    return [results.get(name) or done(Outcome(name, cancelled=True)) for name in hosts]


# -- the summary and the exit code ------------------------------------------------------


def exit_code(statuses: Sequence[PullStatus]) -> ExitCode:
    """1: a host could not be read; 2: a host needs attention; 0: all fine."""
    if any(Condition.ERROR in s.conditions for s in statuses):
        return ExitCode.ERROR
    if any(s.conditions for s in statuses):
        return ExitCode.CHANGES
    return ExitCode.OK


def summary(statuses: Sequence[PullStatus]) -> dict[str, int]:
    """How many hosts are in each state (the worst condition of each)."""
    counts: dict[str, int] = {}
    for state in ["ok", *(c.value for c in Condition)]:
        n = sum(1 for s in statuses if s.state == state)
        if n:
            counts[state] = n
    return counts


def status_dict(status: PullStatus) -> dict[str, Any]:
    """One host for ``--format json`` (every string bounded already)."""
    readout = status.readout
    record = readout.record if readout else None
    disabled = readout.disabled if readout else None
    return {
        "host": status.host,
        "state": status.state,
        "conditions": [c.value for c in status.conditions],
        "error": status.error,
        "converged_as": record.host if record else None,
        "last_run": record.last_run if record else None,
        "last_run_age_seconds": status.age,
        "last_success": record.last_success if record else None,
        "exit_code": record.exit_code if record else None,
        "message": record.message if record else None,
        "revision": record.revision if record else None,
        "files_drifted": record.files_drifted if record else None,
        "restart_pending": record.restart_pending if record else None,
        "disabled": (
            {"reason": disabled.reason, "by": disabled.by, "at": disabled.at} if disabled else None
        ),
        "stale_after_seconds": status.stale_after,
        "stale_after_from": status.stale_source or None,
        "host_clock": readout.clock if readout else None,
    }
