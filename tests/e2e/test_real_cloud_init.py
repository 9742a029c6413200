"""`fleetcfg cloud-init` on the real-daemon fleet (Debian's dockerd 26.1.5,
tests/fleet ``real_fleet``): a test plays cloud-init's ``write_files`` (decoded,
with modes and owners) on a host whose docker.service has not started yet,
then starts it as systemd would after network-online.target, and asks dockerd
itself what it runs with (issue 15's "done when")."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any, Literal

import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import app
from fleetcfg.core.hashing import sha256_hex
from tests.fakes.cloudinit import load_cloud_config, play_write_files
from tests.fleet import Fleet, FleetHost
from tests.fleet.repo import write_repo_of

pytestmark = pytest.mark.e2e

DAEMON_JSON = "/etc/docker/daemon.json"
MIRROR = "https://mirror.corp.example.com"
#: the label's non-ASCII text makes daemon.json travel base64-encoded
PROFILE = f"""
registry-mirrors: ["{MIRROR}"]
log-driver: local
log-opts: {{max-size: "20m"}}
live-restore: true
max-concurrent-downloads: 7
labels: ["site=zürich"]
"""
runner = CliRunner()


def sh(host: FleetHost, command: str) -> str:
    result = host.ssh(command, timeout=120)
    assert result.returncode == 0, f"{host.name}: {command}: {result.stderr}"
    return result.stdout


def user_data(tmp_path: Path, fleet: Fleet, host: FleetHost) -> dict[str, Any]:
    inventory = write_repo_of(
        tmp_path / "repo",
        fleet,
        [host],
        profiles={"base.yaml.j2": PROFILE, "client.json.j2": '{"detachKeys": "ctrl-e,e"}'},
        defaults="client_profile: client\nclient_users: [root]\n",
        sections=f"groups:\n  runners:\n    hosts: {{{host.name}: {{}}}}\n",
    )
    out = tmp_path / "user-data"
    made = runner.invoke(
        app, ["cloud-init", "--limit", "runners", "-i", str(inventory), "-o", str(out)]
    )
    assert made.exit_code == 0, made.stderr
    return load_cloud_config(out.read_text())


def play(host: FleetHost, document: dict[str, Any], stage: Literal["init", "final"]) -> list[str]:
    """cloud-init's write_files on ``host``: the decoded bytes, then the
    permissions and the owner, as the module sets them."""

    def write(path: str, content: bytes, mode: int, owner: str) -> None:
        host.write_file(path, content, mode=mode)
        sh(host, shlex.join(["chown", owner, path]))

    return play_write_files(document, write, stage=stage)


def docker_info(host: FleetHost) -> dict[str, Any]:
    data = json.loads(sh(host, "docker info --format '{{json .}}'"))
    assert isinstance(data, dict)
    return data


def test_dockerd_first_starts_with_the_files_cloud_init_wrote_and_the_check_passes(
    real_fleet: Fleet, tmp_path: Path
) -> None:
    host = real_fleet.hosts[0]
    document = user_data(tmp_path, real_fleet, host)
    entries = {e["path"]: e for e in document["write_files"]}
    assert entries[DAEMON_JSON]["encoding"] == "b64"  # the label is not ASCII
    # the machine boots: docker.service has not started yet
    sh(host, "systemctl stop docker")
    assert host.ssh("docker info").returncode != 0
    assert not host.exists(DAEMON_JSON)

    written = play(host, document, "init")  # cloud-init's network stage
    assert DAEMON_JSON in written
    assert host.ssh("systemctl is-active docker").stdout.strip() != "active"  # not yet
    sh(host, "systemctl start docker")  # After=network-online.target
    pid = int(sh(host, "systemctl show -p MainPID --value docker").strip())
    play(host, document, "final")

    # the files, as write_files left them
    daemon_json = host.read_bytes(DAEMON_JSON)
    assert json.loads(daemon_json)["labels"] == ["site=zürich"]
    assert sh(host, f"stat -c '%a %U:%G' {DAEMON_JSON}").split() == ["644", "root:root"]
    assert sh(host, "stat -c '%a %U:%G' /root/.docker/config.json").split() == [
        "600",
        "root:root",
    ]
    assert sh(host, "stat -c %a /usr/local/sbin/fleetcfg-boot-check").strip() == "755"

    # what dockerd itself reports
    info = docker_info(host)
    assert info["RegistryConfig"]["Mirrors"] == [MIRROR + "/"]
    assert info["LoggingDriver"] == "local"
    assert info["LiveRestoreEnabled"] is True
    assert "site=zürich" in info["Labels"]

    [command] = document["runcmd"]
    check = host.ssh(shlex.join(command), timeout=360)
    assert check.returncode == 0, check.stderr
    assert "dockerd answers and runs with the files cloud-init wrote" in check.stdout
    # started once, with the files in place, never restarted
    assert int(sh(host, "systemctl show -p MainPID --value docker").strip()) == pid
    assert host.started_config_sha256() == sha256_hex(daemon_json)
    inventory = tmp_path / "repo/inventory.yaml"
    plan = runner.invoke(app, ["plan", "--detailed-exitcode", "-i", str(inventory)])
    assert plan.exit_code == 0, plan.stdout + plan.stderr


def test_the_check_fails_on_a_real_dockerd_that_started_before_the_files(
    real_fleet: Fleet, tmp_path: Path
) -> None:
    host = real_fleet.hosts[0]
    document = user_data(tmp_path, real_fleet, host)
    assert host.unit_state() == "active"  # an image that starts docker too early
    play(host, document, "init")
    play(host, document, "final")
    [command] = document["runcmd"]
    check = host.ssh(shlex.join(command), timeout=360)
    assert check.returncode == 1
    # the real dockerd reports no mirrors as null, not []
    assert "dockerd reports registry mirrors null, daemon.json sets" in check.stderr
    assert "dockerd reports log driver json-file, daemon.json sets local" in check.stderr
    assert "dockerd started before cloud-init wrote /etc/docker/daemon.json" in check.stderr
