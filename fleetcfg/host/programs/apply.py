"""The two programs apply runs on a host (``lock.sh``, ``install.sh``), and
the decoding of what they print.

Apply's happy path is four round trips per host (the lock and the reads; the
install; the health check; the unlock) because the steps that must happen in
order, each only if the one before succeeded, run inside one program:

:class:`Lock` (``lock.sh``)
    creates or repairs the state folders (0700 root; refused when they or a
    folder above them is a symlink, not root's, or writable by others), takes
    the lock with ``mkdir`` and writes its owner (opaque JSON). Exit 0: locked;
    3: held (the holder's owner.json on stdout, when it has at most 1 MiB); 4: the owner could not be
    written (the lock is released again; stderr says why, e.g. a full disk);
    2: the folders or the lock cannot be created.
:class:`Install` (``install.sh``), the new content on stdin:

    0. refuses a root target whose path someone else controls (exit 9),
       creates the target's folder (0700) when it is missing (with
       ``dir_mode``: with its parents, and that mode);
    1. writes it to a new temporary file next to the target (stdin:
       :meth:`Install.stdin`, the content after a line with its sha256)
       (``.NAME.fleetcfg-XXXXXX``, created with ``mktemp``: never a path
       someone else prepared), checks its size and sha256, sets mode and
       owner, fsyncs it (``upload``);
    2. runs ``validate`` (``dockerd --validate ...``) when given (``validate``);
    3. copies the live file's content to ``backup`` (a new root 0600 file)
       when it exists and a backup path is given, refused past
       ``backup_cap`` bytes (``backup``);
    4. with ``pending``, writes it to ``state_path`` (state.json with the
       run's pending mark) (``pending``); then renames the upload over the
       target and fsyncs the folder (``replace``);
    5. writes ``state`` to ``state_path`` atomically when given (``state``);
    6. runs ``pre`` (``systemctl reset-failed docker``; its failure is
       ignored) and ``action`` (``systemctl restart docker``) when given
       (``action``);
    7. with ``status``: checks health once, right after the restart
       (``status`` and ``info`` exit 0, the optional ``health`` too, and
       ``info`` prints at least ``want`` running containers when given),
       printing ``fleetcfg-check STATUS_EXIT INFO_EXIT HEALTH_EXIT INFO_OUTPUT``;
       exit 70 when not healthy yet (the caller keeps polling) (``health``);
       exit 71 when ``info`` printed more than ``cap`` bytes (as ``validate``
       does in step 2, exit 21: what they print is read up to ``cap``, and
       the command is stopped past it);
    8. runs ``finish`` (:class:`Unlock`) (``unlock``).
:class:`Unlock` (``unlock.sh``)
    removes the lock only while its owner file holds the run's token, after
    writing state.json without the run's pending mark.

    With ``user``, every step on the file (1, 3 and 4) runs as that user
    (see ``fc_as`` in lib.sh): the file is theirs, created by them.

    Each finished step prints ``fleetcfg-step NAME`` on stdout. A failure
    stops the program with the step's exit status (:data:`INSTALL_FAILURES`);
    before the rename it removes the upload, so the target is untouched and no
    backup is left. ``validate``, ``pre`` and ``action`` are command lines
    quoted by :func:`~fleetcfg.host.programs.base.quote_argv` (argv lists, never
    user text).

:class:`~tests.fakes.dockerhost.FakeDockerHost` emulates both by their
first line, reading the same named arguments (see :mod:`tests.fakes.programs`).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from fleetcfg.core.numbers import is_digits
from fleetcfg.host.programs.base import (
    HostProgram,
    Upload,
    encode,
    quote_argv,
)
from fleetcfg.host.programs.files import READ_CAP
from fleetcfg.host.transport.base import CommandResult

LOCK = "lock"
INSTALL = "install"
UNLOCK = "unlock"
BEAT = "beat"


@dataclass(frozen=True, slots=True)
class Lock(HostProgram):
    """One ``lock.sh`` call: ``info`` is the owner record (opaque here); a
    held lock's owner file is printed when it has at most ``cap`` bytes."""

    SCRIPT: ClassVar[str] = LOCK

    state: str
    backups: str
    lock: str
    owner: str
    info: str
    cap: int = READ_CAP
    #: the install program's "PID STARTTIME" file while it works (see install.sh)
    busy: str = ""


def lock_argv(
    state_dir: str,
    backup_dir: str,
    lock_dir: str,
    owner_path: str,
    owner: bytes,
    *,
    busy: str = "",
) -> list[str]:
    info = owner.decode().rstrip("\n")
    return Lock(state_dir, backup_dir, lock_dir, owner_path, info, busy=busy).argv()


#: what lock.sh prints on stderr when the lock's install program still runs
BUSY_MARK = "fleetcfg-busy "


def busy_pid(stderr: str) -> int | None:
    """The pid of the install program that still works under a held lock."""
    for line in stderr.splitlines():
        if line.startswith(BUSY_MARK) and is_digits(line[len(BUSY_MARK) :].strip()):
            return int(line[len(BUSY_MARK) :])
    return None


#: the most install.sh keeps of what ``validate`` and ``info`` print (a host
#: that prints more fails the step, exit 21 or 71: the host's own shell never
#: holds an endless output)
CAPTURE_CAP = 64 * 1024
#: install.sh's exit statuses when ``validate`` or ``info`` printed more
OUTPUT_FLOODS = frozenset({21, 71})

#: install.sh's exit statuses: (step, what failed; ``{path}`` is the target)
INSTALL_FAILURES: dict[int, tuple[str, str]] = {
    9: ("upload", "refusing to write {path}"),
    10: ("upload", "cannot create a temporary file next to {path}"),
    11: ("upload", "cannot upload {path}"),
    12: ("upload", "the upload of {path} arrived incomplete"),
    13: ("upload", "cannot set the mode of the upload of {path}"),
    14: ("upload", "cannot set the owner of the upload of {path}"),
    20: ("validate", "the host's validation rejects the new {path}"),
    21: (
        "validate",
        f"dockerd --validate printed more than {CAPTURE_CAP // 1024} KiB about the new {{path}}",
    ),
    30: ("backup", "cannot back up {path}"),
    40: ("replace", "cannot rename the upload over {path}"),
    45: ("pending", "cannot mark the apply pending in state.json before replacing {path}"),
    50: ("state", "cannot write state.json after replacing {path}"),
    60: ("action", "the reload or restart command failed"),
    70: ("health", "not healthy at the first check"),
    71: ("health", f"docker info printed more than {CAPTURE_CAP // 1024} KiB at the first check"),
    80: ("unlock", "cannot unlock"),
    129: ("upload", "the connection dropped while uploading {path} (hang-up)"),
    130: ("upload", "interrupted while uploading {path}"),
    141: ("upload", "the connection dropped while uploading {path} (broken pipe)"),
    143: ("upload", "terminated while uploading {path}"),
}


#: in :attr:`Install.validate`, the argument that names the upload
STAGE = "{stage}"


def _command_line(argv: Sequence[str]) -> str:
    return " ".join('"$stage"' if a == STAGE else shlex.quote(str(a)) for a in argv)


@dataclass(frozen=True, slots=True)
class Install(Upload):
    """One ``install.sh`` call (``validate`` may use :data:`STAGE`)."""

    SCRIPT: ClassVar[str] = INSTALL

    target: str
    content: bytes
    mode: int
    owner: str
    group: str
    #: the user whose file this is (every step on it runs as them); None: root's
    user: str | None = None
    backup: str | None = None
    validate: Sequence[str] = ()
    state_path: str | None = None
    state: bytes | None = None
    pre: Sequence[str] = ()
    action: Sequence[str] = ()
    #: the first health check, right after the action (empty: none)
    status: Sequence[str] = ()
    info: Sequence[str] = ()
    health: Sequence[str] = ()
    want: int | None = None
    #: commands to run once healthy (the unlock), in order, stopping at a failure
    finish: Sequence[Sequence[str]] = ()
    #: state.json with the run's pending mark, written to ``state_path`` right
    #: before the rename
    pending: bytes | None = None
    #: a root target's missing folder is created with its parents and this
    #: mode (None: one level, 0700, as the file's user)
    dir_mode: int | None = None
    #: while the action and the first health check run: the file whose mtime
    #: is the lock's heartbeat (touched every ``every`` seconds), and the file
    #: that names this program meanwhile
    beat: str | None = None
    busy: str | None = None
    every: int = 5
    #: the most of what ``validate`` and ``info`` print that is kept
    cap: int = CAPTURE_CAP
    #: the most of the live file the backup copies (a larger one fails the
    #: backup: a user's file may have become a link to a huge file or
    #: /dev/zero since it was read, and the copy is root's)
    backup_cap: int = READ_CAP

    def arguments(self) -> dict[str, str]:
        return {
            "target": self.target,
            **self.upload(),
            "user": encode(self.user),
            "backup": encode(self.backup),
            "validate": _command_line(self.validate) if self.validate else "",
            "state_path": encode(self.state_path),
            "state": encode(self.state),
            "pre": quote_argv(self.pre) if self.pre else "",
            "action": quote_argv(self.action) if self.action else "",
            "status": quote_argv(self.status) if self.status else "",
            "info": quote_argv(self.info) if self.info else "",
            "health": quote_argv(self.health) if self.health else "",
            "want": encode(self.want),
            "finish": " && ".join(quote_argv(c) for c in self.finish),
            "pending": encode(self.pending),
            "dir_mode": f"{self.dir_mode:o}" if self.dir_mode is not None else "",
            "beat": encode(self.beat),
            "busy": encode(self.busy),
            "every": str(self.every),
            "cap": str(self.cap),
            "backup_cap": str(self.backup_cap),
        }


@dataclass(frozen=True, slots=True)
class Beat(HostProgram):
    """One ``beat.sh`` call: ``command`` (a restart or reload apply or
    rollback runs outside the install program) run while ``beat`` (the
    lock's heartbeat) is touched every ``every`` seconds and ``busy`` names
    the program, as the install program does for its restart."""

    SCRIPT: ClassVar[str] = BEAT

    beat: str
    busy: str
    every: int
    command: Sequence[str]

    def arguments(self) -> dict[str, str]:
        return {
            "beat": self.beat,
            "busy": self.busy,
            "every": str(self.every),
            "command": quote_argv(self.command),
        }


#: unlock.sh's exit statuses
UNLOCK_NOT_OURS = 3
UNLOCK_FAILURES = {4: "cannot write state.json", 5: "cannot remove the lock"}


@dataclass(frozen=True, slots=True)
class Unlock(HostProgram):
    """One ``unlock.sh`` call: remove the lock if ``owner`` holds ``token``,
    writing ``state`` first when given and deleting the ``pruned`` backups."""

    SCRIPT: ClassVar[str] = UNLOCK

    token: str
    owner: str
    lock: str
    state_path: str | None = None
    state: bytes | None = None
    pruned: Sequence[str] = ()

    def rest(self) -> list[str]:
        return list(self.pruned)


def steps_done(result: CommandResult) -> list[str]:
    """The steps install.sh finished, in order."""
    return [
        line.split()[1]
        for line in result.stdout.splitlines()
        if line.startswith("fleetcfg-step ") and len(line.split()) == 2
    ]


@dataclass(frozen=True, slots=True)
class Check:
    """The first health check install.sh made."""

    status_exit: int
    info_exit: int
    health_exit: int
    info: str


def check_of(result: CommandResult) -> Check | None:
    for line in result.stdout.splitlines():
        if line.startswith("fleetcfg-check "):
            parts = line.split(" ", 4)
            if len(parts) >= 4 and all(is_digits(p.lstrip("-")) for p in parts[1:4]):
                info = parts[4] if len(parts) == 5 else ""
                return Check(int(parts[1]), int(parts[2]), int(parts[3]), info)
    return None


def stage_of(result: CommandResult) -> str | None:
    """The temporary file install.sh wrote the upload to."""
    for line in result.stdout.splitlines():
        if line.startswith("fleetcfg-stage "):
            return line[len("fleetcfg-stage ") :]
    return None


def install_failure(result: CommandResult) -> tuple[str, str] | None:
    """``(step, what)`` when install.sh failed, else None."""
    if result.exit_status == 0:
        return None
    return INSTALL_FAILURES.get(
        result.exit_status,
        ("upload", f"installing {{path}} failed (exit status {result.exit_status})"),
    )
