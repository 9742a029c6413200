"""The local journal of apply and rollback runs: one JSON object per line.

Every run appends to the journal (by default ``.fleetcfg/journal.jsonl`` next
to ``inventory.yaml``; ``--journal PATH`` elsewhere). Each line has ``ts``
(UTC), ``run`` (the run id, also written to the hosts' lock and state.json)
and ``event``:

- ``run-start`` (``command``, ``plan_id``, ``inventory``, ``hosts``, ``user``,
  ``control_host``), ``run-end`` (``exit_code``, ``summary``, ``halted``,
  ``interrupted``);
- ``batch`` (``batch``, ``hosts``, ``canary``), ``pause`` (``seconds``),
  ``halt`` (``reason``);
- ``step`` (``host``, ``step``, ``status``: ok/failed/skipped, ``detail``,
  ``seconds``): every step of every host, in the order they happened;
- ``host-end`` (``host``, ``status``, ``reason``, ``rolled_back``, ...).

Messages are masked before they get here: no secret is ever written. Host
text is kept as sent, but the control characters ``json.dumps`` leaves raw
(DEL, C1, bidi overrides) are written as ``\\uXXXX`` escapes, so ``cat`` or
``tail`` of the journal on a terminal shows them instead of acting on them. Lines
are flushed one by one, so the journal of a run that was killed still shows
its last step.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fleetcfg.core.errors import UsageError
from fleetcfg.core.terminal import escape_json_controls

JOURNAL_DIR = ".fleetcfg"
JOURNAL_NAME = "journal.jsonl"


def default_journal_path(inventory_path: Path) -> Path:
    """``.fleetcfg/journal.jsonl`` next to inventory.yaml."""
    return inventory_path.parent / JOURNAL_DIR / JOURNAL_NAME


def _open_append(path: Path) -> Any:
    """``path`` opened for appending: a regular file (created 0600), never
    followed through a symbolic link, never a FIFO or a device. The default
    journal lies in the repo, where a pull request can commit
    ``.fleetcfg/journal.jsonl`` as a link to ``/etc/sudoers.d/x`` (one line
    that does not parse there stops sudo) or to a FIFO (apply would wait
    forever)."""
    try:
        fd = os.open(
            path,
            os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
            0o600,
        )
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "it is a symbolic link", str(path)) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "it is not a regular file", str(path))
    return os.fdopen(fd, "a", encoding="utf-8")


class Journal:
    """An append-only JSON-lines file (``path=None``: kept in memory only).
    Safe to call from several threads."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._file: Any = None
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._file = _open_append(path)
            except OSError as exc:
                raise UsageError(
                    f"cannot write the journal {path}: {exc.strerror or exc}",
                    hint="pass --journal PATH to write it elsewhere",
                ) from None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, event: str, run: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "ts": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "run": run,
            "event": event,
        }
        entry.update({k: v for k, v in fields.items() if v is not None})
        line = escape_json_controls(
            json.dumps(entry, sort_keys=False, ensure_ascii=False, default=str)
        )
        with self._lock:
            self.entries.append(entry)
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()
        return entry

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                try:
                    self._file.flush()
                    os.fsync(self._file.fileno())
                except OSError:
                    pass
                self._file.close()
                self._file = None


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Every entry of a journal file (lines that are not JSON are skipped)."""
    out: list[dict[str, Any]] = []
    # only "\n" ends a line: str.splitlines would also split inside a
    # string at U+2028 and friends, which json.dumps leaves raw
    for line in path.read_text(encoding="utf-8").split("\n"):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out
