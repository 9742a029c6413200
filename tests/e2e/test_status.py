"""`fleetcfg status` over SSH on the sshd fleet, after `fleetcfg converge` ran
on the hosts themselves (through the local transport, as in
tests/e2e/test_converge.py)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import app
from tests.e2e.test_converge import FLEETCFG, PROFILE, converge, runs_fleetcfg
from tests.fleet import Fleet
from tests.fleet.repo import write_repo_of

pytestmark = pytest.mark.e2e

STATUS = "/etc/docker/.fleetcfg/converge-status.json"
runner = CliRunner()


def status(inventory: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["status", "-i", str(inventory), *args], env={"NO_COLOR": "1"})
    return result.exit_code, result.stdout, result.stderr


def test_status_shows_each_hosts_last_converge_over_ssh(fleet: Fleet, tmp_path: Path) -> None:
    converged, disabled, silent = fleet.hosts[:3]
    inventory = write_repo_of(
        tmp_path / "repo",
        fleet,
        fleet.hosts[:3],
        profiles={"base.yaml.j2": PROFILE},
    )
    with runs_fleetcfg(converged):
        assert converge(converged, inventory).returncode == 2
    with runs_fleetcfg(disabled):
        off = disabled.ssh(shlex.join([FLEETCFG, "converge", "--disable", "INC-12 kernel"]))
        assert off.returncode == 0, off.stderr
        assert converge(disabled, inventory).returncode == 4

    code, out, err = status(inventory)
    assert code == 2, out + err  # a host disabled, one never ran: attention
    assert f"{disabled.name}: disabled: converge is disabled by root at " in out
    assert "INC-12 kernel" in out
    assert f"{silent.name}: never ran: no {STATUS}" in out
    assert "Status: 1 ok, 1 never ran, 1 disabled." in out

    code, out, _ = status(inventory, "--format", "json")
    hosts = {h["host"]: h for h in json.loads(out)["hosts"]}
    ok = hosts[converged.name]
    assert ok["state"] == "ok"
    assert ok["exit_code"] == 2
    assert ok["message"] == "restart done"
    assert ok["revision"].startswith("sha256:")
    assert ok["files_drifted"] == 0
    assert 0 <= ok["last_run_age_seconds"] < 3600
    assert hosts[disabled.name]["disabled"]["reason"] == "INC-12 kernel"
    assert hosts[silent.name]["conditions"] == ["never ran"]

    code, out, _ = status(inventory, "--limit", converged.name)
    assert code == 0, out
    assert "Status: 1 ok." in out


def test_a_hosts_hostile_state_is_that_hosts_error_and_stays_escaped(
    fleet: Fleet, tmp_path: Path
) -> None:
    host, other = fleet.hosts[:2]
    inventory = write_repo_of(
        tmp_path / "repo",
        fleet,
        (host, other),
        profiles={"base.yaml.j2": PROFILE},
    )
    host.write_file(STATUS, '{"format": 1, "host": "\x1b[2J', mode=0o600)
    other.write_file(STATUS, "x" * 100_000, mode=0o600)
    code, out, err = status(inventory)
    assert code == 1, out + err
    assert "\x1b" not in out
    assert f"{host.name}: error: {STATUS} is not valid JSON" in out
    assert f"{other.name}: error: refusing to read {STATUS}" in out
    assert "Status: 2 error." in out
