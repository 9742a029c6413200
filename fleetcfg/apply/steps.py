"""The steps of one host's apply, as small functions over a
:class:`~fleetcfg.apply.hostrun.HostRun` (rollback shares all but the first
two, see :mod:`fleetcfg.apply.rollback`). Round trips in brackets: four for
a host whose change passes.

``lock`` [1]
    :func:`fleetcfg.apply.lock.lock`, also reading the host's facts (the
    host is planned again from them: :mod:`fleetcfg.apply.recheck`), its
    clock before a reload and the running containers before a restart with
    live-restore.
``recheck``
    the saved plan still holds: :mod:`fleetcfg.apply.recheck`.
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
    state.json (with the run's pending mark, written right before the
    rename); the reload or restart :mod:`~fleetcfg.apply.daemon` gives
    (nothing for client config.json changes). A rejected or failed upload
    leaves the target untouched and no backup behind.
``health`` [3, more while it waits]
    :func:`fleetcfg.apply.daemon.health`.
``unlock`` [4]
    :func:`fleetcfg.apply.lock.unlock`.

A failure is recovered by phase: :mod:`fleetcfg.apply.machine`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any

from fleetcfg.apply import daemon
from fleetcfg.apply.hostrun import FileChange, HostRun, TargetResolver
from fleetcfg.apply.lock import lock, unlock, unlock_argv, unlock_note
from fleetcfg.apply.phases import Phase
from fleetcfg.apply.recheck import recheck_plan, refuse_changed, refuse_untrusted
from fleetcfg.apply.record import new_state, record_state
from fleetcfg.apply.report import StepStatus
from fleetcfg.core.errors import StepFailedError, TransportError
from fleetcfg.core.filedigest import short_digest
from fleetcfg.core.findings import Severity
from fleetcfg.core.numbers import is_digits
from fleetcfg.dockerd.flags import validate_argv
from fleetcfg.dockerd.validation import check_client_bytes, check_daemon_bytes
from fleetcfg.host.programs import (
    OUTPUT_FLOODS,
    STAGE,
    Check,
    Install,
    check_of,
    install_failure,
    stage_of,
)
from fleetcfg.host.programs import steps_done as program_steps
from fleetcfg.host.programs.files import as_owner
from fleetcfg.host.state import (
    LOCK_BUSY_PATH,
    LOCK_HEARTBEAT_EVERY,
    LOCK_OWNER_PATH,
    STATE_PATH,
    BackupRecord,
    Pending,
    backup_name,
    backup_path,
    utc_stamp,
)
from fleetcfg.plan.facts import (
    Facts,
    fact_commands,
    files_command,
    files_output_cap,
    follow_config_file,
    gather_surface,
    parse_facts,
    with_surface,
)
from fleetcfg.plan.model import Action, FileKind, FilePlan, HostPlan
from fleetcfg.render.surface import DIR_MODE as SURFACE_DIR_MODE

Step = Callable[[HostRun], None]


def apply_steps(plan: HostPlan, targets: TargetResolver) -> list[Step]:
    """The steps that apply ``plan`` on its host."""

    fresh: list[HostPlan] = []

    def take_lock(run: HostRun) -> None:
        users = list(targets.users(plan.host))
        runs_as = run.t.runs_as
        gather = fact_commands(users, runs_as=runs_as, save_engine=True)
        reads = {f"fact:{i}": argv for i, argv in enumerate(gather)}
        surface = sorted(f.path for f in plan.files if f.kind.surface)
        cap = files_output_cap(surface)
        if surface:
            reads["surface"] = files_command(surface)
        results = lock(run, {**daemon.extra_reads(run), **reads}, max_output=cap)
        daemon.store_extra_reads(run, results)
        found = parse_facts(
            run.host,
            users,
            [results[f"fact:{i}"] for i in range(len(gather))],
            runs_as=runs_as,
        )
        found = follow_config_file(run.t, found)
        if surface:
            found = with_surface(found, results["surface"], surface)
        more = [p for p in targets.surface_paths(plan, found) if p not in found.surface]
        found = gather_surface(run.t, found, more)
        now = targets.replan(plan, found)
        run.set_facts(now.facts)
        run.created_dirs = tuple(now.created_dirs)
        run.records = {f.path: dict(f.record) for f in now.files if f.record}
        run.remove_dirs = tuple(now.remove_dirs)
        run.daemon_reload = now.daemon_reload
        run.recreate_builder = now.recreate_builder
        run.builder_commands = now.builder_commands
        fresh.append(now)
        refuse_untrusted(run, plan, now)
        run.changes = [_change_of(fp, found) for fp in plan.files if fp.changed]

    def recheck(run: HostRun) -> None:
        recheck_plan(run, plan, targets)
        refuse_changed(run, plan, fresh[0])

    def check_model(run: HostRun) -> None:
        # the rules the inventory disables, from the plan made again now
        # (never from a saved plan file)
        validate_model(run, ignore=frozenset(fresh[0].lint_disabled))

    return [take_lock, recheck, check_model, commit, health_gate, finish]


def _change_of(fp: FilePlan, facts: Facts) -> FileChange:
    """The change of ``fp`` (its path, mode and owner checked against the
    facts by :func:`refuse_untrusted`), with the live file the facts read."""
    live = {facts.daemon_json.path: facts.daemon_json}
    live.update((u.config.path, u.config) for u in facts.users.values() if u.config)
    live.update(facts.surface)
    found = live[fp.path]
    return FileChange(
        path=fp.path,
        kind=fp.kind,
        user=fp.user,
        mode=fp.mode,
        owner=fp.owner,
        group=fp.group,
        expect_live=fp.live_sha256,
        credentials=fp.credentials,
        live=found.content if found.exists else None,
        live_exists=found.exists,
        parent_exists=found.parent_exists,
        live_mode=found.mode,
        live_owner=found.owner,
        live_group=found.group,
    )


# -- model validation -----------------------------------------------------------------


def validate_model(run: HostRun, ignore: frozenset[str] = frozenset()) -> None:
    """fleetcfg's own checks of every new file (errors of the rules in
    ``ignore``, which the inventory disabled, do not count)."""
    started = run.ctx.clock()
    notes: list[str] = []
    for change in run.changes:
        if change.new is None:
            continue
        if change.kind.surface:
            # checked by the plan made again under the lock (its errors refuse the host)
            notes.append(f"{change.path} checked by the plan")
            continue
        if change.kind is FileKind.DAEMON:
            check: Any = check_daemon_bytes(change.new, file=change.path, engine=run.engine)
            what = f"Engine {run.engine.short}"
        else:
            check = check_client_bytes(change.new, file=change.path)
            what = "the docker CLI"
        errors = [
            f for f in check.findings if f.severity is Severity.ERROR and f.rule not in ignore
        ]
        if errors:
            shown = "; ".join(f"{f.rule} {f.path or ''}: {f.message}".strip() for f in errors[:3])
            raise StepFailedError(
                "validate-model",
                f"fleetcfg's validation for {what} rejects the new {change.path}: {shown}",
            )
        notes.append(f"{change.path} valid for {what}")
    run.step("validate-model", StepStatus.OK, "; ".join(notes), started)


# -- upload, validate, backup, replace, state, reload/restart -------------------------


def commit(run: HostRun) -> None:
    """Everything from the upload to the reload or restart, each step only
    after the one before succeeded: one round trip per file; the last file's
    program also records state.json and runs the reload or restart."""
    moment = run.ctx.now()
    for change in run.changes:
        name = backup_name(change.path, moment) if change.live_exists else None
        sha = change.live_sha256 if change.live_exists else None
        change.backup = BackupRecord(name, sha, utc_stamp(moment), run.ctx.run_id)
    installs = [c for c in run.changes if c.new is not None]
    removals = [c for c in run.changes if c.new is None]
    if run.changes:
        run.mark = Pending(
            run_id=run.ctx.run_id,
            command=run.ctx.command,
            action=run.action.value,
            since=utc_stamp(moment),
            written_by=run.ctx.written_by,
            files={c.path: c.new_sha256 for c in run.changes},
        )
    if removals:
        _mark_pending(run)
    for change in removals:
        _remove(run, change)
    for index, change in enumerate(installs):
        first = index == 0 and not removals
        _install(run, change, first=first, last=index == len(installs) - 1)
    if not installs:
        record_state(run)
        run.reach(Phase.ACTED if run.action in (Action.RELOAD, Action.RESTART) else run.phase)
        daemon.act(run)
    remove_dirs(run)


def remove_dirs(run: HostRun) -> None:
    """The folders fleetcfg created whose files are gone (a registry left
    the inventory): each removed only when empty (``rmdir``), so a file
    someone else put there keeps its folder."""
    if not run.remove_dirs:
        return
    started = run.ctx.clock()
    results = run.t.run_many([["rmdir", "--", d] for d in run.remove_dirs])
    gone = [d for d, r in zip(run.remove_dirs, results, strict=True) if r.ok]
    kept = [d for d, r in zip(run.remove_dirs, results, strict=True) if not r.ok]
    detail = "removed " + ", ".join(gone) if gone else ""
    if kept:
        detail += ("; " if detail else "") + "kept (not empty: files fleetcfg did not write) "
        detail += ", ".join(kept)
    run.step("folders", StepStatus.OK if not kept else StepStatus.SKIPPED, detail, started)


def health_gate(run: HostRun) -> None:
    """Health, then the builder: a failure of either is recovered alike."""
    if run.phase < Phase.HEALTHY:
        daemon.health_then_builder(run)
        run.reach(Phase.HEALTHY)
    run.result.effect = daemon.effect_name(run)


def finish(run: HostRun) -> None:
    if run.phase.holds_lock:
        unlock(run, prune=True)


def _validate_command(run: HostRun, change: FileChange) -> list[str]:
    if change.kind is not FileKind.DAEMON or not run.facts.has_validate:
        return []
    return validate_argv(STAGE, run.flags.flags)


def _reached(done: list[str], action: tuple[str, ...]) -> Phase:
    """The phase an install program's finished steps show."""
    for name, phase in (("unlock", Phase.UNLOCKED), ("health", Phase.HEALTHY)):
        if name in done:
            return phase
    if "state" in done:
        return Phase.ACTED if action else Phase.RECORDED
    return Phase.REPLACED if "replace" in done else Phase.STAGED


def _mark_pending(run: HostRun) -> None:
    """state.json gets the run's pending mark before anything is replaced
    (the install program does it when it replaces the first file)."""
    run.reach(max(run.phase, Phase.STAGED))
    run.marked = True
    run.t.write_file(STATE_PATH, run.state.with_pending(run.mark).to_bytes(), mode=0o600)


def _install(run: HostRun, change: FileChange, *, first: bool, last: bool) -> None:
    assert change.new is not None
    started = run.ctx.clock()
    pre, action = daemon.action_commands(run) if last else ((), ())
    state = new_state(run, restored=False) if last else None
    pending = run.state.with_pending(run.mark) if first else None
    backup = change.backup
    finish_commands: list[list[str]] = []
    if state is not None and run.action in (Action.RESTART, Action.WRITE) and not run.builds:
        # once healthy (a builder: the health gate does it all): the mark, then the lock
        settled = state.with_pending(None)
        finish_commands = [unlock_argv(run, prune=True, state=settled)]
    program = Install(
        target=change.path,
        content=change.new,
        mode=change.mode,
        owner=change.owner,
        group=change.group,
        user=change.user,
        backup=backup_path(backup.name) if backup is not None and backup.name else None,
        validate=_validate_command(run, change),
        state_path=STATE_PATH if last or first else None,
        state=state.to_bytes() if state is not None else None,
        pending=pending.to_bytes() if pending is not None else None,
        dir_mode=SURFACE_DIR_MODE if change.kind.surface else None,
        pre=pre,
        action=action,
        finish=finish_commands,
        **(daemon.first_check(run) if last else {}),
        **(_heartbeat() if last else {}),
    )
    before = run.phase
    # until the host answers: the phase whose recovery undoes all it may do
    change.maybe_replaced = True
    run.reach(Phase.REPLACED if not last else Phase.ACTED if action else Phase.RECORDED)
    run.marked = run.marked or first
    result = run.t.run(program.argv(), stdin=program.stdin())
    done = program_steps(result)
    if first:
        run.marked = "pending" in done
    change.maybe_replaced = "replace" in done
    run.reach(max(before, daemon.checked(run, _reached(done, action))))
    if change.maybe_replaced:
        run.result.nothing_written = False
        run.result.written.append(change.path)
    if "backup" in done and backup is not None and backup.name:
        run.result.backups.append(backup.name)
    _report_install(run, change, done, started, check_of(result))
    failure = install_failure(result)
    if failure is None:
        return
    step, what = failure
    if result.exit_status in OUTPUT_FLOODS:
        what = f"{what.format(path=change.path)}: stopped it, refusing to read more"
        run.step(step, StepStatus.FAILED, what, started)
        raise StepFailedError(step, what)
    if step in ("health", "unlock"):
        return  # not healthy yet, or not unlocked: the next steps go on
    output = run.said(result.stderr or "")
    stage = stage_of(result)
    if stage:
        output = output.replace(stage, change.path)
    what = what.format(path=change.path)
    if "No space left on device" in output:
        output = f"no space left on device in {posixpath.dirname(change.path)}"
    if step == "validate":
        flags = " ".join(run.flags.flags) or "no flags"
        run.step("validate", StepStatus.FAILED, output, started)
        raise StepFailedError(
            "validate",
            f"dockerd --validate rejects the new {change.path} with the unit's flags "
            f"({flags}){_dropped_note(run)}: {output}",
        )
    if step == "action":
        why = daemon.daemon_error(run) if run.action is Action.RESTART else None
        name = daemon.action_name(run.action)
        run.step(name, StepStatus.FAILED, why or output, started)
        raise StepFailedError(
            name, f"`{' '.join(action)}` failed: {why or output or 'no error output'}"
        )
    unchanged = "" if not run.result.nothing_written else " (nothing was changed)"
    run.step(step, StepStatus.FAILED, f"{what}: {output}", started)
    raise StepFailedError(step, f"{what}: {output or 'no error output'}{unchanged}")


def _heartbeat() -> dict[str, Any]:
    """The lock's heartbeat while the install program restarts or reloads
    dockerd and waits for its first health check (one long round trip)."""
    return {"beat": LOCK_OWNER_PATH, "busy": LOCK_BUSY_PATH, "every": LOCK_HEARTBEAT_EVERY}


def _dropped_note(run: HostRun) -> str:
    if not run.flags.dropped:
        return ""
    return f" (left out of the unit's flags: {' '.join(run.flags.dropped)})"


_PROGRAM_STEPS = ("upload", "validate", "backup", "replace", "state", "action", "health", "unlock")


def _report_install(
    run: HostRun, change: FileChange, done: list[str], started: float, check: Check | None
) -> None:
    """Journal the steps one install round trip finished, in order (their
    time is on the last of them)."""
    assert change.new is not None
    action = daemon.action_commands(run)[1] if "state" in done else ()
    backup = change.backup
    details = {
        "upload": f"{change.path}: {len(change.new)} bytes, {change.mode:04o} "
        f"{change.owner}:{change.group}, uploaded next to it",
        "validate": f"dockerd --validate with {' '.join(run.flags.flags) or 'no flags'}: "
        f"configuration OK{_dropped_note(run)}",
        "backup": backup_path(backup.name) if backup is not None and backup.name else "",
        "replace": f"{change.path} sha256 {short_digest(change.new_sha256)}",
        "state": f"recorded in {STATE_PATH}",
        "action": " ".join(action),
        "health": "daemon active, docker info answers"
        + (f", {check.info} containers running" if check and is_digits(check.info) else ""),
        "unlock": unlock_note(run, prune=True),
    }
    entries: list[tuple[str, StepStatus, str]] = []
    for name in _PROGRAM_STEPS:
        if name in done:
            shown = daemon.action_name(run.action) if name == "action" else name
            entries.append((shown, StepStatus.OK, details[name]))
        elif name == "validate" and "upload" in done and change.kind is FileKind.DAEMON:
            if not run.facts.has_validate:
                engine = run.facts.engine_version or "(unknown)"
                entries.append(
                    (
                        "validate",
                        StepStatus.SKIPPED,
                        f"dockerd {engine} has no --validate (Engine 23.0+); fleetcfg's "
                        f"validation for Engine {run.engine.short} passed",
                    )
                )
        elif name == "backup" and "replace" in done and backup is not None and backup.absent:
            entries.append(("backup", StepStatus.SKIPPED, f"{change.path} is new"))
        elif name == "action" and "state" in done and not action:
            entries.append(
                ("service", StepStatus.SKIPPED, "client config only: dockerd is not touched")
            )
    for index, (name, status, detail) in enumerate(entries):
        run.step(name, status, detail, started if index == len(entries) - 1 else 0.0)


def _remove(run: HostRun, change: FileChange) -> None:
    """Rollback to "the file did not exist": back it up, then remove it."""
    started = run.ctx.clock()
    backup = change.backup
    if change.live_exists and backup is not None and backup.name:
        run.reach(max(run.phase, Phase.STAGED))
        try:  # the content read under the lock, as a new root 0600 file
            run.t.write_file(backup_path(backup.name), change.live or b"", mode=0o600)
        except TransportError as exc:
            raise StepFailedError(
                "backup", f"cannot back up {change.path}: {exc.message} (nothing was changed)"
            ) from None
        run.result.backups.append(backup.name)
        run.step("backup", StepStatus.OK, backup_path(backup.name), started)
    change.maybe_replaced = True
    run.reach(max(run.phase, Phase.REPLACED))
    removed = run.t.run(as_owner(change.user, ["rm", "-f", "--", change.path]))
    if not removed.ok:
        change.maybe_replaced = False
        raise StepFailedError("replace", f"cannot remove {change.path}: {run.said(removed.stderr)}")
    run.result.nothing_written = False
    run.result.written.append(change.path)
    run.step("replace", StepStatus.OK, f"removed {change.path}", started)
