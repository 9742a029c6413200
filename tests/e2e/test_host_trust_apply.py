"""Issue 9, what apply trusts on a host, against real sshd hosts (tests/fleet):
secrets written for root only, saved plans that cannot steer paths, modes or
owners, crash consistency after kill -9, and locks with owners and
heartbeats. Each test asserts the files, owners and modes on the host
afterwards, and failed against the code before its fix.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from fleetcfg.apply.report import EXIT_OK
from tests.e2e.test_apply import DAEMON_JSON, cli, write_repo
from tests.fleet import Fleet, FleetHost

pytestmark = pytest.mark.e2e

PROXY_PROFILE = """\
log-driver: json-file
proxies:
  http-proxy: "http://svc:{{ env('FLEETCFG_E2E_PROXY_PASSWORD') }}@proxy.corp.example.com:3128"
"""
FILE_PROFILE = """\
log-driver: json-file
labels: ["token={{ file('secrets/token') }}"]
"""


def mode_owner(host: FleetHost, remote: str) -> tuple[int, int, int]:
    """(permission bits, uid, gid) of ``remote`` on ``host``."""
    info = os.lstat(host.path(remote))
    return stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid


# -- item 5: secrets readable on disk ------------------------------------------------


def test_a_daemon_json_holding_a_proxy_password_is_written_0600_root(
    fleet_of: Callable[[int], Fleet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    monkeypatch.setenv("FLEETCFG_E2E_PROXY_PASSWORD", "s3cr3t-pw")
    path = write_repo(tmp_path, fleet, fleet.hosts, profile=PROXY_PROFILE)
    code, out, err = cli("plan", "-i", str(path))
    assert code == 0, out + err
    assert "holds credentials" in out, out
    assert "s3cr3t-pw" not in out + err
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == EXIT_OK, out + err
    assert "s3cr3t-pw" in host.read_file(DAEMON_JSON)
    assert mode_owner(host, DAEMON_JSON) == (0o600, 0, 0)


def test_a_daemon_json_holding_a_file_lookup_is_written_0600_root(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    host.write_file(DAEMON_JSON, '{"log-driver": "json-file"}\n')
    path = write_repo(tmp_path, fleet, fleet.hosts, profile=FILE_PROFILE)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text("tok-7f3a9c\n")
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == EXIT_OK, out + err
    assert "[0644 root:root -> 0600 root:root, holds credentials]" in out
    assert json.loads(host.read_file(DAEMON_JSON))["labels"] == ["token=tok-7f3a9c"]
    assert mode_owner(host, DAEMON_JSON) == (0o600, 0, 0)


def test_a_daemon_json_without_credentials_stays_0644(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    fleet = fleet_of(1)
    path = write_repo(tmp_path, fleet, fleet.hosts)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == EXIT_OK, out + err
    assert "holds credentials" not in out
    assert mode_owner(fleet.hosts[0], DAEMON_JSON) == (0o644, 0, 0)


def test_a_saved_plan_is_written_0600(fleet_of: Callable[[int], Fleet], tmp_path: Path) -> None:
    fleet = fleet_of(1)
    path = write_repo(tmp_path, fleet, fleet.hosts)
    saved = tmp_path / "plan.json"
    code, out, err = cli("plan", "-i", str(path), "-o", str(saved))
    assert code == 0, out + err
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
