"""What the SSH and local transports run on a host for ``run_many``,
``read_file`` and ``write_file`` (the programs of
:mod:`fleetcfg.host.programs.files`), and the decoding of what they print.
Each costs exactly one exec round trip.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from fleetcfg.core.errors import (
    BecomeError,
    ConnectionLostError,
    RemoteCommandError,
    TransportError,
    UsageError,
)
from fleetcfg.core.hashing import sha256_hex
from fleetcfg.core.numbers import is_digits
from fleetcfg.host.programs.base import quote_argv
from fleetcfg.host.programs.files import READ_CAP, Read, RunMany, Write
from fleetcfg.host.transport.base import CommandResult, FileState
from fleetcfg.host.transport.caps import BatchMeter

__all__ = ["quote_argv"]

SUDO = ("sudo", "-n", "--")


def describe_argv(argv: Sequence[str], limit: int = 120) -> str:
    """A command for messages: quoted, in backticks, shortened when long."""
    text = quote_argv(argv)
    return f"`{text if len(text) <= limit else text[: limit - 3] + '...'}`"


def with_become(argv: Sequence[str], become: bool) -> list[str]:
    """``argv`` run through ``sudo -n`` when ``become`` (never prompts)."""
    return [*SUDO, *argv] if become else list(argv)


def sudo_failure(
    result_status: int, stderr: bytes | str, *, user: str, host: str
) -> BecomeError | None:
    """The error to raise when sudo itself refused to run a command, else None."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    if result_status == 127 and re.search(r"\bsudo\b.*not found", first):
        return BecomeError(
            f"become needs sudo, but sudo is not installed on host {host}",
            host=host,
            hint="install sudo or connect as root",
        )
    if result_status != 1 or not first.startswith("sudo:"):
        return None
    if "password is required" in first or "terminal is required" in first:
        return BecomeError(
            f"sudo requires a password for user {user} on host {host}",
            host=host,
            hint="configure NOPASSWD for fleetcfg's commands or connect as root",
        )
    if "not in the sudoers file" in first or "not allowed to" in first:
        return BecomeError(
            f"user {user} may not run commands with sudo on host {host}: {first}",
            host=host,
            hint="grant NOPASSWD sudo to this user or connect as root",
        )
    return None


# --------------------------------------------------------------------------
# run_many: several commands, one round trip


@dataclass(frozen=True, slots=True)
class Batch:
    """A run_many program (``argv``) and the nonce that frames its output."""

    commands: tuple[tuple[str, ...], ...]
    nonce: str
    argv: list[str]


def build_batch(commands: Sequence[Sequence[str]]) -> Batch:
    """``run_many.sh`` running each command with stdin from /dev/null and
    framing its stdout and stderr with a random marker. Output is split on
    ``\\n<nonce> <index> <status>\\n``, so any bytes (binary, no trailing
    newline, NULs) survive."""
    program = RunMany(tuple(tuple(str(a) for a in argv) for argv in commands))
    return Batch(commands=program.commands, nonce=program.nonce, argv=program.argv())


#: what follows a batch's marker in stdout (index, exit status) and stderr (index)
_OUT_TAIL = re.compile(rb" (\d+) (-?\d+)\n")
_ERR_TAIL = re.compile(rb" (\d+)\n")


def _split_on_markers(
    data: bytes, marker: bytes, tail: re.Pattern[bytes]
) -> Iterator[tuple[bytes, re.Match[bytes]]]:
    """(text before, tail match) for each ``marker`` followed by ``tail``, left
    to right, as ``re.finditer`` on ``marker + tail`` would find them (one
    regex for every batch instead of one per batch nonce)."""
    pos = search = 0
    while (start := data.find(marker, search)) != -1:
        m = tail.match(data, start + len(marker))
        if m is None:
            search = start + 1
            continue
        yield data[pos:start], m
        pos = search = m.end()


def batch_meter(batch: Batch, cap: int) -> BatchMeter:
    """Counts each command's output of ``batch`` while it arrives (at most
    ``cap`` bytes of stdout and of stderr each)."""
    marker = b"\n" + batch.nonce.encode()
    return BatchMeter(marker, (_OUT_TAIL, _ERR_TAIL), len(batch.commands), cap)


def parse_batch(batch: Batch, stdout: bytes, stderr: bytes) -> list[CommandResult]:
    """Split a batch's output into one result per command. Raises
    ``ValueError`` if the output was cut short (the program did not finish)."""
    marker = b"\n" + batch.nonce.encode()
    outs: list[tuple[bytes, int]] = []
    for text, m in _split_on_markers(stdout, marker, _OUT_TAIL):
        if int(m.group(1)) != len(outs):
            raise ValueError("run_many output markers out of order")
        outs.append((text, int(m.group(2))))
    errs = [text for text, _ in _split_on_markers(stderr, marker, _ERR_TAIL)]
    if len(outs) != len(batch.commands):
        raise ValueError(f"run_many output has {len(outs)} of {len(batch.commands)} results")
    errs += [b""] * (len(outs) - len(errs))
    return [
        CommandResult.from_bytes(argv, status, out, err)
        for argv, (out, status), err in zip(batch.commands, outs, errs, strict=True)
    ]


# --------------------------------------------------------------------------
# read_file: stat + content in one round trip


def read_file_argv(path: str, cap: int = READ_CAP) -> list[str]:
    _check_path(path)
    return Read(path, cap).argv()


#: what a file read prints besides the content (its stat line)
READ_HEADER = 4096
#: the most a read of a file (at most ``READ_CAP`` bytes) prints
READ_OUTPUT_CAP = READ_CAP + READ_HEADER


def parse_read_file(path: str, status: int, stdout: bytes, stderr: bytes, host: str) -> FileState:
    message = stderr.decode("utf-8", "replace").strip()
    if status == 3 and ("No such file or directory" in message or "Not a directory" in message):
        return FileState.absent(path)
    if status == 6:
        too_large = RemoteCommandError(
            f"refusing to read {path} on host {host}: {message.removeprefix('fleetcfg: ')}",
            exit_status=status,
            stderr=message,
            host=host,
        )
        too_large.hint = "a file this large is not a Docker configuration; check it on the host"
        raise too_large
    if status != 0:
        error = RemoteCommandError(
            f"cannot read {path}: {message or f'exit status {status}'}",
            exit_status=status,
            stderr=message,
            host=host,
        )
        if "Permission denied" in message:
            error.hint = "use become (sudo) or check the path"
        raise error
    header, sep, content = stdout.partition(b"\n")
    fields = header.decode("utf-8", "replace").split()
    if (
        not sep
        or len(fields) != 4
        or not re.fullmatch(r"[0-7]{1,4}", fields[0])
        or not is_digits(fields[3])
    ):
        raise TransportError(
            f"cannot read {path}: unexpected stat output {header[:80]!r}", host=host
        )
    if int(fields[3]) != len(content):
        raise TransportError(
            f"cannot read {path}: it changed while it was read ({fields[3]} bytes, "
            f"{len(content)} read)",
            host=host,
            hint="run again",
        )
    return FileState(
        path=path,
        exists=True,
        content=content,
        mode=int(fields[0], 8),
        owner=fields[1],
        group=fields[2],
        sha256=sha256_hex(content),
    )


# --------------------------------------------------------------------------
# write_file: temp file next to the target, verified, fsync'ed, renamed

#: exit statuses of write.sh and what failed
_WRITE_STAGES = {
    9: "it or a folder above it is a symlink, another user's, or writable by others",
    10: "cannot create a temporary file in the target's directory",
    11: "cannot write the temporary file",
    12: "the data arrived incomplete",
    13: "cannot set the file mode",
    14: "cannot set the file owner",
    15: "cannot rename the temporary file over the target",
}

_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\$?|\d+")


def write_file_command(
    path: str, data: bytes, *, mode: int, owner: str, group: str
) -> tuple[list[str], bytes]:
    """write.sh's argv and its stdin (``data`` after a line with its sha256)."""
    _check_path(path)
    if not 0 <= mode <= 0o7777:
        raise UsageError(f"bad file mode {mode:o} for {path}")
    for what, name in (("owner", owner), ("group", group)):
        if not _NAME_RE.fullmatch(name):
            raise UsageError(f"bad {what} {name!r} for {path}")
    program = Write(path, data, mode, owner, group)
    return program.argv(), program.stdin()


def check_write_result(
    path: str, status: int, stderr: bytes, host: str, *, lost: bool = False
) -> None:
    """Raise the error for a failed write (``status`` of write.sh)."""
    if status == 0:
        return
    message = stderr.decode("utf-8", "replace").strip()
    if lost or status in (129, 141, 143):
        raise ConnectionLostError(
            f"connection lost while writing {path}; the file was not replaced",
            host=host,
            hint="check the host and run again",
        )
    stage = _WRITE_STAGES.get(status, f"the write failed (exit status {status})")
    unchanged = "the file was not changed"
    if "No space left on device" in message:
        directory = path.rpartition("/")[0] or "/"
        error = RemoteCommandError(
            f"cannot write {path}: no space left on device in {directory} ({unchanged})",
            exit_status=status,
            stderr=message,
            host=host,
        )
        error.hint = "free some space on the host and run again"
        raise error
    error = RemoteCommandError(
        f"cannot write {path}: {stage}: {message or 'no error output'} ({unchanged})",
        exit_status=status,
        stderr=message,
        host=host,
    )
    if "Permission denied" in message or "Operation not permitted" in message:
        error.hint = "use become (sudo) or connect as root"
    raise error


def _check_path(path: str) -> None:
    if not path.startswith("/"):
        raise UsageError(f"remote paths must be absolute, got {path!r}")
    if "\0" in path:
        raise UsageError(f"remote path {path!r} contains a NUL byte")
