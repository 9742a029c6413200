"""The one thread that fires the SSH commands' timeouts: it wakes only for
an alarm due before every pending one, and every alarm still fires in the
order of its deadline."""

from __future__ import annotations

import threading

from fleetcfg.host.transport.ssh.channel import _Watchdog


def test_an_alarm_due_before_the_pending_ones_fires_first() -> None:
    dog = _Watchdog()
    fired: list[str] = []
    done = threading.Event()
    dog.schedule(3600, lambda: fired.append("in an hour"))

    def soon() -> None:
        fired.append("soon")
        done.set()

    dog.schedule(0.01, soon)
    assert done.wait(60)
    assert fired == ["soon"]


def test_alarms_due_after_the_first_still_fire_in_order() -> None:
    dog = _Watchdog()
    fired: list[int] = []
    done = threading.Event()
    for index in range(5):  # each later than the one before: no wake-up needed
        dog.schedule(0.01 * (index + 1), lambda i=index: fired.append(i))
    dog.schedule(0.1, done.set)
    assert done.wait(60)
    assert fired == [0, 1, 2, 3, 4]


def test_a_cancelled_alarm_does_not_fire() -> None:
    dog = _Watchdog()
    fired: list[str] = []
    done = threading.Event()
    dog.schedule(0.01, lambda: fired.append("cancelled")).cancel()
    dog.schedule(0.05, done.set)
    assert done.wait(60)
    assert fired == []
