"""Whether the running dockerd loaded the daemon.json on disk
(:mod:`fleetcfg.plan.running`), from the facts alone."""

from __future__ import annotations

from fleetcfg.host.state import FileRecord, HostState, Pending
from fleetcfg.plan.facts_model import DAEMON_JSON, Facts, FileFacts, UnitFacts
from fleetcfg.plan.running import unloaded_reason

STARTED = 1_700_000_000
SHA = "ab" * 32


def facts(
    *, mtime: int, state: HostState | None = None, active: str = "active", sha: str = SHA
) -> Facts:
    unit = UnitFacts(load_state="loaded", active_state=active, started=STARTED)
    file = FileFacts(DAEMON_JSON, True, b"{}\n", sha, 0o644, "root", "root", mtime=mtime)
    return Facts(host="web-01", daemon_json=file, unit=unit, state=state or HostState())


def written(sha: str) -> HostState:
    record = FileRecord(DAEMON_JSON, "daemon", None, sha, "", "alice@ctl", "r1", None, "apply")
    return HostState(files={DAEMON_JSON: record})


def test_a_file_older_than_the_daemon_is_what_it_loaded() -> None:
    assert unloaded_reason(facts(mtime=STARTED - 60)) is None


def test_a_file_changed_in_the_second_the_daemon_started_counts_as_loaded() -> None:
    assert unloaded_reason(facts(mtime=STARTED)) is None


def test_a_file_changed_after_the_start_on_a_host_without_state_is_not_loaded() -> None:
    why = unloaded_reason(facts(mtime=STARTED + 5))
    assert why is not None
    assert "newer than what the running dockerd loaded" in why
    assert "fleetcfg has no record of it" in why and "2023-11-14 22:13:20 UTC" in why


def test_a_file_fleetcfg_wrote_and_saw_healthy_after_a_reload_is_loaded() -> None:
    assert unloaded_reason(facts(mtime=STARTED + 5, state=written(SHA))) is None


def test_a_hand_edit_after_fleetcfgs_reload_is_not_loaded() -> None:
    why = unloaded_reason(facts(mtime=STARTED + 5, state=written("cd" * 32)))
    assert why is not None and "fleetcfg last wrote sha256 cdcdcdcdcdcd" in why


def test_a_pending_mark_means_fleetcfg_never_saw_the_daemon_healthy_with_it() -> None:
    mark = Pending("r2", "apply", "reload", "", "alice@ctl", {DAEMON_JSON: SHA})
    state = written(SHA).with_pending(mark)
    assert unloaded_reason(facts(mtime=STARTED + 5, state=state)) is not None


def test_a_daemon_that_does_not_run_has_loaded_nothing() -> None:
    assert unloaded_reason(facts(mtime=STARTED + 5, active="failed")) is None
