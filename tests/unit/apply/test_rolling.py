"""Rolling batches: order, canary, wider reload batches, halting, Ctrl-C,
pauses, and the exit codes of the whole run."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import NoReturn

import pytest
from pydantic import ValidationError

from fleetcfg.apply.batches import make_batches, order_hosts, resolve_rollout
from fleetcfg.apply.report import HostResult, HostStatus, exit_code
from fleetcfg.apply.rollout import ApplyEvent
from fleetcfg.core.errors import ConnectCancelled
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.host.state import LOCK_DIR
from fleetcfg.inventory.model import Rollout
from fleetcfg.plan.model import Action, HostPlan
from tests.fakes.dockerhost import DAEMON_JSON
from tests.unit.apply.helpers import OLD, RESTARTING, canonical, daemon_json, setup


def hp(name: str, action: Action = Action.RESTART, groups: tuple[str, ...] = ()) -> HostPlan:
    return HostPlan(host=name, action=action, groups=list(groups))


def names(batches: list) -> list[list[str]]:  # type: ignore[type-arg]
    return [b.names for b in batches]


# -- pure batching ---------------------------------------------------------------


def test_the_canary_goes_alone_then_batches_of_the_batch_size() -> None:
    hosts = [hp(f"h{i}") for i in range(1, 8)]
    batches = make_batches(hosts, Rollout(batch_size=3, canary=1))
    assert names(batches) == [["h1"], ["h2", "h3", "h4"], ["h5", "h6", "h7"]]
    assert batches[0].canary and not batches[1].canary


def test_a_percentage_batch_size_counts_the_hosts_that_change() -> None:
    hosts = [hp(f"h{i}") for i in range(1, 9)] + [hp("same", Action.NONE)]
    batches = make_batches(hosts, Rollout(batch_size="25%", canary=0))
    assert names(batches) == [["h1", "h2"], ["h3", "h4"], ["h5", "h6"], ["h7", "h8"]]


def test_reload_only_hosts_go_in_twice_as_wide_batches() -> None:
    hosts = [hp(f"r{i}", Action.RELOAD) for i in range(1, 6)] + [hp("s1"), hp("s2")]
    batches = make_batches(hosts, Rollout(batch_size=2, canary=0))
    assert names(batches) == [["r1", "r2", "r3", "r4"], ["r5", "s1"], ["s2"]]


def test_write_only_hosts_that_recreate_a_builder_count_as_whole_hosts() -> None:
    builds = [HostPlan(host=f"b{i}", action=Action.WRITE, recreate_builder=True) for i in (1, 2)]
    hosts = [*builds, hp("w1", Action.WRITE), hp("w2", Action.WRITE)]
    batches = make_batches(hosts, Rollout(batch_size=1, canary=0))
    assert names(batches) == [["b1"], ["b2"], ["w1", "w2"]]


def test_the_canary_is_the_first_host_with_the_riskiest_action() -> None:
    hosts = [hp("a", Action.RELOAD), hp("b", Action.WRITE), hp("c"), hp("d")]
    batches = make_batches(hosts, Rollout(batch_size=10, canary=1))
    assert names(batches) == [["c"], ["a", "b", "d"]]


def test_hosts_roll_out_group_by_group_in_inventory_order() -> None:
    hosts = [
        hp("us-1", groups=("prod", "prod-us")),
        hp("eu-1", groups=("prod", "prod-eu")),
        hp("ci-1", groups=("ci",)),
        hp("lonely"),
        hp("eu-2", groups=("prod-eu",)),
    ]
    ordered = order_hosts(hosts, ["ci", "prod-eu", "prod-us", "prod"])
    assert [h.host for h in ordered] == ["ci-1", "eu-1", "eu-2", "us-1", "lonely"]


def test_hosts_with_errors_or_nothing_to_do_are_not_batched() -> None:
    hosts = [hp("a", Action.NONE), hp("b", Action.ERROR), hp("c")]
    assert names(make_batches(hosts, Rollout(canary=0))) == [["c"]]


def test_command_line_rollout_values_are_validated_like_the_inventory() -> None:
    rollout = resolve_rollout(Rollout(), batch_size="30%", max_failures="2", pause="1m")
    assert (rollout.batch_size, rollout.max_failures, rollout.pause) == ("30%", 2, 60.0)
    with pytest.raises(ValidationError):
        resolve_rollout(Rollout(), batch_size="0")


def test_exit_codes_name_the_worst_outcome() -> None:
    def r(status: HostStatus) -> HostResult:
        return HostResult("h", Action.RESTART, status)

    ok = [r(HostStatus.CHANGED), r(HostStatus.UNCHANGED)]
    assert exit_code(ok, halted=False, interrupted=False) == ExitCode.OK
    assert exit_code([*ok, r(HostStatus.STALE)], halted=False, interrupted=False) == ExitCode.STALE
    locked = [r(HostStatus.LOCKED), r(HostStatus.STALE)]
    assert exit_code(locked, halted=True, interrupted=False) == ExitCode.LOCKED
    assert exit_code(ok, halted=False, interrupted=True) == ExitCode.INTERRUPTED
    assert exit_code([r(HostStatus.FAILED)], halted=True, interrupted=True) == ExitCode.ERROR
    assert exit_code([r(HostStatus.SKIPPED)], halted=False, interrupted=False) == ExitCode.ERROR


# -- the rollout against fake hosts ---------------------------------------------------


NAMES = ["web-01", "web-02", "web-03", "web-04", "web-05"]


def test_a_failed_host_halts_the_rollout_and_later_hosts_are_never_touched(
    tmp_path: Path,
) -> None:
    s = setup(tmp_path, NAMES)
    s.hosts["web-02"].fail_restarts = 1  # batch 2 (web-02, web-03)
    plan = s.plan()
    planned = {n: len(h.commands) for n, h in s.hosts.items()}
    report = s.apply(plan)
    status = {r.host: r.status for r in report.results}
    assert report.exit_code == ExitCode.ERROR and report.halted
    assert status == {
        "web-01": HostStatus.CHANGED,
        "web-02": HostStatus.FAILED,
        "web-03": HostStatus.CHANGED,
        "web-04": HostStatus.NOT_REACHED,
        "web-05": HostStatus.NOT_REACHED,
    }
    assert "halted after 1 failed host (--max-failures 0): web-02" in report.halt_reason
    assert report.result("web-04").reason == report.halt_reason
    for name in ("web-04", "web-05"):
        host = s.hosts[name]
        assert name not in s.connects
        assert daemon_json(host) == OLD and host.restarts == 0
        assert len(host.commands) == planned[name]
    assert daemon_json(s.hosts["web-02"]) == OLD
    assert [e.message for e in s.events if e.kind == "halt"] == [report.halt_reason]


def test_max_failures_tolerates_that_many_failed_hosts(tmp_path: Path) -> None:
    s = setup(tmp_path, NAMES)
    s.hosts["web-02"].fail_restarts = 1
    report = s.apply(s.plan(), options=s.options(max_failures=1))
    assert not report.halted
    assert [r.status for r in report.results].count(HostStatus.CHANGED) == 4
    assert report.exit_code == ExitCode.ERROR
    assert "1 failed (1 rolled back)" in report.summary_line()


def test_a_stale_host_is_refused_but_does_not_halt_the_rollout(tmp_path: Path) -> None:
    s = setup(tmp_path, NAMES)
    plan = s.plan()
    s.hosts["web-02"].add_file(DAEMON_JSON, canonical({**OLD, "debug": True}))
    report = s.apply(plan)
    assert report.result("web-02").status is HostStatus.STALE
    assert not report.halted and report.exit_code == ExitCode.STALE
    assert all(daemon_json(s.hosts[n]) == RESTARTING for n in NAMES if n != "web-02")


def test_a_second_run_holding_the_lock_halts_this_one(tmp_path: Path) -> None:
    s = setup(tmp_path, NAMES)
    s.hosts["web-01"].add_dir(LOCK_DIR)
    report = s.apply(s.plan())
    assert report.result("web-01").status is HostStatus.LOCKED
    assert report.halted and report.exit_code == ExitCode.LOCKED
    assert all(report.result(n).status is HostStatus.NOT_REACHED for n in NAMES[1:])
    assert all(daemon_json(s.hosts[n]) == OLD for n in NAMES)


def test_ctrl_c_lets_the_running_batch_finish_and_starts_no_other(tmp_path: Path) -> None:
    s = setup(tmp_path, NAMES)
    cancel = threading.Event()

    def interrupt_after_first_host(event: ApplyEvent) -> None:
        s.events.append(event)
        if event.kind == "host":
            cancel.set()

    report = s.apply(s.plan(), cancel=cancel, on_event=interrupt_after_first_host)
    assert report.interrupted and report.exit_code == ExitCode.INTERRUPTED
    assert report.result("web-01").status is HostStatus.CHANGED
    assert all(report.result(n).status is HostStatus.NOT_REACHED for n in NAMES[1:])
    assert report.result("web-02").reason == "interrupted before its turn"
    assert all(daemon_json(s.hosts[n]) == OLD for n in NAMES[1:])


def test_ctrl_c_between_two_batches_stops_like_the_first_ctrl_c_and_says_so(
    tmp_path: Path,
) -> None:
    s = setup(tmp_path, NAMES)
    batches = 0

    def ctrl_c_at_the_second_batch(event: ApplyEvent) -> None:
        nonlocal batches
        s.events.append(event)
        if event.kind == "batch":
            batches += 1
            if batches == 2:
                raise KeyboardInterrupt

    report = s.apply(s.plan(), on_event=ctrl_c_at_the_second_batch)
    assert report.interrupted and report.exit_code == ExitCode.INTERRUPTED
    assert report.result("web-01").status is HostStatus.CHANGED
    assert all(report.result(n).status is HostStatus.NOT_REACHED for n in NAMES[1:])
    [said] = [e.message for e in s.events if e.kind == "interrupt"]
    assert said == "stopping: no host is in flight; Ctrl-C again to abort"
    assert [e for e in s.journal.entries if e["event"] == "interrupt"]


class _CancelledWhileConnecting:
    """A host whose connection is still being opened when Ctrl-C comes: the
    connector cancels it (``SshConnector.cancel_opening``)."""

    runs_as = None  # known without connecting (the inventory's settings)

    def __init__(self, host: str, cancel: threading.Event) -> None:
        self.host = host
        self.cancel = cancel

    def _connect(self, *args: object, **kwargs: object) -> NoReturn:
        self.cancel.set()
        raise ConnectCancelled(f"connecting to {self.host} was cancelled", host=self.host)

    run = run_many = read_file = write_file = _connect

    def close(self) -> None:
        pass


def test_a_host_whose_connection_is_cancelled_is_not_reached_and_left_alone(
    tmp_path: Path,
) -> None:
    s = setup(tmp_path, NAMES)
    cancel = threading.Event()
    connect = s.connect

    def connecting(name: str) -> object:
        if name == "web-02":
            return _CancelledWhileConnecting(name, cancel)
        return connect(name)

    s.connect = connecting  # type: ignore[method-assign,assignment]
    report = s.apply(s.plan(), cancel=cancel)
    assert report.interrupted and report.exit_code == ExitCode.INTERRUPTED
    assert report.result("web-01").status is HostStatus.CHANGED
    cancelled = report.result("web-02")
    assert cancelled.status is HostStatus.NOT_REACHED
    assert cancelled.reason == "interrupted"
    # nothing to recover on a host no command reached: no recovery step ran
    assert [step.step for step in cancelled.steps] == []
    assert not cancelled.lock_left
    assert all(report.result(n).status is HostStatus.NOT_REACHED for n in NAMES[3:])
    assert daemon_json(s.hosts["web-02"]) == OLD
    assert not s.hosts["web-02"].exists(LOCK_DIR)


def test_a_pause_separates_the_batches(tmp_path: Path) -> None:
    s = setup(tmp_path, NAMES[:3])
    report = s.apply(s.plan(), options=s.options(pause="10ms"))
    assert report.exit_code == ExitCode.OK
    pauses = [e for e in s.journal.entries if e["event"] == "pause"]
    assert [p["seconds"] for p in pauses] == [0.01]
    assert [e.kind for e in s.events if e.kind in ("batch", "pause")] == [
        "batch",
        "pause",
        "batch",
    ]


def test_hosts_the_plan_could_not_plan_are_skipped_and_fail_the_run(tmp_path: Path) -> None:
    s = setup(tmp_path, NAMES[:2])
    plan = s.plan()
    broken = plan.hosts[1].model_copy(
        update={"action": Action.ERROR, "errors": ["cannot connect: refused"], "unreachable": True}
    )
    plan = plan.model_copy(update={"hosts": [plan.hosts[0], broken]})
    report = s.apply(plan)
    assert report.result("web-01").status is HostStatus.CHANGED
    skipped = report.result("web-02")
    assert skipped.status is HostStatus.SKIPPED
    assert skipped.reason == "unreachable when planned: cannot connect: refused"
    assert report.exit_code == ExitCode.ERROR
    assert "web-02" not in s.connects


def test_the_journal_records_every_step_of_every_host(tmp_path: Path) -> None:
    s = setup(tmp_path, NAMES[:2])
    report = s.apply(s.plan())
    entries = s.journal.entries
    assert {e["run"] for e in entries} == {report.run_id}
    assert entries[0]["event"] == "run-start" and entries[-1]["event"] == "run-end"
    assert entries[-1]["exit_code"] == ExitCode.OK
    for name in NAMES[:2]:
        steps = [e["step"] for e in entries if e["event"] == "step" and e["host"] == name]
        assert steps[0] == "lock" and steps[-1] == "unlock" and "restart" in steps
        [end] = [e for e in entries if e["event"] == "host-end" and e["host"] == name]
        assert end["status"] == "changed"
