"""Text from a host, made safe for the operator's terminal.

A host's files and error output are data written by whoever controls the
host: a config.json holding escape sequences must not clear the operator's
screen or print a fake "Plan: 0 to change" line before apply asks for
confirmation. Every C0 and C1 control character except tab and newline, DEL,
and the Unicode controls that reorder text (bidi overrides and isolates)
become visible escapes (``\\x1b``, ``\\u202e``)."""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with control characters shown as escapes (tab and newline kept)."""
    return _CONTROL.sub(_visible, text)


#: a line that starts (after blanks) like a CI system's command: GitHub
#: Actions' workflow commands (``::error::``, ``::add-mask::``,
#: ``::set-output``, ``::stop-commands::``), Azure Pipelines' ``##vso[`` and
#: ``##[``, TeamCity's ``##teamcity[`` (a runner also ends a line at a CR)
_CI_COMMAND = re.compile(r"(^|\r)([ \t]*)(::|##)", re.MULTILINE)


def _first_escaped(match: re.Match[str]) -> str:
    start, blanks, command = match.groups()
    return f"{start}{blanks}\\x{ord(command[0]):02x}{command[1:]}"


def neutralize_ci_commands(text: str) -> str:
    """``text`` with the first character of every line that a CI runner would
    take for a command shown as an escape (``\\x3a:error::...``). A CI log
    is read by the runner line by line: a value from the repo or a host with
    a newline in it must not start a line that sets a step's output, masks or
    stops the log, or puts a fake annotation on the pull request."""
    return _CI_COMMAND.sub(_first_escaped, text)


def has_ci_command(text: str) -> bool:
    """Whether a line of ``text`` starts like a CI runner's command (what
    :func:`neutralize_ci_commands` would escape)."""
    return _CI_COMMAND.search(text) is not None


def one_line(text: str) -> str:
    """``text`` with CR and LF shown as ``\\r`` and ``\\n``: one message, one
    line (a finding or an error quotes values that may hold newlines)."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


#: the control characters ``json.dumps(..., ensure_ascii=False)`` leaves raw
#: (it escapes C0 itself): DEL, C1, and the bidi controls
_JSON_RAW = re.compile("[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def escape_json_controls(text: str) -> str:
    """JSON ``text`` with those control characters written as ``\\uXXXX``
    escapes: the same JSON value, nothing a terminal acts on (they can only
    stand inside JSON strings, where the escape means the same character)."""
    return _JSON_RAW.sub(_json_escape, text)


#: how long one string from a host may be once read (longer ones are cut)
TEXT_CAP = 400


def clip(text: str, cap: int = TEXT_CAP) -> str:
    """``text`` cut to ``cap`` characters (a host may send megabytes)."""
    return text if len(text) <= cap else text[: cap - 1] + "…"
