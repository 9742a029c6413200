"""The recheck of apply: a saved plan is data about hashes and actions only.

Under the lock, apply gathers the host's facts and plans the host again from
the inventory (:meth:`~fleetcfg.apply.hostrun.TargetResolver.replan`):

``refuse_untrusted`` (before any file of the plan is read or written)
    the paths, modes, owners and the Engine version are the ones the
    inventory and the host give now;
``recheck_plan``
    the live files still hash as the plan says, and the targets re-rendered
    from the inventory (for the live content) hash as the plan says;
``refuse_changed``
    the files to change and the action are the plan's.

Any difference refuses the host as stale (:class:`StalePlanError`), saying
what changed.
"""

from __future__ import annotations

from fleetcfg.apply.hostrun import FileChange, HostRun, TargetResolver
from fleetcfg.apply.report import StepStatus
from fleetcfg.core.errors import FleetcfgError, StalePlanError, StepFailedError
from fleetcfg.core.filedigest import digest_matches, short_digest
from fleetcfg.plan.model import HostPlan


def refuse_stale(run: HostRun, problems: list[str], started: float, what_now: str) -> None:
    run.step("recheck", StepStatus.FAILED, "; ".join(problems), started)
    raise StalePlanError("; ".join(problems) + what_now, host=run.host)


def recheck_plan(run: HostRun, plan: HostPlan, targets: TargetResolver) -> None:
    started = run.ctx.clock()
    problems: list[str] = []
    for change in run.changes:
        if not digest_matches(change.expect_live, change.live_bytes):
            problems.append(
                f"{change.path} changed since the plan (sha256 {short_digest(change.expect_live)} "
                f"in the plan, {short_digest(change.live_sha256)} now)" + _who_wrote(run, change)
            )
    if problems:
        refuse_stale(run, problems, started, ": run fleetcfg plan again")
    for change in run.changes:
        fp = next(f for f in plan.files if f.path == change.path)
        try:
            change.new = targets(plan, fp, change.live)
        except FleetcfgError as exc:
            raise StepFailedError(
                "recheck", f"cannot render the target of {change.path}: {exc}"
            ) from None
        if not digest_matches(fp.target_sha256, change.new):
            problems.append(
                f"the target of {change.path} rendered from the inventory changed since "
                f"the plan (sha256 {short_digest(fp.target_sha256)} in the plan, "
                f"{short_digest(change.new_sha256)} now): inventory.yaml, a profile or an "
                "env()/file() value was edited"
            )
    if problems:
        refuse_stale(run, problems, started, ": run fleetcfg plan again")
    run.step("recheck", StepStatus.OK, "live files and targets match the plan", started)


_TRUSTED = ("kind", "user", "mode", "owner", "group")


def refuse_untrusted(run: HostRun, saved: HostPlan, fresh: HostPlan) -> None:
    """A saved plan carries hashes and actions only: the paths, modes and
    owners apply writes must be the ones the inventory and the host's facts
    give now; anything else is a stale plan (checked before any file of the
    plan is read or written)."""
    started = run.ctx.clock()
    problems: list[str] = []
    now = {f.path: f for f in fresh.files}
    for fp in (f for f in saved.files if f.changed):
        current = now.get(fp.path)
        if current is None:
            problems.append(
                f"the plan writes {fp.path}, which the inventory and the host do not give now"
            )
            continue
        for name in _TRUSTED:
            mine, theirs = getattr(fp, name), getattr(current, name)
            if mine != theirs:
                shown = (lambda v: f"{v:04o}") if name == "mode" else str
                problems.append(
                    f"the plan gives {fp.path} {name} {shown(mine)}, the inventory and the "
                    f"host give {shown(theirs)}"
                )
    if fresh.facts.engine_version != saved.facts.engine_version:
        problems.append(
            f"the host runs Engine {fresh.facts.engine_version} (the plan says "
            f"{saved.facts.engine_version})"
        )
    if problems:
        refuse_stale(run, problems, started, _EDITED)


def refuse_changed(run: HostRun, saved: HostPlan, fresh: HostPlan) -> None:
    """The files to change and the action are the plan's (once the live
    files and the targets hash as it says)."""
    started = run.ctx.clock()
    planned = {f.path for f in saved.files if f.changed}
    problems = [
        f"{f.path} now needs a change the plan does not have"
        for f in fresh.files
        if f.changed and f.path not in planned
    ]
    if not problems and fresh.action is not saved.action:
        problems.append(
            f"the action is now {fresh.action.value} (the plan says {saved.action.value})"
        )
    if problems:
        refuse_stale(run, problems, started, _EDITED)


_EDITED = ": the plan file was edited or the host changed; run fleetcfg plan again"


def _who_wrote(run: HostRun, change: FileChange) -> str:
    record = run.state.record(change.path)
    if record is None:
        return ""
    if digest_matches(record.sha256, change.live_bytes):
        return f"; fleetcfg {record.command} by {record.written_by} wrote it at {record.written_at}"
    return "; it was edited outside fleetcfg"
