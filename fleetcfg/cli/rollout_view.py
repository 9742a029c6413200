"""What apply and rollback print: progress to stderr (one line per host,
``--verbose``: one per step), the rollout before the question, and the
summary at the end."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from fleetcfg.apply.batches import make_batches
from fleetcfg.apply.report import ApplyReport, HostStatus
from fleetcfg.apply.rollout import ApplyEvent
from fleetcfg.inventory import Inventory
from fleetcfg.inventory.model import Rollout
from fleetcfg.plan.model import Action, Plan


class Reporter:
    """Prints progress to stderr, one line per host (per step with
    ``verbose``); called from one thread at a time."""

    def __init__(self, console: Console, *, verbose: bool) -> None:
        self.console = console
        self.verbose = verbose
        #: hosts of the batches started so far, and how each that ended did
        self.started: dict[str, None] = {}
        self.ended: dict[str, str] = {}

    def abort_lines(self) -> list[str]:
        """Each host's state when a second Ctrl-C aborts the run."""
        lines = [f"  {text}" for text in self.ended.values()]
        in_flight = [h for h in self.started if h not in self.ended]
        for host in in_flight:
            lines.append(
                f"  {host}: aborted in flight: it may have the old or the new file (never a "
                "partial one) and keeps its lock; check it, then run again with --break-lock"
            )
        return lines

    def line(self, text: str, style: str | None = None) -> None:
        self.console.print(text, style=style, markup=False, highlight=False)

    def __call__(self, event: ApplyEvent) -> None:
        if event.kind == "batch" and event.batch is not None:
            self.started.update(dict.fromkeys(event.batch.names))
            kind = " (canary)" if event.batch.canary else ""
            self.line(
                f"batch {event.batch.index}/{event.total_batches}{kind}: "
                + " ".join(event.batch.names),
                "bold",
            )
        elif event.kind == "step" and event.step is not None and self.verbose:
            step = event.step
            detail = f": {step.detail}" if step.detail else ""
            dim = "red" if step.status.value == "failed" else "dim"
            self.line(f"  {step.host} {step.step} {step.status.value}{detail}", dim)
        elif event.kind == "host" and event.result is not None:
            result = event.result
            style = {
                HostStatus.CHANGED: "green",
                HostStatus.FAILED: "bold red",
                HostStatus.STALE: "yellow",
                HostStatus.LOCKED: "yellow",
            }.get(result.status)
            self.ended[result.host] = result.describe()
            self.line(f"  {result.describe()}", style)
        elif event.kind == "pause":
            self.line(f"pausing {event.seconds:g}s before the next batch", "dim")
        elif event.kind in ("halt", "interrupt"):
            self.line(event.message, "bold red")


def print_summary(report: ApplyReport, journal: Path | None, console: Console) -> None:
    verb = "Apply" if report.command == "apply" else "Rollback"
    console.print(f"{verb}: {report.summary_line()}.", style="bold", markup=False)
    groups: list[tuple[str, list[str]]] = [
        ("changed", [r.host for r in report.changed]),
        ("failed", [r.describe() for r in report.failed]),
        (
            "refused",
            [r.describe() for r in report.with_status(HostStatus.STALE, HostStatus.LOCKED)],
        ),
        ("skipped", [r.describe() for r in report.with_status(HostStatus.SKIPPED)]),
        ("not reached", [r.host for r in report.not_reached]),
    ]
    for title, items in groups:
        if not items:
            continue
        if title in ("changed", "not reached"):
            console.print(f"  {title}: {', '.join(items)}", markup=False, highlight=False)
        else:
            console.print(f"  {title}:", markup=False)
            for item in items:
                console.print(f"    {item}", markup=False, highlight=False)
    if report.interrupted:
        console.print(
            "  interrupted: hosts in flight finished or rolled back; no other host was started",
            markup=False,
        )
    left = [r.host for r in report.results if r.lock_left]
    if left:
        console.print(
            f"  the lock is left on {', '.join(left)}: check those hosts, then run again "
            "with --break-lock",
            markup=False,
        )
    if journal is not None:
        console.print(f"Journal: {journal} (run {report.run_id})", markup=False, highlight=False)


def describe_rollout(plan: Plan, rollout: Rollout, inventory: Inventory) -> str:
    batches = make_batches(plan.hosts, rollout, group_order=list(inventory.groups))
    hosts = sum(len(b.hosts) for b in batches)
    counts = {a: sum(1 for h in plan.hosts if h.action is a and not h.unreachable) for a in Action}
    parts = []
    if counts[Action.RESTART]:
        parts.append(f"restart docker on {_count(counts[Action.RESTART], 'host')}")
    if counts[Action.RELOAD]:
        parts.append(f"reload docker on {_count(counts[Action.RELOAD], 'host')}")
    if counts[Action.WRITE]:
        parts.append(
            f"only write files (no reload or restart) on {_count(counts[Action.WRITE], 'host')}"
        )
    builders = sum(1 for h in plan.hosts if h.recreate_builder and h.action is not Action.ERROR)
    if builders:
        parts.append(f"recreate the BuildKit builder on {_count(builders, 'host')}")
    canary = f"canary {', '.join(batches[0].names)}, then " if batches and batches[0].canary else ""
    limit = rollout.max_failures_for(hosts)
    pause = f", {rollout.pause:g}s between batches" if rollout.pause else ""
    return (
        f"Rollout: {_count(hosts, 'host')} in {_count(len(batches), 'batch')} ({canary}up to "
        f"{_count(rollout.batch_size_for(hosts), 'host')} at a time, reload-only hosts count "
        f"half{pause}); halt after {_count(limit + 1, 'failed host')}. "
        f"fleetcfg will {', '.join(parts) or 'change nothing'}."
    )


def _count(n: int, noun: str) -> str:
    if n == 1:
        return f"1 {noun}"
    return f"{n} {noun}es" if noun.endswith("ch") else f"{n} {noun}s"
