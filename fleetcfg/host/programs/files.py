"""The programs behind the transports' ``run_many``, ``read_file`` and
``write_file``, and :class:`AsUser`, which runs any of them as a given user.
Their output is decoded in :mod:`fleetcfg.host.transport.scripts`."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import ClassVar

from fleetcfg.host.programs.base import (
    HostProgram,
    Upload,
    identify,
    quote_argv,
)

#: the most fleetcfg reads of any file on a host (bytes)
READ_CAP = 1024 * 1024


#: the programs ``run_many.sh`` runs in a subshell of its own shell rather
#: than in an ``sh`` of their own (one process fewer each): they use neither
#: ``$$`` (the batch's shell's in a subshell) nor traps nor the heartbeat,
#: and set every variable they read (``test_programs`` checks the first two)
IN_BATCH_SHELL = ("facts_files", "facts_unit", "engine")


def batch_line(argv: Sequence[str]) -> str:
    """The command line ``run_many.sh`` runs for ``argv``: a program of
    :data:`IN_BATCH_SHELL` as ``run_many_program PROGRAM ARG...``, any other
    command quoted as is."""
    return _batch_line(tuple(argv))


@lru_cache(maxsize=256)
def _batch_line(argv: tuple[str, ...]) -> str:
    # every host of a run gets the same few fact programs: quoted once
    if identify(argv, IN_BATCH_SHELL) is not None and argv[3] == "sh":
        return quote_argv(["run_many_program", argv[2], *argv[4:]])
    return quote_argv(argv)


@dataclass(frozen=True, slots=True)
class RunMany(HostProgram):
    """Several commands in one exec, their output framed by ``nonce``."""

    SCRIPT: ClassVar[str] = "run_many"

    commands: tuple[tuple[str, ...], ...]
    nonce: str = field(default_factory=lambda: "FLEETCFG" + secrets.token_hex(16))

    def rest(self) -> list[str]:
        return [batch_line(argv) for argv in self.commands]


@dataclass(frozen=True, slots=True)
class Read(HostProgram):
    """``MODE OWNER GROUP SIZE`` and at most ``cap`` bytes of ``path``."""

    SCRIPT: ClassVar[str] = "read"

    path: str
    cap: int = READ_CAP


@dataclass(frozen=True, slots=True)
class Write(Upload):
    """``content`` (on stdin) written to ``path`` atomically."""

    SCRIPT: ClassVar[str] = "write"

    path: str
    content: bytes
    mode: int
    owner: str
    group: str

    def arguments(self) -> dict[str, str]:
        return {"path": self.path, **self.upload()}


@dataclass(frozen=True, slots=True)
class AsUser(HostProgram):
    """``command`` (an argv, e.g. another program's) run as ``user``, with
    that user's own permissions (exit 67: no such user)."""

    SCRIPT: ClassVar[str] = "as_user"

    user: str
    command: Sequence[str] = ()

    def rest(self) -> list[str]:
        return list(self.command)


#: AsUser's exit status when the user does not exist
NO_USER = 67


def as_owner(user: str | None, argv: Sequence[str]) -> list[str]:
    """``argv`` run as ``user`` (the owner of a client config), or as is."""
    return AsUser(user, argv).argv() if user else list(argv)


def read_argv(path: str, user: str | None = None) -> list[str]:
    """Read ``path`` (see :class:`Read`), as ``user`` when given."""
    return as_owner(user, Read(path).argv())
