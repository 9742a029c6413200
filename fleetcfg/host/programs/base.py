"""One type for every sh program fleetcfg runs on a host.

The programs are POSIX sh files next to this module (package data, checked by
shellcheck in ``scripts/test``). A program reads its named arguments on one
line of plain assignments, in order::

    target=$1 mode=$2 owner=$3 ... finish=${18}

(the first block of lines made only of such assignments; the lines after
it may use positional parameters freely), and that line is the only place
the order is written: :class:`Script` reads
it, and :meth:`HostProgram.argv` puts each named value at its place. Values are
always positional arguments (``sh -c PROGRAM sh ARG...``) and commands are argv
lists quoted with :func:`shlex.quote`, so nothing a user wrote is ever parsed as
shell code. Programs whose body calls ``fc_*`` functions get those functions of
``lib.sh`` (the shared routines: the atomic write, the trust check of root's
paths, dropping privileges to a user), and the ones they call in turn,
inlined after their first line (only those: a host parses every byte it
receives, on every run); the first line names
the program and its version (``# fleetcfg-apply: install v3``), which is how
the fake host recognises it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import ClassVar

from fleetcfg.core.errors import UsageError
from fleetcfg.core.hashing import sha256_hex

LIB = "lib"
#: one function of lib.sh: its first line at column 0, its closing brace too
_FUNCTION = re.compile(r"^(fc_[a-z_]+)\(\) \{\n.*?^\}\n", re.MULTILINE | re.DOTALL)
_FC_NAME = re.compile(r"\bfc_[a-z_]+\b")
_ASSIGN = re.compile(r"([a-z_][a-z0-9_]*)=\$(?:([1-9])|\{([1-9][0-9]*)\})")


#: arguments at least this long are program texts (the same few, for every
#: host of a run): their quoted form is remembered
_LONG_ARGUMENT = 256


@lru_cache(maxsize=64)
def _quote_long(text: str) -> str:
    return shlex.quote(text)


def quote_argv(argv: Sequence[str]) -> str:
    """One shell command line for ``argv``; every argument is quoted."""
    if not argv:
        raise UsageError("cannot run an empty command")
    return " ".join(
        _quote_long(arg) if len(arg) >= _LONG_ARGUMENT else shlex.quote(arg)
        for arg in map(str, argv)
    )


class ProgramError(ValueError):
    """A program and the values given for it disagree (a bug in fleetcfg)."""


@dataclass(frozen=True, slots=True)
class Script:
    """One ``.sh`` file, ready for ``sh -c``."""

    name: str
    #: the first line (``# fleetcfg-...: NAME vN``)
    header: str
    #: what ``sh -c`` runs: the header, lib.sh when used, the body
    text: str
    #: the named arguments, in order
    params: tuple[str, ...]

    def argv(self, args: Mapping[str, str], rest: Sequence[str] = ()) -> list[str]:
        """``sh -c TEXT sh`` with each named value at its place, then ``rest``."""
        missing = [p for p in self.params if p not in args]
        unknown = [a for a in args if a not in self.params]
        if missing or unknown:
            raise ProgramError(
                f"program {self.name}: missing arguments {missing}, unknown arguments {unknown}"
            )
        return ["sh", "-c", self.text, "sh", *(args[p] for p in self.params), *rest]

    def parse(self, argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
        """The named values and the rest of an argv built by :meth:`argv`."""
        values = list(argv[4:])
        named = dict(zip(self.params, values, strict=False))
        named.update((p, "") for p in self.params[len(named) :])
        return named, values[len(self.params) :]


def _params(name: str, body: str) -> tuple[str, ...]:
    params: list[str] = []
    for line in body.splitlines():
        words = line.split()
        matches = [_ASSIGN.fullmatch(w) for w in words]
        if not words or not all(matches):
            if params:
                break  # the first block of such lines names the arguments
            continue
        for m in matches:
            assert m is not None
            params.append(m.group(1))
            if int(m.group(2) or m.group(3)) != len(params):
                raise ProgramError(f"{name}.sh: ${len(params)} must be {m.group(1)}'s place")
    return tuple(params)


def _read(name: str) -> str:
    return resources.files(__package__).joinpath(f"{name}.sh").read_text(encoding="utf-8")


def _code(text: str) -> str:
    """``text`` without its comment lines: they are for the reader, and a
    host would receive and parse them on every run (the programs quote no
    line that starts with ``#``: ``test_programs`` checks each still parses)."""
    return "".join(
        line for line in text.splitlines(keepends=True) if not line.lstrip().startswith("#")
    )


@cache
def script(name: str) -> Script:
    """The program ``NAME.sh`` (with lib.sh inlined when it uses it), as
    sent to a host: its name line, then its code without comment lines."""
    body = _read(name)
    header, _, rest = body.partition("\n")
    if not header.startswith("# fleetcfg"):
        raise ProgramError(f"{name}.sh must start with its '# fleetcfg...' name line")
    code = _code(rest)
    if name != LIB:
        code = _lib_for(code) + code
    return Script(name, header, f"{header}\n{code}", _params(name, rest))


@cache
def _lib_functions() -> dict[str, str]:
    """lib.sh's functions by name (code without comment lines), in file order."""
    code = _code(_read(LIB).partition("\n")[2])
    functions = {m.group(1): m.group(0) for m in _FUNCTION.finditer(code)}
    if _FUNCTION.sub("", code).strip():
        raise ProgramError("lib.sh may hold only functions, each closed by a '}' at column 0")
    return functions


def _lib_for(code: str) -> str:
    """The functions of lib.sh that ``code`` calls, and those they call, in
    lib.sh's order."""
    functions = _lib_functions()
    needed: set[str] = set()
    todo = [code]
    while todo:
        for name in _FC_NAME.findall(todo.pop()):
            if name in functions and name not in needed:
                needed.add(name)
                todo.append(functions[name])
    return "".join(text for name, text in functions.items() if name in needed)


def identify(argv: Sequence[str], names: Sequence[str]) -> Script | None:
    """Which of the programs ``names`` ``argv`` runs (by its first line), if any."""
    if len(argv) < 4 or list(argv[:2]) != ["sh", "-c"]:
        return None
    first = argv[2].partition("\n")[0]
    for name in names:
        if script(name).header == first:
            return script(name)
    return None


def encode(value: object) -> str:
    """A field's value as a positional argument (None and False: empty)."""
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def upload_arguments(content: bytes, mode: int, owner: str, group: str) -> dict[str, str]:
    """How install.sh and write.sh read the file they write (the content
    itself and its sha256 come on stdin: :func:`upload_stdin`)."""
    return {
        "mode": f"{mode:04o}",
        "owner": owner,
        "group": group,
        "size": str(len(content)),
    }


def upload_stdin(content: bytes) -> bytes:
    """What install.sh and write.sh read on stdin: a line with the sha256 of
    ``content``, then ``content``. Never an argument: every user of a host
    may read a process's arguments (``ps``, ``/proc/PID/cmdline``), and the
    sha256 of a file that holds a password lets them guess it offline."""
    return sha256_hex(content).encode() + b"\n" + content


class HostProgram:
    """Base of the programs' argument types: frozen dataclasses whose field
    names are the program's argument names. :meth:`arguments` encodes them
    (override it for derived or specially encoded values); :meth:`rest` gives
    trailing arguments of variable number (paths, commands)."""

    SCRIPT: ClassVar[str]

    def arguments(self) -> dict[str, str]:
        assert is_dataclass(self)
        params = script(self.SCRIPT).params
        return {f.name: encode(getattr(self, f.name)) for f in fields(self) if f.name in params}

    def rest(self) -> list[str]:
        return []

    def argv(self) -> list[str]:
        return script(self.SCRIPT).argv(self.arguments(), self.rest())


class Upload(HostProgram):
    """A program that writes ``content`` to a file (install.sh, write.sh):
    the content and its sha256 on stdin (:func:`upload_stdin`), its size,
    mode and owner as arguments (:func:`upload_arguments`)."""

    content: bytes
    mode: int
    owner: str
    group: str

    def stdin(self) -> bytes:
        """What the program reads on stdin."""
        return upload_stdin(self.content)

    def upload(self) -> dict[str, str]:
        """The upload's arguments."""
        return upload_arguments(self.content, self.mode, self.owner, self.group)
