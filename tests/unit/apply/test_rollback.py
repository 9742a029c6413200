"""fleetcfg rollback: the last backup goes back with the same care as apply."""

from __future__ import annotations

import json
from pathlib import Path

from fleetcfg.apply.report import HostStatus
from fleetcfg.apply.rollback import backup_target
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.host.state import STATE_PATH
from tests.fakes.dockerhost import DAEMON_JSON
from tests.unit.apply.helpers import (
    OLD,
    RESTARTING,
    backups_of,
    canonical,
    daemon_json,
    leftovers,
    locked,
    refuses_the_old_file,
    setup,
    state_of,
)

NEWER = {**OLD, "log-level": "error"}


def applied(tmp_path: Path, **kw: object):  # type: ignore[no-untyped-def]
    s = setup(tmp_path, **kw)  # type: ignore[arg-type]
    report = s.apply(s.plan())
    assert report.exit_code == ExitCode.OK, report.results[0].reason
    return s


def test_rollback_restores_the_last_backup_and_restarts(tmp_path: Path) -> None:
    s = applied(tmp_path)
    host = s.hosts["web-01"]
    report = s.rollback(["web-01"])
    result = report.results[0]
    assert report.exit_code == ExitCode.OK, result.reason
    assert result.status is HostStatus.CHANGED
    assert daemon_json(host) == OLD
    assert host.running_config == OLD and host.restarts == 2
    assert not locked(host) and not leftovers(host)
    record = state_of(host).files[DAEMON_JSON]
    assert record.command == "rollback" and record.sha256 is not None
    assert host.content(DAEMON_JSON) == canonical(OLD)
    # the replaced file was backed up too: the newest backup holds it
    assert host.content(backups_of(host)[-1]) == canonical(RESTARTING)
    assert [x.step for x in result.steps if x.step == "validate"] == ["validate"]


def test_rolling_back_twice_returns_to_the_applied_file(tmp_path: Path) -> None:
    s = applied(tmp_path)
    assert s.rollback(["web-01"]).exit_code == ExitCode.OK
    assert s.rollback(["web-01"]).exit_code == ExitCode.OK
    assert daemon_json(s.hosts["web-01"]) == RESTARTING


def test_rollback_refuses_a_file_edited_since_fleetcfg_wrote_it(tmp_path: Path) -> None:
    s = applied(tmp_path)
    host = s.hosts["web-01"]
    host.add_file(DAEMON_JSON, canonical(NEWER))
    report = s.rollback(["web-01"])
    result = report.results[0]
    assert report.exit_code == ExitCode.STALE
    assert "changed since fleetcfg apply wrote it" in result.reason
    assert "--force" in result.reason
    assert daemon_json(host) == NEWER and not locked(host)
    forced = s.rollback(["web-01"], force=True)
    assert forced.exit_code == ExitCode.OK, forced.results[0].reason
    assert daemon_json(host) == OLD


def test_rollback_of_a_file_that_did_not_exist_removes_it(tmp_path: Path) -> None:
    s = applied(tmp_path, live=None)
    host = s.hosts["web-01"]
    report = s.rollback(["web-01"])
    assert report.exit_code == ExitCode.OK, report.results[0].reason
    assert host.content(DAEMON_JSON) is None
    assert state_of(host).files[DAEMON_JSON].sha256 is None


def test_a_host_fleetcfg_never_wrote_has_nothing_to_roll_back(tmp_path: Path) -> None:
    s = setup(tmp_path)
    report = s.rollback(["web-01"])
    result = report.results[0]
    assert report.exit_code == ExitCode.ERROR
    assert "nothing to roll back" in result.reason
    assert daemon_json(s.hosts["web-01"]) == OLD and not locked(s.hosts["web-01"])


def test_a_restored_file_the_daemon_refuses_is_undone_again(tmp_path: Path) -> None:
    s = applied(tmp_path)
    host = s.hosts["web-01"]
    host.validator = refuses_the_old_file
    result = s.rollback(["web-01"]).results[0]
    assert result.status is HostStatus.FAILED and result.rolled_back and result.recovered
    assert "the old file no longer works" in result.reason
    assert daemon_json(host) == RESTARTING and host.unit_state == "active"


def test_a_specific_backup_can_be_chosen(tmp_path: Path) -> None:
    s = applied(tmp_path)
    first = state_of(s.hosts["web-01"]).files[DAEMON_JSON].backups[0].name
    assert first is not None and backup_target(first) == DAEMON_JSON
    s.set_profile(NEWER)
    assert s.apply(s.plan()).exit_code == ExitCode.OK
    report = s.rollback(["web-01"], backup=first)
    assert report.exit_code == ExitCode.OK, report.results[0].reason
    assert daemon_json(s.hosts["web-01"]) == OLD


def test_a_tampered_backup_is_refused(tmp_path: Path) -> None:
    s = applied(tmp_path)
    host = s.hosts["web-01"]
    [backup] = backups_of(host)
    host.add_file(backup, b'{"debug": true}\n')
    result = s.rollback(["web-01"]).results[0]
    assert result.status is HostStatus.FAILED and result.nothing_written
    assert "does not hash as state.json records" in result.reason
    assert daemon_json(host) == RESTARTING


def test_rollback_only_restores_the_files_of_the_last_run(tmp_path: Path) -> None:
    inventory = """\
defaults:
  daemon_profile: base
  client_profile: client
  engine_version: "26.1"
hosts:
  web-01: {address: 10.0.0.1}
"""
    s = setup(
        tmp_path,
        inventory=inventory,
        profiles={"client.json": json.dumps({"detachKeys": "ctrl-x,x"})},
    )
    host = s.hosts["web-01"]
    assert s.apply(s.plan()).exit_code == ExitCode.OK
    s.set_profile(NEWER)
    assert s.apply(s.plan()).exit_code == ExitCode.OK
    report = s.rollback(["web-01"])
    assert report.exit_code == ExitCode.OK, report.results[0].reason
    assert daemon_json(host) == RESTARTING
    assert json.loads(host.content("/root/.docker/config.json") or b"") == {
        "detachKeys": "ctrl-x,x"
    }
    assert STATE_PATH in host.files
