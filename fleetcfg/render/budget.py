"""A budget for one profile render: CPU time and memory growth.

A profile under review is untrusted (DESIGN.md, Trust model): ``lint`` runs it
on a CI machine, ``plan`` on an operator's. Jinja's sandbox keeps it from the
machine's files and commands, and the sandbox in templates.py bounds what one
operation may build at once (``*``, ``**``, widths, ``+``), but a template can
still loop for hours (a ``{% for %}`` inside a ``{% for %}``) or double a
string on every turn of a loop until the machine runs out of memory, and a
CI job would hang or take the runner down with it.

While a render runs, a watchdog thread looks every :data:`POLL` seconds at
the rendering thread's CPU time and at the process's resident memory; past
:data:`CPU_SECONDS` of CPU, or :data:`MEMORY_GROWTH` bytes more than when the
render started, it raises :class:`RenderBudgetExceeded` in that thread, at
the next Python instruction the template runs. The render reports it as the
profile's error, located like any other. What a single C call allocates (a
filter's width) is not interruptible: the sandbox bounds those itself. A
render that does not stop within :data:`GRACE` seconds after that (stuck in
one C call) ends the process with a message: a hung CI job helps no one.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

#: the CPU time one render may take (a large profile renders in milliseconds)
CPU_SECONDS = 20.0
#: the CPU time all renders of one fleetcfg process may take together: a
#: repo of 20,000 hosts renders in about 20 s, and without it a profile that
#: takes just under CPU_SECONDS for every host would hold a CI job for days
TOTAL_CPU_SECONDS = 600.0
#: how much the process's resident memory may grow during one render
MEMORY_GROWTH = 1 << 30
#: how often the watchdog looks
POLL = 0.05
#: how long a render that was told to stop may take to stop before the process ends
GRACE = 30.0
#: the exit status when a render did not stop (an internal error's)
EXIT_STUCK = 70


class RenderBudgetExceeded(BaseException):
    """Raised in a rendering thread past its budget (without a message: the
    watch says why), or when a render would start past the run's total (with
    it). A BaseException, so that an ``except Exception`` in a filter or
    lookup the template calls does not swallow it."""


@dataclass
class _Watch:
    thread_id: int
    cpu: Callable[[], float]
    cpu_start: float
    rss_start: int
    #: why it was stopped ("" while within budget)
    reason: str = ""
    stopped_at: float = 0.0
    tells: int = 0


_LOCK = threading.Lock()
_WATCHES: dict[int, _Watch] = {}
#: the CPU time the renders of this process have taken so far
_SPENT: list[float] = [0.0]
_WATCHDOG: list[threading.Thread] = []
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int:
    """The process's resident memory (0 where /proc is not there)."""
    try:
        return int(Path("/proc/self/statm").read_bytes().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _thread_cpu(thread_id: int) -> Callable[[], float]:
    """A clock of ``thread_id``'s CPU time (wall time where the platform has
    no per-thread CPU clock)."""
    try:
        clock = time.pthread_getcpuclockid(thread_id)
        time.clock_gettime(clock)
    except (AttributeError, OSError):
        return time.monotonic
    return lambda: time.clock_gettime(clock)


def _tell(thread_id: int, exc: type[BaseException] | None) -> None:
    """Raise ``exc`` in ``thread_id`` at its next Python instruction (None:
    withdraw one not raised yet)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else None
    )


def _over(watch: _Watch) -> str:
    spent = watch.cpu() - watch.cpu_start
    if spent > CPU_SECONDS:
        return f"it ran for more than {CPU_SECONDS:g} s of CPU (a loop that does not end?)"
    if _SPENT[0] + spent > TOTAL_CPU_SECONDS:
        return _total_spent()
    rss = resident_bytes()
    if watch.rss_start and rss - watch.rss_start > MEMORY_GROWTH:
        return (
            f"it took more than {MEMORY_GROWTH >> 20} MiB of memory "
            "(a string or list that keeps growing?)"
        )
    return ""


def _total_spent() -> str:
    return f"the profiles' renders took more than {TOTAL_CPU_SECONDS:g} s of CPU in all in this run"


def _look() -> None:
    now = time.monotonic()
    with _LOCK:
        for watch in _WATCHES.values():
            if not watch.reason:
                watch.reason = _over(watch)
                if not watch.reason:
                    continue
                watch.stopped_at = now
            elif now - watch.stopped_at > GRACE:
                sys.stderr.write(
                    f"fleetcfg: a profile render was stopped ({watch.reason}) and did not "
                    f"stop within {GRACE:g} s: exiting\n"
                )
                sys.stderr.flush()
                os._exit(EXIT_STUCK)
            # told again on every look: a filter may have caught it
            watch.tells += 1
            _tell(watch.thread_id, RenderBudgetExceeded)


def _watchdog() -> None:
    while True:
        time.sleep(POLL)
        with contextlib.suppress(Exception):
            _look()


def _start_watchdog() -> None:
    with _LOCK:
        if not _WATCHDOG:
            thread = threading.Thread(target=_watchdog, name="fleetcfg-render-budget", daemon=True)
            _WATCHDOG.append(thread)
            thread.start()


@contextlib.contextmanager
def render_budget() -> Iterator[_Watch]:
    """Run the body (one render) within the budget; raises
    :class:`RenderBudgetExceeded` past it (why: the ``reason`` of the watch
    this yields; a render nested in another shares the outer one's)."""
    thread_id = threading.get_ident()
    with _LOCK:
        outer = _WATCHES.get(thread_id)
    if outer is not None:  # a render within a render: the outer one's budget
        yield outer
        return
    cpu = _thread_cpu(thread_id)
    watch = _Watch(thread_id, cpu, cpu(), resident_bytes())
    if _SPENT[0] > TOTAL_CPU_SECONDS:
        raise RenderBudgetExceeded(_total_spent())
    _start_watchdog()
    with _LOCK:
        _WATCHES[thread_id] = watch
    try:
        yield watch
    finally:
        _leave(watch)


def why_stopped(exc: RenderBudgetExceeded, watch: _Watch | None) -> str:
    """Why a render (or its parse) was stopped: the run's total spent (the
    exception says so) or the watch's reason (``watch``: what
    :func:`render_budget` yielded, None when it raised before yielding)."""
    return str(exc) or (watch.reason if watch is not None else "")


def _leave(watch: _Watch) -> None:
    """Stop watching; an exception told but not raised yet is withdrawn (it
    would surface later, outside the render)."""
    while True:
        try:
            with _LOCK:
                if _WATCHES.pop(watch.thread_id, None) is not None:
                    _SPENT[0] += watch.cpu() - watch.cpu_start
                if watch.tells:
                    _tell(watch.thread_id, None)
            return
        except RenderBudgetExceeded:
            continue  # raised while leaving: leave all the same
