"""Connections being opened, and cancelling them (Ctrl-C): a connection
still in its TCP connect, banner wait, key exchange or authentication is
closed at once instead of being waited out to its connect timeout.

Each connect attempt holds a closer for what it blocks on (shutting a socket
down wakes a thread blocked in ``connect`` or ``recv`` on it; closing a
ProxyCommand or a channel ends its reads). :meth:`Openings.cancel` calls the
closers of every attempt in progress and refuses attempts that start later;
the connector then reports :class:`~fleetcfg.core.errors.ConnectCancelled`.
A connection that was open once (a host in flight reconnecting to finish or
roll back) is never cancelled: the connector opens it outside this registry.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any


def closer_of(sock: Any) -> Callable[[], None]:
    """What wakes a thread blocked on ``sock``: ``shutdown`` for a socket
    (``close`` would not wake it), ``close`` for a ProxyCommand or channel."""
    if isinstance(sock, socket.socket):
        return lambda: sock.shutdown(socket.SHUT_RDWR)
    close: Callable[[], None] = sock.close
    return close


class Attempt:
    """One connect attempt's closers (see :meth:`Openings.attempt`)."""

    def __init__(self, openings: Openings) -> None:
        self._openings = openings
        self.closers: list[Callable[[], None]] = []

    def hold(self, sock: Any) -> None:
        """Close ``sock`` (see :func:`closer_of`) if the attempt is cancelled
        while it runs; at once if it was cancelled already."""
        self._openings.hold(self, closer_of(sock))


class Openings:
    """The connect attempts in progress of one connector."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._attempts: set[Attempt] = set()
        self.cancelled = False

    def cancel(self) -> None:
        """Close every attempt in progress; later attempts start cancelled."""
        with self._lock:
            self.cancelled = True
            closers = [c for attempt in self._attempts for c in attempt.closers]
        for close in closers:
            with contextlib.suppress(Exception):  # already closed, or never connected
                close()

    def hold(self, attempt: Attempt, closer: Callable[[], None]) -> None:
        with self._lock:
            attempt.closers.append(closer)
            cancelled = self.cancelled
        if cancelled:
            with contextlib.suppress(Exception):
                closer()

    @contextlib.contextmanager
    def attempt(self) -> Iterator[Attempt]:
        """An attempt registered while the block runs."""
        attempt = Attempt(self)
        with self._lock:
            self._attempts.add(attempt)
        try:
            yield attempt
        finally:
            with self._lock:
                self._attempts.discard(attempt)
