"""docker.service's systemd drop-in for the proxy: rendering and checks.

``/etc/systemd/system/docker.service.d/http-proxy.conf`` is the only way to
give dockerd a proxy before Engine 23.0 (daemon.json ``proxies`` exists from
23.0). systemd reads it only after ``systemctl daemon-reload``, and dockerd
only when it starts, so applying it takes daemon-reload then a restart.

What systemd does to a value, and so what goes wrong by hand:

* ``%`` starts a specifier (``%h``: the home folder, ``%n``: the unit name); a
  literal ``%`` is written ``%%``. A URL-encoded password (``p%40ss``) holds
  ``%4``, an unknown specifier: systemd ignores the whole ``Environment=``
  line, and dockerd runs without its proxy. A known one is replaced silently.
* ``Environment=`` takes white-space separated ``NAME=value`` words, each may
  be quoted with ``"`` or ``'``; an unbalanced quote makes systemd ignore the
  line, and a value with a space that is not quoted is two words, the second
  no assignment.
* A drop-in that also sets ``ExecStart=`` replaces the unit's command line: a
  flag there that daemon.json also sets (``-H fd://`` with ``"hosts"``) stops
  dockerd from starting ("the following directives are specified both as a
  flag and in the configuration file").

:func:`render_dropin` writes values so that none of this happens;
:func:`check_dropin_lines` finds it in hand-written lines.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fleetcfg.dockerd.flags import conflicting_keys, parse_flags

#: where fleetcfg writes docker.service's proxy drop-in
DROPIN_PATH = "/etc/systemd/system/docker.service.d/http-proxy.conf"
#: the folder systemd reads docker.service's drop-ins from
DROPIN_DIR = "/etc/systemd/system/docker.service.d"
#: where the proxy variables go when they hold a password: the drop-in names
#: it in ``EnvironmentFile=`` (systemd reads only ``*.conf`` there as drop-ins)
ENV_FILE_PATH = "/etc/systemd/system/docker.service.d/http-proxy.env"

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: ``%`` not part of a ``%%`` pair
_LONE_PERCENT = re.compile(r"%(?:%|(.|$))")
#: the prefixes systemd allows before an ExecStart= command (``-``, ``@``, ...)
_EXEC_PREFIX = re.compile(r"^[-@:+!|]*")

ProblemKind = Literal["percent", "quoting", "exec-start"]


def escape_specifiers(value: str) -> str:
    """``value`` with every ``%`` doubled: systemd reads it back unchanged."""
    return value.replace("%", "%%")


def environment_line(name: str, value: str) -> str:
    """``Environment="NAME=value"``: quoted, specifiers and quotes escaped."""
    if not _ENV_NAME.match(name):
        raise ValueError(f"{name!r} is not an environment variable name")
    text = escape_specifiers(f"{name}={value}").replace("\\", "\\\\").replace('"', '\\"')
    return f'Environment="{text}"'


def render_dropin(
    environment: Mapping[str, str],
    extra_lines: Sequence[str] = (),
    *,
    env_file: str | None = None,
) -> str:
    """The drop-in: a ``[Service]`` section with ``EnvironmentFile=-env_file``
    when given, one ``Environment=`` line per variable (in the order given),
    then ``extra_lines`` as they are."""
    lines = [_WRITTEN, "[Service]"]
    if env_file is not None:
        # "-": a missing file is no error (dockerd starts without the proxy
        # rather than not at all, e.g. after the file was removed while a
        # drop-in fleetcfg did not create was left in place)
        lines.append(f"EnvironmentFile=-{env_file}")
    lines += [environment_line(name, value) for name, value in environment.items()]
    lines += list(extra_lines)
    return "\n".join(lines) + "\n"


_WRITTEN = "# Written by fleetcfg: changes here are overwritten."


def env_file_line(name: str, value: str) -> str:
    """``NAME="value"`` as systemd's ``EnvironmentFile=`` reads it back
    unchanged: double quotes, with ``\\`` and ``"`` escaped (inside double
    quotes systemd keeps every other character as it is, ``%`` included: no
    specifiers in an environment file)."""
    if not _ENV_NAME.match(name):
        raise ValueError(f"{name!r} is not an environment variable name")
    if "\n" in value or "\r" in value:
        raise ValueError(f"the value of {name} holds a line break")
    text = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{name}="{text}"'


def render_env_file(environment: Mapping[str, str]) -> str:
    """The environment file of the drop-in (:data:`ENV_FILE_PATH`): systemd
    shows every ``Environment=`` value to any user of the host (``systemctl
    show docker -p Environment``, its D-Bus properties), but not what an
    ``EnvironmentFile=`` holds, so a proxy password goes here (mode 0600)."""
    lines = [_WRITTEN, "# docker.service reads it: EnvironmentFile= in http-proxy.conf"]
    lines += [env_file_line(name, value) for name, value in environment.items()]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class DropinProblem:
    """One hand-written drop-in line systemd or dockerd would not accept."""

    index: int  # of the line among those checked
    kind: ProblemKind
    message: str


def _lone_percent(value: str) -> str | None:
    """The first ``%x`` that is not ``%%`` (``x`` may be empty: a trailing ``%``)."""
    for m in _LONE_PERCENT.finditer(value):
        if m.group(1) is not None:
            return m.group(0)
    return None


def split_environment(value: str) -> list[str]:
    """The words of an ``Environment=`` value as systemd splits them (quotes
    removed, backslash escapes applied); :class:`ValueError` when a quote is
    not closed."""
    words: list[str] = []
    word: list[str] | None = None
    quote: str | None = None
    chars = iter(value)
    for c in chars:
        if quote is None and c.isspace():
            if word is not None:
                words.append("".join(word))
                word = None
            continue
        if word is None:
            word = []
        if c == "\\":
            word.append(next(chars, ""))
        elif quote is None and c in "\"'":
            quote = c
        elif c == quote:
            quote = None
        else:
            word.append(c)
    if quote is not None:
        raise ValueError(f"the {quote} quote is not closed")
    if word is not None:
        words.append("".join(word))
    return words


def _environment_problem(value: str) -> str | None:
    try:
        words = split_environment(value)
    except ValueError as exc:
        return f"{exc}: systemd ignores the whole line"
    for word in words:
        name, eq, _ = word.partition("=")
        if not eq or not _ENV_NAME.match(name):
            return (
                f"{word!r} is not NAME=value: a value with spaces must be quoted "
                '(Environment="NAME=a b"), else systemd ignores the line'
            )
    return None


def _has_key(data: Mapping[str, Any], dotted: str) -> bool:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def exec_start_conflicts(value: str, daemon: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(flag as written, daemon.json key) for each flag of an ``ExecStart=``
    command line that daemon.json also sets."""
    command = _EXEC_PREFIX.sub("", value.strip())
    try:
        argv = shlex.split(command)
    except ValueError:
        argv = command.split()
    found: list[tuple[str, str]] = []
    for flag in parse_flags(argv[1:]):
        found += [
            (flag.written, key) for key in conflicting_keys(flag.name) if _has_key(daemon, key)
        ]
    return found


def check_dropin_lines(lines: Sequence[str], daemon: Mapping[str, Any]) -> list[DropinProblem]:
    """Problems in hand-written drop-in ``lines`` for a host whose daemon.json
    holds ``daemon``: a lone ``%``, ``Environment=`` quoting, and an
    ``ExecStart=`` that passes a flag daemon.json also sets."""
    problems: list[DropinProblem] = []
    for index, line in enumerate(lines):
        text = line.strip()
        if not text or text[0] in "#;[":
            continue
        key, eq, value = text.partition("=")
        key = key.strip()
        percent = _lone_percent(value)
        if percent is not None:
            problems.append(
                DropinProblem(
                    index,
                    "percent",
                    f"{key}= holds {percent!r}: systemd reads % as a specifier (%h, %n, ...) "
                    "and ignores the line when it knows none; write %% for a literal %",
                )
            )
        if not eq:
            problems.append(
                DropinProblem(index, "quoting", f"{text!r} is not a Key=value line of [Service]")
            )
        elif key == "Environment":
            problem = _environment_problem(value.strip())
            if problem is not None:
                problems.append(DropinProblem(index, "quoting", f"Environment=: {problem}"))
        elif key == "ExecStart" and value.strip():
            for written, conflict in exec_start_conflicts(value, daemon):
                problems.append(
                    DropinProblem(
                        index,
                        "exec-start",
                        f"ExecStart= passes {written} while daemon.json sets {conflict}: "
                        "dockerd refuses a setting given both as a flag and in the file and "
                        f"does not start. Drop {written} from ExecStart=, or {conflict} "
                        "from daemon.json",
                    )
                )
    return problems
