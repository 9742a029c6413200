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

from fleetcfg.dockerd.keys import BOOL_FLAGS

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


#: the daemon.json dockerd reads without --config-file
DAEMON_JSON = "/etc/docker/daemon.json"


#: single-letter dockerd flags -> long names
SHORT_FLAGS = {
    "H": "host",
    "D": "debug",
    "l": "log-level",
    "G": "group",
    "b": "bridge",
    "s": "storage-driver",
    "p": "pidfile",
    "g": "graph",
    "e": "exec-driver",
}


@dataclass(frozen=True, slots=True)
class Flag:
    """One flag on dockerd's command line, as written."""

    name: str  # the long name
    written: str  # e.g. "-H fd://" or "--debug"
    value: str | None = None


def parse_flags(args: Sequence[str]) -> list[Flag]:
    """dockerd's flags (pflag syntax: ``--name=value``, ``--name value``,
    ``-H value``, ``-Hvalue``, ``-D``)."""
    flags: list[Flag] = []
    items = list(args)
    i = 0
    while i < len(items):
        arg = items[i]
        i += 1
        if arg == "--":
            break
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            if eq:
                flags.append(Flag(name, arg, value))
            elif name in BOOL_FLAGS:
                flags.append(Flag(name, arg))
            elif i < len(items) and not items[i].startswith("-"):
                flags.append(Flag(name, f"{arg} {items[i]}", items[i]))
                i += 1
            else:
                flags.append(Flag(name, arg))
        elif arg.startswith("-") and len(arg) > 1:
            letters = arg[1:]
            j = 0
            while j < len(letters):
                letter = letters[j]
                name = SHORT_FLAGS.get(letter, letter)
                rest = letters[j + 1 :]
                if name in BOOL_FLAGS:
                    flags.append(Flag(name, f"-{letter}"))
                    j += 1
                    continue
                if rest.startswith("="):
                    rest = rest[1:]
                if rest:
                    flags.append(Flag(name, f"-{letter}{rest}", rest))
                elif i < len(items):
                    flags.append(Flag(name, f"-{letter} {items[i]}", items[i]))
                    i += 1
                else:
                    flags.append(Flag(name, f"-{letter}"))
                break
    return flags


def config_file_of(args: Sequence[str], default: str = DAEMON_JSON) -> str:
    """The ``--config-file`` on dockerd's command line, else ``default``."""
    path = default
    for flag in parse_flags(args):
        if flag.name == "config-file" and flag.value:
            path = flag.value
    return path
