"""`fleetcfg apply` and `fleetcfg rollback` against real sshd hosts (tests/fleet).

Every scenario of issue #5, each asserting the files on every host afterwards
(daemon.json, the lock, leftovers next to the target, backups, state.json),
not only the exit code. Never skipped: the fleet fixture fails with a clear
message when sshd or the dockerd cache is missing (scripts/test installs them).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetcfg.apply.journal import read_journal
from fleetcfg.apply.report import ApplyReport, HostStatus
from fleetcfg.apply.rollout import ApplyOptions, RunEnv, apply_plan
from fleetcfg.cli.app import app
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.host.connections import ReusingConnector
from fleetcfg.host.state import BACKUP_DIR, LOCK_DIR, LOCK_OWNER_PATH, STATE_PATH, LockOwner
from fleetcfg.host.transport.ssh import SshConnector
from fleetcfg.inventory import load_inventory
from fleetcfg.plan.access import open_transport
from fleetcfg.plan.fleet import plan_fleet
from fleetcfg.plan.model import Action, Plan
from fleetcfg.plan.replan import RenderedTargets
from fleetcfg.render import Renderer
from tests.e2e.test_ssh_transport import TcpRelay
from tests.fleet import Fleet, FleetHost, wait_until
from tests.fleet.repo import write_repo_of

pytestmark = pytest.mark.e2e

DAEMON_JSON = "/etc/docker/daemon.json"
PROFILE = """\
log-driver: json-file
log-opts:
  max-size: "{{ log_max_size | default('20m') }}"
  max-file: "3"
registry-mirrors: ["{{ mirror | default('https://mirror.corp.example.com') }}"]
"""

runner = CliRunner()


def write_repo(
    root: Path,
    fleet: Fleet,
    hosts: Sequence[FleetHost],
    *,
    profile: str = PROFILE,
    defaults: str = "",
    host_extra: dict[str, str] | None = None,
    known_hosts: Path | None = None,
    batch_size: int = 1,
) -> Path:
    """inventory.yaml for ``hosts`` (root with the fleet's key; batches of one
    host after a canary, so the order is known) and profiles/base.yaml.j2."""
    return write_repo_of(
        root,
        fleet,
        hosts,
        known_hosts=known_hosts,
        profiles={"base.yaml.j2": profile},
        defaults=defaults,
        sections=f"rollout:\n  batch_size: {batch_size}\n  canary: 1\n  max_failures: 0\n",
        host_extra=host_extra,
    )


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"NO_COLOR": "1"})
    return result.exit_code, result.stdout, result.stderr


def sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def daemon(host: FleetHost) -> dict[str, object] | None:
    if not host.exists(DAEMON_JSON):
        return None
    data = json.loads(host.read_file(DAEMON_JSON))
    assert isinstance(data, dict)
    return data


def leftovers(host: FleetHost) -> list[str]:
    return [n for n in host.listdir("/etc/docker") if ".fleetcfg-" in n]


def backups(host: FleetHost) -> list[str]:
    return host.listdir(BACKUP_DIR) if host.exists(BACKUP_DIR) else []


def assert_untouched(host: FleetHost, before: str | None, *, visited: bool = False) -> None:
    """daemon.json as it was, dockerd never started, nothing of fleetcfg's
    left (a host fleetcfg ``visited`` and refused keeps its empty folders)."""
    if before is None:
        assert not host.exists(DAEMON_JSON), host.name
    else:
        assert host.read_file(DAEMON_JSON) == before, host.name
    if visited:
        assert not host.exists(LOCK_DIR) and not host.exists(STATE_PATH), host.name
        assert backups(host) == [], host.name
    else:
        assert not host.exists("/etc/docker/.fleetcfg"), host.name
    assert not leftovers(host), host.name
    assert host.events("started") == [] and host.events("reloaded") == [], host.name


def assert_applied(host: FleetHost, expected: dict[str, object]) -> None:
    """The target is in place, running, recorded, and nothing is left over."""
    assert daemon(host) == expected, host.name
    assert host.unit_state() == "active", host.name
    assert host.running_config_sha256() == sha(host.read_bytes(DAEMON_JSON)), host.name
    assert not host.exists(LOCK_DIR), host.name
    assert not leftovers(host), host.name
    state = json.loads(host.read_file(STATE_PATH))
    assert state["files"][DAEMON_JSON]["sha256"] == sha(host.read_bytes(DAEMON_JSON))


def target(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "log-driver": "json-file",
        "log-opts": {"max-file": "3", "max-size": "20m"},
        "registry-mirrors": ["https://mirror.corp.example.com"],
    }
    base.update(changes)
    return base


def plan_repo(inventory_path: Path, connector: ReusingConnector | SshConnector) -> Plan:
    inventory = load_inventory(inventory_path)
    return plan_fleet(
        inventory,
        list(inventory.hosts.values()),
        connector=connector,
        renderer=Renderer(inventory, environ={}),
    )


def apply_repo(
    inventory_path: Path,
    plan: Plan,
    connector: ReusingConnector | SshConnector,
    **options: object,
) -> ApplyReport:
    inventory = load_inventory(inventory_path)
    return apply_plan(
        plan,
        RunEnv(
            connect=lambda name: open_transport(
                inventory.host(name), connector, repo_root=inventory.root
            ),
            service_for=lambda name: inventory.host(name).service,
        ),
        targets=RenderedTargets(inventory, Renderer(inventory, environ={})),
        options=ApplyOptions(rollout=inventory.rollout, **options),  # type: ignore[arg-type]
        group_order=list(inventory.groups),
    )


# -- a rollout that works -------------------------------------------------------------


def test_apply_rolls_out_then_plan_reports_no_changes(fleet: Fleet, tmp_path: Path) -> None:
    old = '{"log-driver": "json-file"}\n'
    fleet.hosts[1].write_file(DAEMON_JSON, old)
    path = write_repo(tmp_path, fleet, fleet.hosts)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    assert "Plan: 0 to reload, 3 to restart, 0 unchanged." in out
    assert "Apply: 3 changed." in out and "changed: host-01, host-02, host-03" in out
    assert "batch 1/3 (canary): host-01" in err
    for host in fleet.hosts:
        assert_applied(host, target())
        assert len(host.events("started")) == 1
    # the old file of host-02 is kept as a backup; new files have none
    [kept] = backups(fleet.hosts[1])
    assert fleet.hosts[1].read_file(f"{BACKUP_DIR}/{kept}") == old
    assert backups(fleet.hosts[0]) == []
    # the journal next to the inventory has every step
    entries = read_journal(tmp_path / ".fleetcfg" / "journal.jsonl")
    steps = [e["step"] for e in entries if e["event"] == "step" and e["host"] == "host-02"]
    assert steps == [
        "lock",
        "recheck",
        "validate-model",
        "upload",
        "validate",
        "backup",
        "replace",
        "state",
        "restart",
        "health",
        "unlock",
    ]
    code, out, _ = cli("plan", "-i", str(path), "--detailed-exitcode")
    assert code == 0, out
    assert "No changes. 3 hosts match the configuration." in out


def test_a_reloadable_change_is_reloaded_without_restarting(fleet: Fleet, tmp_path: Path) -> None:
    host = fleet.hosts[0]
    path = write_repo(tmp_path, fleet, [host])
    assert cli("apply", "-i", str(path), "--yes")[0] == ExitCode.OK
    started = host.events("started")
    path = write_repo(
        tmp_path, fleet, [host], defaults="vars: {mirror: 'https://mirror-eu.corp.example.com'}\n"
    )
    code, out, err = cli("apply", "-i", str(path), "--yes", "--verbose")
    assert code == ExitCode.OK, out + err
    assert "Plan: 1 to reload, 0 to restart, 0 unchanged." in out
    assert host.events("started") == started
    [reloaded] = host.events("reloaded")
    assert reloaded.data["sha256"] == sha(host.read_bytes(DAEMON_JSON))
    assert "dockerd reloaded the file" in err
    assert_applied(host, target(**{"registry-mirrors": ["https://mirror-eu.corp.example.com"]}))


def test_rollback_restores_the_last_backup_and_restarts(fleet: Fleet, tmp_path: Path) -> None:
    host = fleet.hosts[0]
    old = '{"log-driver": "json-file", "log-level": "info"}\n'
    host.write_file(DAEMON_JSON, old)
    path = write_repo(tmp_path, fleet, [host])
    assert cli("apply", "-i", str(path), "--yes")[0] == ExitCode.OK
    code, out, err = cli("rollback", "-i", str(path), "--yes", "host-01")
    assert code == ExitCode.OK, out + err
    assert "Rollback: 1 changed." in out
    assert host.read_file(DAEMON_JSON) == old
    assert host.started_config_sha256() == sha(old)
    assert not host.exists(LOCK_DIR) and not leftovers(host)
    # the file the rollback replaced is kept too
    assert len(backups(host)) == 2
    code, out, _ = cli("rollback", "-i", str(path), "--list", "host-01")
    assert code == 0 and "written by fleetcfg rollback" in out


# -- the faults of issue #5 ------------------------------------------------------------


def test_dockerd_refusing_the_new_config_at_restart_rolls_back_and_halts(
    fleet: Fleet, tmp_path: Path
) -> None:
    old = '{"log-driver": "json-file"}\n'
    for host in fleet.hosts:
        host.write_file(DAEMON_JSON, old)
    first, bad, later = fleet.hosts
    assert bad.ssh("systemctl restart docker").returncode == 0  # it runs the old file
    bad.fault_refuse_next_config()
    path = write_repo(tmp_path, fleet, fleet.hosts)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.ERROR, out + err
    assert "Apply: 1 changed, 1 failed (1 rolled back), 1 not reached." in out
    assert "host-02: failed, rolled back, healthy again:" in out
    assert "the daemon refused its new configuration" in out  # dockerd's own words
    assert "not reached: host-03" in out
    assert "halted after 1 failed host (--max-failures 0): host-02" in err
    assert_applied(first, target())
    # the refused host: the old file back, running it, healthy, nothing left over
    assert bad.read_file(DAEMON_JSON) == old
    assert bad.unit_state() == "active"
    assert bad.started_config_sha256() == sha(old)
    assert [e.data["reason"] for e in bad.events("start-failed")] == ["refused"]
    assert bad.events("started")[-1].data["sha256"] == sha(old)
    assert not bad.exists(LOCK_DIR) and not leftovers(bad)
    [backup] = backups(bad)
    assert bad.read_file(f"{BACKUP_DIR}/{backup}") == old
    assert json.loads(bad.read_file(STATE_PATH))["files"][DAEMON_JSON]["sha256"] == sha(old)
    # never touched
    assert later.read_file(DAEMON_JSON) == old
    assert not later.exists("/etc/docker/.fleetcfg") and later.events("started") == []


def test_validate_failing_on_the_host_writes_nothing_and_halts(
    fleet: Fleet, tmp_path: Path
) -> None:
    first, bad, later = fleet.hosts
    # host-02 claims Engine 28.5 (so bip6 is a valid key for the plan), but
    # its dockerd --validate is 26.1.5, which rejects it
    bad.set_engine_version("28.5.1")
    path = write_repo(
        tmp_path,
        fleet,
        fleet.hosts,
        host_extra={"host-02": "vars: {bip6: true}"},
        profile=PROFILE + "{% if bip6 is defined %}bip6: fd00:1::1/64\n{% endif %}",
    )
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.ERROR, out + err
    assert "host-02: failed, nothing changed: dockerd --validate rejects the new" in out
    assert "bip6" in out and "not reached: host-03" in out
    assert_applied(first, target())
    assert_untouched_but_unlocked(bad)
    assert bad.events("validate") and bad.events("start-failed") == []
    assert_untouched(later, None)


def assert_untouched_but_unlocked(host: FleetHost) -> None:
    assert not host.exists(DAEMON_JSON)
    assert not host.exists(LOCK_DIR)
    assert not leftovers(host)
    assert backups(host) == [] and not host.exists(STATE_PATH)
    assert host.events("started") == []


def test_a_host_that_becomes_unreachable_mid_rollout_halts_it(fleet: Fleet, tmp_path: Path) -> None:
    first, lost, later = fleet.hosts
    path = write_repo(tmp_path, fleet, fleet.hosts)
    with SshConnector() as ssh:
        connector = ReusingConnector(ssh)
        try:
            plan = plan_repo(path, connector)
            # the lock round trip works; the host is gone when the install starts
            lost.fault_unreachable_after(1)
            report = apply_repo(path, plan, connector)
        finally:
            connector.close()
    assert report.exit_code == ExitCode.ERROR and report.halted
    result = report.result("host-02")
    assert result.status is HostStatus.FAILED and result.lock_left
    assert "the host stays unreachable" in result.reason
    assert "either the old or the new ones, never a mix" in result.reason
    assert report.result("host-03").status is HostStatus.NOT_REACHED
    assert_applied(first, target())
    # the lost host: daemon.json never replaced, its lock left for a human
    assert not lost.exists(DAEMON_JSON) and not leftovers(lost)
    owner = LockOwner.from_bytes(lost.read_bytes(LOCK_OWNER_PATH))
    assert owner is not None and owner.run_id == report.run_id
    assert lost.events("started") == []
    assert_untouched(later, None)
    # once it is back, the lock refuses the next run until --break-lock
    lost.restore_reachable()
    code, out, _ = cli("apply", "-i", str(path), "--yes", "--limit", "host-02")
    assert code == ExitCode.LOCKED and f"run {report.run_id}" in out
    # the run above shares this test's process, which is alive: not even
    # --break-lock takes its lock
    code, out, _ = cli("apply", "-i", str(path), "--yes", "--limit", "host-02", "--break-lock")
    assert code == ExitCode.LOCKED and f"its process {os.getpid()} runs on this machine" in out
    # as when that fleetcfg process has exited
    dead = subprocess.Popen(["true"])
    dead.wait()
    lost.write_file(
        LOCK_OWNER_PATH,
        lost.read_file(LOCK_OWNER_PATH).replace(f'"pid": {os.getpid()}', f'"pid": {dead.pid}'),
    )
    code, out, err = cli("apply", "-i", str(path), "--yes", "--limit", "host-02", "--break-lock")
    assert code == ExitCode.OK, out + err
    assert_applied(lost, target())


def test_a_full_disk_when_writing_the_temporary_file_leaves_the_original_intact(
    fleet: Fleet, tmp_path: Path
) -> None:
    host = fleet.hosts[0]
    old = '{"log-driver": "json-file"}\n'
    host.write_file(DAEMON_JSON, old)
    labels = ", ".join(f'"team{i}=platform-engineering-{i:05d}"' for i in range(800))
    path = write_repo(tmp_path, fleet, [host], profile=PROFILE + f"labels: [{labels}]\n")
    host.fault_disk_full(free_bytes=8192)  # the lock's owner fits, the 30 kB file does not
    try:
        code, out, err = cli("apply", "-i", str(path), "--yes", "--verbose")
        assert code == ExitCode.ERROR, out + err
        assert (
            "host-01: failed, nothing changed: cannot upload /etc/docker/daemon.json: "
            "no space left on device in /etc/docker\n" in out
        )
        assert "host-01 upload failed" in err
        assert host.read_file(DAEMON_JSON) == old
        assert not leftovers(host) and not host.exists(LOCK_DIR)
        assert backups(host) == [] and host.events("started") == []
    finally:
        host.restore_disk()


def test_a_connection_dropped_during_the_upload_changes_nothing(
    fleet: Fleet, tmp_path: Path
) -> None:
    host = fleet.hosts[0]
    old = '{"log-driver": "json-file"}\n'
    host.write_file(DAEMON_JSON, old)
    relay = TcpRelay(host.address, host.port, cut_after=200_000)
    known = tmp_path / "known_hosts"
    shutil.copy(fleet.known_hosts, known)
    labels = ", ".join(f'"team{i}=platform-engineering-{i:05d}"' for i in range(12_000))
    try:
        path = write_repo(
            tmp_path / "repo",
            fleet,
            [host],
            profile=PROFILE + f"labels: [{labels}]\n",
            host_extra={"host-01": f"ssh: {{port: {relay.port}, accept_new_host_keys: true}}"},
            known_hosts=known,
        )
        text = path.read_text().replace(f"address: {host.address}", "address: 127.0.0.1")
        path.write_text(text)
        with SshConnector() as ssh:
            connector = ReusingConnector(ssh)
            try:
                plan = plan_repo(path, connector)
                assert plan.hosts[0].action is Action.RESTART, plan.hosts[0].errors
                report = apply_repo(path, plan, connector)
            finally:
                connector.close()
    finally:
        relay.close()
    assert relay.cut.is_set()
    result = report.result("host-01")
    assert result.status is HostStatus.FAILED and result.nothing_written, result.reason
    assert "connection lost" in result.reason
    assert not result.lock_left
    assert host.read_file(DAEMON_JSON) == old
    assert not leftovers(host) and not host.exists(LOCK_DIR)
    assert host.events("started") == []


def test_a_second_apply_at_the_same_time_is_refused_by_the_lock(
    fleet: Fleet, tmp_path: Path
) -> None:
    host = fleet.hosts[0]
    host.fault_slow_restart(3.0)
    path = write_repo(tmp_path / "a", fleet, [host])
    other = write_repo(tmp_path / "b", fleet, [host], defaults="vars: {log_max_size: 99m}\n")
    reports: list[ApplyReport] = []

    def first_run() -> None:
        with SshConnector() as connector:
            plan = plan_repo(path, connector)
            reports.append(apply_repo(path, plan, connector))

    thread = threading.Thread(target=first_run)
    thread.start()
    try:
        # the first run holds the lock in its slow restart, its file already
        # replaced: the second's plan reads a file that no longer changes (a
        # read across the rename is "a file changed while it was read", an
        # error before any lock is tried)
        assert wait_until(
            lambda: host.exists(LOCK_OWNER_PATH) and bool(host.events("stopping")), timeout=20
        )
        code, out, err = cli("apply", "-i", str(other), "--yes")
    finally:
        thread.join(60)
    assert code == ExitCode.LOCKED, out + err
    assert "host-01: locked: locked by root@" in out and "fleetcfg apply" in out
    [report] = reports
    assert report.exit_code == ExitCode.OK
    # the first run's file, never the second's
    assert_applied(host, target())
    assert len(host.events("started")) == 1


def test_a_stale_saved_plan_is_refused_for_the_hosts_that_changed(
    fleet: Fleet, tmp_path: Path
) -> None:
    first, edited, third = fleet.hosts
    path = write_repo(tmp_path, fleet, fleet.hosts)
    plan_file = tmp_path / "plan.json"
    code, out, _ = cli("plan", "-i", str(path), "-o", str(plan_file))
    assert code == 0, out
    by_hand = '{"debug": true}\n'
    edited.write_file(DAEMON_JSON, by_hand)
    code, out, err = cli("apply", str(plan_file), "--yes")
    assert code == ExitCode.STALE, out + err
    assert "host-02: stale: /etc/docker/daemon.json changed since the plan" in out
    assert "run fleetcfg plan again" in out
    assert_applied(first, target())
    assert_applied(third, target())
    assert edited.read_file(DAEMON_JSON) == by_hand
    assert not edited.exists(LOCK_DIR) and not leftovers(edited)
    assert edited.events("started") == []
    # the repo changed since: every host that has not got it yet is refused
    write_repo(tmp_path, fleet, fleet.hosts, defaults="vars: {log_max_size: 30m}\n")
    for host in (first, third):
        host.reset()
    code, out, err = cli("apply", str(plan_file), "--yes")
    assert code == ExitCode.STALE, out + err
    assert "inventory.yaml changed since the plan" in err
    assert out.count("rendered from the inventory changed since the plan") == 2
    for host in (first, third):
        assert_untouched(host, None, visited=True)


#: runs fleetcfg (exec, same process) with SIGINT ignored, as a background job
#: of a non-interactive shell is started (some CI runners start the suite so)
_SIGINT_IGNORED = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execv(sys.executable, [sys.executable, '-m', 'fleetcfg', *sys.argv[1:]])"
)


#: how long the Ctrl-C tests wait for a step that takes seconds on an idle
#: machine (a bound, not a timing: under two full suites at once, 120 s was
#: once not enough)
_LOADED = 300


def _interrupted_apply(
    path: Path,
    first: FleetHost,
    *,
    launcher: Sequence[str] = ("-m", "fleetcfg"),
    twice: bool = False,
) -> tuple[str, str, subprocess.Popen[str]]:
    """Run ``fleetcfg apply --yes`` and press Ctrl-C while ``first`` is held
    in its restart (``fault_hold_start``); once apply has taken it (the
    journal's ``interrupt``), let the restart finish, or (``twice``) press
    Ctrl-C again and let it finish only after apply has exited. A fixed delay
    instead of the hold made the test a race: a Ctrl-C that came after the
    delay (a loaded machine) found host-01 done and the other hosts in flight,
    or apply already gone, and every host changed."""
    journal = path.parent / ".fleetcfg" / "journal.jsonl"
    first.fault_hold_start()
    process = subprocess.Popen(
        [sys.executable, *launcher, "apply", "-i", str(path), "--yes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        assert wait_until(lambda: bool(first.events("start-held")), timeout=_LOADED)
        process.send_signal(signal.SIGINT)
        taken = wait_until(
            lambda: journal.exists() and '"event": "interrupt"' in journal.read_text(),
            timeout=_LOADED,
        )
        if twice:
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=_LOADED)
            first.release_start()
        else:
            first.release_start()
            out, err = process.communicate(timeout=_LOADED)
        assert taken, out + err
    finally:
        first.release_start()
        if process.poll() is None:
            process.kill()
    return out, err, process


@pytest.mark.parametrize(
    "launcher",
    [
        pytest.param(["-m", "fleetcfg"], id="sigint-default"),
        # Python keeps an inherited SIG_IGN: apply then ignored Ctrl-C and
        # changed every host (a background job of a non-interactive shell)
        pytest.param(["-c", _SIGINT_IGNORED], id="sigint-ignored-by-the-parent"),
    ],
)
def test_ctrl_c_finishes_the_host_in_flight_and_starts_no_other(
    fleet: Fleet, tmp_path: Path, launcher: list[str]
) -> None:
    first, *later = fleet.hosts
    path = write_repo(tmp_path, fleet, fleet.hosts)
    out, err, process = _interrupted_apply(path, first, launcher=launcher)
    assert process.returncode == ExitCode.INTERRUPTED, out + err
    assert "not reached: host-02, host-03" in out
    assert "interrupted: hosts in flight finished or rolled back" in out
    assert "stopping: waiting for 1 host in flight to finish or roll back; Ctrl-C again" in err
    assert_applied(first, target())
    for host in later:
        assert_untouched(host, None)


def test_a_second_ctrl_c_aborts_without_waiting_and_says_where_each_host_is(
    fleet: Fleet, tmp_path: Path
) -> None:
    first = fleet.hosts[0]
    path = write_repo(tmp_path, fleet, fleet.hosts)
    out, err, process = _interrupted_apply(path, first, twice=True)
    assert process.returncode == ExitCode.INTERRUPTED, out + err
    assert "interrupted twice: aborted" in err
    assert f"{first.name}: aborted in flight" in err and "--break-lock" in err
    # it did not wait for host-01 to finish: its run still holds the lock
    assert first.exists(LOCK_DIR)


@contextlib.contextmanager
def _silent_sshd(host: FleetHost) -> Iterator[threading.Event]:
    """``host``'s sshd replaced by a listener the test owns: it accepts TCP and
    never sends a banner. Yields an event set once a client waits for it."""
    host.fault_unreachable()
    server = socket.create_server((host.address, host.port))
    accepted = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(server.accept()[0])
                accepted.set()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield accepted
    finally:
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_RDWR)  # wakes accept(); close() alone would not
        server.close()
        for conn in held:
            conn.close()
        host.restore_reachable()


def _ctrl_c_once_connecting(argv: Sequence[str], accepted: threading.Event) -> tuple[int, str, str]:
    """Run fleetcfg and press Ctrl-C once a connection waits for a banner; the
    process must end by itself (the connect timeout is an hour)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fleetcfg", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "PYTHONFAULTHANDLER": "1"},
    )
    try:
        assert accepted.wait(_LOADED)
        process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=_LOADED)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)  # faulthandler: where every thread is
            out, err = process.communicate(timeout=60)
            raise AssertionError("fleetcfg did not end after Ctrl-C:\n" + out + err) from None
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, out, err


#: a silent host is never waited out to this
_AN_HOUR = "ssh: {connect_timeout: 3600}"


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (["plan"], "interrupted: hosts not planned yet are reported as errors"),
        (["apply", "--yes"], "interrupted while planning: nothing was changed"),
    ],
)
def test_ctrl_c_cancels_a_connection_that_waits_for_a_silent_sshd(
    fleet: Fleet, tmp_path: Path, command: list[str], said: str
) -> None:
    silent = fleet.hosts[1]
    path = write_repo(tmp_path, fleet, fleet.hosts, host_extra={silent.name: _AN_HOUR})
    with _silent_sshd(silent) as accepted:
        code, out, err = _ctrl_c_once_connecting([*command, "-i", str(path)], accepted)
    assert code == ExitCode.INTERRUPTED, out + err
    assert "stopping: waiting for" in err and "Ctrl-C again to abort" in err
    assert said in err
    if command == ["plan"]:
        # the silent host is among the hosts not planned (the others may be too)
        block = out[: out.index("not planned: the run was interrupted")]
        assert silent.name in block.splitlines()[-2], out
    for host in fleet.hosts:
        assert_untouched(host, None)


def test_ctrl_c_cancels_a_connection_the_rollout_is_opening_and_leaves_the_host_alone(
    fleet: Fleet, tmp_path: Path
) -> None:
    first = fleet.hosts[0]
    path = write_repo(tmp_path, fleet, fleet.hosts, host_extra={first.name: _AN_HOUR})
    plan_file = tmp_path / "plan.json"
    code, out, err = cli("plan", "-i", str(path), "-o", str(plan_file))
    assert code == 0, out + err
    with _silent_sshd(first) as accepted:
        code, out, err = _ctrl_c_once_connecting(["apply", str(plan_file), "--yes"], accepted)
    assert code == ExitCode.INTERRUPTED, out + err
    assert "stopping: waiting for 1 host in flight" in err
    assert "not reached: host-01, host-02, host-03" in out
    for host in fleet.hosts:
        assert_untouched(host, None)


def test_client_configs_are_written_for_their_users_through_sudo(
    fleet: Fleet, tmp_path: Path
) -> None:
    host = fleet.hosts[0]
    host.write_file("/root/.docker/config.json", '{"auths": {"r.example.com": {}}}', mode=0o600)
    assert not host.exists("/home/deploy/.docker")
    path = write_repo(
        tmp_path,
        fleet,
        [host],
        host_extra={host.name: "ssh: {user: deploy, become: true}, client_users: [root, deploy]"},
        defaults="client_profile: client\n",
    )
    (tmp_path / "profiles" / "client.json.j2").write_text('{"detachKeys": "ctrl-e,e"}\n')
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    assert_applied(host, target())

    def owner_and_mode(remote: str) -> tuple[str, int]:
        info = os.stat(host.path(remote))
        return pwd.getpwuid(info.st_uid).pw_name, stat.S_IMODE(info.st_mode)

    root_config = json.loads(host.read_file("/root/.docker/config.json"))
    assert root_config == {"auths": {"r.example.com": {}}, "detachKeys": "ctrl-e,e"}
    assert owner_and_mode("/root/.docker/config.json") == ("root", 0o600)
    deploy_config = json.loads(host.read_file("/home/deploy/.docker/config.json"))
    assert deploy_config == {"detachKeys": "ctrl-e,e"}
    assert owner_and_mode("/home/deploy/.docker/config.json") == ("deploy", 0o600)
    assert owner_and_mode("/home/deploy/.docker") == ("deploy", 0o700)
    assert owner_and_mode(DAEMON_JSON) == ("root", 0o644)
    state = json.loads(host.read_file(STATE_PATH))["files"]
    assert set(state) == {
        DAEMON_JSON,
        "/root/.docker/config.json",
        "/home/deploy/.docker/config.json",
    }
    code, out, _ = cli("plan", "-i", str(path), "--detailed-exitcode")
    assert code == 0, out
