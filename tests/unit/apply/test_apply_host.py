"""Applying one host, step by step, against a FakeDockerHost: every branch,
every fault, and the files on the host afterwards."""

from __future__ import annotations

import json
import os
from pathlib import Path

from fleetcfg.apply.report import HostStatus
from fleetcfg.apply.rollout import ApplyOptions
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.host.state import (
    ENGINE_RECORD_PATH,
    LOCK_DIR,
    LOCK_OWNER_PATH,
    STATE_PATH,
    LockOwner,
)
from fleetcfg.host.transport.base import CommandResult
from fleetcfg.plan.model import Action
from tests.fakes.dockerhost import DAEMON_JSON
from tests.fakes.transport import FakeTransport
from tests.unit.apply.helpers import (
    OLD,
    RELOADABLE,
    RESTARTING,
    Setup,
    backups_of,
    canonical,
    daemon_json,
    inventory_text,
    leftovers,
    locked,
    setup,
    state_of,
)


def steps(report_result: object) -> list[tuple[str, str]]:
    return [(s.step, s.status.value) for s in report_result.steps]  # type: ignore[attr-defined]


# -- the happy paths ------------------------------------------------------------


def test_restart_writes_the_target_restarts_and_passes_the_health_gate(tmp_path: Path) -> None:
    s = setup(tmp_path)
    plan = s.plan()
    assert plan.hosts[0].action is Action.RESTART
    report = s.apply(plan)
    host = s.hosts["web-01"]
    result = report.results[0]
    assert report.exit_code == ExitCode.OK, result.reason
    assert result.status is HostStatus.CHANGED
    assert [name for name, _ in steps(result)] == [
        "lock",
        "recheck",
        "validate-model",
        "upload",
        "validate",
        "backup",
        "replace",
        "state",
        "restart",
        "health",
        "unlock",
    ]
    assert daemon_json(host) == RESTARTING
    assert host.file(DAEMON_JSON).mode == 0o644  # type: ignore[union-attr]
    assert host.restarts == 1 and host.resets_failed == 1
    assert host.running_config == RESTARTING
    assert not locked(host) and not leftovers(host)
    [backup] = backups_of(host)
    assert host.content(backup) == canonical(OLD)
    record = state_of(host).files[DAEMON_JSON]
    assert record.sha256 == plan.hosts[0].files[0].target_sha256
    assert record.written_by == "tester@ctl" and record.plan_id == plan.plan_id
    assert [b.name for b in record.backups] == [backup.rsplit("/", 1)[1]]
    assert host.file(STATE_PATH).mode == 0o600  # type: ignore[union-attr]


def test_apply_records_the_engine_version_so_that_plans_start_no_dockerd(
    tmp_path: Path,
) -> None:
    s = setup(tmp_path)
    host = s.hosts["web-01"]
    s.apply(s.plan())
    assert host.file(ENGINE_RECORD_PATH).mode == 0o600  # type: ignore[union-attr]
    runs = host.version_runs
    assert s.plan().hosts[0].facts.engine_version == "26.1.5"
    assert host.version_runs == runs
    host.engine_text = "27.0.1"  # an upgrade: another binary
    assert s.plan().hosts[0].facts.engine_version == "27.0.1"
    assert host.version_runs == runs + 1


def test_reset_failed_runs_before_the_restart(tmp_path: Path) -> None:
    s = setup(tmp_path)
    s.apply(s.plan())
    argvs = s.hosts["web-01"].argvs
    reset = argvs.index(("systemctl", "reset-failed", "docker"))
    assert argvs[reset + 1] == ("systemctl", "restart", "docker")


def test_reload_when_only_reloadable_keys_change(tmp_path: Path) -> None:
    s = setup(tmp_path, target=RELOADABLE)
    plan = s.plan()
    assert plan.hosts[0].action is Action.RELOAD
    report = s.apply(plan)
    host = s.hosts["web-01"]
    assert report.exit_code == ExitCode.OK, report.results[0].reason
    assert host.reloads == 1 and host.restarts == 0
    assert host.running_config == RELOADABLE
    health = next(x for x in report.results[0].steps if x.step == "health")
    assert "dockerd reloaded the file" in health.detail


def test_a_new_daemon_json_is_recorded_as_absent_before(tmp_path: Path) -> None:
    s = setup(tmp_path, live=None)
    report = s.apply(s.plan())
    host = s.hosts["web-01"]
    assert report.exit_code == ExitCode.OK, report.results[0].reason
    assert daemon_json(host) == RESTARTING
    assert backups_of(host) == []
    [backup] = state_of(host).files[DAEMON_JSON].backups
    assert backup.absent


def test_nothing_to_do_touches_no_host(tmp_path: Path) -> None:
    s = setup(tmp_path, target=OLD)
    report = s.apply(s.plan())
    assert report.exit_code == ExitCode.OK
    assert report.results[0].status is HostStatus.UNCHANGED
    assert s.connects == []


def test_validate_repeats_the_units_flags_and_drops_config_file(tmp_path: Path) -> None:
    s = setup(
        tmp_path,
        exec_start=(
            "/usr/bin/dockerd",
            "-H",
            "fd://",
            "--containerd=/run/containerd/containerd.sock",
        ),
    )
    s.apply(s.plan())
    [validate] = [a for a in s.hosts["web-01"].argvs if "--validate" in a]
    assert validate[3].startswith("/etc/docker/.daemon.json.fleetcfg-")
    assert validate[:3] + validate[4:] == (
        "dockerd",
        "--validate",
        "--config-file",
        "-H",
        "fd://",
        "--containerd=/run/containerd/containerd.sock",
    )


def test_engines_without_validate_rely_on_the_model(tmp_path: Path) -> None:
    s = setup(tmp_path, engine="20.10.24")
    report = s.apply(s.plan())
    result = report.results[0]
    assert report.exit_code == ExitCode.OK, result.reason
    validate = next(x for x in result.steps if x.step == "validate")
    assert validate.status.value == "skipped" and "has no --validate" in validate.detail
    assert not any("--validate" in a for a in s.hosts["web-01"].argvs)


def test_old_backups_beyond_the_retention_count_are_deleted(tmp_path: Path) -> None:
    s = setup(tmp_path, target=RESTARTING)
    for round_ in range(12):
        target = {**OLD, "log-level": "warn" if round_ % 2 == 0 else "info"}
        s.set_profile(target)
        report = s.apply(s.plan())
        assert report.exit_code == ExitCode.OK, report.results[0].reason
    host = s.hosts["web-01"]
    record = state_of(host).files[DAEMON_JSON]
    assert len(record.backups) == 10
    assert [p.rsplit("/", 1)[1] for p in backups_of(host)] == [b.name for b in record.backups]


def test_a_client_config_is_written_for_its_user_without_touching_dockerd(
    tmp_path: Path,
) -> None:
    inventory = """\
defaults:
  daemon_profile: base
  client_profile: client
  client_users: [alice]
  engine_version: "26.1"
hosts:
  web-01: {address: 10.0.0.1}
"""
    s = setup(
        tmp_path,
        target=OLD,
        inventory=inventory,
        profiles={"client.json": json.dumps({"detachKeys": "ctrl-x,x"})},
    )
    host = s.hosts["web-01"]
    host.add_user("alice")
    plan = s.plan()
    assert plan.hosts[0].action is Action.WRITE
    report = s.apply(plan)
    assert report.exit_code == ExitCode.OK, report.results[0].reason
    written = host.file("/home/alice/.docker/config.json")
    assert written is not None
    assert json.loads(written.content) == {"detachKeys": "ctrl-x,x"}
    assert (written.mode, written.owner, written.group) == (0o600, "alice", "alice")
    assert host.dir_meta["/home/alice/.docker"] == (0o700, "alice", "alice")
    assert host.restarts == 0 and host.reloads == 0
    assert ("service", "skipped") in steps(report.results[0])


# -- refusals -----------------------------------------------------------------------


def test_a_host_changed_since_the_plan_is_refused_as_stale(tmp_path: Path) -> None:
    s = setup(tmp_path)
    plan = s.plan()
    host = s.hosts["web-01"]
    host.add_file(DAEMON_JSON, canonical({**OLD, "debug": True}))
    report = s.apply(plan)
    result = report.results[0]
    assert report.exit_code == ExitCode.STALE
    assert result.status is HostStatus.STALE
    assert "/etc/docker/daemon.json changed since the plan" in result.reason
    assert "run fleetcfg plan again" in result.reason
    assert daemon_json(host) == {**OLD, "debug": True}
    assert host.restarts == 0 and not locked(host) and backups_of(host) == []


def test_a_target_edited_since_the_plan_is_refused_as_stale(tmp_path: Path) -> None:
    s = setup(tmp_path)
    plan = s.plan()
    s.set_profile({**OLD, "log-level": "error"})
    report = s.apply(plan)
    result = report.results[0]
    assert result.status is HostStatus.STALE
    assert "rendered from the inventory changed since the plan" in result.reason
    assert daemon_json(s.hosts["web-01"]) == OLD and not locked(s.hosts["web-01"])


def other_owner(**changes: object) -> LockOwner:
    base = {
        "run_id": "abc123",
        "user": "bob",
        "control_host": "ci-runner-7",
        "pid": 77,
        "command": "apply",
        "started_at": "2024-05-07T10:00:00.000000Z",
    }
    base.update(changes)
    return LockOwner(**base)  # type: ignore[arg-type]


def test_a_held_lock_refuses_the_host_and_names_the_holder(tmp_path: Path) -> None:
    s = setup(tmp_path)
    host = s.hosts["web-01"]
    host.add_dir(LOCK_DIR)
    host.add_file(LOCK_OWNER_PATH, other_owner().to_bytes())
    report = s.apply(s.plan())
    result = report.results[0]
    assert report.exit_code == ExitCode.LOCKED
    assert result.status is HostStatus.LOCKED
    assert "bob@ci-runner-7 (pid 77, fleetcfg apply, run abc123" in result.reason
    assert "15m ago" in result.reason and "--break-lock" in result.reason
    assert daemon_json(host) == OLD
    assert LockOwner.from_bytes(host.content(LOCK_OWNER_PATH) or b"") == other_owner()


def test_a_lock_left_by_a_dead_process_on_this_machine_is_called_stale(tmp_path: Path) -> None:
    s = setup(tmp_path)
    host = s.hosts["web-01"]
    host.add_dir(LOCK_DIR)
    host.add_file(LOCK_OWNER_PATH, other_owner(control_host="ctl", pid=999_999_99).to_bytes())
    result = s.apply(s.plan()).results[0]
    assert result.status is HostStatus.LOCKED
    assert "that process is gone from this machine, so the lock is stale" in result.reason
    assert locked(host)


def test_a_lock_without_an_owner_is_reported(tmp_path: Path) -> None:
    s = setup(tmp_path)
    s.hosts["web-01"].add_dir(LOCK_DIR)
    result = s.apply(s.plan()).results[0]
    assert result.status is HostStatus.LOCKED
    assert "recorded no owner" in result.reason


def test_break_lock_takes_over_a_held_lock(tmp_path: Path) -> None:
    s = setup(tmp_path)
    host = s.hosts["web-01"]
    host.add_dir(LOCK_DIR)
    host.add_file(LOCK_OWNER_PATH, other_owner().to_bytes())
    stale = host.file(LOCK_OWNER_PATH)
    assert stale is not None
    stale.mtime = host.now() - 15 * 60  # its last heartbeat, 15 minutes ago
    options = s.options()
    options = type(options)(rollout=options.rollout, forks=4, break_lock=True)
    report = s.apply(s.plan(), options=options)
    result = report.results[0]
    assert report.exit_code == ExitCode.OK, result.reason
    broke = next(x for x in result.steps if x.step == "break-lock")
    assert "bob@ci-runner-7" in broke.detail
    assert daemon_json(host) == RESTARTING and not locked(host)


def break_lock_options(s: Setup) -> ApplyOptions:
    options = s.options()
    return ApplyOptions(rollout=options.rollout, forks=4, break_lock=True)


def test_break_lock_refuses_a_lock_whose_heartbeat_is_fresh(tmp_path: Path) -> None:
    s = setup(tmp_path)
    host = s.hosts["web-01"]
    host.add_dir(LOCK_DIR)
    host.add_file(LOCK_OWNER_PATH, other_owner().to_bytes())
    report = s.apply(s.plan(), options=break_lock_options(s))
    result = report.results[0]
    assert report.exit_code == ExitCode.LOCKED
    assert "--break-lock refused" in result.reason and "bob@ci-runner-7" in result.reason
    assert "heartbeat is 0s old" in result.reason
    assert LockOwner.from_bytes(host.content(LOCK_OWNER_PATH) or b"") == other_owner()
    assert daemon_json(host) == OLD


def test_break_lock_refuses_a_lock_whose_process_runs_on_this_machine(tmp_path: Path) -> None:
    s = setup(tmp_path)
    host = s.hosts["web-01"]
    host.add_dir(LOCK_DIR)
    alive = other_owner(control_host="ctl", pid=os.getpid())
    host.add_file(LOCK_OWNER_PATH, alive.to_bytes())
    stale = host.file(LOCK_OWNER_PATH)
    assert stale is not None
    stale.mtime = host.now() - 3600  # an old heartbeat does not matter: it runs
    result = s.apply(s.plan(), options=break_lock_options(s)).results[0]
    assert result.status is HostStatus.LOCKED
    assert f"its process {os.getpid()} runs on this machine" in result.reason
    assert LockOwner.from_bytes(host.content(LOCK_OWNER_PATH) or b"") == alive


def test_unlock_leaves_a_lock_another_run_took_over(tmp_path: Path) -> None:
    s = setup(tmp_path, target=RELOADABLE)
    host = s.hosts["web-01"]
    other = other_owner(token="theirs")

    def take_over(argv: tuple[str, ...], stdin: bytes | None, fake: FakeTransport) -> CommandResult:
        host.add_file(LOCK_OWNER_PATH, other.to_bytes())  # another run broke ours
        return host._systemctl(argv, stdin, fake)

    host.on(["systemctl", "reload", "docker"], take_over)
    result = s.apply(s.plan()).results[0]
    assert result.status is HostStatus.CHANGED, result.reason
    unlock = next(x for x in result.steps if x.step == "unlock")
    assert unlock.status.value == "failed" and "another run broke" in unlock.detail
    assert locked(host)
    assert LockOwner.from_bytes(host.content(LOCK_OWNER_PATH) or b"") == other


# -- validation failures: nothing written ------------------------------------------


def test_validate_failing_on_the_host_writes_nothing(tmp_path: Path) -> None:
    s = setup(
        tmp_path,
        validator=lambda content, path: (
            f"unable to configure the Docker daemon with file {path}: bad log-level"
            if b"log-level" in content
            else None
        ),
    )
    report = s.apply(s.plan())
    host = s.hosts["web-01"]
    result = report.results[0]
    assert report.exit_code == ExitCode.ERROR
    assert result.status is HostStatus.FAILED and result.nothing_written
    assert not result.rolled_back
    assert "dockerd --validate rejects the new /etc/docker/daemon.json" in result.reason
    assert "with file /etc/docker/daemon.json: bad log-level" in result.reason
    assert daemon_json(host) == OLD
    assert host.restarts == 0 and backups_of(host) == [] and not leftovers(host)
    assert not locked(host) and host.content(STATE_PATH) is None


def test_a_plan_forced_through_for_a_host_the_planner_refuses_is_stale(
    tmp_path: Path,
) -> None:
    s = setup(tmp_path, target={**OLD, "hosts": ["unix:///var/run/docker.sock"]})
    plan = s.plan()
    # the planner refuses this (a flag conflict); a plan file edited to force
    # it through is refused too: apply plans the host again from its facts
    host_plan = plan.hosts[0].model_copy(update={"action": Action.RESTART, "errors": []})
    plan = plan.model_copy(update={"hosts": [host_plan]})
    result = s.apply(plan).results[0]
    assert result.status is HostStatus.STALE and result.nothing_written
    assert "the action is now error (the plan says restart)" in result.reason
    assert daemon_json(s.hosts["web-01"]) == OLD
    assert s.hosts["web-01"].restarts == 0


def test_a_rule_the_inventory_disables_does_not_stop_apply_either(tmp_path: Path) -> None:
    # FC009: the default runtime is not defined; the repo turned the rule off,
    # so the plan reloads and apply must not refuse what the plan accepted
    # (the host's dockerd is the judge: it starts or apply rolls back)
    inventory = inventory_text(["web-01"]).replace("hosts:", "lint:\n  disable: [FC009]\nhosts:")
    s = setup(tmp_path, target={**OLD, "default-runtime": "crun"}, inventory=inventory)
    plan = s.plan()
    assert plan.hosts[0].action is Action.RELOAD, plan.hosts[0].errors
    assert plan.hosts[0].lint_disabled == ["FC009"]
    result = s.apply(plan).results[0]
    validate = next(x for x in result.steps if x.step == "validate-model")
    assert validate.status.value == "ok", validate.detail
    assert daemon_json(s.hosts["web-01"]) == {**OLD, "default-runtime": "crun"}


def test_a_plan_claiming_another_engine_than_the_host_runs_is_stale(
    tmp_path: Path,
) -> None:
    s = setup(tmp_path, target={**OLD, "bip6": "fd00:1::1/64"}, engine="28.5.0")
    plan = s.plan()
    host_plan = plan.hosts[0]
    assert host_plan.action is Action.RESTART, host_plan.errors
    # the plan file says the host runs 26.1; apply validates for the Engine
    # the host reports now, and refuses the plan that disagrees
    facts = host_plan.facts.model_copy(update={"engine_version": "26.1.5"})
    plan = plan.model_copy(update={"hosts": [host_plan.model_copy(update={"facts": facts})]})
    result = s.apply(plan).results[0]
    assert result.status is HostStatus.STALE and result.nothing_written
    assert "the host runs Engine 28.5 (the plan says 26.1.5)" in result.reason
    assert daemon_json(s.hosts["web-01"]) == OLD and not locked(s.hosts["web-01"])
