"""Issue 9, what apply trusts on a host, against real sshd hosts (tests/fleet):
secrets written for root only, saved plans that cannot steer paths, modes or
owners, crash consistency after kill -9, and locks with owners and
heartbeats. Each test asserts the files, owners and modes on the host
afterwards, and failed against the code before its fix.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.core.hashing import sha256_hex
from fleetcfg.host.state import LOCK_DIR, LOCK_OWNER_PATH, STATE_PATH, LockOwner, utc_stamp
from tests.e2e.test_apply import DAEMON_JSON, cli, target, write_repo
from tests.fleet import Fleet, FleetHost, wait_until

pytestmark = pytest.mark.e2e

PROXY_PROFILE = """\
log-driver: json-file
proxies:
  http-proxy: "http://svc:{{ env('PROXY_PASSWORD') }}@proxy.corp.example.com:3128"
"""
FILE_PROFILE = """\
log-driver: json-file
labels: ["token={{ file('secrets/token') }}"]
"""


def mode_owner(host: FleetHost, remote: str) -> tuple[int, int, int]:
    """(permission bits, uid, gid) of ``remote`` on ``host``."""
    info = os.lstat(host.path(remote))
    return stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid


# -- item 5: secrets readable on disk ------------------------------------------------


def test_a_daemon_json_holding_a_proxy_password_is_written_0600_root(
    fleet_of: Callable[[int], Fleet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    monkeypatch.setenv("PROXY_PASSWORD", "s3cr3t-pw")
    path = write_repo(tmp_path, fleet, fleet.hosts, profile=PROXY_PROFILE)
    code, out, err = cli("plan", "-i", str(path))
    assert code == 0, out + err
    assert "holds credentials" in out, out
    assert "s3cr3t-pw" not in out + err
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    assert "s3cr3t-pw" in host.read_file(DAEMON_JSON)
    assert mode_owner(host, DAEMON_JSON) == (0o600, 0, 0)


def test_a_daemon_json_holding_a_file_lookup_is_written_0600_root(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    host.write_file(DAEMON_JSON, '{"log-driver": "json-file"}\n')
    path = write_repo(tmp_path, fleet, fleet.hosts, profile=FILE_PROFILE)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text("tok-7f3a9c\n")
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    assert "[0644 root:root -> 0600 root:root, holds credentials]" in out
    assert json.loads(host.read_file(DAEMON_JSON))["labels"] == ["token=tok-7f3a9c"]
    assert mode_owner(host, DAEMON_JSON) == (0o600, 0, 0)


def test_a_daemon_json_without_credentials_stays_0644(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    fleet = fleet_of(1)
    path = write_repo(tmp_path, fleet, fleet.hosts)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    assert "holds credentials" not in out
    assert mode_owner(fleet.hosts[0], DAEMON_JSON) == (0o644, 0, 0)


def test_a_saved_plan_is_written_0600(fleet_of: Callable[[int], Fleet], tmp_path: Path) -> None:
    fleet = fleet_of(1)
    path = write_repo(tmp_path, fleet, fleet.hosts)
    saved = tmp_path / "plan.json"
    code, out, err = cli("plan", "-i", str(path), "-o", str(saved))
    assert code == 0, out + err
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600


# -- item 8: locks with an owner token and a heartbeat ---------------------------------


def hold_lock(host: FleetHost, owner: LockOwner, *, heartbeat_age: float = 0.0) -> bytes:
    """Make ``owner`` hold the host's lock, its last heartbeat ``heartbeat_age``
    seconds ago; returns owner.json's bytes."""
    raw = owner.to_bytes()
    host.write_file(LOCK_OWNER_PATH, raw, mode=0o644)
    os.chmod(host.path(LOCK_DIR), 0o755)
    if heartbeat_age:
        then = time.time() - heartbeat_age
        os.utime(host.path(LOCK_OWNER_PATH), (then, then))
    return raw


def owner(**changes: object) -> LockOwner:
    base: dict[str, object] = {
        "run_id": "4b1d00c0ffee",
        "user": "bob",
        "control_host": "ci-runner-7",
        "pid": 77,
        "command": "apply",
        "started_at": utc_stamp(datetime.now(UTC)),
        "token": "bobs-secret-token",
    }
    base.update(changes)
    return LockOwner(**base)  # type: ignore[arg-type]


def test_break_lock_refuses_the_lock_of_a_run_alive_on_this_machine(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    held = hold_lock(host, owner(control_host=socket.gethostname(), pid=os.getpid()))
    path = write_repo(tmp_path, fleet, fleet.hosts)
    code, out, err = cli("apply", "-i", str(path), "--yes", "--break-lock")
    assert code == ExitCode.LOCKED, out + err
    assert "--break-lock refused" in out and f"bob@{socket.gethostname()}" in out
    assert f"its process {os.getpid()} runs on this machine" in out
    assert host.read_bytes(LOCK_OWNER_PATH) == held
    assert host.events("started") == [] and not host.exists(DAEMON_JSON)


def test_break_lock_refuses_a_lock_whose_heartbeat_is_fresh(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    held = hold_lock(host, owner(), heartbeat_age=1)
    path = write_repo(tmp_path, fleet, fleet.hosts)
    code, out, err = cli("apply", "-i", str(path), "--yes", "--break-lock")
    assert code == ExitCode.LOCKED, out + err
    assert "--break-lock refused" in out and "bob@ci-runner-7 (pid 77" in out
    assert "heartbeat is" in out
    assert host.read_bytes(LOCK_OWNER_PATH) == held
    assert host.events("started") == []


def test_break_lock_takes_a_lock_whose_heartbeat_stopped(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    hold_lock(host, owner(), heartbeat_age=3600)
    path = write_repo(tmp_path, fleet, fleet.hosts)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.LOCKED and "heartbeat is 60m old, so the lock is stale" in out
    code, out, err = cli("apply", "-i", str(path), "--yes", "--break-lock")
    assert code == ExitCode.OK, out + err
    assert not host.exists(LOCK_DIR)
    assert mode_owner(host, DAEMON_JSON) == (0o644, 0, 0)


def test_unlock_leaves_the_lock_of_a_run_that_took_it_over(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    host.fault_slow_restart(2)
    path = write_repo(tmp_path, fleet, fleet.hosts)
    outcome: list[tuple[int, str, str]] = []
    run = threading.Thread(target=lambda: outcome.append(cli("apply", "-i", str(path), "--yes")))
    run.start()
    try:
        assert wait_until(lambda: bool(host.events("start-delayed")), timeout=60)
        # meanwhile another run broke this run's lock and took it
        theirs = hold_lock(host, owner())
    finally:
        run.join(120)
    [(code, out, err)] = outcome
    assert code == ExitCode.OK, out + err
    journal = (tmp_path / ".fleetcfg" / "journal.jsonl").read_text()
    assert "another run broke this run's lock" in journal
    assert host.read_bytes(LOCK_OWNER_PATH) == theirs
    assert host.running_config_sha256() is not None


# -- item 7: crash consistency ---------------------------------------------------------

#: a `sync` in the host's PATH before the real one: pauses before the Nth
#: `sync DIR` (fleetcfg fsyncs a folder right after each rename in it) while
#: the control file exists, recording the pids of the program that called it
SYNC_PAUSE = """\
#!/bin/sh
ctl=/usr/local/sbin/.fleet-pause
for a in "$@"; do last=$a; done
if [ -r "$ctl" ]; then
  read -r dir nth <"$ctl"
  # shellcheck disable=SC2254
  case $last in $dir)
    n=$(($(cat /usr/local/sbin/.fleet-count 2>/dev/null || echo 0) + 1))
    echo "$n" >/usr/local/sbin/.fleet-count
    if [ "$n" = "$nth" ]; then
      up=$(cut -d' ' -f4 /proc/$PPID/stat)
      echo "$PPID $up" >/usr/local/sbin/.fleet-paused
      while [ -e "$ctl" ]; do sleep 0.05; done
    fi
    ;;
  esac
fi
exec /usr/bin/sync "$@"
"""
#: the same as a health command (the first check right after the restart)
HEALTH_PAUSE = """\
#!/bin/sh
ctl=/usr/local/sbin/.fleet-pause
if [ -r "$ctl" ] && read -r what _ <"$ctl" && [ "$what" = health ]; then
  up=$(cut -d' ' -f4 /proc/$PPID/stat)
  echo "$PPID $up" >/usr/local/sbin/.fleet-paused
  while [ -e "$ctl" ]; do sleep 0.05; done
fi
exit 0
"""
#: where apply is killed: (the `sync` folder and which time, or "health")
KILL_POINTS = {
    # the pending mark is in state.json, daemon.json is still the old one
    "marked": "/etc/docker/.fleetcfg 1",
    # daemon.json was renamed into place; dockerd still runs the old one
    "replaced": "/etc/docker 1",
    # state.json records the new file; the restart has not started
    "recorded": "/etc/docker/.fleetcfg 2",
    # dockerd restarted with the new file; the health gate has not passed
    "restarted": "health 1",
    # healthy; state.json without the mark is about to replace the marked one
    "healthy": "/etc/docker/.fleetcfg/.state.json.fleetcfg-* 3",
}


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def pausing_repo(fleet: Fleet, tmp_path: Path) -> tuple[Path, Path]:
    """The host's /usr/local/sbin with the pausing `sync` and health command
    (paused while .fleet-pause names the point), and an inventory that uses
    that health command."""
    sbin = fleet.hosts[0].path("/usr/local/sbin")
    (sbin / "sync").write_text(SYNC_PAUSE)
    (sbin / "fleet-health-pause").write_text(HEALTH_PAUSE)
    for name in ("sync", "fleet-health-pause"):
        (sbin / name).chmod(0o755)
    path = write_repo(
        tmp_path,
        fleet,
        fleet.hosts,
        defaults="service:\n  health: /usr/local/sbin/fleet-health-pause\n",
    )
    return sbin, path


def kill_apply_when_paused(sbin: Path, path: Path) -> tuple[bool, str, str]:
    """Run apply in its own process and kill -9 it once the host program
    paused; (paused, its stdout, its stderr)."""
    return kill_apply_when(path, (sbin / ".fleet-paused").exists)


def kill_apply_when(path: Path, ready: Callable[[], bool]) -> tuple[bool, str, str]:
    """Run apply in its own process and kill -9 it once ``ready``; (ready,
    its stdout, its stderr)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fleetcfg", "apply", "-i", str(path), "--yes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        paused = wait_until(ready, timeout=90)
        process.kill()  # kill -9
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    return paused, out, err


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_apply_killed_at_each_step_leaves_the_old_or_new_file_and_one_rerun_converges(
    fleet_of: Callable[[int], Fleet], tmp_path: Path, point: str
) -> None:
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    old = '{"log-driver": "json-file"}\n'
    host.write_file(DAEMON_JSON, old)
    sbin, path = pausing_repo(fleet, tmp_path)
    (sbin / ".fleet-pause").write_text(KILL_POINTS[point] + "\n")
    try:
        paused, out, err = kill_apply_when_paused(sbin, path)
    finally:
        (sbin / ".fleet-pause").unlink(missing_ok=True)
    assert paused, f"apply never reached {point}: " + out + err
    # the program on the host goes on alone until it notices its caller is gone
    pids = [int(p) for p in (sbin / ".fleet-paused").read_text().split()]
    assert wait_until(lambda: not any(_alive(p) for p in pids), timeout=60)
    new = host.read_file(DAEMON_JSON)
    assert new == old or json.loads(new) == target()
    # plan says what is left to do (once healthy, the program left alone on
    # the host may have finished the unlock), one apply finishes it
    code, out, err = cli("plan", "-i", str(path), "--detailed-exitcode")
    assert code == 2 or (point == "healthy" and code == 0), f"{point}: " + out + err
    code, out, err = cli("apply", "-i", str(path), "--yes", "--break-lock")
    assert code == ExitCode.OK, f"{point}: " + out + err
    code, out, err = cli("plan", "-i", str(path), "--detailed-exitcode")
    assert code == 0, f"{point}: " + out + err
    assert json.loads(host.read_file(DAEMON_JSON)) == target()
    assert host.running_config_sha256() == sha256_hex(host.read_bytes(DAEMON_JSON))
    assert host.unit_state() == "active"
    assert not host.exists(LOCK_DIR)
    assert not [n for n in host.listdir("/etc/docker") if ".fleetcfg-" in n]
    state = json.loads(host.read_file(STATE_PATH))
    assert "pending" not in state
    assert mode_owner(host, DAEMON_JSON) == (0o644, 0, 0)


def test_apply_killed_after_the_replace_is_finished_even_without_its_pending_mark(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    """The new daemon.json is on disk, dockerd runs the old one, and the
    pending mark is gone with state.json (removed by hand, or unreadable):
    plan still sees the file is newer than what dockerd loaded."""
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    old = '{"log-driver": "json-file"}\n'
    host.write_file(DAEMON_JSON, old)
    # the apply's replace must fall in a later second than dockerd's start
    # (the facts compare whole seconds: the documented limit)
    host.wait_past_daemon_start()
    sbin, path = pausing_repo(fleet, tmp_path)
    (sbin / ".fleet-pause").write_text(KILL_POINTS["replaced"] + "\n")
    try:
        paused, out, err = kill_apply_when_paused(sbin, path)
    finally:
        (sbin / ".fleet-pause").unlink(missing_ok=True)
    assert paused, out + err
    pids = [int(p) for p in (sbin / ".fleet-paused").read_text().split()]
    assert wait_until(lambda: not any(_alive(p) for p in pids), timeout=60)
    assert json.loads(host.read_file(DAEMON_JSON)) == target()
    assert host.running_config_sha256() != sha256_hex(host.read_bytes(DAEMON_JSON))
    host.remove_file(STATE_PATH)
    code, out, err = cli("plan", "-i", str(path), "--detailed-exitcode")
    assert code == 2, out + err
    assert "newer than what the running dockerd loaded" in out, out
    assert "host-01 (127." in out and ": restart" in out
    code, out, err = cli("apply", "-i", str(path), "--yes", "--break-lock")
    assert code == ExitCode.OK, out + err
    assert host.running_config_sha256() == sha256_hex(host.read_bytes(DAEMON_JSON))
    code, out, err = cli("plan", "-i", str(path), "--detailed-exitcode")
    assert code == 0, out + err


def test_a_target_copied_by_hand_without_a_restart_is_restarted(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    """A host without state.json whose daemon.json already is the target, put
    there after dockerd started: plan says the restart it needs, apply does
    it, and the next plan has nothing to do."""
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    path = write_repo(tmp_path, fleet, fleet.hosts)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    wanted = host.read_bytes(DAEMON_JSON)
    host.write_file(DAEMON_JSON, '{"log-driver": "json-file"}\n')
    assert host.ssh("systemctl restart docker").returncode == 0
    host.remove_file(STATE_PATH)
    host.write_file(DAEMON_JSON, wanted, loaded=False)  # cp by hand, no restart
    assert host.running_config_sha256() != sha256_hex(wanted)
    code, out, err = cli("plan", "-i", str(path), "--detailed-exitcode")
    assert code == 2, out + err
    assert "fleetcfg has no record of it" in out and "only a restart is sure to run it" in out
    starts = len(host.events("started"))
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    assert len(host.events("started")) == starts + 1
    assert host.read_bytes(DAEMON_JSON) == wanted
    assert host.running_config_sha256() == sha256_hex(wanted)
    code, out, err = cli("plan", "-i", str(path), "--detailed-exitcode")
    assert code == 0, out + err


def test_a_reload_by_fleetcfg_is_not_taken_for_a_file_dockerd_did_not_load(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    """After fleetcfg's own reload (dockerd's start time unchanged, the file
    newer) plan has nothing to do; a hand edit after it is seen."""
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    old = target(**{"registry-mirrors": ["https://old.example.com"]})
    host.write_file(DAEMON_JSON, json.dumps(old) + "\n")
    path = write_repo(tmp_path, fleet, fleet.hosts)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    assert "Plan: 1 to reload" in out and host.events("started") == [], out
    code, out, err = cli("plan", "-i", str(path), "--detailed-exitcode")
    assert code == 0, out + err
    edited = json.loads(host.read_file(DAEMON_JSON)) | {"debug": True}
    host.write_file(DAEMON_JSON, json.dumps(edited) + "\n", loaded=False)
    code, out, err = cli("plan", "-i", str(path), "--detailed-exitcode")
    assert code == 2, out + err
    assert "newer than what the running dockerd loaded" in out, out
    assert "fleetcfg last wrote sha256" in out


def test_apply_killed_while_dockerd_refuses_the_new_file_is_an_error_naming_rollback(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    """Killed during the restart of a file dockerd refuses: nobody rolls back,
    docker.service stays failed; plan says so and names `fleetcfg rollback`,
    which puts the old file back."""
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    old = '{"log-driver": "json-file"}\n'
    host.write_file(DAEMON_JSON, old)
    assert host.ssh("systemctl restart docker").returncode == 0
    host.fault_refuse_next_config()
    host.fault_slow_restart(3)
    path = write_repo(tmp_path, fleet, fleet.hosts)
    killed, out, err = kill_apply_when(path, lambda: bool(host.events("start-delayed")))
    assert killed, out + err
    assert wait_until(lambda: host.unit_state() == "failed", timeout=60)
    assert json.loads(host.read_file(DAEMON_JSON)) == target()
    code, out, err = cli("plan", "-i", str(path), "--detailed-exitcode")
    assert code == 1, out + err
    assert "docker.service is failed after the interrupted" in out, out
    assert f"fleetcfg rollback {host.name}" in out
    code, out, err = cli("rollback", host.name, "-i", str(path), "--yes", "--break-lock")
    assert code == ExitCode.OK, out + err
    assert host.read_file(DAEMON_JSON) == old
    assert host.unit_state() == "active"
    assert "pending" not in json.loads(host.read_file(STATE_PATH))
    assert not host.exists(LOCK_DIR)


def assert_break_lock_refused(host: FleetHost, path: Path) -> None:
    """A program on the host keeps the lock's heartbeat (owner.json, set an
    hour back, is touched again) and names itself: --break-lock refuses the
    lock and leaves it as it is."""
    then = time.time() - 3600
    os.utime(host.path(LOCK_OWNER_PATH), (then, then))
    assert wait_until(
        lambda: time.time() - os.stat(host.path(LOCK_OWNER_PATH)).st_mtime < 60, timeout=30
    ), "nothing on the host refreshes the lock's heartbeat"
    held = host.read_bytes(LOCK_OWNER_PATH)
    code, out, err = cli("apply", "-i", str(path), "--yes", "--break-lock")
    assert code == ExitCode.LOCKED, out + err
    assert "--break-lock refused" in out and "its program (pid" in out, out
    assert host.read_bytes(LOCK_OWNER_PATH) == held


def test_break_lock_refuses_a_lock_whose_holder_is_in_a_long_health_gate(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    """The install program restarts dockerd and waits for its first health
    check in one round trip: it keeps the lock's heartbeat meanwhile, and a
    --break-lock refuses the lock while it runs, even from the machine whose
    fleetcfg process was killed."""
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    sbin, path = pausing_repo(fleet, tmp_path)
    (sbin / ".fleet-pause").write_text("health\n")
    try:
        paused, out, err = kill_apply_when_paused(sbin, path)
        assert paused, out + err
        assert_break_lock_refused(host, path)
        assert len(host.events("started")) == 1
    finally:
        (sbin / ".fleet-pause").unlink(missing_ok=True)
    pids = [int(p) for p in (sbin / ".fleet-paused").read_text().split()]
    assert wait_until(lambda: not any(_alive(p) for p in pids), timeout=60)
    # once the program ended (it stops where it can no longer report), the
    # lock is stale and one apply with --break-lock finishes the host
    assert not host.exists("/etc/docker/.fleetcfg/lock.busy")
    code, out, err = cli("apply", "-i", str(path), "--yes", "--break-lock")
    assert code == ExitCode.OK, out + err
    code, out, err = cli("plan", "-i", str(path), "--detailed-exitcode")
    assert code == 0, out + err
    assert not host.exists(LOCK_DIR)


# -- item 4: a saved plan is data about hashes and actions only ------------------------


def _edit_plan(saved: Path, **changes: object) -> None:
    data = json.loads(saved.read_text())
    [entry] = data["hosts"][0]["files"]
    entry.update(changes)
    saved.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "edit",
    [
        {"mode": 0o666, "owner": "nopriv"},
        {"path": "/root/.bashrc"},
        {"owner": "nopriv", "group": "nopriv"},
    ],
    ids=["mode-and-owner", "path", "owner"],
)
def test_a_hand_edited_saved_plan_cannot_steer_paths_modes_or_owners(
    fleet_of: Callable[[int], Fleet], tmp_path: Path, edit: dict[str, object]
) -> None:
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    old = '{"log-driver": "json-file"}\n'
    host.write_file(DAEMON_JSON, old)
    bashrc = host.read_bytes("/root/.bashrc") if host.exists("/root/.bashrc") else None
    path = write_repo(tmp_path, fleet, fleet.hosts)
    saved = tmp_path / "plan.json"
    code, out, err = cli("plan", "-i", str(path), "-o", str(saved))
    assert code == 2 or code == 0, out + err
    _edit_plan(saved, **edit)
    code, out, err = cli("apply", str(saved), "-i", str(path), "--yes")
    assert code == ExitCode.STALE, out + err
    assert "the plan file was edited or the host changed" in out
    assert host.read_file(DAEMON_JSON) == old
    assert mode_owner(host, DAEMON_JSON) == (0o644, 0, 0)
    assert (host.read_bytes("/root/.bashrc") if host.exists("/root/.bashrc") else None) == bashrc
    assert host.events("started") == []
    assert not host.exists(LOCK_DIR)


# -- size and depth caps on fleetcfg's own files (state.json, owner.json) --------------

#: what a broken or hostile file of fleetcfg's own holds: 20 MiB (sparse), or
#: 200,000 nested arrays (under the size cap)
HOSTILE = {"giant": None, "deep": "[" * 200_000 + "]" * 200_000}
HOSTILE_MESSAGE = {
    "giant": "20971520 bytes, more than the 1048576 bytes fleetcfg reads",
    "deep": "deeper than 64 levels",
}


def write_hostile(host: FleetHost, remote: str, kind: str) -> None:
    content = HOSTILE[kind]
    if content is None:
        host.write_file(remote, b"", mode=0o600)
        os.truncate(host.path(remote), 20 * 1024 * 1024)
    else:
        host.write_file(remote, content, mode=0o600)


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_giant_or_deeply_nested_state_file_is_not_decoded_but_moved_aside(
    fleet_of: Callable[[int], Fleet], tmp_path: Path, kind: str
) -> None:
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    os.makedirs(host.path("/etc/docker/.fleetcfg"), mode=0o700, exist_ok=True)
    write_hostile(host, STATE_PATH, kind)
    size = os.stat(host.path(STATE_PATH)).st_size
    path = write_repo(tmp_path, fleet, fleet.hosts)
    code, out, err = cli("plan", "-i", str(path))
    assert code == 0, out + err
    assert f"({STATE_PATH}) is not used" in out and HOSTILE_MESSAGE[kind] in out, out
    assert "bug" not in (out + err).lower()
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    aside = [n for n in host.listdir("/etc/docker/.fleetcfg") if ".unreadable-" in n]
    assert len(aside) == 1
    assert os.stat(host.path(f"/etc/docker/.fleetcfg/{aside[0]}")).st_size == size
    state = json.loads(host.read_file(STATE_PATH))
    assert state["files"][DAEMON_JSON]["sha256"] == sha256_hex(host.read_bytes(DAEMON_JSON))
    assert mode_owner(host, STATE_PATH) == (0o600, 0, 0)


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_giant_or_deeply_nested_lock_owner_is_named_as_unreadable_not_decoded(
    fleet_of: Callable[[int], Fleet], tmp_path: Path, kind: str
) -> None:
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    hold_lock(host, owner())
    write_hostile(host, LOCK_OWNER_PATH, kind)
    path = write_repo(tmp_path, fleet, fleet.hosts)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.LOCKED, out + err
    assert "bug" not in (out + err).lower()
    assert "owner cannot be read" in out, out
    if kind == "giant":
        assert HOSTILE_MESSAGE[kind] in out, out
    # its heartbeat is fresh: --break-lock still refuses
    code, out, err = cli("apply", "-i", str(path), "--yes", "--break-lock")
    assert code == ExitCode.LOCKED and "--break-lock refused" in out, out + err
    assert os.stat(host.path(LOCK_OWNER_PATH)).st_size > 100_000
    assert host.events("started") == [] and not host.exists(DAEMON_JSON)
    # once its heartbeat stopped, --break-lock takes it
    then = time.time() - 3600
    os.utime(host.path(LOCK_OWNER_PATH), (then, then))
    code, out, err = cli("apply", "-i", str(path), "--yes", "--break-lock")
    assert code == ExitCode.OK, out + err
    assert not host.exists(LOCK_DIR)
