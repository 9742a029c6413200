"""Whether the running dockerd loaded the daemon.json on disk (pure).

dockerd reads its configuration file when it starts (and again on SIGHUP).
A file that changed after the running daemon's process started is not
necessarily what it runs: an apply killed between its replace and its
restart, a hand edit without a restart, a reload fleetcfg did not check. The
facts tell it without asking the daemon:

* the file's mtime is not after the daemon's start (``ExecMainStartTimestamp``,
  which a SIGHUP reload does not change): dockerd read this file when it
  started (seconds: a change within the second the daemon started counts as
  read; the facts have no finer clock);
* else state.json records that fleetcfg wrote exactly these bytes and has no
  pending mark: the mark is set before fleetcfg replaces the file and cleared
  only once the daemon passed the health gate with it (after its reload or
  restart), so the record is the sha256 the daemon loaded at fleetcfg's last
  successful health gate.

Anything else is a file on disk newer than what dockerd loaded: only a
restart is sure to run it (a reload ignores the keys dockerd reads only when
it starts). A daemon that does not run (inactive, failed) has nothing
loaded; a pending mark is decided by the plan from the mark itself.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fleetcfg.core.filedigest import short_digest
from fleetcfg.plan.facts_model import Facts


def _when(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def unloaded_reason(facts: Facts) -> str | None:
    """Why the running dockerd may not run the daemon.json on disk (None: it
    does, or the facts cannot tell)."""
    unit = facts.unit
    file = facts.daemon_json
    if unit is None or not unit.active or unit.started is None:
        return None
    if not file.known or not file.exists or file.mtime is None:
        return None
    if file.mtime <= unit.started:
        return None
    state = facts.state
    record = state.record(file.path)
    if state.pending is None and record is not None and file.matches(record.sha256):
        return None
    if record is None or record.sha256 is None:
        known = "fleetcfg has no record of it"
    else:
        known = f"fleetcfg last wrote sha256 {short_digest(record.sha256)}"
    return (
        f"{file.path} on disk (sha256 {short_digest(file.sha256)}, changed {_when(file.mtime)}) "
        f"is newer than what the running dockerd loaded (it started {_when(unit.started)}; "
        f"{known}): the file changed without a restart, so only a restart is sure to run it"
    )
