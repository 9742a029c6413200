"""The two POSIX sh programs apply runs on a host, and the decoding of what
they print.

Apply's happy path is four round trips per host (the lock and the reads; the
install; the health check; the unlock) because the steps that must happen in
order, each only if the one before succeeded, run inside one program:

``LOCK_PROGRAM`` (``# fleetcfg-apply: lock v1``)
    ``STATE_DIR BACKUP_DIR LOCK_DIR OWNER_PATH OWNER_JSON``: creates the state
    folders (0700), takes the lock with ``mkdir`` and writes its owner.
    Exit 0: locked; 3: held (the holder's owner.json on stdout); 4: the owner
    could not be written (the lock is released again; stderr says why, e.g. a
    full disk); 2: the folders or the lock cannot be created.
``INSTALL_PROGRAM`` (``# fleetcfg-apply: install v1``)
    ``TARGET MODE OWNER GROUP SIZE SHA256 BACKUP VALIDATE STATE_PATH
    STATE_JSON PRE ACTION`` with the new content on stdin:

    1. writes it to a new temporary file next to the target
       (``.NAME.fleetcfg-XXXXXX``, created with ``mktemp``: never a path
       someone else prepared), checks its size and sha256, sets mode and
       owner, fsyncs it (``upload``);
    2. runs ``VALIDATE`` (``dockerd --validate ...``) when given (``validate``);
    3. copies the live file to ``BACKUP`` (``cp -p``) when it exists and a
       backup path is given (``backup``);
    4. renames the upload over the target and fsyncs the folder (``replace``);
    5. writes ``STATE_JSON`` to ``STATE_PATH`` atomically when given (``state``);
    6. runs ``PRE`` (``systemctl reset-failed docker``; its failure is
       ignored) and ``ACTION`` (``systemctl restart docker``) when given
       (``action``);
    7. with ``STATUS``: checks health once, right after the restart
       (``STATUS`` and ``INFO`` exit 0, the optional ``HEALTH`` too, and
       ``INFO`` prints at least ``WANT`` running containers when given),
       printing ``fleetcfg-check STATUS_EXIT INFO_EXIT HEALTH_EXIT INFO_OUTPUT``;
       exit 70 when not healthy yet (the caller keeps polling) (``health``);
    8. runs ``FINISH`` (delete old backups, unlock) (``unlock``).

    The arguments after ``STATE_JSON`` are ``PRE ACTION STATUS INFO HEALTH
    WANT FINISH``.

    Each finished step prints ``fleetcfg-step NAME`` on stdout. A failure
    stops the program with the step's exit status (:data:`INSTALL_FAILURES`);
    before the rename it removes the upload, so the target is untouched and no
    backup is left. ``VALIDATE``, ``PRE`` and ``ACTION`` are command lines
    quoted by :func:`fleetcfg.host.transport.scripts.quote_argv` (argv lists, never
    user text).

:class:`~tests.fakes.dockerhost.FakeDockerHost` emulates both by their
first line (see :mod:`tests.fakes.programs`).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from fleetcfg.core.hashing import sha256_hex
from fleetcfg.host.transport.base import CommandResult
from fleetcfg.host.transport.scripts import quote_argv

LOCK_HEADER = "# fleetcfg-apply: lock v1"
INSTALL_HEADER = "# fleetcfg-apply: install v1"

LOCK_PROGRAM = (
    LOCK_HEADER
    + r"""
export LC_ALL=C
state=$1 backups=$2 lock=$3 owner=$4 info=$5
mkdir -p -m 0700 -- "$state" "$backups" || exit 2
if mkdir -m 0755 -- "$lock" 2>/dev/null; then
  if ! printf '%s\n' "$info" >"$owner"; then
    rm -f -- "$owner"
    rmdir -- "$lock"
    exit 4
  fi
  exit 0
fi
if [ ! -d "$lock" ]; then
  mkdir -m 0755 -- "$lock"
  exit 2
fi
cat -- "$owner" 2>/dev/null
exit 3
"""
)

INSTALL_PROGRAM = (
    INSTALL_HEADER
    + r"""
export LC_ALL=C
umask 077
target=$1 mode=$2 owner=$3 group=$4 size=$5 sum=$6 backup=$7 validate=$8 state=$9
shift 9
content=$1 pre=$2 action=$3 status=$4 info=$5 health=$6 want=$7 finish=$8
d=${target%/*}
[ -n "$d" ] || d=/
step() { printf 'fleetcfg-step %s\n' "$1"; }
fail() { rm -f -- "$stage"; exit "$1"; }
stage=$(mktemp "$d/.${target##*/}.fleetcfg-XXXXXX") || exit 10
printf 'fleetcfg-stage %s\n' "$stage"
trap 'rm -f -- "$stage"; exit 129' HUP
trap 'rm -f -- "$stage"; exit 130' INT
trap 'rm -f -- "$stage"; exit 143' TERM
trap 'rm -f -- "$stage"; exit 141' PIPE
cat >"$stage" || fail 11
n=$(wc -c <"$stage") || fail 11
if [ "$n" -ne "$size" ]; then echo "fleetcfg: received $n of $size bytes" >&2; fail 12; fi
h=$(sha256sum <"$stage") || fail 11
if [ "${h%% *}" != "$sum" ]; then echo "fleetcfg: checksum mismatch" >&2; fail 12; fi
chmod "$mode" "$stage" || fail 13
chown "$owner:$group" "$stage" || fail 14
sync -- "$stage" 2>/dev/null
step upload
if [ -n "$validate" ]; then
  out=$(eval "$validate" 2>&1) || { printf '%s\n' "$out" >&2; fail 20; }
  step validate
fi
made=
if [ -n "$backup" ] && [ -e "$target" ]; then
  cp -p -- "$target" "$backup" || { rm -f -- "$backup"; fail 30; }
  made=$backup
  step backup
fi
mv -f -- "$stage" "$target" || { [ -z "$made" ] || rm -f -- "$made"; fail 40; }
trap - HUP INT TERM PIPE
sync -- "$d" 2>/dev/null
step replace
if [ -n "$state" ]; then
  t=$state.fleetcfg-new
  if ! printf '%s' "$content" >"$t" || ! mv -f -- "$t" "$state"; then
    rm -f -- "$t"
    exit 50
  fi
  step state
fi
if [ -n "$pre" ]; then
  eval "$pre" >/dev/null 2>&1
fi
if [ -n "$action" ]; then
  eval "$action" || exit 60
  step action
fi
if [ -n "$status" ]; then
  s=0 i=0 c=0
  eval "$status" >/dev/null 2>&1 || s=$?
  r=$(eval "$info" 2>/dev/null) || i=$?
  if [ -n "$health" ]; then eval "$health" >/dev/null 2>&1 || c=$?; fi
  printf 'fleetcfg-check %s %s %s %s\n' "$s" "$i" "$c" "$r"
  [ "$s" = 0 ] && [ "$i" = 0 ] && [ "$c" = 0 ] || exit 70
  if [ -n "$want" ]; then
    case $r in '' | *[!0-9]*) exit 70 ;; esac
    [ "$r" -ge "$want" ] || exit 70
  fi
  step health
fi
if [ -n "$finish" ]; then
  eval "$finish" || exit 80
  step unlock
fi
exit 0
"""
)

#: INSTALL_PROGRAM's exit statuses: (step, what failed; ``{path}`` is the target)
INSTALL_FAILURES: dict[int, tuple[str, str]] = {
    10: ("upload", "cannot create a temporary file next to {path}"),
    11: ("upload", "cannot upload {path}"),
    12: ("upload", "the upload of {path} arrived incomplete"),
    13: ("upload", "cannot set the mode of the upload of {path}"),
    14: ("upload", "cannot set the owner of the upload of {path}"),
    20: ("validate", "the host's validation rejects the new {path}"),
    30: ("backup", "cannot back up {path}"),
    40: ("replace", "cannot rename the upload over {path}"),
    50: ("state", "cannot write state.json after replacing {path}"),
    60: ("action", "the reload or restart command failed"),
    70: ("health", "not healthy at the first check"),
    80: ("unlock", "cannot unlock"),
    129: ("upload", "the connection dropped while uploading {path} (hang-up)"),
    130: ("upload", "interrupted while uploading {path}"),
    141: ("upload", "the connection dropped while uploading {path} (broken pipe)"),
    143: ("upload", "terminated while uploading {path}"),
}


def lock_argv(
    state_dir: str, backup_dir: str, lock_dir: str, owner_path: str, owner: bytes
) -> list[str]:
    info = owner.decode().rstrip("\n")
    return ["sh", "-c", LOCK_PROGRAM, "sh", state_dir, backup_dir, lock_dir, owner_path, info]


#: in :attr:`Install.validate`, the argument that names the upload
STAGE = "{stage}"


def _command_line(argv: Sequence[str]) -> str:
    return " ".join('"$stage"' if a == STAGE else shlex.quote(str(a)) for a in argv)


@dataclass(frozen=True, slots=True)
class Install:
    """One INSTALL_PROGRAM call (``validate`` may use :data:`STAGE`)."""

    target: str
    content: bytes
    mode: int
    owner: str
    group: str
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

    def argv(self) -> list[str]:
        return [
            "sh",
            "-c",
            INSTALL_PROGRAM,
            "sh",
            self.target,
            f"{self.mode:04o}",
            self.owner,
            self.group,
            str(len(self.content)),
            sha256_hex(self.content),
            self.backup or "",
            _command_line(self.validate) if self.validate else "",
            self.state_path or "",
            self.state.decode() if self.state is not None else "",
            quote_argv(self.pre) if self.pre else "",
            quote_argv(self.action) if self.action else "",
            quote_argv(self.status) if self.status else "",
            quote_argv(self.info) if self.info else "",
            quote_argv(self.health) if self.health else "",
            str(self.want) if self.want is not None else "",
            " && ".join(quote_argv(c) for c in self.finish),
        ]


def steps_done(result: CommandResult) -> list[str]:
    """The steps INSTALL_PROGRAM finished, in order."""
    return [
        line.split()[1]
        for line in result.stdout.splitlines()
        if line.startswith("fleetcfg-step ") and len(line.split()) == 2
    ]


@dataclass(frozen=True, slots=True)
class Check:
    """The first health check INSTALL_PROGRAM made."""

    status_exit: int
    info_exit: int
    health_exit: int
    info: str


def check_of(result: CommandResult) -> Check | None:
    for line in result.stdout.splitlines():
        if line.startswith("fleetcfg-check "):
            parts = line.split(" ", 4)
            if len(parts) >= 4 and all(p.lstrip("-").isdigit() for p in parts[1:4]):
                info = parts[4] if len(parts) == 5 else ""
                return Check(int(parts[1]), int(parts[2]), int(parts[3]), info)
    return None


def stage_of(result: CommandResult) -> str | None:
    """The temporary file INSTALL_PROGRAM wrote the upload to."""
    for line in result.stdout.splitlines():
        if line.startswith("fleetcfg-stage "):
            return line[len("fleetcfg-stage ") :]
    return None


def install_failure(result: CommandResult) -> tuple[str, str] | None:
    """``(step, what)`` when INSTALL_PROGRAM failed, else None."""
    if result.exit_status == 0:
        return None
    return INSTALL_FAILURES.get(
        result.exit_status,
        ("upload", f"installing {{path}} failed (exit status {result.exit_status})"),
    )
