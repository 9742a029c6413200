"""fleetcfg's own files on a host, in ``/etc/docker/.fleetcfg/``.

``lock/``
    A directory created with ``mkdir`` (atomic: exactly one run succeeds). It
    holds ``owner.json`` (:class:`LockOwner`: run id, an owner token, user,
    control machine, pid, command, start time); its mtime is the holder's
    heartbeat, refreshed by each of its round trips while it waits for the
    daemon, and every :data:`LOCK_HEARTBEAT_EVERY` seconds by the install
    program while it restarts dockerd and waits for the first health check
    (one long round trip), or by the beat program around any other restart
    or reload (recovery's, rollback's); meanwhile ``lock.busy`` names that
    program. A run
    that finds the lock held refuses the host and names the holder.
    ``--break-lock`` removes it only when the holder is gone: the program
    ``lock.busy`` names has ended, and its process is not running on this
    control machine, or (from another machine) its heartbeat is older than
    :data:`LOCK_HEARTBEAT_TIMEOUT`. A run removes
    the lock only while ``owner.json`` holds its own token.
``backups/``
    A copy of each file made before fleetcfg replaced it, named
    ``<path, URL-quoted>.<UTC timestamp>`` (``etc%2Fdocker%2Fdaemon.json.
    20240507T101500.123456Z``), mode and owner preserved. A failed run never
    deletes one; a successful write keeps the newest :data:`DEFAULT_KEEP_BACKUPS`
    per file.
``engine``
    What apply's ``dockerd --version`` printed, and of which binary (``engine.sh``).
``state.json``
    What fleetcfg last wrote to each file it manages (``plan`` compares it with
    the live file to report drift)::

        {"format": 1,
         "files": {"/etc/docker/daemon.json": {
             "kind": "daemon", "user": null,
             "sha256": "<of the bytes written; null: fleetcfg removed the file>",
             "written_at": "2024-05-07T10:15:00.123456Z", "written_by": "alice@ctl-01",
             "run_id": "...", "plan_id": "...", "command": "apply",
             "backups": [{"name": "...", "sha256": "...", "absent": false,
                          "made_at": "...", "run_id": "..."}]}}}

    ``backups`` is oldest first; an entry with ``absent: true`` (and no name)
    records that the file did not exist before the write. A surface file's
    record also says whether fleetcfg created it (``"created": true``: it did
    not exist before fleetcfg first wrote it; such a file is removed when
    its source leaves the inventory, any other is left in place), the folder
    fleetcfg created for it (``"created_dir"``) and, for buildkitd.toml, what
    applies it (``"builder"`` or ``"service"``: removing the file recreates
    that builder without it). Keys this version
    does not know are kept as they are. An older form (the path -> entry
    mapping at the top level, an entry being only the sha256) is read too.

    ``pending`` (:class:`Pending`) is there while an apply is between its
    first replace and its health gate: written before the first rename,
    cleared when the daemon passed the health gate (or the old files are back).
    A pending mark that stays (the run was killed, the host became
    unreachable) tells ``plan`` that dockerd may not run the file on disk::

        "pending": {"run_id": "...", "command": "apply", "action": "restart",
                    "since": "...", "written_by": "alice@ctl-01",
                    "files": {"/etc/docker/daemon.json": "<sha256 of the new file>"}}

This module is the one place that knows these paths and parses these files
(plan reads state.json through :meth:`HostState.from_bytes` too).

It is pure: it builds paths, names and file contents; apply moves them
through the Transport.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fleetcfg.core.jsondoc import MAX_DEPTH, too_deep
from fleetcfg.core.numbers import is_digits
from fleetcfg.host.programs.files import READ_CAP

STATE_DIR = "/etc/docker/.fleetcfg"
STATE_PATH = f"{STATE_DIR}/state.json"
#: :class:`~fleetcfg.host.programs.facts.FactsEngine`'s record of dockerd
ENGINE_RECORD_PATH = f"{STATE_DIR}/engine"
BACKUP_DIR = f"{STATE_DIR}/backups"
LOCK_DIR = f"{STATE_DIR}/lock"
LOCK_OWNER_PATH = f"{LOCK_DIR}/owner.json"
#: "PID STARTTIME" of the install program while it restarts or reloads dockerd
#: and waits for its first health check, or of the beat program while it runs
#: another restart or reload (the heartbeat runs meanwhile)
LOCK_BUSY_PATH = f"{STATE_DIR}/lock.busy"
STATE_FORMAT = 1
#: backups kept per file after a successful write
DEFAULT_KEEP_BACKUPS = 10
#: suffix of the validated copy uploaded next to a target before the rename
STAGE_SUFFIX = ".fleetcfg-new"
#: seconds after which a lock whose holder stopped refreshing its heartbeat
#: may be broken (from another control machine; on the same machine, the
#: holder's process tells)
LOCK_HEARTBEAT_TIMEOUT = 300.0
#: state.json, a file's record: fleetcfg created the file (true) or it existed
#: before fleetcfg first wrote it (false); a file fleetcfg created is removed
#: when its source leaves the inventory, any other is left in place
CREATED = "created"
#: state.json, a file's record: the folder fleetcfg created for the file (and
#: removes with it)
CREATED_DIR = "created_dir"
#: seconds between the heartbeats the install program gives while it restarts
#: dockerd and waits for its first health check (a long step of one round trip)
LOCK_HEARTBEAT_EVERY = 5


def json_problem(raw: bytes) -> str | None:
    """Why ``raw`` (bytes a host sent) is not decoded at all: larger than
    :data:`~fleetcfg.host.programs.files.READ_CAP` or nested deeper than ``MAX_DEPTH`` (a hostile
    file must neither exhaust memory nor the parser's stack); None: decode it."""
    if len(raw) > READ_CAP:
        return f"it is {len(raw)} bytes, more than the {READ_CAP} bytes fleetcfg reads"
    if too_deep(raw):
        return f"it nests arrays or objects deeper than {MAX_DEPTH} levels"
    return None


def utc_stamp(moment: datetime) -> str:
    """``2024-05-07T10:15:00.123456Z``: what state.json and owner.json record."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def stage_path(path: str) -> str:
    """The temporary file next to ``path`` that is validated, then renamed
    over it: ``/etc/docker/.daemon.json.fleetcfg-new``. Fixed per target, so
    that a run that died leaves at most one, which the next run overwrites."""
    directory, name = posixpath.split(path)
    return posixpath.join(directory, f".{name}{STAGE_SUFFIX}")


def backup_name(path: str, moment: datetime) -> str:
    """The name of a backup of ``path`` made at ``moment`` (sorts by time)."""
    stamp = moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{quote(path.lstrip('/'), safe='')}.{stamp}"


def backup_path(name: str) -> str:
    return f"{BACKUP_DIR}/{name}"


# --------------------------------------------------------------------------
# the lock


@dataclass(frozen=True, slots=True)
class LockOwner:
    """Who holds the lock on a host (``lock/owner.json``)."""

    run_id: str
    user: str
    control_host: str
    pid: int
    command: str
    started_at: str
    plan_id: str | None = None
    #: a secret of the holder's run: only the run that knows it unlocks
    token: str = ""

    def to_bytes(self) -> bytes:
        data = {
            "token": self.token,
            "run_id": self.run_id,
            "user": self.user,
            "control_host": self.control_host,
            "pid": self.pid,
            "command": self.command,
            "started_at": self.started_at,
            "plan_id": self.plan_id,
        }
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> LockOwner | None:
        """The owner recorded in ``raw``, or None when it is unreadable (or
        too large or too deep to decode: :func:`json_problem`)."""
        if json_problem(raw) is not None:
            return None
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                run_id=str(data["run_id"]),
                user=str(data.get("user", "?")),
                control_host=str(data.get("control_host", "?")),
                pid=int(data.get("pid", 0)),
                command=str(data.get("command", "?")),
                started_at=str(data.get("started_at", "")),
                plan_id=data.get("plan_id") if isinstance(data.get("plan_id"), str) else None,
                token=str(data.get("token", "")),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def describe(self, now: datetime | None = None) -> str:
        """``alice@ctl-01 (pid 4242, fleetcfg apply, run 3f2a..., since ... (5m ago))``"""
        since = self.started_at or "an unknown time"
        started = parse_stamp(self.started_at)
        if started is not None and now is not None:
            since += f" ({format_age((now - started).total_seconds())} ago)"
        return (
            f"{self.user}@{self.control_host} (pid {self.pid}, fleetcfg {self.command}, "
            f"run {self.run_id}, since {since})"
        )


def lock_age_commands() -> list[list[str]]:
    """Read with the lock attempt: the mtimes of owner.json (the heartbeat)
    and of the lock folder, and the host's clock (:func:`lock_age` decodes)."""
    return [["stat", "-c", "%Y", "--", LOCK_OWNER_PATH, LOCK_DIR], ["date", "+%s"]]


def lock_age(stat_out: str, date_out: str) -> float | None:
    """Seconds since the lock's last heartbeat (owner.json's mtime, else the
    folder's), by the host's clock; None when unknown."""
    stamps = [int(w) for w in stat_out.split() if is_digits(w)]
    now = date_out.strip()
    if not stamps or not is_digits(now):
        return None
    return max(0.0, float(int(now) - stamps[0]))


def heartbeat_argv() -> list[str]:
    """Refresh the lock's heartbeat (owner.json's mtime)."""
    return ["touch", "-c", "--", LOCK_OWNER_PATH]


def format_age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d"


# --------------------------------------------------------------------------
# state.json


@dataclass(frozen=True, slots=True)
class BackupRecord:
    """One backup of a managed file; ``name is None`` when the file was absent."""

    name: str | None
    sha256: str | None
    made_at: str
    run_id: str

    @property
    def absent(self) -> bool:
        return self.name is None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sha256": self.sha256,
            "absent": self.absent,
            "made_at": self.made_at,
            "run_id": self.run_id,
        }

    @classmethod
    def from_json(cls, data: Any) -> BackupRecord | None:
        if not isinstance(data, dict):
            return None
        name = data.get("name")
        if data.get("absent") is True:
            name = None
        elif not isinstance(name, str) or "/" in name or not name:
            return None
        sha = data.get("sha256")
        return cls(
            name=name,
            sha256=sha if isinstance(sha, str) else None,
            made_at=str(data.get("made_at", "")),
            run_id=str(data.get("run_id", "")),
        )


@dataclass(frozen=True, slots=True)
class FileRecord:
    """What fleetcfg last wrote to one file, and the backups it keeps of it."""

    path: str
    kind: str
    user: str | None
    #: sha256 of the bytes written (None: fleetcfg removed the file)
    sha256: str | None
    written_at: str
    written_by: str
    run_id: str
    plan_id: str | None
    command: str
    #: oldest first
    backups: tuple[BackupRecord, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def last_backup(self) -> BackupRecord | None:
        return self.backups[-1] if self.backups else None

    @property
    def created(self) -> bool:
        """Whether fleetcfg created the file (it did not exist before
        fleetcfg first wrote it): :data:`CREATED` in the record, or
        ``created_dir`` (the file's folder was fleetcfg's too). A record of
        an older version has neither: its oldest backup then tells (``absent``),
        and once that was pruned the file counts as not fleetcfg's (it is
        then never deleted)."""
        flag = self.extra.get(CREATED)
        if isinstance(flag, bool):
            return flag
        if isinstance(self.extra.get(CREATED_DIR), str):
            return True
        return bool(self.backups) and self.backups[0].absent

    def to_json(self) -> dict[str, Any]:
        return {
            **self.extra,
            "kind": self.kind,
            "user": self.user,
            "sha256": self.sha256,
            "written_at": self.written_at,
            "written_by": self.written_by,
            "run_id": self.run_id,
            "plan_id": self.plan_id,
            "command": self.command,
            "backups": [b.to_json() for b in self.backups],
        }

    @classmethod
    def from_json(cls, path: str, data: Any) -> FileRecord | None:
        if isinstance(data, str):  # the older form: only the sha256
            data = {"sha256": data}
        if not isinstance(data, dict):
            return None
        known = {
            "kind",
            "user",
            "sha256",
            "written_at",
            "written_by",
            "run_id",
            "plan_id",
            "command",
            "backups",
        }
        backups = [BackupRecord.from_json(b) for b in data.get("backups") or []]
        sha = data.get("sha256")
        user = data.get("user")
        plan_id = data.get("plan_id")
        return cls(
            path=path,
            kind=str(data.get("kind", "daemon")),
            user=user if isinstance(user, str) else None,
            sha256=sha if isinstance(sha, str) else None,
            written_at=str(data.get("written_at", "")),
            written_by=str(data.get("written_by", "")),
            run_id=str(data.get("run_id", "")),
            plan_id=plan_id if isinstance(plan_id, str) else None,
            command=str(data.get("command", "apply")),
            backups=tuple(b for b in backups if b is not None),
            extra={k: v for k, v in data.items() if k not in known},
        )


@dataclass(frozen=True, slots=True)
class Pending:
    """An apply that replaced files and has not yet seen the daemon healthy
    with them (see the module docstring)."""

    run_id: str
    command: str
    #: what the daemon needs for the new files: restart, reload or write
    action: str
    since: str
    written_by: str
    #: path -> sha256 of the new content (None: the file is removed)
    files: Mapping[str, str | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "command": self.command,
            "action": self.action,
            "since": self.since,
            "written_by": self.written_by,
            "files": dict(self.files),
        }

    @classmethod
    def from_json(cls, data: Any) -> Pending | None:
        if not isinstance(data, dict):
            return None
        files = data.get("files")
        return cls(
            run_id=str(data.get("run_id", "")),
            command=str(data.get("command", "apply")),
            action=str(data.get("action", "restart")),
            since=str(data.get("since", "")),
            written_by=str(data.get("written_by", "")),
            files={
                str(k): v if isinstance(v, str) else None
                for k, v in (files.items() if isinstance(files, dict) else ())
            },
        )

    def describe(self) -> str:
        return f"fleetcfg {self.command} run {self.run_id} by {self.written_by} at {self.since}"


class StateFileError(ValueError):
    """state.json exists but cannot be read (fleetcfg then keeps it as it is)."""


@dataclass(frozen=True, slots=True)
class HostState:
    """The content of ``state.json``."""

    files: Mapping[str, FileRecord] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    pending: Pending | None = None

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> HostState:
        """Parse state.json (``None``: there is none yet). Raises
        :class:`StateFileError` when the file is not fleetcfg's."""
        if raw is None or not raw.strip():
            return cls()
        problem = json_problem(raw)
        if problem is not None:
            raise StateFileError(f"{STATE_PATH} is not decoded: {problem}")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StateFileError(f"{STATE_PATH} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise StateFileError(f"{STATE_PATH} is not a JSON object")
        if "files" not in data:  # the older form: path -> entry at the top level
            data = {"files": {k: v for k, v in data.items() if k.startswith("/")}}
        if not isinstance(data["files"], dict):
            raise StateFileError(f"{STATE_PATH}: 'files' is not an object")
        files: dict[str, FileRecord] = {}
        for path, entry in data["files"].items():
            record = FileRecord.from_json(str(path), entry)
            if record is not None and str(path).startswith("/"):
                files[str(path)] = record
        extra = {k: v for k, v in data.items() if k not in ("format", "files", "pending")}
        return cls(files=files, extra=extra, pending=Pending.from_json(data.get("pending")))

    def to_bytes(self) -> bytes:
        data = {
            **self.extra,
            "format": STATE_FORMAT,
            "files": {path: self.files[path].to_json() for path in sorted(self.files)},
        }
        if self.pending is not None:
            data["pending"] = self.pending.to_json()
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()

    def with_pending(self, pending: Pending | None) -> HostState:
        return replace(self, pending=pending)

    def record(self, path: str) -> FileRecord | None:
        return self.files.get(path)

    def with_record(self, record: FileRecord) -> HostState:
        return replace(self, files={**self.files, record.path: record})


def prune_backups(
    backups: tuple[BackupRecord, ...], keep: int
) -> tuple[tuple[BackupRecord, ...], list[str]]:
    """Keep the newest ``keep`` backups (at least one); returns what stays and
    the names of the backup files to delete."""
    keep = max(1, keep)
    if len(backups) <= keep:
        return backups, []
    dropped = backups[: len(backups) - keep]
    return backups[len(backups) - keep :], [b.name for b in dropped if b.name is not None]
