"""The sh programs fleetcfg runs on hosts: real POSIX ``.sh`` files in this
folder (package data), one :class:`~fleetcfg.host.programs.base.HostProgram`
type per program with named fields that builds its argv.

- ``lib.sh``: the shared routines (the atomic write, the trust check of
  root's paths, dropping privileges to a user), inlined into the programs
- ``lock.sh``, ``install.sh``, ``unlock.sh``, ``beat.sh``: apply (:mod:`.apply`)
- ``run_many.sh``, ``read.sh``, ``write.sh``, ``as_user.sh``: the transports
  and running a program as a user (:mod:`.files`)
- ``facts_files.sh``, ``facts_unit.sh``, ``engine.sh``: what plan asks a host (:mod:`.facts`)
"""

from fleetcfg.host.programs.apply import (
    INSTALL_FAILURES,
    OUTPUT_FLOODS,
    STAGE,
    Beat,
    Check,
    Install,
    Lock,
    Unlock,
    check_of,
    install_failure,
    lock_argv,
    stage_of,
    steps_done,
)
from fleetcfg.host.programs.base import HostProgram, Script, identify, script

__all__ = [
    "INSTALL_FAILURES",
    "OUTPUT_FLOODS",
    "STAGE",
    "Beat",
    "Check",
    "HostProgram",
    "Install",
    "Lock",
    "Script",
    "Unlock",
    "check_of",
    "identify",
    "install_failure",
    "lock_argv",
    "script",
    "stage_of",
    "steps_done",
]
