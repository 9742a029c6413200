"""The phase machine: run one host's steps in order; on a refusal, a failure
or a dropped connection, recover by the phase the run reached
(:data:`RECOVERY`, the one place that decides what a failure undoes).

Recovery steps:

``reclaim``
    the connection dropped while taking the lock: remove it if it names this
    run as its owner.
``confirm``
    after a dropped connection (retried once, after ``reconnect_delay``):
    which targets really are the new file.
``restore``
    put the old files back (the same install program, with the content read
    under the lock), and record that in state.json when this run had recorded
    the new files.
``recover``
    bring the daemon back with the old files and check it again
    (:func:`fleetcfg.apply.daemon.recover`).
``recover-builder``
    the run had started recreating the BuildKit builder: recreate it with the
    old buildkitd.toml (:func:`fleetcfg.apply.daemon.recover_builder`).
``release``
    remove the uploads this run may have left (and, when nothing was
    replaced, the backups it made), then the lock.
``unlock``
    the change passed the health gate: finish the unlock; the host counts as
    changed.

If the host stays unreachable its lock is left in place (its state is
unknown) and the report says so, and what the phase tells about its files.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence

from fleetcfg.apply import daemon
from fleetcfg.apply.hostrun import HostRun
from fleetcfg.apply.lock import reclaim, unlock
from fleetcfg.apply.phases import Phase
from fleetcfg.apply.record import new_state
from fleetcfg.apply.report import HostResult, HostStatus, StepStatus
from fleetcfg.apply.steps import Step
from fleetcfg.core.errors import (
    ConnectCancelled,
    ConnectError,
    ConnectionLostError,
    FleetcfgError,
    LockError,
    StalePlanError,
    StepFailedError,
    TransportError,
)
from fleetcfg.core.hashing import sha256_hex
from fleetcfg.host.programs import Install
from fleetcfg.host.programs.files import as_owner
from fleetcfg.host.state import LOCK_DIR, STATE_PATH, backup_path
from fleetcfg.render.surface import DIR_MODE as SURFACE_DIR_MODE

_LOST = (ConnectError, ConnectionLostError)


def execute(run: HostRun, steps: Sequence[Step]) -> HostResult:
    """Run ``steps``; never raises for host problems, it reports them in
    the :class:`HostResult`."""
    try:
        for step in steps:
            step(run)
        run.result.status = HostStatus.CHANGED
        return run.result
    except ConnectCancelled:
        # its first connection was cancelled (Ctrl-C, a halt): no command
        # ever ran on the host, there is nothing to recover
        run.result.status = HostStatus.NOT_REACHED
        return run.result
    except (LockError, StalePlanError) as refused:
        stale = isinstance(refused, StalePlanError)
        run.result.status = HostStatus.STALE if stale else HostStatus.LOCKED
        run.result.reason = run.ctx.mask(refused.message)
    except StepFailedError as failed:
        _failed(run, failed.step, failed.message)
    except _LOST as exc:
        run.lost = True
        run.result.status = HostStatus.FAILED
        run.result.reason = run.ctx.mask(str(exc.message))
        run.step("connection", StepStatus.FAILED, str(exc.message))
        run.ctx.sleep(run.ctx.reconnect_delay)
    except FleetcfgError as exc:
        _failed(run, "error", exc.message + (f" ({exc.hint})" if exc.hint else ""))
    except Exception as exc:
        # the host is recovered like any failed one (files put back, daemon
        # checked, lock released) rather than left half-applied and locked
        _failed(
            run,
            "error",
            f"unexpected {type(exc).__name__}: {exc} (this is a bug in fleetcfg; please report it)",
        )
    _recover(run)
    return run.result


def _failed(run: HostRun, step: str, reason: str) -> None:
    run.result.status = HostStatus.FAILED
    run.result.reason = run.ctx.mask(reason)
    if not any(s.step == step and s.status is StepStatus.FAILED for s in run.result.steps):
        run.step(step, StepStatus.FAILED, reason)


def _recover(run: HostRun) -> None:
    try:
        for action in RECOVERY[run.phase]:
            action(run)
    except _LOST as exc:
        _unreachable(run, exc)
    except TransportError as exc:
        run.result.lock_left = run.phase.holds_lock
        if run.lost:
            run.result.reason += f"; cleaning up failed: {run.ctx.mask(str(exc))}"
            return
        run.step("recover", StepStatus.FAILED, str(exc))
        run.result.reason += f"; recovering failed too: {run.ctx.mask(str(exc))}"


# -- the recovery steps ---------------------------------------------------------------


def _confirm(run: HostRun) -> None:
    """After a dropped connection: which targets are really the new file."""
    if not run.lost:
        return
    candidates = [c for c in run.changes if c.maybe_replaced]
    if not candidates:
        return
    results = run.t.run_many([as_owner(c.user, ["sha256sum", c.path]) for c in candidates])
    for change, result in zip(candidates, results, strict=True):
        now = result.stdout.split()[0] if result.ok and result.stdout.split() else None
        if change.new is None or now != sha256_hex(change.new):
            change.maybe_replaced = False
        else:
            run.result.nothing_written = False


def _restore(run: HostRun) -> None:
    """Put the old files back; ``result.rolled_back`` says whether it worked."""
    if not any(c.maybe_replaced for c in run.changes):
        return
    started = run.ctx.clock()
    restored: list[str] = []
    problems: list[str] = []
    for change in run.changes:
        if not change.maybe_replaced:
            continue
        backup = change.backup
        if backup is None:
            problems.append(f"{change.path}: no backup")
            continue
        if backup.absent or change.live is None:
            result = run.t.run(as_owner(change.user, ["rm", "-f", "--", change.path]))
        else:
            program = Install(
                target=change.path,
                content=change.live,
                mode=change.live_mode if change.live_mode is not None else change.mode,
                owner=change.live_owner or change.owner,
                group=change.live_group or change.group,
                user=change.user,
                dir_mode=SURFACE_DIR_MODE if change.kind.surface else None,
            )
            result = run.t.run(program.argv(), stdin=program.stdin())
        if result.ok:
            change.maybe_replaced = False
            restored.append(change.path if not backup.absent else f"{change.path} (removed)")
        else:
            problems.append(f"{change.path}: {run.said(result.stderr)}")
    if problems:
        run.step("restore", StepStatus.FAILED, "; ".join(problems), started)
        run.result.rolled_back = False
        run.result.reason += f"; restoring the backup failed: {'; '.join(problems)}"
        return
    if run.created_dirs:  # the folders this run made for new files, now empty
        run.t.run_many([["rmdir", "--", d] for d in run.created_dirs])
    run.result.rolled_back = True
    run.result.written = []
    run.step("restore", StepStatus.OK, "restored " + ", ".join(restored), started)


def _restore_state(run: HostRun) -> None:
    if run.result.rolled_back:
        run.t.write_file(STATE_PATH, new_state(run, restored=True).to_bytes(), mode=0o600)


def _recover_daemon(run: HostRun) -> None:
    if run.result.rolled_back:
        daemon.recover(run)


def _release(run: HostRun) -> None:
    """Clean up and unlock after a refusal or a failure."""
    if not run.phase.holds_lock:
        return
    try:
        _cleanup_uploads(run)
        unlock(run, prune=False)
    except _LOST as exc:
        _unreachable(run, exc)
    except TransportError as exc:
        run.result.lock_left = True
        run.step("unlock", StepStatus.FAILED, str(exc))
        run.result.reason += (
            f"; the lock {LOCK_DIR} could not be removed ({exc.message}): "
            "run again with --break-lock once the host is fixed"
        )


def _cleanup_uploads(run: HostRun) -> None:
    """Remove uploads this run may have left next to targets it did not
    replace (an interrupted install; removing them also stops a program
    still running on the host from renaming one later), and, when nothing
    was replaced, the backups it made (copies of unchanged files). Once a
    file was replaced, its backup is never deleted."""
    commands = [
        as_owner(
            c.user,
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
            ],
        )
        for c in run.changes
        if not c.maybe_replaced and c.new is not None
    ]
    if run.result.nothing_written:
        made = [backup_path(c.backup.name) for c in run.changes if c.backup and c.backup.name]
        if made:
            commands.append(["rm", "-f", *made])
        run.result.backups = [n for n in run.result.backups if backup_path(n) not in made]
    if commands:
        run.t.run_many(commands)


def _unlock_healthy(run: HostRun) -> None:
    unlock(run, prune=True)
    run.result.status = HostStatus.CHANGED
    run.result.reason = ""


def _unreachable(run: HostRun, exc: TransportError) -> None:
    maybe_locked = run.phase is Phase.LOCKING
    run.result.lock_left = run.phase.holds_lock or maybe_locked
    if run.phase is Phase.HEALTHY:
        state = (
            "the change is in place and had passed the health gate; the host became "
            "unreachable while fleetcfg unlocked it"
        )
    elif any(c.maybe_replaced for c in run.changes):
        run.result.nothing_written = False
        state = "its files are either the old or the new ones, never a mix"
    else:
        state = "nothing was changed"
    lock = ""
    if run.phase.holds_lock:
        lock = (
            f"; the lock {LOCK_DIR} stays on the host: check it (fleetcfg plan), then run "
            "again with --break-lock"
        )
    elif maybe_locked:
        lock = (
            f"; if {LOCK_DIR} exists on the host and names run {run.ctx.run_id}, it is "
            "this run's: remove it with --break-lock"
        )
    run.result.reason = run.ctx.mask(
        f"{run.result.reason}; the host stays unreachable ({exc.message}): {state}{lock}"
    )
    run.step("recover", StepStatus.FAILED, f"unreachable: {exc.message}")


Recovery = Callable[[HostRun], None]

#: what a failure in each phase undoes, in order
RECOVERY: dict[Phase, tuple[Recovery, ...]] = {
    Phase.NEW: (),
    Phase.LOCKING: (reclaim,),
    Phase.LOCKED: (_release,),
    Phase.STAGED: (_release,),
    Phase.REPLACED: (_confirm, _restore, _release),
    Phase.RECORDED: (_confirm, _restore, _restore_state, daemon.recover_builder, _release),
    Phase.ACTED: (
        _confirm,
        _restore,
        _restore_state,
        _recover_daemon,
        daemon.recover_builder,
        _release,
    ),
    Phase.HEALTHY: (_unlock_healthy,),
    Phase.UNLOCKED: (),
}
