"""The phases of one host's apply or rollback, in the order a run goes
through them.

A phase is the furthest point the host *may* have reached: a step moves the
run to the next phase before the round trip that may reach it (a dropped
connection then leaves the run in the phase that could have happened), and
back to what the host reports once the round trip answers. What to do after a
failure depends only on the phase (:data:`fleetcfg.apply.machine.RECOVERY`).

``NEW``
    nothing was sent to the host.
``LOCKING``
    the lock program was sent; whether the lock is this run's is unknown
    (the connection dropped before it answered).
``LOCKED``
    the lock is this run's; nothing else was written.
``STAGED``
    uploads next to the targets, and backups, may exist; no target was
    replaced.
``REPLACED``
    a target may be the new file (:attr:`FileChange.maybe_replaced
    <fleetcfg.apply.hostrun.FileChange.maybe_replaced>` says which).
``RECORDED``
    state.json records the new files.
``ACTED``
    the reload or restart was issued.
``HEALTHY``
    the change passed the health gate.
``UNLOCKED``
    the lock is removed: the run is over on this host.
"""

from __future__ import annotations

from enum import IntEnum


class Phase(IntEnum):
    NEW = 0
    LOCKING = 1
    LOCKED = 2
    STAGED = 3
    REPLACED = 4
    RECORDED = 5
    ACTED = 6
    HEALTHY = 7
    UNLOCKED = 8

    @property
    def holds_lock(self) -> bool:
        """Whether the lock on the host is this run's."""
        return Phase.LOCKED <= self < Phase.UNLOCKED
