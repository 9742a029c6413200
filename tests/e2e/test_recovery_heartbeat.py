"""The restart a recovery runs (after a failed health gate, with the old
file put back) keeps the lock's heartbeat like the install program's own
restart: killed meanwhile, the run leaves a lock that --break-lock refuses
while dockerd still restarts, and takes once the restart is over."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.host.state import LOCK_BUSY_PATH, LOCK_DIR
from tests.e2e.test_apply import DAEMON_JSON, cli, target, write_repo
from tests.e2e.test_host_trust_apply import assert_break_lock_refused, kill_apply_when
from tests.fleet import Fleet, wait_until

pytestmark = pytest.mark.e2e

#: the inventory's health command: fails until the test creates .healthy
HEALTH = "#!/bin/sh\n[ -e /usr/local/sbin/.healthy ]\n"


def test_break_lock_refuses_the_lock_while_the_restart_of_a_recovery_runs(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    old = '{"log-driver": "json-file"}\n'
    host.write_file(DAEMON_JSON, old)
    sbin = host.path("/usr/local/sbin")
    (sbin / "fleet-health").write_text(HEALTH)
    (sbin / "fleet-health").chmod(0o755)
    path = write_repo(
        tmp_path,
        fleet,
        fleet.hosts,
        defaults="service:\n  health: /usr/local/sbin/fleet-health\n  health_timeout: 5s\n",
    )

    def recovery_restarting() -> bool:
        # the new file's restart went through and its health gate fails for
        # 5 s: hold every later start (the recovery's restart)
        if host.events("started") and not (host.state_dir / "faults" / "hold-start").exists():
            host.fault_hold_start()
        return bool(host.events("start-held"))

    try:
        held_start, out, err = kill_apply_when(path, recovery_restarting)
        assert held_start, out + err
        assert host.read_file(DAEMON_JSON) == old  # put back before the restart
        assert host.exists(LOCK_BUSY_PATH), "the recovery's restart does not name itself"
        assert_break_lock_refused(host, path)
    finally:
        host.release_start()
    # once the restart is over, the program stops its heartbeat and the lock
    # is stale: one apply with --break-lock finishes the host
    assert wait_until(lambda: not host.exists(LOCK_BUSY_PATH), timeout=60)
    assert wait_until(lambda: host.unit_state() == "active", timeout=60)
    (sbin / ".healthy").touch()
    code, out, err = cli("apply", "-i", str(path), "--yes", "--break-lock")
    assert code == ExitCode.OK, out + err
    assert json.loads(host.read_file(DAEMON_JSON)) == target()
    assert not host.exists(LOCK_DIR)
