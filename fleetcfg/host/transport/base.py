"""The Transport protocol: read a file, write a file atomically, run commands.

Everything that has a side effect on a host goes through these four methods,
so that the same facts/plan/apply code runs against an in-memory fake, the
local machine and real SSH hosts.

Commands are argument vectors, never shell strings: implementations quote
every argument themselves. A transport configured with ``become`` runs every
command and file operation through ``sudo -n`` (never prompting).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from fleetcfg.core.hashing import sha256_hex


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a command did. ``exit_status`` is the process exit code; 127 means
    "command not found", 124 a timeout reported by the remote side."""

    argv: tuple[str, ...]
    exit_status: int
    stdout: str = ""
    stderr: str = ""
    #: the exact bytes the command wrote to stdout (``stdout`` is their UTF-8
    #: decoding with invalid bytes replaced); ``None`` when only text is known
    raw_stdout: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    @property
    def stdout_bytes(self) -> bytes:
        """stdout exactly as written (e.g. to hash a file read with ``cat``)."""
        return self.raw_stdout if self.raw_stdout is not None else self.stdout.encode()

    @classmethod
    def from_bytes(
        cls, argv: Sequence[str], exit_status: int, stdout: bytes, stderr: bytes
    ) -> CommandResult:
        """Build a result from raw output, keeping stdout's exact bytes."""
        return cls(
            argv=tuple(argv),
            exit_status=exit_status,
            stdout=stdout.decode("utf-8", "replace"),
            stderr=stderr.decode("utf-8", "replace"),
            raw_stdout=stdout,
        )


@dataclass(frozen=True, slots=True)
class FileState:
    """A file as it is on the host (``exists=False`` and no content when absent)."""

    path: str
    exists: bool
    content: bytes | None = None
    mode: int | None = None  # permission bits, e.g. 0o644
    owner: str | None = None
    group: str | None = None
    sha256: str | None = field(default=None)

    @classmethod
    def absent(cls, path: str) -> FileState:
        return cls(path=path, exists=False)

    @classmethod
    def present(cls, path: str, content: bytes, *, mode: int, owner: str, group: str) -> FileState:
        return cls(
            path=path,
            exists=True,
            content=content,
            mode=mode,
            owner=owner,
            group=group,
            sha256=sha256_hex(content),
        )


@runtime_checkable
class Transport(Protocol):
    """A connection to one host. Implementations must be usable from one thread
    at a time and reuse one underlying connection for every call."""

    #: the inventory name of the host (used in every error message)
    host: str

    @property
    def runs_as(self) -> str | None:
        """The user the host runs commands as, when fleetcfg knows it (the
        SSH login user, root with become, the local user); None: unknown."""
        ...

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
        max_output: int | None = None,
    ) -> CommandResult:
        """Run one command. Never raises for a non-zero exit status; raises
        :class:`~fleetcfg.core.errors.TransportError` subclasses when the host cannot
        be reached or the command times out, and
        :class:`~fleetcfg.core.errors.OutputTooLargeError` (the command stopped)
        when its stdout or its stderr passes ``max_output`` bytes (default
        :data:`~fleetcfg.host.transport.caps.OUTPUT_CAP`)."""
        ...

    def run_many(
        self,
        commands: Sequence[Sequence[str]],
        *,
        timeout: float | None = None,
        max_output: int | None = None,
    ) -> list[CommandResult]:
        """Run several independent commands in one round trip (used for facts).
        Each command's result is returned in order, whatever the others did;
        ``max_output`` caps each command's stdout and stderr as for :meth:`run`."""
        ...

    def read_file(self, path: str) -> FileState:
        """Content, sha256, mode and owner of ``path`` (``exists=False`` if absent)."""
        ...

    def write_file(
        self,
        path: str,
        data: bytes,
        *,
        mode: int = 0o644,
        owner: str = "root",
        group: str = "root",
    ) -> None:
        """Write ``path`` atomically: a temporary file in the same directory with
        the given mode and owner, fsync'ed, then renamed over ``path``. On any
        failure (full disk, dropped connection) ``path`` is untouched and the
        temporary file is removed where possible."""
        ...

    def close(self) -> None: ...
