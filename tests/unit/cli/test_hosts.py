"""`fleetcfg hosts`: the inventory's hosts and what --limit selects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import app
from tests.unit.inventory.repo import write_repo

runner = CliRunner()

INVENTORY = """
defaults: {engine_version: "26.1", daemon_profile: base}
groups:
  ci:
    children: [ci-gpu]
    hosts:
      ci-01: {address: 10.0.0.1}
      ci-02: {address: 10.0.0.2}
  ci-gpu:
    hosts:
      gpu-01: {address: 10.0.1.1, engine_version: "27.5"}
hosts:
  ws-7: {address: 127.0.0.1, connection: local}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_repo(tmp_path, INVENTORY)


def test_text_lists_each_host_with_address_engine_profile_and_groups(repo: Path) -> None:
    result = runner.invoke(app, ["hosts", "-i", str(repo)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["HOST", "ADDRESS", "ENGINE", "PROFILE", "GROUPS"]
    assert lines[3].split() == ["gpu-01", "10.0.1.1", "27.5", "base", "ci,", "ci-gpu"]
    assert "127.0.0.1 (local)" in lines[4]
    assert lines[-2:] == ["4 of 4 hosts", "groups: ci (3), ci-gpu (1)"]


def test_limit_shows_what_it_selects(repo: Path) -> None:
    result = runner.invoke(app, ["hosts", "-i", str(repo), "--limit", "ci,!ci-gpu"])
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.stdout.splitlines()[1:3]] == ["ci-01", "ci-02"]
    assert "2 of 4 hosts selected by --limit ci,!ci-gpu" in result.stdout


def test_json_has_hosts_and_groups_with_the_selection(repo: Path) -> None:
    result = runner.invoke(app, ["hosts", "-i", str(repo), "-l", "gpu-*", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [h["name"] for h in doc["hosts"]] == ["gpu-01"]
    assert doc["hosts"][0]["groups"] == ["ci", "ci-gpu"]
    assert doc["groups"]["ci"] == {
        "hosts": ["ci-01", "ci-02", "gpu-01"],
        "selected": ["gpu-01"],
        "children": ["ci-gpu"],
        "parents": [],
    }
    assert (doc["selected"], doc["total"]) == (1, 4)


def test_a_limit_that_matches_nothing_is_a_usage_error(repo: Path) -> None:
    result = runner.invoke(app, ["hosts", "-i", str(repo), "--limit", "nope"])
    assert result.exit_code == 2 and "neither a host nor a group" in result.output


def test_rendering_a_group_name_points_at_fleetcfg_hosts(repo: Path) -> None:
    result = runner.invoke(app, ["render", "ci", "-i", str(repo)])
    assert result.exit_code == 2
    assert "'ci' is a group (3 hosts)" in result.output
    assert "fleetcfg hosts --limit ci" in result.output
