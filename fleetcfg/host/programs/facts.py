"""The programs plan runs to learn what a host has (``facts_files.sh``,
``facts_unit.sh``, ``engine.sh``); :mod:`fleetcfg.plan.facts` decodes their output."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from fleetcfg.host.programs.base import HostProgram
from fleetcfg.host.programs.files import READ_CAP


@dataclass(frozen=True, slots=True)
class FactsFiles(HostProgram):
    """Every file of ``paths`` (absolute: root's files, checked like
    ``fc_trusted``; or ``@USER``: ``rel`` in USER's home, read by whoever runs
    the program: plan runs it as USER through :class:`~fleetcfg.host.programs.files.AsUser`)
    with one ``stat``, at most ``cap`` bytes each."""

    SCRIPT: ClassVar[str] = "facts_files"

    rel: str
    paths: Sequence[str] = ()
    cap: int = READ_CAP

    def rest(self) -> list[str]:
        return list(self.paths)


#: the most ``systemctl show`` of the unit prints (a few KiB)
SHOW_CAP = 256 * 1024


@dataclass(frozen=True, slots=True)
class FactsUnit(HostProgram):
    """``systemctl show`` of ``unit`` (at most ``show_cap`` bytes) and its
    EnvironmentFile= contents (at most ``cap`` bytes each)."""

    SCRIPT: ClassVar[str] = "facts_unit"

    unit: str
    cap: int = READ_CAP
    #: the most of ``systemctl show`` that is read (past it: exit 3, and
    #: systemctl is stopped): the host's shell never holds an endless output
    show_cap: int = SHOW_CAP


@dataclass(frozen=True, slots=True)
class FactsEngine(HostProgram):
    """The first line of ``dockerd --version``, or the one ``record`` holds
    when it names the very binary ``command -v dockerd`` finds (its path and
    ``stat -L`` device, inode, size, mtime and ctime) and passes
    ``fc_trusted``. ``save`` (apply, under the lock): record what the real
    ``dockerd --version`` printed (see ``engine.sh``)."""

    SCRIPT: ClassVar[str] = "engine"

    record: str
    save: bool = False
