"""What an apply or rollback records in the host's state.json
(:mod:`fleetcfg.host.state`): per file the hash written, who wrote it, its
backups, and for a surface file whether fleetcfg created it (a file it
created is removed when its source leaves the inventory; any other is left
in place), the folder it created for it and what applies it (the builder of
buildkitd.toml)."""

from __future__ import annotations

import posixpath

from fleetcfg.apply.hostrun import FileChange, HostRun
from fleetcfg.apply.phases import Phase
from fleetcfg.apply.report import StepStatus
from fleetcfg.host.state import (
    CREATED,
    CREATED_DIR,
    STATE_PATH,
    FileRecord,
    HostState,
    prune_backups,
    utc_stamp,
)


def new_state(run: HostRun, *, restored: bool) -> HostState:
    """state.json after this run (``restored``: after putting the old files back)."""
    state = run.state
    moment = utc_stamp(run.ctx.now())
    run.pruned = []
    if not restored:  # the mark stays until the health gate
        state = state.with_pending(run.mark)
    for change in run.changes:
        old = state.record(change.path)
        backups = old.backups if old else ()
        if change.backup is not None and change.backup not in backups:
            backups = (*backups, change.backup)
        if restored:
            sha = change.live_sha256
            command = f"{run.ctx.command} (rolled back)"
        else:
            sha = change.new_sha256
            command = run.ctx.command
            backups, dropped = prune_backups(backups, run.ctx.keep_backups)
            run.pruned.extend(dropped)
        extra = dict(old.extra) if old else {}
        folder = posixpath.dirname(change.path)
        if not restored and folder in run.created_dirs:
            extra[CREATED_DIR] = folder
        elif restored and folder in run.created_dirs and old is None:
            extra.pop(CREATED_DIR, None)
        if not restored and change.kind.surface and change.new is not None:
            extra.update(run.records.get(change.path, {}))
            extra[CREATED] = created(old, change)
        record = FileRecord(
            path=change.path,
            kind=change.kind.value,
            user=change.user,
            sha256=sha,
            written_at=moment,
            written_by=run.ctx.written_by,
            run_id=run.ctx.run_id,
            plan_id=run.ctx.plan_id,
            command=command,
            backups=backups,
            extra=extra,
        )
        state = state.with_record(record)
    if not restored:
        run.recorded = state
    return state


def created(old: FileRecord | None, change: FileChange) -> bool:
    """Whether fleetcfg created the file it writes now: it did not exist,
    or fleetcfg created it earlier and has not removed it since."""
    if not change.live_exists:
        return True
    return old is not None and old.sha256 is not None and old.created


def record_state(run: HostRun) -> None:
    started = run.ctx.clock()
    run.t.write_file(STATE_PATH, new_state(run, restored=False).to_bytes(), mode=0o600)
    run.reach(max(run.phase, Phase.RECORDED))
    run.step("state", StepStatus.OK, f"recorded in {STATE_PATH}", started)
