"""One command on one session channel: stdin fed while stdout and stderr
are read (so neither side blocks the other on a full window), their size
metered as they arrive (past the cap the channel is closed, which stops the
command), a timeout per command fired by one watchdog thread, and a lost
connection told apart from a command killed by a signal."""

from __future__ import annotations

import contextlib
import heapq
import itertools
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paramiko

from fleetcfg.host.transport.caps import OUTPUT_CAP, OutputMeter
from fleetcfg.host.transport.ssh.common import SSH_ERRORS, reason

#: sees the output read so far after each read; raises
#: :class:`~fleetcfg.host.transport.caps.Overflow` past its cap
Meter = Callable[[bytearray, bytearray], None]

_CHUNK = 65536
#: how long a closed channel may wait for its connection to be declared dead
_SETTLE = 1.0


@dataclass(frozen=True, slots=True)
class Exec:
    status: int
    stdout: bytes
    stderr: bytes


def _dying(transport: paramiko.Transport) -> bool:
    """Whether a channel that closed without an exit status lost its
    connection (rather than its command dying of a signal). paramiko closes
    the channels of a dead connection just before it marks the transport
    inactive, so allow it a moment to get there."""
    settle = time.monotonic() + _SETTLE
    while transport.is_active():
        if time.monotonic() >= settle:
            return False
        time.sleep(0.01)
    return True


class ChannelTimeout(Exception):
    pass


class ChannelLost(Exception):
    pass


def run_channel(
    transport: paramiko.Transport,
    cmdline: str,
    stdin: bytes | None,
    timeout: float,
    meter: Meter | None = None,
) -> Exec:
    """Run ``cmdline`` on a new session channel; collect stdout, stderr and
    the exit status while feeding ``stdin`` (interleaved, so that neither
    side can block the other on a full window). ``meter`` sees the output
    after each read; its :class:`~fleetcfg.host.transport.caps.Overflow`
    closes the channel (the command gets SIGPIPE or EOF) and propagates."""
    deadline = time.monotonic() + timeout
    try:
        channel = transport.open_session(timeout=timeout)
    except SSH_ERRORS as exc:
        raise ChannelLost(reason(exc)) from None
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        with contextlib.suppress(Exception):
            channel.close()

    alarm = _WATCHDOG.schedule(timeout, expire)
    try:
        return _drive_channel(
            transport,
            channel,
            cmdline,
            stdin=stdin,
            deadline=deadline,
            expired=expired,
            meter=meter or OutputMeter(OUTPUT_CAP),
        )
    except SSH_ERRORS as exc:
        if expired.is_set():
            raise ChannelTimeout from None
        raise ChannelLost(reason(exc)) from None
    finally:
        alarm.cancel()
        with contextlib.suppress(Exception):
            channel.close()


class _Alarm:
    """A pending timeout of :class:`_Watchdog`."""

    __slots__ = ("callback", "cancelled", "deadline")

    def __init__(self, deadline: float, callback: Callable[[], None]) -> None:
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _Watchdog:
    """One daemon thread that fires the timeouts of every running command (a
    ``threading.Timer`` per command would start a thread per exec, which is
    measurable when planning hundreds of hosts)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Alarm]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def schedule(self, delay: float, callback: Callable[[], None]) -> _Alarm:
        alarm = _Alarm(time.monotonic() + delay, callback)
        with self._cond:
            heapq.heappush(self._heap, (alarm.deadline, next(self._seq), alarm))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="fleetcfg-ssh-watchdog", daemon=True
                )
                self._thread.start()
            if self._heap[0][2] is alarm:
                # only an alarm due before every other one changes how long
                # the thread sleeps (commands of equal timeouts come later)
                self._cond.notify()
        return alarm

    def _next(self) -> _Alarm:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].cancelled:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait <= 0:
                    return heapq.heappop(self._heap)[2]
                self._cond.wait(wait)

    def _run(self) -> None:
        while True:
            alarm = self._next()
            if not alarm.cancelled:
                with contextlib.suppress(Exception):
                    alarm.callback()


_WATCHDOG = _Watchdog()


def _drive_channel(
    transport: paramiko.Transport,
    channel: paramiko.Channel,
    cmdline: str,
    *,
    stdin: bytes | None,
    deadline: float,
    expired: threading.Event,
    meter: Meter,
) -> Exec:
    channel.exec_command(cmdline)
    out = bytearray()
    err = bytearray()
    pending = memoryview(stdin) if stdin else None
    if pending is None:
        channel.shutdown_write()
    while True:
        progressed = True
        while progressed:
            progressed = False
            if channel.recv_ready():
                out += channel.recv(_CHUNK)
                progressed = True
            if channel.recv_stderr_ready():
                err += channel.recv_stderr(_CHUNK)
                progressed = True
            if progressed:
                meter(out, err)
            if pending is not None and not channel.closed and channel.send_ready():
                try:
                    sent = channel.send(bytes(pending[:_CHUNK]))
                except OSError:
                    if not channel.closed:
                        raise
                    sent = 0  # the command exited without reading all its input
                pending = pending[sent:]
                progressed = progressed or sent > 0
                if not pending:
                    pending = None
                    channel.shutdown_write()
        if expired.is_set():
            raise ChannelTimeout
        if channel.closed or (channel.eof_received and pending is None):
            while channel.recv_ready():
                out += channel.recv(_CHUNK)
                meter(out, err)
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(_CHUNK)
                meter(out, err)
            break
        if not transport.is_active():
            raise ChannelLost("the connection dropped")
        wait = deadline - time.monotonic()
        if pending is not None:
            wait = min(wait, 0.05)  # poll for window space while sending
        select.select([channel], [], [], min(max(wait, 0.01), 5.0))
    if not channel.status_event.wait(max(deadline - time.monotonic(), 0.0)):
        raise ChannelTimeout
    if expired.is_set():
        raise ChannelTimeout
    if (not channel.exit_status_ready() or channel.exit_status < 0) and _dying(transport):
        raise ChannelLost("the connection dropped")
    if pending is not None and not channel.exit_status_ready():
        raise ChannelLost("the channel closed before all input was sent")
    return Exec(channel.exit_status, bytes(out), bytes(err))
