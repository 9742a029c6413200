"""Hosts built from `fleetcfg render -o` output and from `fleetcfg cloud-init`
documents, on the real sshd fleet (tests/fleet)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import app
from tests.fleet import Fleet, FleetHost
from tests.fleet.repo import write_fleet_repo

pytestmark = pytest.mark.e2e

PROFILE = """
registry-mirrors: ["https://mirror.corp.example.com"]
log-driver: json-file
log-opts: {max-size: "20m", max-file: "3"}
live-restore: true
"""

runner = CliRunner()


def write_repo(root: Path, fleet: Fleet, hosts: list[FleetHost]) -> Path:
    return write_fleet_repo(
        root,
        identity_file=fleet.identity_file,
        known_hosts=fleet.known_hosts,
        hosts=[(h.name, h.address) for h in hosts],
        profiles={"base.yaml.j2": PROFILE},
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
