"""What a fleet host recorded, parsed from its logs (host side).

The shims append one line per entry:

- ``events.log``:   ``EPOCH<TAB>KIND<TAB>key=value<TAB>...``
- ``journal.log``:  ``EPOCH<TAB>IDENT<TAB>PID<TAB>MESSAGE``
- ``commands.log``: ``EPOCH<TAB>USER<TAB>exec|shell<TAB>COMMAND`` (``\\n``,
  ``\\t`` and ``\\\\`` escaped)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Event:
    """One state change of the fake docker.service (``time`` is epoch seconds).

    Kinds: ``starting``, ``started`` (``sha256`` of the daemon.json loaded,
    ``absent`` without one), ``start-failed`` (``reason`` = ``invalid-config``
    or ``refused``), ``stopping``, ``stopped``, ``reloading``, ``reloaded``,
    ``reload-failed``, ``reset-failed``, ``container-killed``,
    ``container-started``, ``validate`` (``exit``), ``start-delayed``
    (``seconds``, the slow-restart fault), ``start-held`` (the hold-start
    fault), ``enable``, ``disable``, ``unreachable``, ``daemon-reload``,
    ``buildx`` (``args``: the stand-in ``docker buildx``'s arguments)."""

    time: float
    kind: str
    data: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> str:
        return self.data[key]


@dataclass(frozen=True, slots=True)
class JournalEntry:
    time: float
    ident: str  # "systemd" or "dockerd"
    pid: int
    message: str


@dataclass(frozen=True, slots=True)
class CommandRecord:
    """One SSH session: ``kind`` is ``exec`` (a command) or ``shell`` (interactive);
    sftp sessions are recorded as the command ``internal-sftp``."""

    time: float
    user: str
    kind: str
    command: str


def _lines(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return [line.split("\t") for line in text.splitlines() if line]


def parse_events(path: Path) -> list[Event]:
    events = []
    for parts in _lines(path):
        if len(parts) < 2:
            continue
        data = {}
        for item in parts[2:]:
            key, _, value = item.partition("=")
            data[key] = value
        events.append(Event(time=float(parts[0]), kind=parts[1], data=data))
    return events


def parse_journal(path: Path) -> list[JournalEntry]:
    entries = []
    for parts in _lines(path):
        if len(parts) < 4:
            continue
        message = "\t".join(parts[3:])
        pid = int(parts[2]) if parts[2].isdigit() else 0
        entries.append(JournalEntry(time=float(parts[0]), ident=parts[1], pid=pid, message=message))
    return entries


def _unescape(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append({"n": "\n", "t": "\t", "\\": "\\"}.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def parse_commands(path: Path) -> list[CommandRecord]:
    records = []
    for parts in _lines(path):
        if len(parts) < 4:
            continue
        records.append(
            CommandRecord(
                time=float(parts[0]),
                user=parts[1],
                kind=parts[2],
                command=_unescape("\t".join(parts[3:])),
            )
        )
    return records
