"""Faults during apply: the daemon refuses the file, health gates fail, the
disk is full, the connection drops. Every test checks the files left on the
host, not only the report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from fleetcfg.apply import steps
from fleetcfg.apply.report import HostStatus
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.host.service import ServiceCommands
from fleetcfg.host.state import STATE_PATH
from fleetcfg.host.transport.base import CommandResult
from fleetcfg.render import Renderer
from tests.fakes.dockerhost import DAEMON_JSON
from tests.fakes.transport import FakeTransport
from tests.unit.apply.helpers import (
    OLD,
    RELOADABLE,
    RESTARTING,
    backups_of,
    canonical,
    daemon_json,
    leftovers,
    locked,
    setup,
    state_of,
)


def refuse_at_start(content: bytes, path: str) -> str | None:
    """dockerd --validate passes (it runs on the upload), the start fails."""
    if path == DAEMON_JSON and b"log-level" in content:
        return "failed to start daemon: Error initializing network controller: refused"
    return None


def test_a_daemon_that_refuses_the_new_file_at_restart_is_rolled_back_and_healthy(
    tmp_path: Path,
) -> None:
    s = setup(tmp_path, validator=refuse_at_start)
    plan = s.plan()
    report = s.apply(plan)
    host = s.hosts["web-01"]
    result = report.results[0]
    assert report.exit_code == ExitCode.ERROR
    assert result.status is HostStatus.FAILED
    assert result.rolled_back and result.recovered
    assert "failed to start daemon: Error initializing network controller: refused" in (
        result.reason
    )
    assert daemon_json(host) == OLD
    assert host.unit_state == "active" and host.running_config == OLD
    assert host.restarts == 2
    assert not locked(host) and not leftovers(host)
    record = state_of(host).files[DAEMON_JSON]
    assert record.sha256 == plan.hosts[0].files[0].live_sha256
    assert record.command == "apply (rolled back)"
    [backup] = backups_of(host)
    assert host.content(backup) == canonical(OLD)
    names = [x.step for x in result.steps]
    assert names[-4:] == ["restore", "recover", "recover-health", "unlock"]


def test_an_unexpected_error_under_the_lock_fails_the_host_and_releases_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a bug, or bytes from a compromised host that no parser expected: the
    # host fails like any other (recovered, unlocked) rather than keeping its
    # lock until someone runs --break-lock
    def broken(*args: Any) -> None:
        raise ValueError("invalid literal for int() with base 10: '\u00b2'")

    monkeypatch.setattr(steps, "recheck_plan", broken)
    s = setup(tmp_path)
    report = s.apply(s.plan())
    host = s.hosts["web-01"]
    result = report.results[0]
    assert report.exit_code == ExitCode.ERROR
    assert result.status is HostStatus.FAILED
    assert "unexpected ValueError" in result.reason and "a bug in fleetcfg" in result.reason
    assert daemon_json(host) == OLD
    assert not locked(host) and not leftovers(host) and not result.lock_left


def test_a_host_that_stays_down_after_the_rollback_is_reported_not_healthy(
    tmp_path: Path,
) -> None:
    s = setup(tmp_path)
    host = s.hosts["web-01"]
    host.fail_restarts = 2
    result = s.apply(s.plan()).results[0]
    assert result.status is HostStatus.FAILED and result.rolled_back
    assert result.recovered is False
    assert "does not start with the restored file either" in result.reason
    assert daemon_json(host) == OLD and not locked(host)


def test_a_brand_new_file_that_fails_is_removed_again(tmp_path: Path) -> None:
    s = setup(tmp_path, live=None, validator=refuse_at_start)
    result = s.apply(s.plan()).results[0]
    host = s.hosts["web-01"]
    assert result.rolled_back and result.recovered
    assert host.content(DAEMON_JSON) is None
    assert state_of(host).files[DAEMON_JSON].sha256 is None


def test_containers_missing_after_a_live_restore_restart_fail_the_health_gate(
    tmp_path: Path,
) -> None:
    live = {**OLD, "live-restore": True}
    s = setup(tmp_path, live=live, target={**live, "log-level": "warn"})
    host = s.hosts["web-01"]
    host.containers = 3
    host.lose_containers_on_restart = 1
    plan = s.plan()
    result = s.apply(plan).results[0]
    assert result.status is HostStatus.FAILED and result.rolled_back
    assert "2 of the 3 containers that ran before are running" in result.reason
    assert "within 60s" in result.reason
    assert daemon_json(host) == live
    assert s.clock.sleeps and all(x == 0.5 for x in s.clock.sleeps)


def test_the_group_health_command_must_pass(tmp_path: Path) -> None:
    s = setup(tmp_path)
    host = s.hosts["web-01"]
    host.reply(["/usr/local/bin/pull-check"], stderr="mirror unreachable\n", exit_status=2)
    s.services["web-01"] = ServiceCommands(health=("/usr/local/bin/pull-check",), health_timeout=5)
    result = s.apply(s.plan()).results[0]
    assert result.status is HostStatus.FAILED and result.rolled_back
    assert "`/usr/local/bin/pull-check` exits 2: mirror unreachable" in result.reason
    assert daemon_json(host) == OLD


def test_a_unit_that_never_becomes_active_times_out(tmp_path: Path) -> None:
    s = setup(tmp_path)
    host = s.hosts["web-01"]
    host.reply(["systemctl", "is-active", "docker"], "activating\n", exit_status=3)
    s.services["web-01"] = ServiceCommands(health_timeout=3)
    result = s.apply(s.plan()).results[0]
    assert result.status is HostStatus.FAILED
    assert "not healthy after the restart within 3s: the daemon is activating" in result.reason
    assert daemon_json(host) == OLD
    assert sum(s.clock.sleeps) >= 3


def test_a_reload_dockerd_refuses_is_detected_in_its_log_and_undone(tmp_path: Path) -> None:
    def refuse_reload(content: bytes, path: str) -> str | None:
        if path == DAEMON_JSON and b'"debug"' in content:
            return "unable to configure the Docker daemon with file /etc/docker/daemon.json: nope"
        return None

    s = setup(tmp_path, target=RELOADABLE, validator=refuse_reload)
    host = s.hosts["web-01"]
    result = s.apply(s.plan()).results[0]
    assert result.status is HostStatus.FAILED and result.rolled_back and result.recovered
    assert "dockerd refused the reloaded configuration: Error reloading configuration" in (
        result.reason
    )
    assert daemon_json(host) == OLD
    assert host.reloads == 2 and host.restarts == 0


def test_a_reload_dockerd_never_finishes_is_not_reported_as_done(tmp_path: Path) -> None:
    # dockerd logs that it got the signal and then nothing (a real dockerd
    # looking for a missing authorization plugin retries, then exits)
    s = setup(tmp_path, target=RELOADABLE)
    host = s.hosts["web-01"]

    def reload(argv: tuple[str, ...], stdin: bytes | None, fake: FakeTransport) -> CommandResult:
        host.log("Got signal to reload configuration, reloading from: /etc/docker/daemon.json")
        return CommandResult((), 0)

    host.on(["systemctl", "reload", "docker"], reload)
    result = s.apply(s.plan()).results[0]
    assert result.status is HostStatus.FAILED and result.rolled_back
    assert "dockerd is reloading (its log has no verdict yet)" in result.reason
    assert daemon_json(host) == OLD


def test_a_failing_reload_command_is_rolled_back(tmp_path: Path) -> None:
    s = setup(tmp_path, target=RELOADABLE)
    host = s.hosts["web-01"]
    calls: list[int] = []

    def reload(argv: tuple[str, ...], stdin: bytes | None, fake: FakeTransport) -> CommandResult:
        calls.append(1)
        if len(calls) == 1:
            return CommandResult((), 1, "", "Failed to reload docker.service: Access denied\n")
        return CommandResult((), 0)

    host.on(["systemctl", "reload", "docker"], reload)
    result = s.apply(s.plan()).results[0]
    assert result.status is HostStatus.FAILED and result.rolled_back
    assert "Access denied" in result.reason
    assert daemon_json(host) == OLD


def test_a_secret_the_host_quotes_across_the_cut_of_its_message_is_never_shown(
    tmp_path: Path,
) -> None:
    # host output is cut to one line of 600 characters for the report: cut
    # before it was masked, a secret across the cut kept its first characters
    s = setup(tmp_path, target=RELOADABLE)
    host = s.hosts["web-01"]
    said = "Failed to reload docker.service: " + "x" * 545
    said += " http://svc:Sup3rSecretPassw0rd@proxy.corp:3128\n"

    def reload(argv: tuple[str, ...], stdin: bytes | None, fake: FakeTransport) -> CommandResult:
        return CommandResult((), 1, "", said)

    host.on(["systemctl", "reload", "docker"], reload)
    mask = Renderer(s.inventory, environ={}).mask  # what fleetcfg apply masks with
    result = s.apply(s.plan(), mask=mask).results[0]
    assert result.status is HostStatus.FAILED and "Failed to reload" in result.reason
    shown = [result.reason, *(step.detail for step in result.steps)]
    assert not any("Sup3r" in text for text in shown), shown


def test_a_full_disk_when_uploading_leaves_the_original_intact(tmp_path: Path) -> None:
    s = setup(tmp_path)
    host = s.hosts["web-01"]
    plan = s.plan()
    run = host.run

    def fill_disk_on_upload(argv: Sequence[str], **kw: Any) -> CommandResult:
        if argv[2].startswith("# fleetcfg-apply: install"):
            host.disk_full = True
        return run(argv, **kw)

    host.run = fill_disk_on_upload  # type: ignore[method-assign]
    result = s.apply(plan).results[0]
    host.disk_full = False
    assert result.status is HostStatus.FAILED and result.nothing_written
    assert "no space left on device" in result.reason and "nothing was changed" in result.reason
    assert [(x.step, x.status.value) for x in result.steps][-2:] == [
        ("upload", "failed"),
        ("unlock", "ok"),
    ]
    assert daemon_json(host) == OLD
    assert host.restarts == 0 and not leftovers(host) and not locked(host)
    assert backups_of(host) == []


def test_a_full_disk_stops_at_the_lock(tmp_path: Path) -> None:
    s = setup(tmp_path)
    host = s.hosts["web-01"]
    plan = s.plan()
    host.disk_full = True
    result = s.apply(plan).results[0]
    assert result.status is HostStatus.FAILED and result.nothing_written
    assert result.reason.startswith("cannot record the lock's owner in ")
    assert "no space left on device" in result.reason
    assert daemon_json(host) == OLD and not locked(host)


def test_a_backup_that_cannot_be_made_stops_before_the_file_is_replaced(tmp_path: Path) -> None:
    s = setup(tmp_path)
    host = s.hosts["web-01"]
    host.reply(
        ["cat", "--", DAEMON_JSON],
        stderr="cat: error reading: Input/output error\n",
        exit_status=1,
        prefix=True,
    )
    result = s.apply(s.plan()).results[0]
    assert result.status is HostStatus.FAILED and result.nothing_written
    assert "cannot back up /etc/docker/daemon.json" in result.reason
    assert daemon_json(host) == OLD and not leftovers(host) and not locked(host)


def test_an_unreachable_host_is_failed_without_touching_anything(tmp_path: Path) -> None:
    s = setup(tmp_path)
    host = s.hosts["web-01"]
    plan = s.plan()
    host.unreachable = True
    result = s.apply(plan).results[0]
    assert result.status is HostStatus.FAILED and result.nothing_written
    assert "unreachable" in result.reason
    host.unreachable = False
    assert daemon_json(host) == OLD and not locked(host)


def test_a_connection_dropped_during_the_install_is_cleaned_up_after_reconnecting(
    tmp_path: Path,
) -> None:
    s = setup(tmp_path)
    host = s.hosts["web-01"]
    plan = s.plan()
    host.lose_connection_after(1)  # the lock round trip works; the install drops
    s.clock.sleep = lambda seconds: host.restore_connection()  # type: ignore[method-assign]
    result = s.apply(plan).results[0]
    assert result.status is HostStatus.FAILED and result.nothing_written
    assert "connection lost" in result.reason
    assert not result.lock_left and not locked(host)
    assert daemon_json(host) == OLD and not leftovers(host) and host.restarts == 0
    assert backups_of(host) == []


def test_a_host_that_vanishes_during_the_install_keeps_its_lock_and_says_so(
    tmp_path: Path,
) -> None:
    s = setup(tmp_path)
    host = s.hosts["web-01"]
    plan = s.plan()
    host.lose_connection_after(1)
    result = s.apply(plan).results[0]
    host.restore_connection()
    assert result.status is HostStatus.FAILED and result.lock_left
    assert "the host stays unreachable" in result.reason
    assert "either the old or the new ones, never a mix" in result.reason
    assert "--break-lock" in result.reason
    assert daemon_json(host) == OLD and locked(host)


def test_a_host_that_vanishes_while_being_locked_changed_nothing(tmp_path: Path) -> None:
    s = setup(tmp_path)
    host = s.hosts["web-01"]
    plan = s.plan()
    host.lose_connection_after(0)
    result = s.apply(plan).results[0]
    host.restore_connection()
    assert result.status is HostStatus.FAILED and result.nothing_written
    assert "nothing was changed" in result.reason and result.lock_left
    assert "remove it with --break-lock" in result.reason
    assert daemon_json(host) == OLD


def test_a_connection_dropped_after_the_restart_rolls_back_after_reconnecting(
    tmp_path: Path,
) -> None:
    s = setup(tmp_path, validator=refuse_at_start)
    host = s.hosts["web-01"]
    plan = s.plan()
    # the install (up to the failing restart) happens, then the connection drops
    host.lose_connection_after(1, completes=True)
    s.clock.sleep = lambda seconds: host.restore_connection()  # type: ignore[method-assign]
    result = s.apply(plan).results[0]
    assert result.status is HostStatus.FAILED and result.rolled_back and result.recovered
    assert daemon_json(host) == OLD
    assert host.unit_state == "active" and host.running_config == OLD
    assert not locked(host) and not leftovers(host)
    assert state_of(host).files[DAEMON_JSON].sha256 == plan.hosts[0].files[0].live_sha256


def test_a_host_lost_after_the_rename_reports_old_or_new_and_keeps_the_lock(
    tmp_path: Path,
) -> None:
    s = setup(tmp_path)
    host = s.hosts["web-01"]
    host.reply(["/usr/local/bin/slow-check"], exit_status=1)
    s.services["web-01"] = ServiceCommands(health=("/usr/local/bin/slow-check",))
    plan = s.plan()
    # the install runs up to its first health check (which fails), then the
    # connection drops: fleetcfg cannot know how far the host got
    host.lose_connection_after(1, completes=True)
    result = s.apply(plan).results[0]
    assert result.status is HostStatus.FAILED and not result.nothing_written
    assert result.lock_left
    assert "either the old or the new ones, never a mix" in result.reason
    host.restore_connection()
    assert daemon_json(host) == RESTARTING and locked(host)


def test_an_unreadable_state_file_is_kept_aside(tmp_path: Path) -> None:
    s = setup(tmp_path)
    host = s.hosts["web-01"]
    host.add_file(STATE_PATH, b"{not json", mode=0o600)
    report = s.apply(s.plan())
    assert report.results[0].status is HostStatus.CHANGED, report.results[0].reason
    aside = [p for p in host.files if p.startswith(STATE_PATH + ".unreadable-")]
    assert len(aside) == 1 and host.content(aside[0]) == b"{not json"
    assert DAEMON_JSON in state_of(host).files
