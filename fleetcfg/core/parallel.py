"""Bounded concurrency over hosts.

:func:`map_hosts` runs one function per item on at most ``forks`` threads and
returns one :class:`Outcome` per item, in input order: the value, or the
:class:`~fleetcfg.core.errors.FleetcfgError` it raised (any other exception is
wrapped in :class:`~fleetcfg.core.errors.InternalError` with the host named, so a
bug on one host never hides the results of the others).

Ctrl-C (or a caller's ``cancel`` event) stops scheduling: hosts already running
finish (an interrupted host would be in an unknown state; each one is quick
and every file write is atomic), the others come back as ``cancelled``. The
cancel event is left set, so the caller knows the run was interrupted. A
second Ctrl-C while draining propagates ``KeyboardInterrupt`` at once.

Threads, not processes: the work is waiting on the network (SSH round trips,
remote commands), which releases the GIL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

from fleetcfg.core.errors import FleetcfgError, InternalError, UsageError

T = TypeVar("T")
R = TypeVar("R")

#: Default parallelism (Ansible's ``forks``). Ten keeps a fleet-wide plan
#: quick (the work is network waits, so more threads than cores is right),
#: stays at OpenSSH's default ``MaxStartups 10:30:100`` so that hosts reached
#: through one bastion never see their connections randomly dropped during
#: authentication, and keeps paramiko's CPU-bound key exchange (which holds the
#: GIL) from starving a 2-core control machine.
DEFAULT_FORKS = 10


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


def map_hosts(
    items: Iterable[T],
    fn: Callable[[T], R],
    *,
    forks: int = DEFAULT_FORKS,
    on_done: Callable[[Outcome[T, R]], None] | None = None,
    cancel: threading.Event | None = None,
    label: Callable[[T], str] = item_label,
) -> list[Outcome[T, R]]:
    """Run ``fn(item)`` for every item, at most ``forks`` at a time.

    ``on_done`` is called in the calling thread as each item finishes (also
    for cancelled items, at the end), so it may print without locking.
    Returns one outcome per item, in the order of ``items``.
    """
    if forks < 1:
        raise UsageError(f"forks must be at least 1, got {forks}")
    todo = list(items)
    cancel = cancel if cancel is not None else threading.Event()
    outcomes: list[Outcome[T, R] | None] = [None] * len(todo)

    def finish(index: int, outcome: Outcome[T, R]) -> None:
        outcomes[index] = outcome
        if on_done is not None:
            on_done(outcome)

    if todo:
        workers = min(forks, len(todo))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fleetcfg-host") as pool:
            running: dict[Future[Outcome[T, R]], int] = {}
            next_index = 0

            def schedule() -> None:
                nonlocal next_index
                while len(running) < workers and next_index < len(todo) and not cancel.is_set():
                    future = pool.submit(_call, fn, todo[next_index], label)
                    running[future] = next_index
                    next_index += 1

            try:
                schedule()
                while running:
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        finish(running.pop(future), future.result())
                    schedule()
            except KeyboardInterrupt:
                cancel.set()
                # let the hosts that are already running finish
                while running:
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        finish(running.pop(future), future.result())
            except BaseException:
                cancel.set()
                raise
    for index, outcome in enumerate(outcomes):
        if outcome is None:
            finish(index, Outcome(todo[index], cancelled=True))
    return [o for o in outcomes if o is not None]
