"""Hosts built from `fleetcfg render -o` output and from `fleetcfg cloud-init`
documents, on the real sshd fleet (tests/fleet)."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Literal

import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import app
from fleetcfg.core.hashing import sha256_hex
from tests.fakes.cloudinit import load_cloud_config, play_write_files
from tests.fleet import Fleet, FleetHost
from tests.fleet.repo import write_repo_of

pytestmark = pytest.mark.e2e

PROFILE = """
registry-mirrors: ["https://mirror.corp.example.com"]
log-driver: json-file
log-opts: {max-size: "20m", max-file: "3"}
live-restore: true
"""

runner = CliRunner()


def write_repo(
    root: Path, fleet: Fleet, hosts: list[FleetHost], *, defaults: str = "", profile: str = PROFILE
) -> Path:
    return write_repo_of(
        root,
        fleet,
        hosts,
        profiles={"base.yaml.j2": profile, "client.json.j2": '{"detachKeys": "ctrl-e,e"}'},
        defaults=defaults,
        sections="groups:\n  runners:\n    hosts: {"
        + ", ".join(f"{h.name}: {{}}" for h in hosts)
        + "}\n",
    )


def install_like_an_image_build(host: FleetHost, out: Path) -> None:
    """What a Dockerfile's COPY or a Packer file provisioner does with the
    output: every file of the manifest, with its mode, at its path."""
    manifest = json.loads((out / "manifest.json").read_text())
    for entry in manifest["files"]:
        host.write_file(
            entry["path"], (out / entry["source"]).read_bytes(), mode=int(entry["mode"], 8)
        )


def test_a_host_built_from_the_render_output_needs_no_change(fleet: Fleet, tmp_path: Path) -> None:
    hosts = fleet.hosts[:2]
    inventory = write_repo(tmp_path / "repo", fleet, hosts)
    out = tmp_path / "image"
    result = runner.invoke(
        app, ["render", "--limit", "runners", "-o", str(out), "-i", str(inventory)]
    )
    assert result.exit_code == 0, result.stderr
    for host in hosts:
        install_like_an_image_build(host, out)
    plan = runner.invoke(
        app, ["plan", "--detailed-exitcode", "--limit", "runners", "-i", str(inventory)]
    )
    assert plan.exit_code == 0, plan.stdout + plan.stderr


def test_install_sh_puts_the_files_in_place_and_the_host_plans_none(
    fleet: Fleet, tmp_path: Path
) -> None:
    host = fleet.hosts[0]
    # the proxy password makes daemon.json 0600, as apply writes it
    proxy = (
        "proxies: {http-proxy: \"http://svc:{{ env('PROXY_PASSWORD', 'pw-e2e') }}@proxy:3128\"}\n"
    )
    inventory = write_repo(
        tmp_path / "repo",
        fleet,
        [host],
        defaults="client_profile: client\nclient_users: [root]\n",
        profile=PROFILE + proxy,
    )
    out = tmp_path / "image"
    result = runner.invoke(
        app, ["render", "--limit", host.name, "-o", str(out), "-i", str(inventory)]
    )
    assert result.exit_code == 0, result.stderr
    assert not host.exists("/root/.docker")
    installed = host.ssh(f"sh {out}/install.sh")
    assert installed.returncode == 0, installed.stderr
    assert "installed /etc/docker/daemon.json (0600 root:root)" in installed.stdout
    assert "installed /root/.docker/config.json (0600 root:root)" in installed.stdout
    assert host.ssh("stat -c %a /root/.docker").stdout.strip() == "700"
    # the image boots: dockerd starts with the files install.sh put in place
    # (a running dockerd never loaded them: plan would say it needs a restart)
    assert host.ssh("systemctl restart docker").returncode == 0
    plan = runner.invoke(app, ["plan", "--detailed-exitcode", "-i", str(inventory)])
    assert plan.exit_code == 0, plan.stdout + plan.stderr


# -- cloud-init -------------------------------------------------------------------


def cloud_config_for(root: Path, fleet: Fleet, hosts: list[FleetHost]) -> dict[str, object]:
    inventory = write_repo(root / "repo", fleet, hosts)
    out = root / "user-data"
    result = runner.invoke(
        app, ["cloud-init", "--limit", "runners", "-i", str(inventory), "-o", str(out)]
    )
    assert result.exit_code == 0, result.stderr
    return load_cloud_config(out.read_text())


def play_on(host: FleetHost, document: dict[str, object], stage: Literal["init", "final"]) -> None:
    def write(path: str, content: bytes, mode: int, owner: str) -> None:
        assert owner == "root:root"
        host.write_file(path, content, mode=mode)

    play_write_files(document, write, stage=stage)


def run_runcmd(
    host: FleetHost, document: dict[str, object]
) -> list[subprocess.CompletedProcess[str]]:
    commands = document["runcmd"]
    assert isinstance(commands, list)
    return [host.ssh(shlex.join(command), timeout=120) for command in commands]


def test_a_new_machine_gets_its_files_before_dockerd_starts_and_the_check_passes(
    fleet: Fleet, tmp_path: Path
) -> None:
    host = fleet.hosts[0]
    document = cloud_config_for(tmp_path, fleet, [host])
    host.set_unit_state("inactive")  # first boot: docker.service has not started yet
    play_on(host, document, "init")  # cloud-init's network stage
    assert host.ssh("systemctl start docker").returncode == 0  # after network-online.target
    play_on(host, document, "final")
    [check] = run_runcmd(host, document)
    assert check.returncode == 0, check.stderr
    assert "runs with the files cloud-init wrote" in check.stdout
    assert host.running_config_sha256() == sha256_hex(host.read_bytes("/etc/docker/daemon.json"))
    # started once, with the file in place, and never stopped or restarted
    assert host.event_kinds().count("started") == 1
    assert "stopping" not in host.event_kinds()
    inventory = tmp_path / "repo/inventory.yaml"
    plan = runner.invoke(app, ["plan", "--detailed-exitcode", "-i", str(inventory)])
    assert plan.exit_code == 0, plan.stdout + plan.stderr


def test_the_check_reports_a_dockerd_that_started_before_the_files_landed(
    fleet: Fleet, tmp_path: Path
) -> None:
    host = fleet.hosts[0]
    document = cloud_config_for(tmp_path, fleet, [host])
    assert host.unit_state() == "active"  # an image that starts docker too early
    play_on(host, document, "init")
    play_on(host, document, "final")
    [check] = run_runcmd(host, document)
    assert check.returncode == 1
    assert "dockerd reports registry mirrors" in check.stderr
    assert "dockerd started before cloud-init wrote /etc/docker/daemon.json" in check.stderr
