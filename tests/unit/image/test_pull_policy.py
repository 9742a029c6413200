"""Rollout safety of `fleetcfg converge` without a coordinator: the canary set
by a hash of the host name, the delay counted from when a host first saw a
revision, and restarts only inside the maintenance window (an injected clock)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from fleetcfg.apply.pull_policy import canary_slot, hold, in_canary, in_window
from fleetcfg.host.pull import SEEN_KEPT, PullPaths, first_seen
from fleetcfg.inventory.model import Rollout
from fleetcfg.plan.model import Action

HOSTS = [f"ci-{n:04d}" for n in range(2000)]


def at(hhmm: str, day: int = 6) -> float:
    hours, minutes = hhmm.split(":")
    return datetime(2026, 12, day, int(hours), int(minutes), tzinfo=UTC).timestamp()


def outside_canary(percent: int) -> str:
    return next(name for name in HOSTS if not in_canary(name, percent))


def inside_canary(percent: int) -> str:
    return next(name for name in HOSTS if in_canary(name, percent))


def test_the_canary_set_is_stable_and_about_the_percentage_of_hosts() -> None:
    assert [canary_slot(n) for n in HOSTS[:50]] == [canary_slot(n) for n in HOSTS[:50]]
    picked = sum(in_canary(name, 10) for name in HOSTS)
    assert 100 < picked < 300  # ~10% of 2000
    assert all(in_canary(name, 100) for name in HOSTS)
    assert not any(in_canary(name, 0) for name in HOSTS)
    # a larger percentage keeps every host a smaller one picked
    assert all(in_canary(name, 20) for name in HOSTS if in_canary(name, 10))


def test_a_host_outside_the_canary_set_waits_the_delay_from_when_it_first_saw_the_revision() -> (
    None
):
    rollout = Rollout(canary_percent=10, converge_delay="4h")
    name = outside_canary(10)
    seen = at("10:00")
    waiting = hold(rollout, name, Action.RELOAD, revision="abc", first_seen=seen, now=at("13:59"))
    assert waiting is not None
    assert "outside the canary set" in waiting.message
    assert "2026-12-06 14:00:00 UTC" in waiting.message
    assert not waiting.restart_pending
    assert (
        hold(rollout, name, Action.RELOAD, revision="abc", first_seen=seen, now=at("14:00")) is None
    )


def test_a_canary_host_applies_a_new_revision_at_once() -> None:
    rollout = Rollout(canary_percent=10, converge_delay="4h")
    name = inside_canary(10)
    assert (
        hold(rollout, name, Action.RESTART, revision="abc", first_seen=at("10:00"), now=at("10:00"))
        is None
    )


def test_nothing_to_do_is_never_held() -> None:
    rollout = Rollout(canary_percent=0, converge_delay="4h", maintenance_window="02:00-04:00")
    assert (
        hold(rollout, "ci-0001", Action.NONE, revision="a", first_seen=at("10:00"), now=at("10:00"))
        is None
    )


def test_first_seen_is_recorded_once_per_revision_in_the_state_folder(tmp_path: Path) -> None:
    paths = PullPaths(state_dir=tmp_path / "state", textfile_dir=tmp_path / "t")
    assert first_seen(paths, "rev-a", 100.0) == 100.0
    assert first_seen(paths, "rev-a", 500.0) == 100.0  # counted from the first sight
    assert first_seen(paths, "rev-b", 600.0) == 600.0
    assert first_seen(paths, "rev-a", 700.0) == 100.0
    assert (paths.seen_file.stat().st_mode & 0o777) == 0o600
    for n in range(SEEN_KEPT + 5):
        first_seen(paths, f"rev-{n}", 1000.0 + n)
    assert first_seen(paths, f"rev-{SEEN_KEPT + 4}", 9999.0) == 1000.0 + SEEN_KEPT + 4
    assert first_seen(paths, "rev-a", 9999.0) == 9999.0  # the oldest are forgotten


def test_a_restart_outside_the_maintenance_window_is_deferred_and_pending() -> None:
    rollout = Rollout(maintenance_window="02:00-04:00")
    late = hold(rollout, "ci-1", Action.RESTART, revision="a", first_seen=0, now=at("12:00"))
    assert late is not None and late.restart_pending
    assert "02:00-04:00" in late.message
    inside = hold(rollout, "ci-1", Action.RESTART, revision="a", first_seen=0, now=at("03:00"))
    assert inside is None


@pytest.mark.parametrize("action", [Action.RELOAD, Action.WRITE])
def test_a_reload_only_change_applies_outside_the_maintenance_window(action: Action) -> None:
    rollout = Rollout(maintenance_window="02:00-04:00")
    assert hold(rollout, "ci-1", action, revision="a", first_seen=0, now=at("12:00")) is None


def test_a_maintenance_window_may_span_midnight() -> None:
    assert in_window("23:00-01:00", at("23:30"))
    assert in_window("23:00-01:00", at("00:59"))
    assert not in_window("23:00-01:00", at("01:00"))
    assert not in_window("23:00-01:00", at("22:59"))
    assert in_window("02:00-04:00", at("02:00"))
    assert not in_window("02:00-04:00", at("04:00"))


@pytest.mark.parametrize("window", ["2-4", "02:00", "25:00-01:00", "02:00-02:00", "02:00-04:60"])
def test_a_malformed_maintenance_window_is_an_error_that_shows_the_format(window: str) -> None:
    with pytest.raises(ValidationError, match="02:00-04:00"):
        Rollout(maintenance_window=window)


@pytest.mark.parametrize("percent", [-1, 101])
def test_canary_percent_is_between_0_and_100(percent: int) -> None:
    with pytest.raises(ValidationError):
        Rollout(canary_percent=percent)
