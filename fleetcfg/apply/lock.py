"""The host's lock: take it (and read what the run needs in the same round
trip), break it on request, release it.

``lock`` [1 round trip]
    create ``/etc/docker/.fleetcfg/{,backups}`` (0700), ``mkdir`` the lock
    (atomic) and write its ``owner.json`` (:data:`~fleetcfg.host.programs.LOCK_PROGRAM`);
    in the same round trip read state.json, the live files and whatever the
    run asks for. A held lock refuses the host (:class:`LockError`), naming
    the holder.
``unlock``
    delete the backups the new state.json dropped, remove the lock; only
    while ``owner.json`` holds this run's token (a lock another run broke
    and took is left alone).

A held lock whose holder is alive (its process runs on this control machine,
or its heartbeat is younger than ``LOCK_HEARTBEAT_TIMEOUT``) is never broken,
not even with ``--break-lock``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from fleetcfg.apply.hostrun import FileChange, HostRun
from fleetcfg.apply.phases import Phase
from fleetcfg.apply.report import StepStatus
from fleetcfg.core.errors import LockError, RemoteCommandError, StepFailedError, TransportError
from fleetcfg.host.programs import Unlock, lock_argv
from fleetcfg.host.programs.apply import BUSY_MARK, UNLOCK_FAILURES, UNLOCK_NOT_OURS, busy_pid
from fleetcfg.host.programs.files import read_argv
from fleetcfg.host.state import (
    BACKUP_DIR,
    LOCK_BUSY_PATH,
    LOCK_DIR,
    LOCK_HEARTBEAT_TIMEOUT,
    LOCK_OWNER_PATH,
    STATE_DIR,
    STATE_PATH,
    HostState,
    LockOwner,
    StateFileError,
    backup_path,
    format_age,
    lock_age,
    lock_age_commands,
)
from fleetcfg.host.transport.base import CommandResult
from fleetcfg.host.transport.scripts import parse_read_file

#: more reads once the lock is held: gets the lock round trip's results,
#: returns results of its own (e.g. rollback's live files and backups)
AfterLock = Callable[[dict[str, CommandResult]], dict[str, CommandResult]]


def lock(
    run: HostRun,
    reads: Mapping[str, list[str]] | None = None,
    after: AfterLock | None = None,
    *,
    max_output: int | None = None,
) -> dict[str, CommandResult]:
    """Take the lock and read state.json, the live files of ``run.changes``
    and ``reads`` in the same round trip (each command's output at most
    ``max_output``); returns every result."""
    started = run.ctx.clock()
    owner = run.ctx.owner().to_bytes()
    commands: dict[str, list[str]] = {
        "lock": lock_argv(
            STATE_DIR, BACKUP_DIR, LOCK_DIR, LOCK_OWNER_PATH, owner, busy=LOCK_BUSY_PATH
        ),
        "state": read_argv(STATE_PATH),
    }
    for index, argv in enumerate(lock_age_commands()):
        commands[f"age:{index}"] = argv
    commands.update(file_reads(run))
    commands.update(reads or {})
    run.reach(Phase.LOCKING)
    results = run.run_keyed(commands, max_output=max_output)
    _take(run, results["lock"], lock_age(results["age:0"].stdout, results["age:1"].stdout))
    _read_state(run, results["state"])
    if after is not None:
        results.update(after(results))
    store_reads(run, results)
    run.step("lock", StepStatus.OK, f"locked {LOCK_DIR} (run {run.ctx.run_id})", started)
    return results


def file_reads(run: HostRun) -> dict[str, list[str]]:
    """Read each live file to change (at most 1 MiB; a user's file as that user)."""
    return {
        f"file:{index}": read_argv(change.path, change.user)
        for index, change in enumerate(run.changes)
    }


def store_reads(run: HostRun, results: Mapping[str, CommandResult]) -> None:
    for index, change in enumerate(run.changes):
        _read_live(run, change, results[f"file:{index}"])


def _read_live(run: HostRun, change: FileChange, result: CommandResult) -> None:
    try:
        live = parse_read_file(
            change.path, result.exit_status, result.stdout_bytes, result.stderr.encode(), run.host
        )
    except TransportError as exc:
        raise StepFailedError("lock", run.said(exc.message)) from None
    change.live, change.live_exists = live.content, live.exists


def _take(run: HostRun, result: CommandResult, age: float | None) -> None:
    if result.exit_status == 0:
        run.reach(Phase.LOCKED)
        return
    run.reach(Phase.NEW)  # the lock is not this run's
    if result.exit_status == 4:
        why = run.said(result.stderr) or "write error"
        if "No space left on device" in why:
            why = f"no space left on device in {STATE_DIR}"
        raise StepFailedError(
            "lock",
            f"cannot record the lock's owner in {LOCK_OWNER_PATH}: {why} (nothing was changed)",
        )
    if result.exit_status != 3:
        raise StepFailedError(
            "lock",
            f"cannot create {LOCK_DIR}: {run.said(result.stderr) or 'mkdir failed'} "
            "(fleetcfg needs root on the host: connect as root or set ssh.become)",
        )
    holder = LockOwner.from_bytes(result.stdout_bytes) if result.stdout.strip() else None
    said = "\n".join(x for x in result.stderr.splitlines() if not x.startswith(BUSY_MARK))
    unreadable = None
    if holder is None and (result.stdout.strip() or said.strip()):
        problem = run.said(said).removeprefix("fleetcfg: ")
        unreadable = problem or f"{LOCK_OWNER_PATH} is not an owner record fleetcfg can decode"
    alive = holder_alive(run, holder, age, busy_pid(result.stderr))
    if not run.ctx.break_lock:
        message = held_message(run, holder, age, alive, unreadable)
        run.step("lock", StepStatus.FAILED, message)
        raise LockError(message)
    if alive is not None:
        who = holder.describe(run.ctx.now()) if holder else "a run that recorded no owner yet"
        message = (
            f"--break-lock refused: {LOCK_DIR} is held by {who}, which is alive ({alive}): "
            "wait for it to finish"
        )
        run.step("lock", StepStatus.FAILED, message)
        raise LockError(message)
    _break(run, holder)


def holder_alive(
    run: HostRun, holder: LockOwner | None, age: float | None, busy: int | None = None
) -> str | None:
    """Why the lock's holder counts as alive (None: it is gone): its install
    or beat program still runs on the host (``busy``: a restart or health check in
    progress, whether or not the run that started it is still there), its
    process runs on this control machine, or (from elsewhere, or unknown)
    its heartbeat is younger than :data:`LOCK_HEARTBEAT_TIMEOUT`."""
    if busy is not None:
        return (
            f"its program (pid {busy} on the host) still runs: dockerd's restart "
            "or health check is in progress"
        )
    if holder is not None and holder.control_host == run.ctx.control_host:
        if pid_alive(holder.pid):
            return f"its process {holder.pid} runs on this machine"
        return None
    if age is None or age < LOCK_HEARTBEAT_TIMEOUT:
        beat = "of unknown age" if age is None else f"{format_age(age)} old"
        return f"its heartbeat is {beat}, younger than {format_age(LOCK_HEARTBEAT_TIMEOUT)}"
    return None


def held_message(
    run: HostRun,
    holder: LockOwner | None,
    age: float | None,
    alive: str | None,
    unreadable: str | None = None,
) -> str:
    if holder is None and unreadable is not None:
        who = f"a run whose owner cannot be read ({unreadable})"
    elif holder is None:
        who = (
            "a run that recorded no owner (it may have died while taking the lock, "
            "or be taking it right now)"
        )
    else:
        who = holder.describe(run.ctx.now())
    if alive is not None:
        who += f"; it is alive ({alive})"
    elif holder is not None and holder.control_host == run.ctx.control_host:
        who += "; that process is gone from this machine, so the lock is stale"
    elif age is not None:
        who += f"; its heartbeat is {format_age(age)} old, so the lock is stale"
    return (
        f"locked by {who}: {LOCK_DIR} exists on the host. If no fleetcfg run is "
        "working on this host any more, check it (fleetcfg plan) and run again with "
        "--break-lock"
    )


def _break(run: HostRun, holder: LockOwner | None) -> None:
    who = holder.describe(run.ctx.now()) if holder else "no recorded owner"
    owner = run.ctx.owner().to_bytes()
    run.reach(Phase.LOCKING)
    results = run.t.run_many(
        [
            ["rm", "-f", LOCK_OWNER_PATH],
            ["rmdir", LOCK_DIR],
            lock_argv(STATE_DIR, BACKUP_DIR, LOCK_DIR, LOCK_OWNER_PATH, owner, busy=LOCK_BUSY_PATH),
        ]
    )
    if results[2].exit_status != 0:
        run.reach(Phase.NEW)
        raise LockError(
            f"--break-lock could not take the lock held by {who}: "
            f"{run.said(results[1].stderr or results[2].stderr) or 'held again'}"
        )
    run.reach(Phase.LOCKED)
    run.step("break-lock", StepStatus.OK, f"broke the lock held by {who}")


def _read_state(run: HostRun, raw: CommandResult) -> None:
    """state.json, read like any file of a host (at most 1 MiB, nested at most
    64 levels): one that is not fleetcfg's (or too large or deep to decode)
    is moved aside and the run starts a new one."""
    try:
        found = parse_read_file(
            STATE_PATH, raw.exit_status, raw.stdout_bytes, raw.stderr.encode(), run.host
        )
    except RemoteCommandError as exc:
        if exc.exit_status != 6:
            raise StepFailedError("lock", run.said(exc.message)) from None
        problem = f"{STATE_PATH} is not read: {exc.stderr.removeprefix('fleetcfg: ')}"
    except TransportError as exc:
        raise StepFailedError("lock", run.said(exc.message)) from None
    else:
        if not found.exists:
            return
        try:
            run.state = HostState.from_bytes(found.content)
            return
        except StateFileError as exc:
            problem = str(exc)
    aside = f"{STATE_PATH}.unreadable-{run.ctx.run_id}"
    run.t.run(["mv", "-f", "--", STATE_PATH, aside])
    run.step("state", StepStatus.SKIPPED, f"{problem}; moved it to {aside} and started afresh")


# -- releasing ------------------------------------------------------------------------


def settled_state(run: HostRun) -> HostState | None:
    """state.json to write at the unlock, when this run's pending mark must
    go: the recorded state once healthy; the state from before the run when
    nothing was replaced. None: leave state.json as it is (no mark of this
    run, a restore wrote it, or files may be new and unchecked)."""
    if run.phase >= Phase.HEALTHY:
        recorded = run.recorded or run.state
        return recorded.with_pending(None) if recorded.pending is not None else None
    if not run.marked or run.result.rolled_back:
        return None
    if any(c.maybe_replaced for c in run.changes):
        return None
    return run.state


def unlock_argv(run: HostRun, *, prune: bool, state: HostState | None) -> list[str]:
    """Remove the lock if it is still this run's (writing ``state`` first)."""
    return Unlock(
        token=run.ctx.token,
        owner=LOCK_OWNER_PATH,
        lock=LOCK_DIR,
        state_path=STATE_PATH if state is not None else None,
        state=state.to_bytes() if state is not None else None,
        pruned=[backup_path(n) for n in run.pruned] if prune else [],
    ).argv()


def unlock_note(run: HostRun, *, prune: bool) -> str:
    old = f"deleted {len(run.pruned)} old backups; " if prune and run.pruned else ""
    return f"{old}removed {LOCK_DIR}"


def unlock(run: HostRun, *, prune: bool = True) -> None:
    """Remove the lock (and, with ``prune``, the backups state.json dropped),
    only if it is still this run's; clear this run's pending mark first."""
    started = run.ctx.clock()
    argv = unlock_argv(run, prune=prune, state=settled_state(run))
    results = run.t.run_many([argv, read_argv(LOCK_OWNER_PATH)])
    run.reach(Phase.UNLOCKED)
    if results[0].ok:
        run.step("unlock", StepStatus.OK, unlock_note(run, prune=prune), started)
        return
    holder = read_owner(run, results[1])
    if results[0].exit_status == UNLOCK_NOT_OURS and holder is not None:
        why = (
            f"{LOCK_DIR} is now held by {holder.describe(run.ctx.now())} (another run broke "
            "this run's lock): left as it is"
        )
    else:
        what = UNLOCK_FAILURES.get(results[0].exit_status, f"cannot remove {LOCK_DIR}")
        why = f"{what}: {run.said(results[0].stderr) or 'exit ' + str(results[0].exit_status)}"
    run.step("unlock", StepStatus.FAILED, why, started)


def reclaim(run: HostRun) -> None:
    """The connection dropped while taking the lock: remove it if it names
    this run as its owner."""
    holder = read_owner(run, run.t.run(read_argv(LOCK_OWNER_PATH)))
    if holder is not None and holder.token == run.ctx.token:
        run.reach(Phase.LOCKED)
        unlock(run, prune=False)


def read_owner(run: HostRun, result: CommandResult) -> LockOwner | None:
    """The lock's owner from a read of owner.json (at most 1 MiB; None when
    absent, unreadable, too large or too deep to decode)."""
    try:
        found = parse_read_file(
            LOCK_OWNER_PATH,
            result.exit_status,
            result.stdout_bytes,
            result.stderr.encode(),
            run.host,
        )
    except TransportError:
        return None
    return LockOwner.from_bytes(found.content) if found.exists and found.content else None


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
