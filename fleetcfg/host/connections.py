"""One connection per host for a whole command: ``fleetcfg apply`` plans and
then applies over the same SSH connections instead of connecting twice.

:class:`ReusingConnector` wraps a connector (``SshConnector``): ``open`` hands
out the same transport for the same target, behind a proxy whose ``close``
does nothing; :meth:`ReusingConnector.close` closes them all at the end. A
transport whose connection dropped reconnects on its next call, as before.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Protocol

from fleetcfg.host.transport.base import CommandResult, FileState, Transport
from fleetcfg.host.transport.targets import SshTarget


class _Connector(Protocol):
    def open(self, target: SshTarget) -> Transport: ...


class KeptTransport:
    """A shared transport; ``close`` leaves it open for the next user."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.host = inner.host

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float | None = None
    ) -> CommandResult:
        return self.inner.run(argv, stdin=stdin, timeout=timeout)

    def run_many(
        self, commands: Sequence[Sequence[str]], *, timeout: float | None = None
    ) -> list[CommandResult]:
        return self.inner.run_many(commands, timeout=timeout)

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
        """Kept open: :meth:`ReusingConnector.close` closes it."""


class ReusingConnector:
    """See the module docstring."""

    def __init__(self, inner: _Connector) -> None:
        self.inner = inner
        self._open: dict[SshTarget, Transport] = {}
        self._lock = threading.Lock()

    def open(self, target: SshTarget) -> Transport:
        with self._lock:
            transport = self._open.get(target)
        if transport is None:
            transport = self.inner.open(target)
            with self._lock:
                transport = self._open.setdefault(target, transport)
        return KeptTransport(transport)

    def reset(self) -> None:
        """Close the connections; the next :meth:`open` connects afresh."""
        with self._lock:
            transports, self._open = list(self._open.values()), {}
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
