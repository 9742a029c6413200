"""Every byte a host sends back is untrusted (DESIGN.md, "Trust model"): a
host whose commands print without end (a shim on PATH, a compromised host)
fails that host with a clear error, and fleetcfg stops reading (it closes the
channel, so the command dies) instead of holding the output in memory."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.host.state import LOCK_DIR
from tests.e2e.test_apply import DAEMON_JSON, cli, write_repo
from tests.fleet import Fleet, FleetHost, wait_until

pytestmark = pytest.mark.e2e

#: ``docker info`` prints ``yes`` endlessly and ignores SIGTERM (so the
#: ``timeout 10`` fleetcfg wraps it in cannot stop it: only the pipe closing
#: can); every other docker command is the fleet's shim
FLOOD_DOCKER_INFO = """\
#!/bin/bash
if [[ $1 == info ]]; then
    echo "$$" >>/usr/local/sbin/.flood-pids
    trap '' TERM
    exec yes 'flood flood flood flood'
fi
exec /usr/local/sbin/docker.fleet "$@"
"""


def wrap_shim(host: FleetHost, name: str, script: str) -> Path:
    """``script`` answers for command ``name`` on ``host`` (the fleet's shim
    as ``NAME.fleet``); the host's /usr/local/sbin."""
    sbin = host.path("/usr/local/sbin")
    (sbin / name).rename(sbin / f"{name}.fleet")
    (sbin / name).write_text(script)
    (sbin / name).chmod(0o755)
    return sbin


def wrap_docker(host: FleetHost, script: str) -> Path:
    """``script`` answers for ``docker`` on ``host`` (:func:`wrap_shim`)."""
    return wrap_shim(host, "docker", script)


def flood_docker_info(host: FleetHost) -> Path:
    """Make ``docker info`` on ``host`` flood; the file its pids go to."""
    return wrap_docker(host, FLOOD_DOCKER_INFO) / ".flood-pids"


def flood_pids(record: Path) -> list[int]:
    return [int(p) for p in record.read_text().split()] if record.exists() else []


def stopped(record: Path) -> bool:
    """Every flooding ``docker info`` started so far has ended."""
    return not any(Path(f"/proc/{pid}").exists() for pid in flood_pids(record))


def test_plan_fails_a_host_whose_docker_info_floods_and_stops_the_command(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    fleet = fleet_of(2)
    flooding, quiet = fleet.hosts
    for host in fleet.hosts:
        # a daemon.json dockerd never loaded: only docker info knows live-restore
        host.write_file(DAEMON_JSON, '{"live-restore": true}', loaded=False)
    record = flood_docker_info(flooding)
    path = write_repo(tmp_path, fleet, fleet.hosts)
    code, out, err = cli("plan", "-i", str(path))
    assert code == ExitCode.ERROR, out + err
    assert flood_pids(record), "plan never ran docker info"
    assert "`timeout 10 docker info --format" in out, out
    assert "sent more than 64 KiB on stdout; refusing to read more" in out, out
    assert "flood flood" not in out + err
    assert wait_until(lambda: stopped(record), timeout=60), "docker info still runs on the host"
    # the other host is planned as usual
    assert "restart kills 2 running containers" in out, out
    assert out.count("sent more than") == 1, out
    assert quiet.name in out


def test_apply_fails_a_host_whose_docker_info_floods_during_the_health_check(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    """The health gate's ``docker info`` floods: the host fails (its old file
    put back, its lock released), and the command is stopped."""
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    old = {
        "log-driver": "json-file",
        "log-opts": {"max-size": "20m", "max-file": "3"},
        "registry-mirrors": ["https://old.example.com"],
    }
    host.write_file(DAEMON_JSON, json.dumps(old) + "\n")
    path = write_repo(tmp_path, fleet, fleet.hosts)
    record = flood_docker_info(host)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.ERROR, out + err
    assert "Plan: 1 to reload" in out, out
    assert flood_pids(record), "apply never ran docker info"
    assert "sent more than 4 MiB on stdout; refusing to read more" in out, out
    assert "flood flood" not in out + err
    assert wait_until(lambda: stopped(record), timeout=60), "docker info still runs on the host"
    assert json.loads(host.read_file(DAEMON_JSON)) == old
    # (once in many CI runs the lock stayed after paramiko logged "Socket
    # exception: Broken pipe": the host's sshd log says why it dropped us)
    assert not host.exists(LOCK_DIR), out + err + host.sshd_log()[-4000:]
    assert os.path.exists(host.path("/usr/local/sbin/docker.fleet"))


# -- control characters from a host never reach the terminal raw ----------------------

#: clears the screen and prints a fake summary (7-bit and 8-bit CSI, a bidi override)
ESCAPES = "\x1b[2J\x1b[1;1HPlan: 0 to change\x9b31m \u202eevil"
#: ``docker info`` fails with the escapes on stderr
FAILING_DOCKER_INFO = """\
#!/bin/bash
if [[ $1 == info ]]; then
    printf 'Cannot connect: %s\\n' "$(cat /usr/local/sbin/.escapes)" >&2
    exit 1
fi
exec /usr/local/sbin/docker.fleet "$@"
"""


def docker_info_fails_with_escapes(fleet: Fleet, tmp_path: Path) -> Path:
    """A repo whose one host's plan asks ``docker info`` (a restart; only the
    daemon knows live-restore), which fails with ESCAPES on stderr."""
    host = fleet.hosts[0]
    host.write_file(DAEMON_JSON, '{"live-restore": true}', loaded=False)
    (wrap_docker(host, FAILING_DOCKER_INFO) / ".escapes").write_text(ESCAPES)
    return write_repo(tmp_path, fleet, fleet.hosts)


def assert_escaped(text: str) -> None:
    for raw in ("\x1b", "\x9b", "\u202e"):
        assert raw not in text, repr(text)
    assert "\\x1b[2J\\x1b[1;1HPlan: 0 to change\\x9b31m \\u202eevil" in text, text


def test_escapes_in_docker_info_output_reach_the_plan_escaped(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    fleet = fleet_of(1)
    path = docker_info_fails_with_escapes(fleet, tmp_path)
    code, out, err = cli("plan", "-i", str(path))
    assert code == ExitCode.OK, out + err
    assert "docker info failed (exit status 1): Cannot connect: " in out, out
    assert_escaped(out + err)


def test_escapes_in_the_daemon_log_reach_the_apply_report_escaped(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    """dockerd refuses the new file with a log line full of escapes: the
    apply's error quotes it, escaped."""
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    host.write_file(DAEMON_JSON, '{"log-driver": "json-file"}\n')
    host.fault_refuse_next_config(f"failed to start daemon: {ESCAPES}")
    path = write_repo(tmp_path, fleet, fleet.hosts)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.ERROR, out + err
    assert "failed to start daemon: " in out + err
    assert_escaped(out + err)


def test_escapes_from_a_host_reach_plan_json_as_json_escapes(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    """``plan --format json`` on a terminal: the same strings, but every
    control character written as a JSON escape (``\\u001b``, ``\\u009b``)."""
    fleet = fleet_of(1)
    path = docker_info_fails_with_escapes(fleet, tmp_path)
    code, out, err = cli("plan", "-i", str(path), "--format", "json")
    assert code == ExitCode.OK, out + err
    for raw in ("\x1b", "\x9b", "\u202e"):
        assert raw not in out + err, repr(out)
    assert "\\u009b31m \\u202eevil" in out, out
    [planned] = json.loads(out)["hosts"]
    assert any(f"Cannot connect: {ESCAPES}" in w for w in planned["warnings"]), planned


# -- the host's own shell never holds an endless output either ------------------------

#: ``dockerd --validate`` prints ``yes`` endlessly and ignores SIGTERM; every
#: other dockerd call is the fleet's shim
FLOOD_DOCKERD_VALIDATE = """\
#!/bin/bash
if [[ " $* " == *" --validate "* ]]; then
    echo "$$" >>/usr/local/sbin/.flood-pids
    trap '' TERM
    exec yes 'flood flood flood flood'
fi
exec /usr/local/sbin/dockerd.fleet "$@"
"""


OLD_DAEMON_JSON = '{"log-driver": "json-file"}\n'


def apply_with_a_flooding_canary(
    fleet: Fleet, tmp_path: Path, flood: Callable[[FleetHost], Path], message: str
) -> None:
    """Apply to two hosts (both restart) whose canary floods through
    ``flood`` (it returns the file the flooding pids go to): the canary fails
    with ``message`` (not the command timeout), its daemon.json is the old
    one and unlocked, the rollout halts, and every flooding process ends."""
    flooding, other = fleet.hosts
    flooding.write_file(DAEMON_JSON, OLD_DAEMON_JSON)
    path = write_repo(tmp_path, fleet, fleet.hosts)
    record = flood(flooding)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.ERROR, out + err
    assert "Plan: 0 to reload, 2 to restart" in out, out
    assert flood_pids(record), "apply never ran the flooding command"
    text = " ".join(out.split())
    assert message in text, out
    assert "timed out" not in out + err
    assert "flood flood" not in out + err
    assert f"not reached: {other.name}" in text, out
    assert wait_until(lambda: stopped(record), timeout=60), "the flood still runs on the host"
    assert flooding.read_file(DAEMON_JSON) == OLD_DAEMON_JSON
    assert [n for n in os.listdir(flooding.path("/etc/docker")) if "fleetcfg-" in n] == []
    assert not flooding.exists(LOCK_DIR)
    assert not other.exists(DAEMON_JSON)


def flood_dockerd_validate(host: FleetHost) -> Path:
    """Make ``dockerd --validate`` on ``host`` flood; the file its pids go to."""
    return wrap_shim(host, "dockerd", FLOOD_DOCKERD_VALIDATE) / ".flood-pids"


def test_apply_fails_a_host_whose_dockerd_validate_floods_and_changes_nothing(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    """install.sh reads at most 64 KiB of what ``dockerd --validate`` prints."""
    apply_with_a_flooding_canary(
        fleet_of(2),
        tmp_path,
        flood_dockerd_validate,
        f"dockerd --validate printed more than 64 KiB about the new {DAEMON_JSON}: "
        "stopped it, refusing to read more",
    )


def test_apply_fails_a_host_whose_docker_info_floods_at_the_first_check_after_a_restart(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    """The install program's first health check reads at most 64 KiB of
    ``docker info`` (the old file then goes back)."""
    apply_with_a_flooding_canary(
        fleet_of(2),
        tmp_path,
        flood_docker_info,
        "docker info printed more than 64 KiB at the first check: stopped it, "
        "refusing to read more",
    )
