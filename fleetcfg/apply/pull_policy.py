"""Rollout safety for ``fleetcfg converge`` without a coordinator: each host
decides alone, from the inventory's ``rollout`` settings, whether it may apply
what it planned now.

* ``canary_percent``: a stable hash of the host's name puts it in one of 100
  slots; hosts whose slot is below the percentage apply a new revision at
  once, the others only ``converge_delay`` after they first saw it (the
  first-seen time is kept per revision in converge's state folder).
* ``maintenance_window``: a change that needs a dockerd restart waits for the
  daily UTC window; reload-only (and write-only) changes apply anytime.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from fleetcfg.inventory.model import Rollout
from fleetcfg.plan.model import Action


def canary_slot(host_name: str) -> int:
    """The host's slot, 0..99: the same on every run and every host."""
    digest = hashlib.sha256(host_name.encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def in_canary(host_name: str, percent: int) -> bool:
    return canary_slot(host_name) < percent


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def in_window(window: str, when: float) -> bool:
    """Whether ``when`` (epoch seconds) lies in the daily UTC window
    ``"HH:MM-HH:MM"`` (start included, end excluded; it may span midnight)."""
    start, end = (_minutes(part) for part in window.split("-"))
    moment = datetime.fromtimestamp(when, UTC)
    now = moment.hour * 60 + moment.minute
    if start < end:
        return start <= now < end
    return now >= start or now < end


def _utc(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class Hold:
    """Why converge does not apply now (nothing is written)."""

    message: str
    restart_pending: bool = False


def hold(
    rollout: Rollout,
    host_name: str,
    action: Action,
    *,
    revision: str,
    first_seen: float,
    now: float,
) -> Hold | None:
    """Why ``host_name`` must not apply ``action`` for ``revision`` at ``now``
    (None: it may)."""
    if action in (Action.NONE, Action.ERROR):
        return None
    if not in_canary(host_name, rollout.canary_percent) and rollout.converge_delay > 0:
        due = first_seen + rollout.converge_delay
        if now < due:
            return Hold(
                f"revision {revision[:19]} waits: {host_name} is outside the canary set "
                f"({rollout.canary_percent}% of hosts), it applies at {_utc(due)} "
                f"(rollout.converge_delay after it first saw the revision at {_utc(first_seen)})"
            )
    window = rollout.maintenance_window
    if action is Action.RESTART and window is not None and not in_window(window, now):
        return Hold(
            f"the change needs a dockerd restart: deferred to the maintenance window "
            f"{window} UTC (rollout.maintenance_window); nothing was written",
            restart_pending=True,
        )
    return None
