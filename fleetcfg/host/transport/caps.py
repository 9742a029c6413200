"""How much output fleetcfg reads from a command on a host.

Every byte a host sends back is untrusted (a shim on ``PATH``, a
compromised host): a command's stdout, and its stderr, are each read up to a
cap (:data:`OUTPUT_CAP` unless the caller knows better and passes
``max_output`` to ``run``/``run_many``). Past it the transport stops
reading, stops the command (closes the channel, kills the local process)
and raises :class:`~fleetcfg.core.errors.OutputTooLargeError` for that host.

:class:`OutputMeter` counts one command's output as it arrives;
:class:`BatchMeter` counts each command of a ``run_many`` batch apart, by
the markers that frame their output (see
:func:`~fleetcfg.host.transport.scripts.build_batch`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fleetcfg.core.errors import OutputTooLargeError

KIB = 1024
MIB = 1024 * KIB
#: the most bytes fleetcfg reads from one command's stdout, and from its
#: stderr, when the caller does not say (a file read is capped by what it reads)
OUTPUT_CAP = 4 * MIB


def format_size(size: int) -> str:
    """``4 MiB``, ``64 KiB``, ``100 bytes``."""
    for unit, name in ((MIB, "MiB"), (KIB, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} bytes"


class Overflow(Exception):
    """A command's ``stream`` passed ``cap`` (``index``: which command of a batch)."""

    def __init__(self, stream: str, cap: int, index: int = 0) -> None:
        super().__init__(stream, cap, index)
        self.stream = stream
        self.cap = cap
        self.index = index


def too_large(host: str, what: str, stream: str, cap: int) -> OutputTooLargeError:
    """The error for a command (``what``, quoted) that sent more than ``cap``."""
    return OutputTooLargeError(
        f"{what} sent more than {format_size(cap)} on {stream}; refusing to read more "
        "(the command was stopped)",
        host=host,
        hint="no command fleetcfg runs prints that much: check what answers to that "
        "command on the host (a wrapper on PATH?)",
    )


class OutputMeter:
    """One command's stdout and stderr, each at most ``cap`` bytes."""

    def __init__(self, cap: int) -> None:
        self.cap = cap

    def __call__(self, out: bytes | bytearray, err: bytes | bytearray) -> None:
        """Raise :class:`Overflow` when either stream passed the cap."""
        if len(out) > self.cap:
            raise Overflow("stdout", self.cap)
        if len(err) > self.cap:
            raise Overflow("stderr", self.cap)


#: the longest tail a batch marker can have (`` INDEX STATUS\n``)
_TAIL_MAX = 48


class _Segments:
    """The output of one stream of a batch, cut at its markers as it arrives:
    ``index`` commands finished, the current one's output starts at ``start``."""

    def __init__(self, marker: bytes, tail: re.Pattern[bytes]) -> None:
        self.marker = marker
        self.tail = tail
        self.index = 0
        self.start = 0
        self._search = 0

    def feed(self, data: bytes | bytearray) -> int:
        """Find the markers that arrived; the current command's output size."""
        while True:
            at = data.find(self.marker, self._search)
            if at == -1:
                self._search = max(self.start, len(data) - len(self.marker) + 1)
                break
            m = self.tail.match(data, at + len(self.marker))
            if m is None:
                if len(data) - at - len(self.marker) < _TAIL_MAX:
                    self._search = at  # its tail may still be on its way
                    break
                self._search = at + 1
                continue
            self.index += 1
            self.start = self._search = m.end()
        return len(data) - self.start


class BatchMeter:
    """Each command of a batch of ``count``: its stdout and its stderr at
    most ``cap`` bytes (and the whole at most ``count`` times that, however
    the markers look: a host may print fake ones)."""

    def __init__(self, marker: bytes, tails: Sequence[re.Pattern[bytes]], count: int, cap: int):
        self.cap = cap
        self.count = count
        #: a marker may have arrived in part at the end of what was read
        self._slack = len(marker) + _TAIL_MAX
        self._total = count * (cap + self._slack)
        self._out = _Segments(marker, tails[0])
        self._err = _Segments(marker, tails[1])

    def __call__(self, out: bytes | bytearray, err: bytes | bytearray) -> None:
        for stream, segments, data in (("stdout", self._out, out), ("stderr", self._err, err)):
            if segments.feed(data) > self.cap + self._slack or len(data) > self._total:
                raise Overflow(stream, self.cap, min(segments.index, self.count - 1))
