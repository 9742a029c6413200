"""One connection per host for a whole command: ``fleetcfg apply`` plans and
then applies over the same SSH connections instead of connecting twice.

:class:`ReusingConnector` wraps a connector (``SshConnector``): ``open`` hands
out the same transport for the same target, behind a proxy whose ``close``
gives it back; :meth:`ReusingConnector.close` closes them all at the end. A
transport whose connection dropped reconnects on its next call, as before.

Idle connections cost a file descriptor each (and a process on the host, and
a reading thread that wakes once a second): at most ``keep`` stay open (the
open-files limit allows no more on a large fleet); past that, a connection
given back is closed and the next ``open`` of its target connects afresh.
After :meth:`ReusingConnector.last_use` (apply, once the plan is made: each
host is applied once), a connection given back is closed at once.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from fleetcfg.host.transport.base import CommandResult, FileState, Transport
from fleetcfg.host.transport.targets import SshTarget


class _Connector(Protocol):
    def open(self, target: SshTarget) -> Transport: ...


class KeptTransport:
    """A shared transport; ``close`` gives it back to its
    :class:`ReusingConnector`, which decides whether it stays open."""

    def __init__(self, inner: Transport, release: Callable[[Transport], None]) -> None:
        self.inner = inner
        self.host = inner.host
        self._release: Callable[[Transport], None] | None = release

    @property
    def runs_as(self) -> str | None:
        return self.inner.runs_as

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
        max_output: int | None = None,
    ) -> CommandResult:
        return self.inner.run(argv, stdin=stdin, timeout=timeout, max_output=max_output)

    def run_many(
        self,
        commands: Sequence[Sequence[str]],
        *,
        timeout: float | None = None,
        max_output: int | None = None,
    ) -> list[CommandResult]:
        return self.inner.run_many(commands, timeout=timeout, max_output=max_output)

    def read_file(self, path: str) -> FileState:
        return self.inner.read_file(path)

    def write_file(
        self,
        path: str,
        data: bytes,
        *,
        mode: int = 0o644,
        owner: str = "root",
        group: str = "root",
    ) -> None:
        self.inner.write_file(path, data, mode=mode, owner=owner, group=group)

    def close(self) -> None:
        """Give the connection back (once)."""
        release, self._release = self._release, None
        if release is not None:
            release(self.inner)


class ReusingConnector:
    """See the module docstring."""

    def __init__(self, inner: _Connector, *, keep: int | None = None) -> None:
        self.inner = inner
        #: the most connections kept open between uses (None: all)
        self.keep = keep
        self._open: dict[SshTarget, Transport] = {}
        self._users: dict[SshTarget, int] = {}
        self._last_use = False
        self._lock = threading.Lock()

    def open(self, target: SshTarget) -> Transport:
        with self._lock:
            transport = self._open.get(target)
            if transport is not None:
                self._users[target] += 1
        if transport is None:
            opened = self.inner.open(target)
            with self._lock:
                transport = self._open.setdefault(target, opened)
                self._users[target] = self._users.get(target, 0) + 1
            if transport is not opened:  # another thread opened it first
                with contextlib.suppress(Exception):
                    opened.close()
        return KeptTransport(transport, lambda given: self._give_back(target, given))

    def last_use(self) -> None:
        """From now on, close each connection as soon as it is given back."""
        with self._lock:
            self._last_use = True

    def _give_back(self, target: SshTarget, transport: Transport) -> None:
        with self._lock:
            if self._open.get(target) is not transport:
                return  # reset() closed it already
            self._users[target] -= 1
            over = self.keep is not None and len(self._open) > self.keep
            if self._users[target] > 0 or not (self._last_use or over):
                return
            del self._open[target], self._users[target]
        with contextlib.suppress(Exception):
            transport.close()

    def reset(self) -> None:
        """Close the connections; the next :meth:`open` connects afresh."""
        with self._lock:
            transports, self._open, self._users = list(self._open.values()), {}, {}
        for transport in transports:
            with contextlib.suppress(Exception):
                transport.close()

    def close(self) -> None:
        self.reset()
        close = getattr(self.inner, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()

    def __enter__(self) -> ReusingConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
