"""Applying and rolling back the surface files on real sshd hosts
(tests/fleet): the builder is bootstrapped while the lock is held, so a
buildkitd.toml the (stand-in) buildkitd rejects fails the host like a failed
health gate (file and builder back, rollout halted); ``fleetcfg rollback``
of the proxy drop-in runs daemon-reload then a restart, of buildkitd.toml
recreates the builder."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.dockerd.buildkitd import BUILDKITD_PATH
from fleetcfg.dockerd.dropin import DROPIN_PATH
from tests.e2e.test_proxy_buildkit import PROXY, cli, kinds
from tests.e2e.test_proxy_buildkit import repo as proxy_buildkit_repo
from tests.fleet import Fleet, FleetHost

pytestmark = pytest.mark.e2e

BUILDKIT = "buildkit: {builder: ci}\n"
#: a gcpolicy fleetcfg's checks pass and buildkitd refuses when it starts
BAD_GC = "buildkit: {builder: ci, settings: {worker: {oci: {gcpolicy: [{keepDuration: 7d}]}}}}\n"
CREATE = (
    f"create --name ci --driver docker-container --buildkitd-config {BUILDKITD_PATH} --bootstrap"
)
RECREATE = ["inspect ci", "rm --keep-state ci", CREATE]


def repo(tmp_path: Path, fleet: Fleet, defaults: str) -> Path:
    """One host at a time; the rollout halts at the first failed host."""
    sections = "rollout:\n  batch_size: 1\n  canary: 0\n  max_failures: 0\n"
    return proxy_buildkit_repo(tmp_path, fleet, defaults=defaults, sections=sections)


def buildx(host: FleetHost, since: int) -> list[str]:
    return [e["args"] for e in host.events()[since:] if e.kind == "buildx"]


def builder(host: FleetHost) -> dict[str, str]:
    """The stand-in's record of builder ci (create's arguments, the config's
    sha256, booted=1 once its buildkitd started)."""
    text = (host.state_dir / "buildx" / "ci").read_text()
    return dict(line.split("=", 1) for line in text.splitlines())


def sha256_of(host: FleetHost, remote: str) -> str:
    return hashlib.sha256(host.path(remote).read_bytes()).hexdigest()


def test_a_builder_config_buildkitd_rejects_at_bootstrap_fails_the_host_rolls_back_and_halts(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    fleet = fleet_of(2)
    first, second = fleet.hosts
    path = repo(tmp_path, fleet, BUILDKIT)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    good = first.read_file(BUILDKITD_PATH)
    marks = [len(h.events()) for h in fleet.hosts]
    path = repo(tmp_path, fleet, BAD_GC)
    code, out, err = cli("plan", "-i", str(path))
    assert code == 0 and "builder recreation" in out, out + err
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.ERROR, out + err
    text = out + err
    assert f"{first.name}: failed, rolled back, healthy again" in text
    assert 'invalid duration "7d"' in text and "rolled back" in text
    assert "halted" in text
    # the host that failed: its old file, its builder recreated with it and booted
    assert first.read_file(BUILDKITD_PATH) == good
    assert buildx(first, marks[0]) == RECREATE + RECREATE
    record = builder(first)
    assert record["config-sha256"] == sha256_of(first, BUILDKITD_PATH)
    assert record.get("booted") == "1"
    assert not first.exists("/etc/docker/.fleetcfg/lock")
    # the rollout stopped before the next host
    assert buildx(second, marks[1]) == [], text
    assert "keepDuration" not in second.read_file(BUILDKITD_PATH)


def test_rollback_of_the_proxy_drop_in_runs_daemon_reload_then_a_restart(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    fleet = fleet_of(1)
    (host,) = fleet.hosts
    host.set_engine_version("20.10.24")
    path = repo(tmp_path, fleet, "")
    assert cli("apply", "-i", str(path), "--yes")[0] == ExitCode.OK
    path = repo(tmp_path, fleet, PROXY)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    assert host.exists(DROPIN_PATH)
    mark = len(host.events())
    code, out, err = cli("rollback", host.name, "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    assert f"{host.name}: daemon-reload + restart: the proxy drop-in is restored" in out
    assert "daemon-reload + restart done" in out + err
    assert not host.exists(DROPIN_PATH)  # it was new: removed again
    assert kinds(host, mark)[:3] == ["daemon-reload", "stopping", "starting"]
    assert "Pass" not in out + err
    code, out, err = cli("plan", "-i", str(path))
    assert "daemon-reload + restart: the proxy drop-in changed" in out, out + err


def test_rollback_of_buildkitd_toml_recreates_the_builder_with_the_restored_file(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    fleet = fleet_of(1)
    (host,) = fleet.hosts
    path = repo(tmp_path, fleet, BUILDKIT)
    assert cli("apply", "-i", str(path), "--yes")[0] == ExitCode.OK
    old = host.read_file(BUILDKITD_PATH)
    path = repo(tmp_path, fleet, "buildkit: {builder: ci, settings: {debug: true}}\n")
    assert cli("apply", "-i", str(path), "--yes")[0] == ExitCode.OK
    assert host.read_file(BUILDKITD_PATH) != old
    mark = len(host.events())
    code, out, err = cli("rollback", host.name, "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    assert f"{host.name}: builder recreation: buildkitd.toml is restored" in out
    assert host.read_file(BUILDKITD_PATH) == old
    assert buildx(host, mark) == RECREATE
    assert builder(host)["config-sha256"] == sha256_of(host, BUILDKITD_PATH)
    assert not [e for e in host.events()[mark:] if e.kind in ("stopping", "reloading")]
    assert json.loads(host.read_file("/etc/docker/daemon.json"))["log-driver"] == "json-file"
