"""map_hosts: bounded, ordered, errors per host, cancellable."""

from __future__ import annotations

import signal
import sys
import threading
from dataclasses import dataclass

import pytest

from fleetcfg.core.errors import ConnectCancelled, ConnectError, InternalError, UsageError
from fleetcfg.core.parallel import (
    CancelEvent,
    Outcome,
    default_forks,
    idle_connections_budget,
    map_hosts,
)
from tests.fleet import wait_until


@dataclass(frozen=True)
class Host:
    host: str


HOSTS = [Host(f"web{i}") for i in range(12)]


def test_results_come_back_in_input_order() -> None:
    outcomes = map_hosts(HOSTS, lambda h: h.host.upper(), forks=4)
    assert [o.item for o in outcomes] == HOSTS
    assert [o.value for o in outcomes] == [h.host.upper() for h in HOSTS]
    assert all(o.ok for o in outcomes)


def test_never_more_than_forks_run_at_once() -> None:
    lock = threading.Lock()
    running = 0
    peak = 0
    release = threading.Event()
    three_started = threading.Barrier(3 + 1)

    def work(host: Host) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        if host in HOSTS[:3]:
            three_started.wait()
        release.wait()
        with lock:
            running -= 1

    thread = threading.Thread(target=lambda: map_hosts(HOSTS, work, forks=3))
    thread.start()
    three_started.wait()  # the first three are running and blocked
    release.set()
    thread.join()
    assert peak == 3


def test_a_host_error_is_returned_not_raised_and_others_still_run() -> None:
    def work(host: Host) -> str:
        if host.host == "web3":
            raise ConnectError("connection refused", host="web3")
        return "ok"

    outcomes = map_hosts(HOSTS, work, forks=2)
    failed = [o for o in outcomes if not o.ok]
    assert [o.item.host for o in failed] == ["web3"]
    assert isinstance(failed[0].error, ConnectError)
    assert sum(o.value == "ok" for o in outcomes) == 11


def test_errors_without_a_host_get_the_items_name() -> None:
    def work(host: Host) -> None:
        raise ConnectError("refused")

    (outcome,) = map_hosts([Host("db1")], work)
    assert outcome.error is not None and outcome.error.host == "db1"


def test_unexpected_exceptions_are_wrapped_with_the_host_and_cause() -> None:
    def work(host: Host) -> None:
        raise KeyError("boom")

    (outcome,) = map_hosts([Host("db1")], work)
    assert isinstance(outcome.error, InternalError)
    assert outcome.error.host == "db1"
    assert "KeyError" in str(outcome.error)
    assert isinstance(outcome.error.__cause__, KeyError)


def test_progress_is_reported_as_each_host_finishes_in_the_calling_thread() -> None:
    seen: list[tuple[str, str]] = []
    caller = threading.current_thread().name

    def on_done(outcome: Outcome[Host, str]) -> None:
        seen.append((outcome.item.host, threading.current_thread().name))

    map_hosts(HOSTS, lambda h: h.host, forks=5, on_done=on_done)
    assert sorted(h for h, _ in seen) == sorted(h.host for h in HOSTS)
    assert {t for _, t in seen} == {caller}


def test_a_set_cancel_event_stops_scheduling_new_hosts() -> None:
    cancel = threading.Event()
    started: list[str] = []

    def work(host: Host) -> None:
        started.append(host.host)
        if host.host == "web1":
            cancel.set()

    outcomes = map_hosts(HOSTS, work, forks=1, cancel=cancel)
    assert started == ["web0", "web1"]
    assert [o.cancelled for o in outcomes] == [False, False] + [True] * 10
    assert not outcomes[5].ok


def test_ctrl_c_lets_running_hosts_finish_and_cancels_the_rest() -> None:
    cancel = threading.Event()
    finished: list[str] = []

    def work(host: Host) -> str:
        finished.append(host.host)
        return host.host

    def on_done(outcome: Outcome[Host, str]) -> None:
        if outcome.item.host == "web0":
            raise KeyboardInterrupt

    outcomes = map_hosts(HOSTS, work, forks=2, on_done=on_done, cancel=cancel)
    assert cancel.is_set()
    assert outcomes[0].ok
    done = [o for o in outcomes if not o.cancelled]
    assert {o.item.host for o in done} == set(finished)
    assert any(o.cancelled for o in outcomes)


def test_the_first_ctrl_c_is_announced_at_once_with_the_hosts_in_flight() -> None:
    told: list[int] = []

    def on_done(outcome: Outcome[Host, str]) -> None:
        if outcome.item.host == "web0":
            raise KeyboardInterrupt

    outcomes = map_hosts(
        HOSTS, lambda h: h.host, forks=1, on_done=on_done, on_interrupt=told.append
    )
    assert told == [0]  # forks=1: web0 had finished, nothing else was running
    assert [o.cancelled for o in outcomes] == [False] + [True] * (len(HOSTS) - 1)


def test_a_second_ctrl_c_returns_at_once_without_waiting_for_running_hosts() -> None:
    go, release = threading.Event(), threading.Event()
    presses = 0

    def work(host: Host) -> str:
        if host.host == "web1":
            go.wait(10)
        elif host.host == "web2":
            release.wait(30)  # still running when the second Ctrl-C comes
        return host.host

    def on_done(outcome: Outcome[Host, str]) -> None:
        nonlocal presses
        presses += 1
        raise KeyboardInterrupt  # web0 done: first Ctrl-C; web1 done: second

    try:
        with pytest.raises(KeyboardInterrupt):
            map_hosts(HOSTS[:3], work, forks=3, on_done=on_done, on_interrupt=lambda n: go.set())
        assert presses == 2 and not release.is_set()
    finally:
        release.set()


def test_ctrl_c_runs_the_cancel_events_callbacks_to_wake_hosts_still_connecting() -> None:
    cancel = CancelEvent()
    connecting = threading.Event()
    woken = threading.Event()
    cancel.on_set(woken.set)  # what a connector registers: close what is being opened

    def work(host: Host) -> str:
        if host.host == "web1":
            connecting.set()
            if not woken.wait(30):
                return "waited out"
            raise ConnectCancelled("connecting was cancelled", host=host.host)
        return host.host

    def on_done(outcome: Outcome[Host, str]) -> None:
        if outcome.item.host == "web0":
            connecting.wait(10)
            raise KeyboardInterrupt

    outcomes = map_hosts(HOSTS[:4], work, forks=2, on_done=on_done, cancel=cancel)
    assert woken.is_set()
    assert isinstance(outcomes[1].error, ConnectCancelled)
    assert [o.cancelled for o in outcomes] == [False, False, True, True]


def test_a_cancel_events_callbacks_run_once_and_at_once_when_it_is_already_set() -> None:
    cancel = CancelEvent()
    calls: list[str] = []
    cancel.on_set(lambda: calls.append("a"))
    forget = cancel.on_set(lambda: calls.append("forgotten"))
    forget()
    cancel.on_set(lambda: 1 / 0)  # a failing callback does not stop the others
    cancel.on_set(lambda: calls.append("b"))
    cancel.set()
    cancel.set()
    assert calls == ["a", "b"] and cancel.is_set()
    cancel.on_set(lambda: calls.append("late"))
    assert calls == ["a", "b", "late"]


def _main_thread_waits_for_hosts() -> bool:
    """The main thread waits for the next host to finish (map_hosts)."""
    frame = sys._current_frames().get(threading.main_thread().ident or 0)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "_next_done" and code.co_filename.endswith("core/parallel.py"):
            return True
        frame = frame.f_back
    return False


def test_a_ctrl_c_the_kernel_hands_to_a_worker_thread_is_seen_while_it_runs() -> None:
    # SIGINT goes to whichever thread the kernel picks: one blocked on a
    # socket, as a host waiting for an SSH banner is. The calling thread must
    # still see it while that host runs, not once it ends.
    release, running = threading.Event(), threading.Event()
    seen_while_running: list[bool] = []

    def work(host: Host) -> str:
        running.set()
        assert wait_until(_main_thread_waits_for_hosts, timeout=60)
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)
        release.wait(60)  # a generous bound: the Ctrl-C must end this first
        running.clear()
        return host.host

    def interrupted(in_flight: int) -> None:
        seen_while_running.append(running.is_set() and in_flight == 1)
        release.set()

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        outcomes = map_hosts(HOSTS[:2], work, forks=1, on_interrupt=interrupted)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen_while_running == [True]
    assert outcomes[0].ok and outcomes[1].cancelled


def test_an_empty_list_is_fine() -> None:
    assert map_hosts([], lambda h: h) == []


def test_forks_must_be_positive() -> None:
    with pytest.raises(UsageError):
        map_hosts(HOSTS, lambda h: h, forks=0)


def test_default_forks_suit_a_fleet_at_most_64() -> None:
    assert default_forks(2000, open_files=1 << 20) == 64
    assert default_forks(3, open_files=1 << 20) == 3


def test_default_forks_stay_within_the_open_files_limit() -> None:
    # 4 descriptors per host in flight, 64 kept for the rest of the run
    assert default_forks(2000, open_files=256) == 48
    assert default_forks(2000, open_files=64) == 1
    assert default_forks(2000) >= 1  # this process's own `ulimit -n`


def test_without_forks_a_small_fleet_runs_all_at_once() -> None:
    running = 0
    most = 0
    lock = threading.Lock()
    everyone = threading.Barrier(len(HOSTS), timeout=10)

    def work(h: Host) -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        everyone.wait()  # only returns when all 12 run at the same time
        with lock:
            running -= 1
        return h.host

    assert all(o.ok for o in map_hosts(HOSTS, work))
    assert most == len(HOSTS)


def test_idle_connections_kept_leave_room_for_the_hosts_in_flight() -> None:
    # ulimit -n 1024 (a common default): 64 hosts in flight at 4 descriptors
    # each and 64 reserved leave 704 for connections kept between uses
    assert idle_connections_budget(64, open_files=1024) == 704
    assert idle_connections_budget(None, open_files=1024) == 704
    assert idle_connections_budget(16, open_files=128) == 0
    assert idle_connections_budget(64, open_files=100) == 0


def test_a_ctrl_c_just_as_a_host_is_handed_to_a_worker_still_waits_for_that_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the race a loaded machine hit: the worker already runs the host (it is
    # connecting) when the Ctrl-C lands in the calling thread, before that
    # thread has recorded the host as in flight
    from concurrent.futures import ThreadPoolExecutor

    started = threading.Event()
    real_submit = ThreadPoolExecutor.submit
    interrupted: list[bool] = []

    def submit(self: ThreadPoolExecutor, *args: object, **kwargs: object) -> object:
        future: object = real_submit(self, *args, **kwargs)  # type: ignore[arg-type]
        if not interrupted:
            interrupted.append(True)
            assert started.wait(10)
            raise KeyboardInterrupt
        return future

    def run(item: int) -> int:
        started.set()
        return item * 2

    monkeypatch.setattr(ThreadPoolExecutor, "submit", submit)
    in_flight: list[int] = []
    outcomes = map_hosts([1, 2], run, forks=2, on_interrupt=in_flight.append)
    assert in_flight == [1]
    assert outcomes[0].value == 2
    assert outcomes[1].cancelled


def test_a_ctrl_c_just_after_a_finished_host_left_the_queue_does_not_hang_the_drain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the race CI hit: the Ctrl-C lands after the completion queue handed a
    # finished host to the calling thread, before it was recorded; the drain
    # then waited on the queue for a host it would never see again
    import queue as real_queue
    import types

    from fleetcfg.core import parallel

    second_started, release = threading.Event(), threading.Event()

    class Lossy(real_queue.SimpleQueue):  # type: ignore[type-arg]
        lost = False

        def get(self, block: bool = True, timeout: float | None = None) -> object:
            item = super().get(block, timeout)
            if not Lossy.lost:
                Lossy.lost = True
                assert second_started.wait(10)
                release.set()
                raise KeyboardInterrupt  # item is gone from the queue
            return item

    monkeypatch.setattr(
        parallel, "queue", types.SimpleNamespace(SimpleQueue=Lossy, Empty=real_queue.Empty)
    )

    def run(item: int) -> int:
        if item == 2:
            second_started.set()
            assert release.wait(10)
        return item * 2

    result: list[list[Outcome[int, int]]] = []
    worker = threading.Thread(target=lambda: result.append(map_hosts([1, 2, 3], run, forks=2)))
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "the drain waited for a host it had already taken"
    (outcomes,) = result
    assert outcomes[0].value == 2  # finished before the Ctrl-C: recorded, not "not started"
    assert outcomes[1].value == 4  # in flight: waited for
    assert outcomes[2].cancelled
