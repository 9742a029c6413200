"""Bounded concurrency over hosts.

:func:`map_hosts` runs one function per item on at most ``forks`` threads and
returns one :class:`Outcome` per item, in input order: the value, or the
:class:`~fleetcfg.core.errors.FleetcfgError` it raised (any other exception is
wrapped in :class:`~fleetcfg.core.errors.InternalError` with the host named, so a
bug on one host never hides the results of the others).

Ctrl-C (or a caller's ``cancel`` event) stops scheduling: hosts already running
finish (an interrupted host would be in an unknown state; each one is quick
and every file write is atomic), the others come back as ``cancelled``. The
cancel event is left set, so the caller knows the run was interrupted; a
:class:`CancelEvent` also runs its callbacks then (a connector cancels the
connections still being opened, so that a host waiting for a silent server is
not waited out to its connect timeout). A second Ctrl-C while draining propagates ``KeyboardInterrupt`` at once, without
waiting for the hosts still running (the caller reports and exits).

Threads, not processes: the work is waiting on the network (SSH round trips,
remote commands), which releases the GIL.
"""

from __future__ import annotations

import contextlib
import queue
import resource
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from fleetcfg.core.errors import FleetcfgError, InternalError, UsageError

T = TypeVar("T")
R = TypeVar("R")

#: The most hosts handled at once by default. The work is waiting on the
#: network (SSH round trips, remote commands), so more threads than cores is
#: right; past a few dozen, the controller's CPU (paramiko's key exchange and
#: ciphers hold the GIL) is what limits a fleet-wide run, not the hosts.
MAX_DEFAULT_FORKS = 64
#: file descriptors a host in flight may hold (its socket, a jump host's
#: channel, a file read for it) and those kept free for the rest of the run
FDS_PER_HOST = 4
FDS_RESERVED = 64


def open_files_limit() -> int:
    """The soft open-files limit (``ulimit -n``)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def default_forks(hosts: int, open_files: int | None = None) -> int:
    """The default ``--forks`` for ``hosts`` hosts: the smallest of
    :data:`MAX_DEFAULT_FORKS`, the host count, and what the open-files limit
    (``ulimit -n``, or ``open_files``) allows at :data:`FDS_PER_HOST` each
    after :data:`FDS_RESERVED`; at least 1."""
    if open_files is None:
        open_files = open_files_limit()
    by_files = (open_files - FDS_RESERVED) // FDS_PER_HOST
    return max(1, min(MAX_DEFAULT_FORKS, hosts, by_files))


class CancelEvent(threading.Event):
    """A cancel event that also runs callbacks, once, when it is set: what
    blocks on the network (a connection being opened) registers a callback
    that wakes it up (closes its socket)."""

    def __init__(self) -> None:
        super().__init__()
        self._callbacks_lock = threading.Lock()
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._next_key = 0

    def on_set(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` when the event is set (at once if it is set
        already); returns a function that unregisters it."""
        with self._callbacks_lock:
            if not self.is_set():
                key = self._next_key
                self._next_key += 1
                self._callbacks[key] = callback

                def forget() -> None:
                    with self._callbacks_lock:
                        self._callbacks.pop(key, None)

                return forget
        callback()
        return _nothing

    def set(self) -> None:
        with self._callbacks_lock:
            super().set()
            callbacks, self._callbacks = list(self._callbacks.values()), {}
        for callback in callbacks:
            with contextlib.suppress(Exception):  # a callback only wakes something up
                callback()


def _nothing() -> None:
    pass


def idle_connections_budget(forks: int | None, open_files: int | None = None) -> int:
    """How many idle connections a command may keep open for later use (one
    file descriptor each) besides ``forks`` hosts in flight
    (``None``: :data:`MAX_DEFAULT_FORKS`) at :data:`FDS_PER_HOST` each and
    :data:`FDS_RESERVED`, within the open-files limit (``ulimit -n``, or
    ``open_files``); at least 0."""
    if open_files is None:
        open_files = open_files_limit()
    in_flight = (forks if forks is not None else MAX_DEFAULT_FORKS) * FDS_PER_HOST
    return max(0, open_files - FDS_RESERVED - in_flight)


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T, R]):
    """What happened for one item."""

    item: T
    value: R | None = None
    error: FleetcfgError | None = None
    #: never started: the run was cancelled first
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.cancelled


def item_label(item: object) -> str:
    """How an item is named in wrapped errors: its ``host`` or ``name``
    attribute when it is a string, else ``str(item)``."""
    for attr in ("host", "name"):
        value = getattr(item, attr, None)
        if isinstance(value, str):
            return value
    return str(item)


def _call(fn: Callable[[T], R], item: T, label: Callable[[T], str]) -> Outcome[T, R]:
    try:
        return Outcome(item, value=fn(item))
    except FleetcfgError as exc:
        if exc.host is None:
            exc.host = label(item)
        return Outcome(item, error=exc)
    except Exception as exc:
        error = InternalError(
            f"unexpected {type(exc).__name__}: {exc}",
            host=label(item),
            hint="this is a bug in fleetcfg; please report it with the traceback",
        )
        error.__cause__ = exc
        return Outcome(item, error=error)


def _run_into(
    own: Future[Outcome[T, R]], fn: Callable[[T], R], item: T, label: Callable[[T], str]
) -> None:
    """Run one item into ``own``, the future the calling thread registered
    before submitting it; nothing when a Ctrl-C cancelled it before its turn."""
    if not own.set_running_or_notify_cancel():
        return
    try:
        outcome = _call(fn, item, label)
    except BaseException as exc:
        own.set_exception(exc)
        raise
    own.set_result(outcome)


#: the longest the calling thread blocks before it runs Python code again:
#: only then does a Ctrl-C become ``KeyboardInterrupt``. A SIGINT the kernel
#: hands to another thread (one waiting on a socket), or one that comes just
#: before the calling thread blocks, does not wake it: waiting without a
#: bound, it saw the Ctrl-C only once a host finished (never, for a host
#: waiting out a long connect timeout).
WAKE_INTERVAL = 0.25


def _next_done(finished: queue.SimpleQueue[Future[R]], running: dict[Future[R], int]) -> Future[R]:
    """The next future to finish (each puts itself in ``finished`` when it is
    done: one queue for the whole run, where waiting on the set of running
    futures installed and removed a waiter on each of them, up to 64, for
    every host), waking every :data:`WAKE_INTERVAL`. On each wake, a future of
    ``running`` that is done is returned too: a Ctrl-C that lands after
    ``get`` took a future from the queue, before the caller recorded it,
    loses it from the queue (waiting only on the queue then hung the drain)."""
    while True:
        try:
            return finished.get(timeout=WAKE_INTERVAL)
        except queue.Empty:
            for future in running:
                if future.done():
                    return future


def _finish_next(
    running: dict[Future[Outcome[T, R]], int],
    finished: queue.SimpleQueue[Future[Outcome[T, R]]],
    finish: Callable[[int, Outcome[T, R]], None],
) -> None:
    """Wait for the next running item to finish and record it. The outcome is
    recorded before the item leaves ``running``: a Ctrl-C in between leaves
    it in flight (recorded once, see ``finish``), never finished but
    unrecorded (it would be reported as not started). A future a Ctrl-C
    cancelled before it started is skipped."""
    future = _next_done(finished, running)
    index = running.get(future)
    if index is not None:
        if not future.cancelled():
            finish(index, future.result())
        del running[future]


def map_hosts(
    items: Iterable[T],
    fn: Callable[[T], R],
    *,
    forks: int | None = None,
    on_done: Callable[[Outcome[T, R]], None] | None = None,
    cancel: threading.Event | None = None,
    label: Callable[[T], str] = item_label,
    on_interrupt: Callable[[int], None] | None = None,
) -> list[Outcome[T, R]]:
    """Run ``fn(item)`` for every item, at most ``forks`` at a time
    (``None``: :func:`default_forks` for the number of items).

    ``on_done`` is called in the calling thread as each item finishes (also
    for cancelled items, at the end), so it may print without locking.
    ``on_interrupt`` is called at the first Ctrl-C, at once, with the number
    of items still running (the ones it waits for).
    Returns one outcome per item, in the order of ``items``.
    """
    todo = list(items)
    if forks is None:
        forks = default_forks(len(todo))
    if forks < 1:
        raise UsageError(f"forks must be at least 1, got {forks}")
    cancel = cancel if cancel is not None else threading.Event()
    outcomes: list[Outcome[T, R] | None] = [None] * len(todo)

    def finish(index: int, outcome: Outcome[T, R]) -> None:
        if outcomes[index] is not None:
            return  # recorded already, just before a Ctrl-C
        outcomes[index] = outcome
        if on_done is not None:
            on_done(outcome)

    if todo:
        workers = min(forks, len(todo))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fleetcfg-host")
        running: dict[Future[Outcome[T, R]], int] = {}
        finished: queue.SimpleQueue[Future[Outcome[T, R]]] = queue.SimpleQueue()
        next_index = 0
        aborted = False

        def schedule() -> None:
            nonlocal next_index
            while len(running) < workers and next_index < len(todo) and not cancel.is_set():
                # registered before the pool may run it, so that a Ctrl-C at
                # any point of the submission finds it: running (waited for)
                # or not started (cancelled). A future registered after
                # pool.submit returned was missed by a Ctrl-C in between.
                own: Future[Outcome[T, R]] = Future()
                own.add_done_callback(finished.put)
                running[own] = next_index
                next_index += 1
                pool.submit(_run_into, own, fn, todo[running[own]], label)

        try:
            schedule()
            while running:
                _finish_next(running, finished, finish)
                schedule()
        except KeyboardInterrupt:
            cancel.set()
            for future, index in list(running.items()):
                # not started (it never will be), or recorded just before
                if future.cancel() or outcomes[index] is not None:
                    del running[future]
            if on_interrupt is not None:
                on_interrupt(len(running))
            # let the hosts that are already running finish
            try:
                while running:
                    _finish_next(running, finished, finish)
            except KeyboardInterrupt:
                aborted = True  # the second Ctrl-C: return to the caller at once
                raise
        except BaseException:
            cancel.set()
            raise
        finally:
            # after a second Ctrl-C, do not wait for the hosts still running
            pool.shutdown(wait=not aborted, cancel_futures=aborted)
    for index, outcome in enumerate(outcomes):
        if outcome is None:
            finish(index, Outcome(todo[index], cancelled=True))
    return [o for o in outcomes if o is not None]
