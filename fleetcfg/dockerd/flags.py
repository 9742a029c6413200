"""The dockerd flags of a systemd unit, and the ``dockerd --validate`` command
that checks a candidate daemon.json together with them.

dockerd refuses a setting given both as a flag and in daemon.json (the classic
``-H fd://`` in ExecStart and ``"hosts"`` in the file), so a file is only
proven valid when it is validated with the flags the unit starts dockerd
with. Flags that cannot be repeated are dropped: ``--config-file`` (the
candidate file takes its place), unexpanded ``$VARIABLES`` (from an
EnvironmentFile that only systemd expands) and the binary itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_ARGV_RE = re.compile(r"argv\[\]=(.*?)(?: ; [a-z_]+=|\s*\}\s*$|$)")


def parse_exec_start(show_output: str) -> list[str] | None:
    """The argv of the unit's ExecStart from ``systemctl show -p ExecStart
    [--value] docker`` (the last entry when a drop-in adds one), or None when
    the output has none."""
    found: list[str] | None = None
    for line in show_output.splitlines():
        m = _ARGV_RE.search(line)
        if m and m.group(1).strip():
            found = m.group(1).split()
    return found


@dataclass(frozen=True, slots=True)
class ValidateFlags:
    """The unit's flags to repeat for ``--validate``, and what was left out."""

    flags: tuple[str, ...]
    dropped: tuple[str, ...]


def validate_flags(exec_start: Sequence[str]) -> ValidateFlags:
    """The flags of ``exec_start`` (with or without the binary first) that
    ``dockerd --validate`` must see."""
    args = list(exec_start)
    if args and not args[0].startswith("-") and args[0].rsplit("/", 1)[-1].startswith("dockerd"):
        args = args[1:]
    kept: list[str] = []
    dropped: list[str] = []
    skip_value = False
    for arg in args:
        if skip_value:
            skip_value = False
            dropped.append(arg)
        elif arg == "--config-file":
            skip_value = True
            dropped.append(arg)
        elif arg.startswith("--config-file=") or arg in ("--validate", "-v", "--version"):
            dropped.append(arg)
        elif "$" in arg:
            dropped.append(arg)
            if kept and kept[-1].startswith("-") and "=" not in kept[-1]:
                dropped.insert(len(dropped) - 1, kept.pop())
        else:
            kept.append(arg)
    return ValidateFlags(tuple(kept), tuple(dropped))


def validate_argv(config_file: str, flags: Sequence[str]) -> list[str]:
    """``dockerd --validate --config-file FILE FLAGS...``"""
    return ["dockerd", "--validate", "--config-file", config_file, *flags]
