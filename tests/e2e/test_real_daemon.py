"""fleetcfg against real Docker daemons: Debian's dockerd 26.1.5 + containerd
on every host of the real-daemon fleet (tests/fleet, ``real_fleet``), driven
by fleetcfg over SSH like any host. Never skipped: CI fetches the engine
(scripts/fetch-dockerd --engine) and runs these with the rest.

What the shell stand-ins only assume is checked here against dockerd itself:
which changes SIGHUP applies, that a reload dockerd refuses is a failure, that
live-restore keeps containers across a restart, that start failures roll back,
and the facts ``fleetcfg plan`` reads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import app
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.dockerd.reload import RELOADABLE, Reload
from tests.fleet import Fleet, FleetHost, wait_until
from tests.fleet.repo import write_repo_of

pytestmark = pytest.mark.e2e

DAEMON_JSON = "/etc/docker/daemon.json"
IMAGE = "busybox:fleet"
runner = CliRunner()


# -- helpers ------------------------------------------------------------------------


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"NO_COLOR": "1"})
    return result.exit_code, result.stdout, result.stderr


def write_repo(
    root: Path,
    fleet: Fleet,
    hosts: Sequence[FleetHost],
    profile: str,
    *,
    host_extra: dict[str, str] | None = None,
    disable: Sequence[str] = (),
) -> str:
    """inventory.yaml for ``hosts`` (one host per batch after a canary, so
    the order is known) with ``profile`` as every host's daemon.json;
    ``disable``: lint rules the repo turns off (so that a file only the real
    dockerd refuses reaches the hosts)."""
    lint = f"lint:\n  disable: [{', '.join(disable)}]\n" if disable else ""
    path = write_repo_of(
        root,
        fleet,
        hosts,
        profiles={"base.yaml.j2": profile},
        sections="rollout:\n  batch_size: 1\n  canary: 1\n  max_failures: 0\n" + lint,
        host_extra=host_extra,
    )
    return str(path)


def sh(host: FleetHost, command: str) -> str:
    result = host.ssh(command)
    assert result.returncode == 0, f"{host.name}: {command}: {result.stderr}"
    return result.stdout


def main_pid(host: FleetHost) -> int:
    return int(sh(host, "systemctl show -p MainPID --value docker").strip())


def info(host: FleetHost) -> dict[str, object]:
    data = json.loads(sh(host, "docker info --format '{{json .}}'"))
    assert isinstance(data, dict)
    return data


def run_container(host: FleetHost, name: str, *options: str) -> int:
    """Start a container of the fleet's busybox image; its PID on the host."""
    opts = " ".join(options)
    sh(host, f"docker run -d --init --name {name} {opts} {IMAGE} sleep 1000000")
    return container_pid(host, name)


def container_pid(host: FleetHost, name: str) -> int:
    return int(sh(host, f"docker inspect -f '{{{{.State.Pid}}}}' {name}").strip())


def restart_with(host: FleetHost, config: str) -> None:
    """Set up a host by hand: daemon.json, then restart dockerd with it."""
    host.write_file(DAEMON_JSON, config)
    assert host.ssh("systemctl restart docker").returncode == 0, host.journal_text()[-2000:]


def reloaded_config(host: FleetHost, after: int) -> dict[str, object] | None:
    """The configuration dockerd logged after its reload (``Reloaded
    configuration: {...}``), looking only at journal entries after ``after``."""
    for entry in host.journal()[after:]:
        message = entry.message
        marker = 'msg="Reloaded configuration: '
        if marker in message:
            raw = message.split(marker, 1)[1].rsplit('"', 1)[0]
            data = json.loads(raw.replace('\\"', '"').replace("\\\\", "\\"))
            assert isinstance(data, dict)
            return data
    return None


def reload_and_read(host: FleetHost, config: str) -> tuple[dict[str, object] | None, str]:
    """Write ``config``, ``systemctl reload docker``, and wait for dockerd's
    verdict: the configuration it logged, or the error it logged."""
    before = len(host.journal())
    host.write_file(DAEMON_JSON, config)
    assert host.ssh("systemctl reload docker").returncode == 0

    def done() -> bool:
        text = "\n".join(e.message for e in host.journal()[before:])
        return "Reloaded configuration:" in text or "level=error" in text

    assert wait_until(done, timeout=30), host.journal_text()[-2000:]
    errors = [e.message for e in host.journal()[before:] if "level=error" in e.message]
    return reloaded_config(host, before), "\n".join(errors)


# -- the fleet itself -----------------------------------------------------------------


def test_every_real_host_runs_its_own_dockerd(real_fleet: Fleet) -> None:
    pids = set()
    for host in real_fleet:
        assert sh(host, "systemctl is-active docker").strip() == "active"
        data = info(host)
        assert data["Name"] == host.name
        assert str(data["ServerVersion"]).startswith("26.1.5")
        assert data["ContainersRunning"] == 0
        assert IMAGE in sh(host, "docker images --format '{{.Repository}}:{{.Tag}}'")
        pids.add(main_pid(host))
    assert len(pids) == len(real_fleet)


def test_systemctl_stop_and_start_drive_the_real_dockerd(real_fleet: Fleet) -> None:
    host = real_fleet.hosts[-1]
    pid = main_pid(host)
    assert host.ssh("systemctl stop docker").returncode == 0
    assert host.ssh("systemctl is-active docker").stdout.strip() == "inactive"
    stopped = host.ssh("docker info")
    assert stopped.returncode != 0 and "Cannot connect to the Docker daemon" in stopped.stderr
    assert host.ssh("systemctl start docker").returncode == 0
    assert main_pid(host) not in (0, pid)
    assert "Daemon has completed initialization" in host.journal_text()
    assert info(host)["Name"] == host.name


# -- reload ----------------------------------------------------------------------------

RELOAD_PROFILE = """\
debug: true
labels: ["team=payments", "tier={{ tier | default('web') }}"]
registry-mirrors: ["https://mirror.corp.example.com"]
insecure-registries: ["10.20.0.0/16"]
live-restore: true
"""


def test_a_reload_only_change_keeps_dockerd_running_and_shows_in_docker_info(
    real_fleet: Fleet, tmp_path: Path
) -> None:
    hosts = real_fleet.hosts[:2]
    for host in hosts:
        restart_with(host, '{"labels": ["team=payments"]}\n')
    pids = {h.name: main_pid(h) for h in hosts}
    path = write_repo(tmp_path, real_fleet, hosts, RELOAD_PROFILE)
    code, out, err = cli("apply", "-i", path, "--yes", "--verbose")
    assert code == ExitCode.OK, out + err
    assert "Plan: 2 to reload, 0 to restart, 0 unchanged." in out
    assert "dockerd reloaded the file" in err
    for host in hosts:
        assert main_pid(host) == pids[host.name], "reloaded, never restarted"
        data = info(host)
        assert data["Debug"] is True
        # dockerd dedupes labels through a Go map: their order is not defined
        assert sorted(data["Labels"]) == ["team=payments", "tier=web"]
        assert data["LiveRestoreEnabled"] is True
        registry = data["RegistryConfig"]
        assert isinstance(registry, dict)
        assert registry["Mirrors"] == ["https://mirror.corp.example.com/"]
        assert "10.20.0.0/16" in registry["InsecureRegistryCIDRs"]
    code, out, _ = cli("plan", "-i", path, "--detailed-exitcode")
    assert code == 0, out


def test_a_reload_dockerd_refuses_is_a_failure_never_reload_done(
    real_fleet: Fleet, tmp_path: Path
) -> None:
    host, later = real_fleet.hosts[:2]
    old = '{"labels": ["team=payments"]}\n'
    restart_with(host, old)
    restart_with(later, old)
    pid = main_pid(host)
    # default-runtime is reloadable, so the plan reloads; dockerd refuses a
    # runtime it does not know and keeps running its old configuration
    profile = 'labels: ["team=payments"]\ndefault-runtime: "nope"\n'
    path = write_repo(tmp_path, real_fleet, [host, later], profile, disable=["FC009"])
    code, out, err = cli("apply", "-i", path, "--yes")
    assert code == ExitCode.ERROR, out + err
    assert "reload done" not in out + err
    assert "dockerd refused the reloaded configuration" in out
    assert "specified default runtime 'nope' does not exist" in out
    assert "not reached: host-02" in out
    assert main_pid(host) == pid
    assert info(host)["DefaultRuntime"] == "runc"
    assert host.read_file(DAEMON_JSON) == old  # rolled back
    assert later.read_file(DAEMON_JSON) == old


# -- restart ---------------------------------------------------------------------------


def test_a_restart_keeps_live_restore_containers_running_with_the_same_pid(
    real_fleet: Fleet, tmp_path: Path
) -> None:
    host = real_fleet.hosts[0]
    restart_with(host, '{"live-restore": true}\n')
    pid = main_pid(host)
    app_pid = run_container(host, "app")
    profile = 'live-restore: true\nlog-opts:\n  max-size: "10m"\n  max-file: "3"\n'
    path = write_repo(tmp_path, real_fleet, [host], profile)
    code, out, err = cli("apply", "-i", path, "--yes", "--verbose")
    assert code == ExitCode.OK, out + err
    assert "Plan: 0 to reload, 1 to restart, 0 unchanged." in out
    assert "1 containers running" in err  # the health gate counted it
    assert main_pid(host) != pid
    assert container_pid(host, "app") == app_pid
    assert sh(host, "docker inspect -f '{{.State.Running}}' app").strip() == "true"
    # the new log options apply to new containers
    run_container(host, "late")
    config = sh(host, "docker inspect -f '{{json .HostConfig.LogConfig.Config}}' late")
    assert json.loads(config) == {"max-file": "3", "max-size": "10m"}


def test_the_health_gate_counts_the_real_containers_after_a_restart(
    real_fleet: Fleet, tmp_path: Path
) -> None:
    kept, lost = real_fleet.hosts[:2]
    run_container(kept, "app", "--restart", "always")
    run_container(lost, "app", "--restart", "no")
    profile = 'log-opts:\n  max-size: "10m"\n'
    path = write_repo(tmp_path, real_fleet, [kept, lost], profile)
    code, out, err = cli("apply", "-i", path, "--yes", "--verbose")
    assert code == ExitCode.OK, out + err
    # without live-restore dockerd stops the containers; the plan says so, and
    # only the one with --restart always comes back
    assert "warning: restart kills 1 running container" in out
    assert "host-01 health ok: daemon active, docker info answers, 1 containers running" in err
    assert "host-02 health ok: daemon active, docker info answers, 0 containers running" in err
    assert sh(kept, "docker inspect -f '{{.State.Running}}' app").strip() == "true"
    assert sh(lost, "docker inspect -f '{{.State.Running}}' app").strip() == "false"


# -- start failures --------------------------------------------------------------------

#: files `dockerd --validate` accepts but dockerd refuses at start:
#: (id, YAML for the profile, lint rules to turn off, dockerd's words)
START_FAILURES = [
    (
        "pool-size",
        "default-address-pools: [{base: 10.123.0.0/24, size: 16}]",
        ["FC010"],
        "invalid pools size: 16",
    ),
    (
        "runtime-path-and-type",
        "runtimes: {r: {path: /usr/bin/runc, runtimeType: io.containerd.runc.v2}}",
        ["FC009"],
        "cannot configure both path and runtimeType",
    ),
    (
        "unknown-default-runtime",
        "default-runtime: nope",
        ["FC009"],
        "specified default runtime 'nope' does not exist",
    ),
    ("unknown-log-opt", "log-opts: {nope: '1'}", ["FC012"], "unknown log opt 'nope'"),
    ("zfs", "storage-driver: zfs", [], "prerequisites for driver not satisfied"),
    (
        "devicemapper",
        "storage-driver: devicemapper",
        ["FC016"],
        "the devicemapper storage-driver has been deprecated and removed",
    ),
    (
        "default-runtime-of-a-runtime-with-both",
        "runtimes: {r: {path: /usr/bin/runc, runtimeType: io.containerd.runc.v2}}\n"
        "default-runtime: r",
        ["FC009"],
        "cannot configure both path and runtimeType",
    ),
]


@pytest.mark.parametrize(
    ("bad", "disable", "words"),
    [pytest.param(b, d, w, id=i) for i, b, d, w in START_FAILURES],
)
def test_a_start_failure_rolls_the_host_back_and_halts_the_rollout(
    real_fleet: Fleet, tmp_path: Path, bad: str, disable: list[str], words: str
) -> None:
    first, failing, later = real_fleet.hosts[:3]
    later_pid = main_pid(later)
    profile = 'log-level: "warn"\n{% if bad is defined %}' + bad + "\n{% endif %}"
    path = write_repo(
        tmp_path,
        real_fleet,
        [first, failing, later],
        profile,
        host_extra={"host-02": "vars: {bad: true}"},
        disable=disable,
    )
    code, out, err = cli("apply", "-i", path, "--yes")
    assert code == ExitCode.ERROR, out + err
    assert "host-02: failed, rolled back, healthy again:" in out, out
    assert words in out, "dockerd's own error message is in the report"
    assert "not reached: host-03" in out
    assert json.loads(first.read_file(DAEMON_JSON)) == {"log-level": "warn"}
    # the failing host: back to no daemon.json, dockerd running it
    assert not failing.exists(DAEMON_JSON)
    assert sh(failing, "systemctl is-active docker").strip() == "active"
    assert info(failing)["Name"] == "host-02"
    # never touched
    assert not later.exists(DAEMON_JSON) and main_pid(later) == later_pid


def test_hosts_in_the_file_with_an_h_flag_is_refused_by_the_plan_as_dockerd_refuses_it(
    real_fleet: Fleet, tmp_path: Path
) -> None:
    host = real_fleet.hosts[0]
    bad = '{"hosts": ["unix:///run/docker.sock"]}\n'
    # the real dockerd: the unit passes -H fd://, so it does not start
    host.write_file(DAEMON_JSON, bad)
    assert host.ssh("systemctl restart docker").returncode != 0
    words = "the following directives are specified both as a flag and in the configuration file"
    assert words in host.journal_text()
    host.remove_file(DAEMON_JSON)
    assert host.ssh("systemctl restart docker").returncode == 0
    # fleetcfg sees the unit's flags and refuses before touching the host
    profile = "hosts: ['unix:///run/docker.sock']\n"
    path = write_repo(tmp_path, real_fleet, [host], profile, disable=["FC015", "FC036"])
    code, out, err = cli("apply", "-i", path, "--yes")
    assert code == ExitCode.ERROR, out + err
    assert "specified both as a flag and in the configuration file: hosts" in out
    assert not host.exists(DAEMON_JSON)


# -- plan ------------------------------------------------------------------------------


def test_plan_reads_its_facts_from_a_real_daemon(real_fleet: Fleet, tmp_path: Path) -> None:
    host = real_fleet.hosts[0]
    host.set_exec_start(
        ["-H", "fd://", "--containerd=/run/containerd/containerd.sock", "--iptables=true"]
    )
    restart_with(host, '{"live-restore": true}\n')
    run_container(host, "app")
    run_container(host, "web")
    path = write_repo(tmp_path, real_fleet, [host], 'live-restore: true\nlog-level: "warn"\n')
    code, out, err = cli("plan", "-i", path, "--format", "json")
    assert code == 0, out + err
    plan = json.loads(out)
    [entry] = plan["hosts"]
    facts = entry["facts"]
    assert facts["engine_version"].startswith("26.1.5")
    assert facts["live_restore"] is True
    assert facts["running_containers"] == 2
    assert "--iptables=true" in facts["exec_start"]


# -- the reload table, key by key --------------------------------------------------------

#: a value for every key the reload table calls reloadable, and for a sample
#: of restart-only keys: (daemon.json to write, the value dockerd then runs)
RELOAD_VALUES: dict[str, tuple[dict[str, object], object]] = {
    "allow-nondistributable-artifacts": (
        {"allow-nondistributable-artifacts": ["reg.example.com:5000"]},
        ["reg.example.com:5000"],
    ),
    "debug": ({"debug": True}, True),
    "default-cgroupns-mode": ({"default-cgroupns-mode": "private"}, "private"),
    "default-ipc-mode": ({"default-ipc-mode": "shareable"}, "shareable"),
    "default-runtime": (
        {"default-runtime": "crun", "runtimes": {"crun": {"path": "/usr/bin/crun"}}},
        "crun",
    ),
    "default-shm-size": ({"default-shm-size": "128m"}, 128 * 1024 * 1024),
    "features": ({"features": {"buildkit": False}}, {"buildkit": False}),
    "labels": ({"labels": ["team=payments"]}, ["team=payments"]),
    "live-restore": ({"live-restore": True}, True),
    "max-concurrent-downloads": ({"max-concurrent-downloads": 4}, 4),
    "max-concurrent-uploads": ({"max-concurrent-uploads": 6}, 6),
    "max-download-attempts": ({"max-download-attempts": 7}, 7),
    "network-diagnostic-port": ({"network-diagnostic-port": 7946}, 7946),
    "runtimes": (
        {"runtimes": {"crun": {"path": "/usr/bin/crun"}}},
        {"crun": {"path": "/usr/bin/crun"}},
    ),
    "shutdown-timeout": ({"shutdown-timeout": 20}, 20),
    "insecure-registries": ({"insecure-registries": ["10.9.0.0/16"]}, ["10.9.0.0/16"]),
    "registry-mirrors": (
        {"registry-mirrors": ["https://mirror.example.com"]},
        ["https://mirror.example.com"],
    ),
    # restart-only keys (a sample)
    "log-level": ({"log-level": "warn"}, "warn"),
    "mtu": ({"mtu": 1400}, 1400),
    "icc": ({"icc": False}, False),
    "ip": ({"ip": "127.0.0.1"}, "127.0.0.1"),
    "experimental": ({"experimental": True}, True),
    "log-opts": ({"log-opts": {"max-size": "5m"}}, {"max-size": "5m"}),
    "default-ulimits": (
        {"default-ulimits": {"nofile": {"Name": "nofile", "Soft": 100, "Hard": 200}}},
        {"nofile": {"Name": "nofile", "Soft": 100, "Hard": 200}},
    ),
}
#: reloadable keys that cannot be observed here: a reload that names an
#: authorization plugin dockerd cannot find stops dockerd (see
#: test_a_reload_that_stops_dockerd_is_a_failure_rolled_back), and there is
#: no plugin on the fleet's hosts
NOT_OBSERVABLE = {"authorization-plugins"}


def _listening_ports(host: FleetHost) -> set[int]:
    """TCP ports dockerd listens on (in its own network namespace)."""
    table = sh(host, f"cat /proc/{main_pid(host)}/net/tcp")
    ports = set()
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A":
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def observe(host: FleetHost, key: str, config: str) -> object:
    """Reload ``config`` and return the value of ``key`` dockerd runs with
    afterwards (from its "Reloaded configuration" log line)."""
    logged, errors = reload_and_read(host, config)
    assert logged is not None, f"dockerd refused the reload of {config}: {errors}"
    if key == "network-diagnostic-port":
        return 7946 if 7946 in _listening_ports(host) else None
    return logged.get(key)


def reload_table() -> dict[str, str]:
    """fleetcfg's reload table (dockerd/reload.py): key -> what SIGHUP does."""
    return {k: RELOADABLE[k].value if k in RELOADABLE else "restart" for k in RELOAD_VALUES}


def test_the_reload_table_covers_every_reloadable_key() -> None:
    reloadable = {k for k, r in RELOADABLE.items() if r in (Reload.IF_PRESENT, Reload.ALWAYS)}
    assert reloadable <= set(RELOAD_VALUES) | NOT_OBSERVABLE
    assert any(reload_table()[k] == "restart" for k in RELOAD_VALUES)


@pytest.mark.parametrize("key", sorted(RELOAD_VALUES))
def test_the_reload_table_matches_what_sighup_applies(real_fleet: Fleet, key: str) -> None:
    """For each key: what the table says SIGHUP does is what dockerd does:
    a reloadable key is applied without a restart; an "always" key goes
    back to its default when removed, an "if-present" key keeps its value;
    a restart-only key is not applied."""
    kind = reload_table()[key]
    config, want = RELOAD_VALUES[key]
    host = real_fleet.hosts[sorted(RELOAD_VALUES).index(key) % len(real_fleet)]
    pid = main_pid(host)
    before = observe(host, key, "{}\n")
    applied = observe(host, key, json.dumps(config) + "\n")
    after_removal = observe(host, key, "{}\n")
    assert main_pid(host) == pid
    assert before != want
    if kind == "restart":
        assert applied != want, f"{key}: SIGHUP applied it; the table says restart"
        return
    assert applied == want, f"{key}: SIGHUP did not apply it; the table says {kind}"
    if kind == "always":
        assert after_removal == before, f"{key}: kept after removal; the table says always"
    else:
        assert after_removal == want, f"{key}: reset by removal; the table says if-present"


def test_a_reload_that_stops_dockerd_is_a_failure_rolled_back(
    real_fleet: Fleet, tmp_path: Path
) -> None:
    # dockerd looks for the authorization plugin for ~14 s (retrying), then
    # exits: fleetcfg must wait for that verdict, not report "reload done"
    host = real_fleet.hosts[0]
    restart_with(host, '{"labels": ["team=payments"]}\n')
    profile = 'labels: ["team=payments"]\nauthorization-plugins: ["nope"]\n'
    path = write_repo(tmp_path, real_fleet, [host], profile)
    code, out, err = cli("apply", "-i", path, "--yes")
    assert code == ExitCode.ERROR, out + err
    assert "reload done" not in out + err
    assert "host-01: failed, rolled back, healthy again:" in out
    assert 'Error validating authorization plugin: plugin "nope" not found' in out
    assert host.read_file(DAEMON_JSON) == '{"labels": ["team=payments"]}\n'
    assert sh(host, "systemctl is-active docker").strip() == "active"
    assert info(host)["Labels"] == ["team=payments"]
