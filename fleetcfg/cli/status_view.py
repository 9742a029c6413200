"""``fleetcfg status`` as text: a table of the hosts (or one host's details
with ``--local``), a note per condition that needs attention, and a summary
line. Every string from a host is bounded already; escaping its control
characters is the console's job (``SafeConsole``) and newlines are shown as
``\\n`` here, so a host cannot print a line of its own."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.host.pull_status import Condition, PullStatus, StatusPaths, summary

#: what the exit code of a converge run means
CONVERGE_EXITS: dict[int, str] = {
    ExitCode.OK: "nothing to do",
    ExitCode.CHANGES: "changed",
    ExitCode.ERROR: "failed",
    ExitCode.LOCKED: "disabled or locked",
}
STALE_FROM = {
    "--stale-after": "--stale-after",
    "timer": "twice its timer's period",
    "default": "twice the default timer's period",
}


def one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")


def duration(seconds: float) -> str:
    """``1h 30m``, ``5m 3s``, ``2d 4h`` (the two largest units)."""
    left = int(abs(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size or (unit == "s" and not parts):
            parts.append(f"{left // size}{unit}")
            left %= size
    return " ".join(parts[:2])


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    try:
        return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return f"{timestamp:g} (not a date)"


def last_run(status: PullStatus) -> str:
    record = status.readout.record if status.readout else None
    age = status.age
    if record is None or age is None:
        return "-"
    ago = f"{duration(age)} ago" if age >= 0 else f"in {duration(age)}"
    return f"{when(record.last_run)} ({ago})"


def exit_text(code: int) -> str:
    meaning = CONVERGE_EXITS.get(code)
    return f"{code} ({meaning})" if meaning else str(code)


def notes(status: PullStatus, paths: StatusPaths) -> list[str]:
    """One line per condition of ``status``, saying what was found."""
    readout = status.readout
    record = readout.record if readout else None
    lines = []
    for condition in status.conditions:
        text = ""
        if condition is Condition.ERROR:
            text = status.error or "unknown error"
        elif condition is Condition.NEVER_RAN:
            text = (
                f"no {paths.state.status_file}: converge never ran here (or its state was "
                "removed); it stopped reporting, or never reported"
            )
        elif condition is Condition.STALE and status.stale_after is not None:
            text = (
                f"stopped reporting: last run {last_run(status)}, longer ago than "
                f"{duration(status.stale_after)} ({STALE_FROM[status.stale_source]})"
            )
        elif condition is Condition.DISABLED and readout and readout.disabled:
            text = f"converge is {readout.disabled.describe()}"
        elif record is None:
            continue
        elif condition in (Condition.FAILED, Condition.LOCKED):
            text = f"last run exited {exit_text(record.exit_code)}: {record.message}"
        elif condition is Condition.OTHER_NAME:
            text = f"converge runs there as {record.host}, not as {status.host}"
        elif condition is Condition.CLOCK:
            text = f"last run {last_run(status)}: is the host's clock right?"
        elif condition is Condition.RESTART_PENDING:
            text = f"a restart is pending: {record.message}"
        elif condition is Condition.DRIFTED:
            text = (
                f"{record.files_drifted} file(s) had been changed outside fleetcfg before "
                "the last run"
            )
        if text:
            lines.append(f"{status.host}: {condition.value}: {one_line(text)}")
    return lines


def summary_line(statuses: list[PullStatus]) -> str:
    counts = summary(statuses)
    parts = [f"{n} {state}" for state, n in counts.items()]
    return "Status: " + (", ".join(parts) or "no hosts") + "."


def print_table(statuses: list[PullStatus], paths: StatusPaths, out: Console) -> None:
    header = ("HOST", "STATE", "LAST RUN", "EXIT", "REVISION", "DRIFT")
    rows = [header]
    for s in statuses:
        record = s.readout.record if s.readout else None
        rows.append(
            (
                s.host,
                s.state,
                last_run(s),
                str(record.exit_code) if record else "-",
                one_line(record.revision or "-")[:19] if record else "-",
                str(record.files_drifted) if record else "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    for row in rows:
        cells = [*(row[i].ljust(widths[i]) for i in range(len(widths))), row[-1]]
        out.print(one_line("  ".join(cells)), markup=False, highlight=False)
    _print_notes(statuses, paths, out)


def print_local(status: PullStatus, paths: StatusPaths, out: Console) -> None:
    """This host's status, field by field."""
    readout = status.readout
    record = readout.record if readout else None
    rows = [("host", status.host), ("state", status.state)]
    if record is not None:
        rows += [
            ("converges as", record.host or "-"),
            ("last run", last_run(status)),
            ("exit code", exit_text(record.exit_code)),
            ("said", record.message),
            ("last success", when(record.last_success)),
            ("revision", record.revision or "unknown"),
            ("files drifted", str(record.files_drifted)),
            ("restart pending", "yes" if record.restart_pending else "no"),
            ("metrics", record.metrics_file or "-"),
        ]
    if readout is not None:
        rows.append(("disabled", readout.disabled.describe() if readout.disabled else "no"))
    if status.stale_after is not None:
        rows.append(
            (
                "stale after",
                f"{duration(status.stale_after)} without a run ({STALE_FROM[status.stale_source]})",
            )
        )
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        out.print(f"{key + ':':<{width + 1}} {one_line(value)}", markup=False, highlight=False)
    _print_notes([status], paths, out)


def _print_notes(statuses: list[PullStatus], paths: StatusPaths, out: Console) -> None:
    lines = [line for s in statuses for line in notes(s, paths)]
    if lines:
        out.print("", markup=False)
    for line in lines:
        out.print(line, markup=False, highlight=False)
    out.print(summary_line(statuses), markup=False, highlight=False)
