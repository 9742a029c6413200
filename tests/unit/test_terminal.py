"""Host text reaches the terminal with its control characters escaped, and a
host file's nesting is bounded before anything decodes it."""

from __future__ import annotations

import io
import json

from fleetcfg.cli.output import SafeConsole
from fleetcfg.core.jsondoc import MAX_DEPTH, too_deep
from fleetcfg.core.terminal import escape_controls, escape_json_controls


def test_control_characters_become_visible_escapes_but_tabs_and_newlines_stay() -> None:
    text = "a\x1b[2J\tb\n\rc\x07\x9b2J\u202eevil\x7f"
    assert escape_controls(text) == "a\\x1b[2J\tb\n\\x0dc\\x07\\x9b2J\\u202eevil\\x7f"
    assert escape_controls("plain ünïcode text") == "plain ünïcode text"


def test_the_cli_console_never_writes_a_raw_escape_sequence() -> None:
    out = io.StringIO()
    SafeConsole(file=out, highlight=False, soft_wrap=True).print(
        "+ detachKeys: \x1b[2J\x1b[1;1HPlan: 0 to change", markup=False
    )
    assert "\x1b" not in out.getvalue()
    assert "\\x1b[2J" in out.getvalue()


def test_nesting_is_measured_without_decoding_and_strings_do_not_count() -> None:
    assert not too_deep(b'{"a": [[1]], "b": "[[[[[[[["}', limit=3)
    assert too_deep(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
    assert not too_deep(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    assert too_deep(b"[" * 200_000)  # stops early, no recursion
    # as deep as the limit, with many more brackets side by side (and in strings)
    wide = b"[" + b"[1]," * 100 + b'"[[[[["]'
    assert not too_deep(wide, limit=3)
    assert too_deep(b"[" + wide + b"]", limit=3) is False
    assert too_deep(b"[[" + wide + b"]]", limit=3)


def test_json_text_keeps_its_value_but_no_control_character_a_terminal_acts_on() -> None:
    value = {"warning": "docker info: \x1b[2J\x9b31m \u202eevil\x7f ünïcode"}
    text = escape_json_controls(json.dumps(value, ensure_ascii=False))
    assert json.loads(text) == value
    assert not any(c in text for c in ("\x1b", "\x9b", "\u202e", "\x7f"))
    assert "\\u009b31m \\u202eevil\\u007f ünïcode" in text
