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


def flood_docker_info(host: FleetHost) -> Path:
    """Make ``docker info`` on ``host`` flood; the file its pids go to."""
    sbin = host.path("/usr/local/sbin")
    (sbin / "docker").rename(sbin / "docker.fleet")
    (sbin / "docker").write_text(FLOOD_DOCKER_INFO)
    (sbin / "docker").chmod(0o755)
    return sbin / ".flood-pids"


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
    assert not host.exists(LOCK_DIR)
    assert os.path.exists(host.path("/usr/local/sbin/docker.fleet"))
