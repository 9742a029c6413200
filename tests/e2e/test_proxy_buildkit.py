"""The proxy and BuildKit on real sshd hosts (tests/fleet): proxy: goes to the
systemd drop-in on a 20.10 host (daemon-reload, then a restart) and to
daemon.json on a 26.x host; a buildkitd.toml change recreates the builder
(the fleet's stand-in ``docker buildx`` records its calls); an unescaped % and
an ExecStart= -H conflict are refused before any host is touched."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import app
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.dockerd.buildkitd import BUILDKITD_PATH
from fleetcfg.dockerd.dropin import DROPIN_PATH, ENV_FILE_PATH
from tests.fleet import Fleet, FleetHost
from tests.fleet.repo import write_repo_of

pytestmark = pytest.mark.e2e

PASSWORD = "pr0xy%Pass/w0rd"
PROFILE = 'log-driver: json-file\nregistry-mirrors: ["https://{{ mirror }}"]\n'
PROXY = """\
proxy:
  http: http://svc@proxy.corp.example.com:3128
  https: http://svc@proxy.corp.example.com:3128
  no_proxy: [localhost, 127.0.0.1, .corp.example.com]
  password_env: PROXY_PASSWORD
"""

runner = CliRunner()


def cli(*args: str) -> tuple[int, str, str]:
    env = {"NO_COLOR": "1", "PROXY_PASSWORD": PASSWORD}
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def repo(
    tmp_path: Path,
    fleet: Fleet,
    *,
    defaults: str = "",
    mirror: str = "mirror.corp.example.com:5000",
    profile: str = PROFILE,
    sections: str = "rollout:\n  batch_size: 3\n  canary: 0\n",
) -> Path:
    return write_repo_of(
        tmp_path,
        fleet,
        fleet.hosts,
        profiles={"base.yaml.j2": profile},
        defaults=defaults + f"vars: {{mirror: {json.dumps(mirror)}}}\n",
        sections=sections,
    )


def mode_of(host: FleetHost, remote: str) -> int:
    return stat.S_IMODE(host.path(remote).stat().st_mode)


def kinds(host: FleetHost, since: int) -> list[str]:
    """The daemon-reloads, stops and starts after the first ``since`` events."""
    wanted = ("daemon-reload", "stopping", "starting")
    return [e.kind for e in host.events()[since:] if e.kind in wanted]


def test_a_proxy_change_goes_to_the_drop_in_on_20_10_and_to_daemon_json_on_26(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    fleet = fleet_of(2)
    old, new = fleet.hosts
    old.set_engine_version("20.10.24")
    path = repo(tmp_path, fleet)
    assert cli("apply", "-i", str(path), "--yes")[0] == ExitCode.OK
    marks = [len(h.events()) for h in fleet.hosts]
    path = repo(tmp_path, fleet, defaults=PROXY)
    code, out, err = cli("plan", "-i", str(path))
    assert code == 0, out + err
    assert "daemon-reload + restart: the proxy drop-in changed" in out
    assert PASSWORD not in out + err and "Pass" not in out + err
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    assert "Pass" not in out + err
    # 20.10: the drop-in, daemon-reload before the restart, daemon.json untouched;
    # the password not in Environment= (systemctl show prints that to any user)
    # but in the root-only file the drop-in names in EnvironmentFile=
    dropin = old.read_file(DROPIN_PATH)
    assert f"EnvironmentFile=-{ENV_FILE_PATH}" in dropin.splitlines()
    assert "Environment=" not in dropin and "Pass" not in dropin
    assert mode_of(old, DROPIN_PATH) == 0o644
    env_file = old.read_file(ENV_FILE_PATH)
    assert 'HTTP_PROXY="http://svc:pr0xy%25Pass%2Fw0rd@proxy' in env_file
    assert 'NO_PROXY="localhost,127.0.0.1,.corp.example.com"' in env_file
    assert mode_of(old, ENV_FILE_PATH) == 0o600
    assert kinds(old, marks[0])[:3] == ["daemon-reload", "stopping", "starting"]
    assert "proxies" not in json.loads(old.read_file("/etc/docker/daemon.json"))
    # 26.x: daemon.json proxies (a restart), no drop-in
    assert not new.exists(DROPIN_PATH)
    proxies = json.loads(new.read_file("/etc/docker/daemon.json"))["proxies"]
    assert proxies["no-proxy"] == "localhost,127.0.0.1,.corp.example.com"
    assert proxies["https-proxy"] == "http://svc:pr0xy%25Pass%2Fw0rd@proxy.corp.example.com:3128"
    assert mode_of(new, "/etc/docker/daemon.json") == 0o600
    assert "daemon-reload" not in kinds(new, marks[1]) and "starting" in kinds(new, marks[1])
    assert cli("plan", "-i", str(path), "--detailed-exitcode")[0] == 0


def test_a_builder_config_change_recreates_the_builder(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    fleet = fleet_of(1)
    (host,) = fleet.hosts
    buildkit = "buildkit: {builder: ci, enabled: true}\n"
    path = repo(tmp_path, fleet, defaults=buildkit)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    assert 'mirrors = ["mirror.corp.example.com:5000"]' in host.read_file(BUILDKITD_PATH)
    mark = len(host.events())
    path = repo(tmp_path, fleet, defaults=buildkit, mirror="hub-cache.corp.example.com")
    code, out, err = cli("plan", "-i", str(path))
    assert code == 0, out + err
    assert "builder recreation" in out and "buildkitd.toml changed (builder ci)" in out
    assert '+mirrors = ["hub-cache.corp.example.com"]' in out
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    assert [e["args"] for e in host.events()[mark:] if e.kind == "buildx"] == [
        "inspect ci",
        "rm --keep-state ci",
        "create --name ci --driver docker-container --buildkitd-config "
        + BUILDKITD_PATH
        + " --bootstrap",
    ]
    assert 'mirrors = ["hub-cache.corp.example.com"]' in host.read_file(BUILDKITD_PATH)
    assert "reloaded" in [e.kind for e in host.events()[mark:]]  # registry-mirrors: a reload
    assert cli("plan", "-i", str(path), "--detailed-exitcode")[0] == 0


def untouched(fleet: Fleet) -> None:
    for host in fleet.hosts:
        assert not host.exists(DROPIN_PATH)
        assert not host.exists("/etc/docker/daemon.json")
        assert not host.exists("/etc/docker/.fleetcfg")


def test_an_unescaped_percent_in_a_drop_in_line_is_refused_before_any_host_is_touched(
    fleet: Fleet, tmp_path: Path
) -> None:
    lines = "  where: dropin\n  dropin_lines: ['Environment=\"GOFLAGS=50%\"']\n"
    path = repo(tmp_path, fleet, defaults=PROXY + lines)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.ERROR, out + err
    assert "FC080" in out + err and "write %% for a literal %" in out + err
    untouched(fleet)


def test_an_exec_start_adding_h_while_daemon_json_has_hosts_is_refused_before_any_host_is_touched(
    fleet: Fleet, tmp_path: Path
) -> None:
    lines = "  where: dropin\n  dropin_lines: [ExecStart=, 'ExecStart=/usr/bin/dockerd -H fd://']\n"
    profile = PROFILE + 'hosts: ["unix:///var/run/docker.sock"]\n'
    path = repo(tmp_path, fleet, defaults=PROXY + lines, profile=profile)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.ERROR, out + err
    assert "FC082" in out + err and "-H fd://" in out + err
    untouched(fleet)


def test_a_removed_proxy_removes_the_drop_in_fleetcfg_created_and_leaves_one_it_did_not(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    fleet = fleet_of(2)
    ours, theirs = fleet.hosts
    for host in fleet.hosts:
        host.set_engine_version("20.10.24")
    theirs.write_file(DROPIN_PATH, '[Service]\nEnvironment="HTTP_PROXY=http://old:8080"\n')
    path = repo(tmp_path, fleet, defaults=PROXY)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    written = theirs.read_file(DROPIN_PATH)
    marks = [len(h.events()) for h in fleet.hosts]
    path = repo(tmp_path, fleet)
    code, out, err = cli("plan", "-i", str(path))
    assert code == 0, out + err
    assert "daemon-reload + restart: the proxy drop-in was removed" in out
    assert f"- {DROPIN_PATH} [removed]" in out
    assert f"{DROPIN_PATH} is no longer managed by fleetcfg" in out and "left in place" in out
    assert "Pass" not in out + err and "w0rd" not in out + err
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    assert "Pass" not in out + err
    assert not ours.exists(DROPIN_PATH) and not ours.exists(ENV_FILE_PATH)
    assert kinds(ours, marks[0]) == ["daemon-reload", "stopping", "starting"]
    assert theirs.read_file(DROPIN_PATH) == written
    # the environment file with the password was fleetcfg's: removed, and the
    # drop-in left in place names it with "-" (dockerd starts without it)
    assert not theirs.exists(ENV_FILE_PATH)
    assert kinds(theirs, marks[1]) == ["daemon-reload", "stopping", "starting"]
    assert cli("plan", "-i", str(path), "--detailed-exitcode")[0] == 0


def proxied_20_10_host(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> tuple[Fleet, FleetHost, Path]:
    """One 20.10 host that got the proxy drop-in from fleetcfg."""
    fleet = fleet_of(1)
    (host,) = fleet.hosts
    host.set_engine_version("20.10.24")
    path = repo(tmp_path, fleet, defaults=PROXY)
    assert cli("apply", "-i", str(path), "--yes")[0] == ExitCode.OK
    assert host.exists(DROPIN_PATH)
    return fleet, host, path


def test_a_proxy_that_moves_to_daemon_json_after_an_engine_upgrade_takes_the_drop_in_away(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    _fleet, host, path = proxied_20_10_host(fleet_of, tmp_path)
    host.set_engine_version("26.1.5")
    mark = len(host.events())
    code, out, err = cli("plan", "-i", str(path))
    assert code == 0, out + err
    assert "daemon-reload + restart" in out.splitlines()[0]
    assert "proxies" in out and f"- {DROPIN_PATH} [removed]" in out
    assert "daemon-reload + restart: the proxy drop-in was removed" in out
    assert "Pass" not in out + err
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    assert not host.exists(DROPIN_PATH)
    proxies = json.loads(host.read_file("/etc/docker/daemon.json"))["proxies"]
    assert proxies["no-proxy"] == "localhost,127.0.0.1,.corp.example.com"
    assert kinds(host, mark) == ["daemon-reload", "stopping", "starting"]  # one action
    assert cli("plan", "-i", str(path), "--detailed-exitcode")[0] == 0


def test_a_failed_restart_puts_the_removed_drop_in_back(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    fleet, host, path = proxied_20_10_host(fleet_of, tmp_path)
    written = host.read_file(DROPIN_PATH)
    env_file = host.read_file(ENV_FILE_PATH)
    host.fault_refuse_next_config()
    path = repo(tmp_path, fleet, profile=PROFILE + "log-level: warn\n")
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.ERROR, out + err
    assert "failed, rolled back" in out
    assert host.read_file(DROPIN_PATH) == written
    assert host.read_file(ENV_FILE_PATH) == env_file
    assert mode_of(host, ENV_FILE_PATH) == 0o600  # the password's file
    assert host.unit_state() == "active"
    assert "Pass" not in out + err


def test_a_removed_buildkit_removes_buildkitd_toml_and_recreates_the_builder_without_it(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    fleet = fleet_of(1)
    (host,) = fleet.hosts
    path = repo(tmp_path, fleet, defaults="buildkit: {builder: ci, enabled: true}\n")
    assert cli("apply", "-i", str(path), "--yes")[0] == ExitCode.OK
    mark = len(host.events())
    path = repo(tmp_path, fleet, defaults="buildkit: {builder: ci, enabled: false}\n")
    code, out, err = cli("plan", "-i", str(path))
    assert code == 0, out + err
    assert "builder recreation: buildkitd.toml was removed (builder ci recreated without it)" in out
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    assert not host.exists(BUILDKITD_PATH)
    assert [e["args"] for e in host.events()[mark:] if e.kind == "buildx"] == [
        "inspect ci",
        "rm --keep-state ci",
        "create --name ci --driver docker-container",
    ]
    assert kinds(host, mark) == []
    assert cli("plan", "-i", str(path), "--detailed-exitcode")[0] == 0
