"""Shared CLI output helpers: colour only on a terminal, errors on stderr,
control characters in printed text escaped (host text reaches every output:
diffs of live files, host errors, the apply report), and no line a CI runner
would take for a command (values from the repo under review reach every
output too: findings, errors, plan notes)."""

from __future__ import annotations

import re
from typing import IO, Any

from rich.console import Console
from rich.markup import escape

from fleetcfg.core.errors import FleetcfgError
from fleetcfg.core.terminal import escape_controls, neutralize_ci_commands, one_line

#: the start of a line that may still become a CI command with the next write
_OPEN_HEAD = re.compile(r"[ \t]*[:#]")
_BLANKS = re.compile(r"[ \t]*")

#: where a line ends for a CI runner: LF, or CR
_LINE_END = re.compile(r"[\r\n]")


def _first_line_end(text: str) -> int:
    found = _LINE_END.search(text)
    return found.start() if found is not None else -1


def _last_line_end(text: str) -> int:
    return max(text.rfind("\n"), text.rfind("\r"))


class CiSafeStream:
    """A text stream that passes everything to ``stream`` but a line that
    starts like a CI command (:func:`neutralize_ci_commands`), whatever the
    writes that make it up: blanks keep a line open, and a ``:`` or ``#``
    that starts one is held back until the next write says what it is (at
    ``flush``, it is written escaped)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._held = ""
        #: the current line holds nothing but blanks so far
        self._open = True

    def write(self, text: str) -> int:
        data = self._held + text
        self._held = ""
        if self._open:
            out = neutralize_ci_commands(data)
        else:  # the first line continues one that started earlier
            cut = _first_line_end(data) + 1
            out = data if cut == 0 else data[:cut] + neutralize_ci_commands(data[cut:])
        newline = _last_line_end(out)
        tail = out[newline + 1 :]
        open_line = self._open if newline < 0 else True
        if open_line and _OPEN_HEAD.fullmatch(tail):
            self._held, out = tail, out[: len(out) - len(tail)]
        self._open = bool(self._held) or (open_line and _BLANKS.fullmatch(tail) is not None)
        if out:
            self.stream.write(out)
        return len(text)

    def flush(self) -> None:
        if self._held:  # a line of blanks and one ":" or "#" so far: shown escaped
            self.stream.write(f"{self._held[:-1]}\\x{ord(self._held[-1]):02x}")
            self._held, self._open = "", False
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, ...
        return getattr(self.stream, name)


class SafeConsole(Console):
    """A console that shows control characters in the text it prints as
    escapes (``\\x1b``), so that a host's file cannot drive the terminal, and
    writes through a :class:`CiSafeStream`, so that no value it prints can
    start a line a CI runner acts on."""

    _safe: CiSafeStream | None = None

    @property
    def file(self) -> IO[str]:
        base = Console.file.fget(self)  # type: ignore[attr-defined]
        if self._safe is None or self._safe.stream is not base:
            self._safe = CiSafeStream(base)
        return self._safe  # type: ignore[return-value]

    @file.setter
    def file(self, new_file: IO[str]) -> None:
        self._file = new_file

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(escape_controls(o) if isinstance(o, str) else o for o in objects), **kwargs)


def plain_text(text: str) -> str:
    """Whole lines of text for people, written without a console (file
    contents, ``render --explain``): as :class:`SafeConsole` prints them,
    controls escaped and no line that starts like a CI command."""
    return neutralize_ci_commands(escape_controls(text))


def stdout_console() -> Console:
    return SafeConsole(highlight=False, soft_wrap=True, emoji=False)


def stderr_console() -> Console:
    # emoji=False: rich would show a value's ":fire:" as an emoji (also
    # with markup=False), so a diff would not show what the file holds
    return SafeConsole(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def print_error(exc: FleetcfgError) -> None:
    stderr_console().print(f"[bold red]error:[/] {escape(one_line(str(exc)))}", highlight=False)


def print_problems(exc: FleetcfgError) -> None:
    """Print an error: every problem of an invalid inventory, one per line,
    then the error's ``details`` lines (if it has any), indented."""
    for problem in getattr(exc, "problems", None) or [exc]:
        print_error(problem)
    details = getattr(exc, "details", ())
    if details:
        console = stderr_console()
        for line in details:
            console.print(f"  {escape(line)}", highlight=False)
