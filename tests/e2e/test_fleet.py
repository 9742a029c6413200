"""The test fleet itself: real sshd hosts driven with the system OpenSSH client."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fleet import Fleet, FleetHost, procs, registry, wait_until
from tests.fleet.errors import FleetError

pytestmark = pytest.mark.e2e

GOOD_CONFIG = '{\n  "log-level": "warn",\n  "registry-mirrors": ["https://mirror.example"]\n}\n'
DROPIN_DIR = "/etc/systemd/system/docker.service.d"
SURFACE_DIRS = (DROPIN_DIR, "/etc/buildkit")
OTHER_GOOD_CONFIG = '{\n  "log-level": "info",\n  "max-concurrent-downloads": 6\n}\n'


def ok(host: FleetHost, command: str, *, user: str | None = None) -> str:
    """Run a command that must succeed; its stdout."""
    proc = host.ssh(command, user=user)
    assert proc.returncode == 0, (
        f"{host.name}: {command!r} failed ({proc.returncode}): {proc.stderr}"
    )
    return proc.stdout


def restart_with(host: FleetHost, config: str) -> None:
    host.write_file("/etc/docker/daemon.json", config)
    ok(host, "systemctl restart docker")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def spare_block() -> str:
    """An address block no fleet uses, for a fleet a test starts itself."""
    return registry.find_free_block()


# ------------------------------------------------------------------ isolation
def test_ssh_with_the_fleet_ssh_config_reaches_every_host(fleet: Fleet) -> None:
    for host in fleet.hosts:
        proc = subprocess.run(
            ["ssh", "-F", str(fleet.ssh_config), host.name, "true"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
    assert len({h.public_key for h in fleet.hosts}) == len(fleet.hosts)
    assert len(fleet.known_hosts.read_text().splitlines()) >= len(fleet.hosts)


def test_a_file_written_on_one_host_is_seen_by_no_other_host_nor_the_machine(
    fleet: Fleet,
) -> None:
    one, two = fleet.hosts[0], fleet.hosts[1]
    marker = f"fleet-isolation-{fleet.address_block}.json"
    ok(one, f"echo one > /etc/docker/{marker} && echo one > /root/{marker}")
    ok(one, f"echo one > /usr/local/sbin/{marker}")
    ok(one, f"echo one > {DROPIN_DIR}/{marker} && echo one > /etc/buildkit/{marker}")

    ok(one, f"echo one > ~/{marker}", user="deploy")

    assert one.read_file(f"/etc/docker/{marker}") == "one\n"
    assert one.path(f"/root/{marker}").exists()
    assert one.read_file(f"/home/deploy/{marker}") == "one\n"
    assert one.read_file(f"{DROPIN_DIR}/{marker}") == one.read_file(f"/etc/buildkit/{marker}")
    for inside in ("/etc/docker", "/root", "/usr/local/sbin", "/home/deploy", *SURFACE_DIRS):
        assert two.ssh(f"test -e {inside}/{marker}").returncode == 1
        assert not Path(inside, marker).exists()


def test_a_reset_empties_the_hosts_drop_in_and_buildkit_folders(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    host.write_file(f"{DROPIN_DIR}/http-proxy.conf", "[Service]\n")
    host.write_file("/etc/buildkit/buildkitd.toml", "debug = true\n")

    fleet.reset()

    assert host.listdir(DROPIN_DIR) == []
    assert host.listdir("/etc/buildkit") == []
    assert ok(host, f"ls -A {DROPIN_DIR}; ls -A /etc/buildkit") == ""


def test_fleet_of_gives_a_reset_fleet_of_the_size_asked_for(
    fleet_of: Callable[[int], Fleet],
) -> None:
    five = fleet_of(5)

    assert [h.name for h in five.hosts] == [f"host-0{i}" for i in range(1, 6)]
    assert len({h.address for h in five.hosts}) == 5
    for host in five.hosts:
        assert ok(host, "systemctl is-active docker") == "active\n"


def test_addresses_continue_in_the_next_block_after_254_hosts() -> None:
    assert registry.address("127.0.30", 0) == "127.0.30.1"
    assert registry.address("127.0.30", 253) == "127.0.30.254"
    assert registry.address("127.0.30", 254) == "127.0.31.1"
    assert registry.blocks_for("127.0.30", 500) == ["127.0.30", "127.0.31"]
    with pytest.raises(FleetError, match="loopback"):
        registry.address("10.0.0", 0)


def test_host_path_refuses_paths_shared_with_the_real_machine(fleet: Fleet) -> None:
    with pytest.raises(FleetError, match="not private to the host"):
        fleet.hosts[0].path("/etc/passwd")


# ---------------------------------------------------------------- the shims
def test_validate_accepts_a_good_config_through_the_real_dockerd(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    host.write_file("/etc/docker/daemon.json", GOOD_CONFIG)

    proc = host.ssh("dockerd --validate --config-file /etc/docker/daemon.json")

    assert proc.returncode == 0
    assert "configuration OK" in proc.stderr
    assert host.events("validate")[-1]["exit"] == "0"


def test_validate_rejects_a_bad_config_with_dockerds_own_message(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    host.write_file("/etc/docker/daemon.json", '{"log-level": "warn", "bogus-key": 1}\n')

    proc = host.ssh("dockerd --validate --config-file /etc/docker/daemon.json")

    assert proc.returncode == 1
    assert (
        "unable to configure the Docker daemon with file /etc/docker/daemon.json: "
        "the following directives don't match any configuration option: bogus-key"
    ) in proc.stderr


def test_engines_before_23_do_not_know_validate(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    host.set_engine_version("20.10.24")

    assert ok(host, "dockerd --version") == "Docker version 20.10.24+dfsg1, build 297e128\n"
    proc = host.ssh("dockerd --validate --config-file /etc/docker/daemon.json")
    assert proc.returncode != 0
    assert "unknown flag: --validate" in proc.stderr
    assert ok(host, "docker info --format '{{.ServerVersion}}'") == "20.10.24\n"


def test_dockerd_version_is_debians_by_default(fleet: Fleet) -> None:
    assert ok(fleet.hosts[0], "dockerd --version") == (
        "Docker version 26.1.5+dfsg1, build 411e817\n"
    )


def test_failed_restart_leaves_the_unit_failed_with_dockerds_message_in_the_journal(
    fleet: Fleet,
) -> None:
    host = fleet.hosts[0]
    host.write_file("/etc/docker/daemon.json", '{"log-level": "warning"}\n')

    proc = host.ssh("systemctl restart docker")

    assert proc.returncode == 1
    assert proc.stderr.startswith(
        "Job for docker.service failed because the control process exited with error code.\n"
        'See "systemctl status docker.service" and "journalctl -xeu docker.service" for details.'
    )
    assert host.unit_state() == "failed"
    active = host.ssh("systemctl is-active docker")
    assert (active.returncode, active.stdout) == (3, "failed\n")
    journal = ok(host, "journalctl -u docker --no-pager -n 20")
    assert "invalid logging level: warning" in journal
    assert "Failed to start docker.service - Docker Application Container Engine." in journal
    assert host.events("start-failed")[-1]["reason"] == "invalid-config"


def test_reset_failed_and_start_bring_a_failed_unit_back(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    host.set_unit_state("failed")

    ok(host, "systemctl reset-failed docker")
    assert host.unit_state() == "inactive"
    ok(host, "systemctl start docker")

    assert host.unit_state() == "active"
    assert [e.kind for e in host.events()][-1] == "started"


def test_restart_records_the_sha256_of_the_config_the_daemon_loaded(fleet: Fleet) -> None:
    host = fleet.hosts[0]

    restart_with(host, GOOD_CONFIG)

    assert host.events("started")[-1]["sha256"] == sha256(GOOD_CONFIG)
    assert host.started_config_sha256() == sha256(GOOD_CONFIG)
    assert host.running_config() == GOOD_CONFIG.encode()


def test_restart_validates_with_the_units_execstart_flags(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    host.set_exec_start(["-H", "fd://", "--containerd=/run/containerd/containerd.sock", "--debug"])
    host.write_file("/etc/docker/daemon.json", '{"debug": true}\n')

    proc = host.ssh("systemctl restart docker")

    assert proc.returncode == 1
    assert "specified both as a flag and in the configuration file: debug" in host.journal_text()


def test_reload_keeps_the_old_config_when_the_file_is_invalid(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    restart_with(host, GOOD_CONFIG)
    host.write_file("/etc/docker/daemon.json", '{"debug": tru')

    proc = host.ssh("systemctl reload docker")

    assert proc.returncode == 0
    assert host.unit_state() == "active"
    assert host.running_config_sha256() == sha256(GOOD_CONFIG)
    assert "Error reloading configuration" in ok(host, "journalctl -u docker -n 5 -o cat")
    assert host.events()[-1].kind == "reload-failed"


def test_reload_applies_a_valid_config_without_a_restart(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    pid = host.main_pid()
    host.write_file("/etc/docker/daemon.json", '{"live-restore": true, "debug": true}\n')

    ok(host, "systemctl reload docker")

    assert host.main_pid() == pid
    assert host.events()[-1].kind == "reloaded"
    assert ok(host, "docker info --format '{{.LiveRestoreEnabled}} {{.Debug}}'") == "true true\n"


def test_reload_of_an_inactive_unit_fails(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    ok(host, "systemctl stop docker")

    proc = host.ssh("systemctl reload docker")

    assert proc.returncode == 1
    assert "Job for docker.service invalid." in proc.stderr


def test_docker_info_answers_only_while_the_unit_is_active(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    info = json.loads(ok(host, "docker info --format '{{json .}}'"))
    assert info["ServerVersion"] == "26.1.5"
    assert info["LiveRestoreEnabled"] is False

    ok(host, "systemctl stop docker")
    proc = host.ssh("docker info")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
        "Is the docker daemon running?"
    )

    ok(host, "systemctl start docker")
    assert "Server Version: 26.1.5" in ok(host, "docker info")


def test_docker_info_masks_proxy_passwords(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    restart_with(host, '{"proxies": {"http-proxy": "http://user:s3cret@proxy.example:3128"}}\n')

    out = ok(host, "docker info")

    assert "HTTP Proxy: http://user:xxxxx@proxy.example:3128" in out
    assert "s3cret" not in out


def test_systemctl_show_prints_execstart_like_systemd(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    host.set_exec_start(["-H", "fd://", "--log-level=debug"])
    restart_with(host, "{}\n")

    out = ok(host, "systemctl show docker -p ExecStart --property=ActiveState,MainPID")

    lines = out.splitlines()
    assert lines[0] == f"MainPID={host.main_pid()}"
    assert lines[1].startswith(
        "ExecStart={ path=/usr/bin/dockerd ; argv[]=/usr/bin/dockerd -H fd:// --log-level=debug ; "
        "ignore_errors=no ; start_time=["
    )
    assert lines[1].endswith(f"; pid={host.main_pid()} ; code=(null) ; status=0/0 }}")
    assert lines[2] == "ActiveState=active"
    unit = ok(host, "systemctl cat docker")
    assert unit.startswith("# /lib/systemd/system/docker.service\n[Unit]\n")
    assert (
        "# /etc/systemd/system/docker.service.d/override.conf\n[Service]\nExecStart=\n"
        "ExecStart=/usr/bin/dockerd -H fd:// --log-level=debug\n"
    ) in unit


def test_systemctl_is_active_exit_codes_follow_systemd(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    assert host.ssh("systemctl is-active --quiet docker").returncode == 0
    ok(host, "systemctl stop docker")
    proc = host.ssh("systemctl is-active docker")
    assert (proc.returncode, proc.stdout) == (3, "inactive\n")
    assert host.ssh("systemctl status docker").returncode == 3
    assert host.ssh("systemctl restart nosuch").returncode == 5


def test_restart_without_live_restore_kills_containers_and_only_restart_always_ones_return(
    fleet: Fleet,
) -> None:
    keep, lose = fleet.hosts[0], fleet.hosts[1]
    keep.set_containers(2, restart_always=True)
    lose.set_containers(2, restart_always=False)

    for host in (keep, lose):
        ok(host, "systemctl restart docker")

    assert len(ok(keep, "docker ps -q").split()) == 2
    assert ok(lose, "docker ps -q") == ""
    assert len(ok(lose, "docker ps -aq").split()) == 2
    assert len(lose.events("container-killed")) == 2
    assert len(keep.events("container-started")) == 2


def test_live_restore_keeps_containers_running_across_a_restart(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    restart_with(host, '{"live-restore": true}\n')
    host.set_containers(3, restart_always=False)
    before = len(host.events())

    ok(host, "systemctl restart docker")

    assert len(ok(host, "docker ps -q").split()) == 3
    assert [e.kind for e in host.events()[before:]] == [
        "stopping",
        "stopped",
        "starting",
        "started",
    ]


def test_journalctl_filters_by_unit_lines_and_output(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    ok(host, "systemctl restart docker")

    assert ok(host, "journalctl -u containerd --no-pager") == "-- No entries --\n"
    last = ok(host, "journalctl -u docker.service -n 1 -o cat")
    assert last == "Started docker.service - Docker Application Container Engine.\n"
    short = ok(host, "journalctl -u docker -n 1 --no-pager").strip()
    assert short.endswith(f"{host.name} systemd[1]: {last.strip()}")
    assert ok(host, "journalctl -u docker --since '1 hour' -q") == ""


# ------------------------------------------------------------------- faults
def test_slow_restart_keeps_the_unit_activating_and_is_reversible(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    host.fault_slow_restart(1.5)

    background = subprocess.Popen(
        host.ssh_argv("systemctl restart docker"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert wait_until(lambda: host.unit_state() == "activating", timeout=30)
    assert background.wait(timeout=60) == 0
    assert host.unit_state() == "active"
    assert host.events("start-delayed")[-1]["seconds"] == "1.5"

    host.clear_faults()
    ok(host, "systemctl restart docker")
    assert len(host.events("start-delayed")) == 1


def test_a_held_start_waits_activating_until_the_test_releases_it(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    host.fault_hold_start()
    background = subprocess.Popen(
        host.ssh_argv("systemctl restart docker"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: bool(host.events("start-held")), timeout=30)
        assert host.unit_state() == "activating"
        assert background.poll() is None
        host.release_start()
        assert background.wait(timeout=60) == 0
    finally:
        host.release_start()
        if background.poll() is None:
            background.kill()
    assert host.unit_state() == "active"


def test_refuse_next_config_fails_the_restart_until_the_old_config_is_back(
    fleet: Fleet,
) -> None:
    host = fleet.hosts[0]
    restart_with(host, GOOD_CONFIG)
    host.fault_refuse_next_config()
    host.write_file("/etc/docker/daemon.json", OTHER_GOOD_CONFIG)

    assert host.ssh("dockerd --validate").returncode == 0
    assert host.ssh("systemctl restart docker").returncode == 1
    assert host.unit_state() == "failed"
    assert "refused its new configuration" in host.journal_text()
    assert host.events("start-failed")[-1]["reason"] == "refused"

    restart_with(host, GOOD_CONFIG)  # the rollback succeeds
    assert host.unit_state() == "active"

    host.clear_faults()
    restart_with(host, OTHER_GOOD_CONFIG)
    assert host.started_config_sha256() == sha256(OTHER_GOOD_CONFIG)


def test_refuse_config_with_key_fails_only_configs_with_that_key(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    host.fault_refuse_config_with_key("max-concurrent-downloads")

    restart_with(host, GOOD_CONFIG)
    host.write_file("/etc/docker/daemon.json", OTHER_GOOD_CONFIG)
    assert host.ssh("systemctl restart docker").returncode == 1


def test_unreachable_refuses_connections_and_restore_brings_the_host_back(
    fleet: Fleet,
) -> None:
    host, other = fleet.hosts[0], fleet.hosts[1]

    host.fault_unreachable()

    proc = host.ssh("true")
    assert proc.returncode == 255
    assert "Connection refused" in proc.stderr
    assert procs.port_refuses(host.address, host.port)
    ok(other, "true")

    host.restore_reachable()
    ok(host, "true")


def test_drop_connections_cuts_an_open_session(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    session = subprocess.Popen(
        host.ssh_argv("sleep 120"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    assert wait_until(lambda: any(c.command == "sleep 120" for c in host.commands()), timeout=30)

    host.drop_connections()

    assert session.wait(timeout=30) == 255
    ok(host, "true")  # still reachable


def test_unreachable_after_k_commands_lets_k_run_then_the_host_is_gone(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    host.fault_unreachable_after(2)

    ok(host, "true")
    ok(host, "true")
    assert host.ssh("echo never").returncode == 255
    proc = host.ssh("true")
    assert proc.returncode == 255
    assert "Connection refused" in proc.stderr
    assert [e.kind for e in host.events()] == ["unreachable"]

    host.restore_reachable()
    ok(host, "true")


def test_full_disk_fails_writes_in_etc_docker_but_reads_work(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    host.write_file("/etc/docker/daemon.json", GOOD_CONFIG)

    host.fault_disk_full()

    assert ok(host, "cat /etc/docker/daemon.json") == GOOD_CONFIG
    proc = host.ssh("printf '%s' '{\"debug\": true}' > /etc/docker/new.json")
    assert proc.returncode != 0
    assert "No space left on device" in proc.stderr
    ok(host, "echo fine > /root/elsewhere")  # only /etc/docker is full

    host.restore_disk()
    ok(host, "echo '{}' > /etc/docker/new.json")
    assert host.read_file("/etc/docker/daemon.json") == GOOD_CONFIG
    assert ".fleet-ballast" not in ok(host, "ls -a /etc/docker")


def test_a_regenerated_host_key_is_rejected_until_known_hosts_is_updated(
    fleet: Fleet,
) -> None:
    host = fleet.hosts[0]
    old = host.public_key

    new = host.regenerate_host_key()

    assert new != old
    proc = host.ssh("true")
    assert proc.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in proc.stderr
    fleet.write_client_files()
    ok(host, "true")


def test_reset_restores_every_default(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    restart_with(host, GOOD_CONFIG)
    host.write_file("/root/.docker/config.json", "{}")
    host.set_engine_version("28.5.2")
    host.fault_refuse_config_with_key("debug")
    host.regenerate_host_key(update_known_hosts=True)
    host.fault_disk_full()
    host.fault_unreachable()

    fleet.reset()

    assert host.listdir("/etc/docker") == []
    assert host.listdir("/root") == []
    assert host.unit_state() == "active"
    assert host.events() == []
    assert not host.disk_full()
    assert ok(host, "dockerd --version").startswith("Docker version 26.1.5")
    assert len(ok(host, "docker ps -q").split()) == 2
    restart_with(host, '{"debug": true}\n')


def test_a_host_without_the_clients_key_refuses_authentication(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    host.set_authorized_keys([])

    proc = host.ssh("true")

    assert proc.returncode == 255
    assert "Permission denied (publickey)" in proc.stderr
    ok(fleet.hosts[1], "true")


# ------------------------------------------------------------- ssh features
def test_proxyjump_through_one_fleet_host_reaches_another(fleet: Fleet) -> None:
    bastion, target = fleet.hosts[0], fleet.hosts[1]
    target.write_file("/etc/docker/whoami", target.name)

    proc = subprocess.run(
        [
            "ssh",
            "-F",
            str(fleet.ssh_config),
            "-J",
            bastion.name,
            target.name,
            "cat /etc/docker/whoami",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == target.name
    assert bastion.commands() == []  # a tunnel, not a session
    assert "Accepted publickey for root" in bastion.sshd_log()


def test_sftp_uploads_into_the_host(fleet: Fleet, tmp_path: Path) -> None:
    host = fleet.hosts[0]
    local = tmp_path / "daemon.json"
    local.write_text(GOOD_CONFIG)
    batch = tmp_path / "batch"
    batch.write_text(f"put {local} /etc/docker/daemon.json\nls -l /etc/docker\n")

    proc = subprocess.run(
        ["sftp", "-F", str(fleet.ssh_config), "-b", str(batch), host.name],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert proc.returncode == 0, proc.stderr
    assert host.read_file("/etc/docker/daemon.json") == GOOD_CONFIG
    assert [c.command for c in host.commands()] == ["internal-sftp"]


def test_deploy_runs_sudo_without_a_password_and_finds_the_shims(fleet: Fleet) -> None:
    host = fleet.hosts[0]

    out = ok(
        host,
        "id -un; command -v systemctl; sudo -n sh -c 'id -un; command -v systemctl'; "
        "sudo -n systemctl restart docker",
        user="deploy",
    )

    assert out.splitlines() == [
        "deploy",
        "/usr/local/sbin/systemctl",
        "root",
        "/usr/local/sbin/systemctl",
    ]
    assert host.events("started")
    assert [c.user for c in host.commands()] == ["deploy"]


def test_nopriv_cannot_sudo_and_fails_at_once(fleet: Fleet) -> None:
    host = fleet.hosts[0]

    proc = host.ssh("sudo -n true", user="nopriv")

    assert proc.returncode == 1
    assert "a password is required" in proc.stderr


def test_non_root_users_cannot_change_the_unit(fleet: Fleet) -> None:
    host = fleet.hosts[0]

    proc = host.ssh("systemctl restart docker", user="nopriv")

    assert proc.returncode == 1
    assert "Interactive authentication required." in proc.stderr
    assert ok(host, "systemctl is-active docker", user="nopriv") == "active\n"
    assert host.events() == []


# ------------------------------------------------------- lifecycle of fleets
def _leftovers(base: Path) -> list[int]:
    pids = [p.pid for found in procs.host_processes(base / "hosts").values() for p in found]
    return pids + [pid for pid, cfg in procs.stray_listeners() if base in cfg.parents]


def test_stop_leaves_no_sshd_behind(fleet: Fleet, tmp_path: Path) -> None:
    own = Fleet.start(2, base_dir=tmp_path / "fleet", address_block=spare_block())
    base = own.base_dir
    ok(own.hosts[0], "true", user="deploy")  # even under pytest's private tmp_path
    session = subprocess.Popen(own.hosts[0].ssh_argv("sleep 120"), stderr=subprocess.DEVNULL)
    assert wait_until(lambda: bool(own.hosts[0].commands()), timeout=30)
    own.hosts[1].fault_disk_full()

    own.stop()

    assert session.wait(timeout=30) == 255
    assert _leftovers(base) == []
    assert all(procs.port_refuses(h.address, h.port) for h in own.hosts)
    assert not base.exists()
    assert not any(
        str(base) in line for line in Path("/proc/self/mountinfo").read_text().splitlines()
    )


def test_a_stale_fleet_on_the_same_addresses_is_cleaned_up_at_start(fleet: Fleet) -> None:
    block = spare_block()
    crashed = Fleet.start(2, address_block=block, detach=True)  # nobody owns it any more

    fresh = Fleet.start(1, address_block=block)
    try:
        assert _leftovers(crashed.base_dir) == []
        assert not crashed.base_dir.exists()
        ok(fresh.hosts[0], "true")
    finally:
        fresh.stop()


def test_a_block_owned_by_a_live_fleet_is_refused(fleet: Fleet) -> None:
    with pytest.raises(registry.BlockBusyError, match="in use by a live fleet"):
        Fleet.start(1, address_block=fleet.address_block)
    ok(fleet.hosts[0], "true")


def test_command_line_starts_and_stops_a_background_fleet(fleet: Fleet, tmp_path: Path) -> None:
    base = tmp_path / "cli-fleet"
    cli = [sys.executable, "-m", "tests.fleet"]
    root = Path(__file__).resolve().parents[2]

    started = subprocess.run(
        [
            *cli,
            "start",
            "--hosts",
            "2",
            "--dir",
            str(base),
            "--block",
            spare_block(),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=root,
        timeout=120,
    )
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    proc = subprocess.run(
        ["ssh", "-F", info["ssh_config"], info["hosts"][1]["name"], "systemctl is-active docker"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.stdout == "active\n", proc.stderr

    stopped = subprocess.run(
        [*cli, "stop", "--dir", str(base)],
        capture_output=True,
        text=True,
        check=False,
        cwd=root,
        timeout=120,
    )
    assert stopped.returncode == 0, stopped.stderr
    assert _leftovers(base) == []
    assert not base.exists()
