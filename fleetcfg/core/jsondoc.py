"""Decoding daemon.json / config.json the way dockerd does, with positions.

dockerd reads its configuration with Go's ``encoding/json``, after detecting a
byte order mark (UTF-8, UTF-16 LE/BE), rejecting invalid UTF-8 and trimming
surrounding white space; from Engine 23.0 an empty file is an empty config. This
module reproduces that, reports syntax errors with Go's wording plus a line and
column, and records where every key sits so that findings can point at the line
a person has to edit.

Why more than 500 lines: it is one decoder. The scanner
(``_Parser``, ~270 lines), Go's error wording and the positions it records
change together; split, each part would only make sense next to the others.
"""

from __future__ import annotations

import bisect
import codecs
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fleetcfg.core.errors import ConfigSyntaxError

#: a key path inside a document: object keys and array indices
Loc = tuple[str | int, ...]

# Go's bytes.TrimSpace trims Unicode white space, which is more than JSON's.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_JSON_SPACE = " \t\n\r"


@dataclass(frozen=True, slots=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based, in characters
    offset: int  # 0-based character offset in the decoded text


class JsonSyntaxError(ConfigSyntaxError):
    """The file cannot be decoded. ``go_message`` is what dockerd would print
    after ``unable to configure the Docker daemon with file F:``."""

    def __init__(
        self, go_message: str, hint: str, *, file: str | None, position: Position | None
    ) -> None:
        super().__init__(
            f"{go_message} ({hint})" if hint else go_message,
            file=file,
            line=position.line if position else None,
            column=position.column if position else None,
        )
        self.go_message = go_message
        self.hint_text = hint
        self.position = position


@dataclass
class JsonDocument:
    """A decoded JSON document and where its keys are."""

    value: Any
    text: str
    positions: dict[Loc, Position] = field(default_factory=dict)
    #: keys written more than once: (loc, first position, last position)
    duplicates: list[tuple[Loc, Position, Position]] = field(default_factory=list)
    #: the values of the occurrences that are not in effect and where they are
    #: (dockerd decodes every occurrence, so these are type-checked too)
    shadowed: list[tuple[Loc, Any, Position]] = field(default_factory=list)
    #: the top level as dockerd's key check sees it: with duplicated keys the
    #: last value wins even when it is null (its typed decoding differs: a
    #: later null keeps the earlier value, repeated objects merge)
    key_view: dict[str, Any] | None = None
    empty: bool = False

    def locate(self, loc: Loc) -> Position | None:
        """Position of ``loc``, or of its nearest recorded ancestor."""
        for n in range(len(loc), -1, -1):
            pos = self.positions.get(loc[:n])
            if pos is not None:
                return pos
        return None


def _position(text: str, offset: int) -> Position:
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    return Position(line, offset - start + 1, offset)


def decode_text(raw: bytes, *, file: str | None = None) -> str:
    """Bytes to text as dockerd does: BOM detection (UTF-8, UTF-16 LE/BE) and a
    strict UTF-8 check; raises :class:`JsonSyntaxError` with the position of the
    first invalid byte."""
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16-le" if raw.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"
        try:
            return raw[2:].decode(encoding)
        except UnicodeDecodeError as exc:
            raise JsonSyntaxError(
                "encoding: invalid UTF-16",
                "the file starts with a UTF-16 byte order mark but is not valid UTF-16",
                file=file,
                position=None,
            ) from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = raw[: exc.start].decode("utf-8")
        pos = _position(good, len(good))
        raise JsonSyntaxError(
            f"failed to decode configuration JSON at offset {exc.start}: encoding: invalid UTF-8",
            f"byte 0x{raw[exc.start]:02x} is not valid UTF-8; save the file as UTF-8",
            file=file,
            position=pos,
        ) from exc


def _go_quote_char(c: str) -> str:
    """Go's encoding/json quoteChar: how the scanner names a character."""
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    special = {
        "\a": "\\a",
        "\b": "\\b",
        "\f": "\\f",
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        "\v": "\\v",
        "\\": "\\\\",
    }
    if c in special:
        return f"'{special[c]}'"
    code = ord(c)
    if code >= 0x80:
        # Go's scanner works on bytes: it names the first byte of the UTF-8
        # sequence, read as Latin-1 (U+00A0 is reported as 'Â')
        first = c.encode("utf-8", "surrogatepass")[0]
        latin = chr(first)
        return f"'{latin}'" if latin.isprintable() else f"'\\u{first:04x}'"
    if code < 0x20 or code == 0x7F:
        return f"'\\x{code:02x}'"
    if not c.isprintable():
        return f"'\\u{code:04x}'" if code <= 0xFFFF else f"'\\U{code:08x}'"
    return f"'{c}'"


class _Parser:
    """A recursive-descent JSON parser that mirrors Go's scanner messages."""

    def __init__(self, text: str, file: str | None) -> None:
        self.text = text
        self.n = len(text)
        self.i = 0
        self.file = file
        self.positions: dict[Loc, Position] = {}
        self.duplicates: list[tuple[Loc, Position, Position]] = []
        self.shadowed: list[tuple[Loc, Any, Position]] = []
        #: the top-level keys as a Go map decode sees them (the last value wins,
        #: a null included): what dockerd's unknown-key check looks at
        self.top_last: dict[str, Any] = {}
        self._line_starts: list[int] | None = None

    # -- positions -------------------------------------------------------
    def pos(self, offset: int) -> Position:
        if self._line_starts is None:
            starts = [0]
            idx = self.text.find("\n")
            while idx != -1:
                starts.append(idx + 1)
                idx = self.text.find("\n", idx + 1)
            self._line_starts = starts
        line = bisect.bisect_right(self._line_starts, offset)
        return Position(line, offset - self._line_starts[line - 1] + 1, offset)

    def fail(self, context: str, hint: str = "") -> JsonSyntaxError:
        if self.i >= self.n and ("literal" in context and "string" not in context):
            # Go's scanner feeds a space at end of input: a cut-off number or
            # literal is reported as an invalid ' ' rather than as the end.
            return JsonSyntaxError(
                f"invalid character ' ' {context}",
                hint or "the file ends in the middle of a value",
                file=self.file,
                position=self.pos(self.n),
            )
        if self.i >= self.n:
            return JsonSyntaxError(
                "unexpected end of JSON input",
                hint or "the file ends in the middle of a value: a closing } or ] is missing",
                file=self.file,
                position=self.pos(self.n),
            )
        c = self.text[self.i]
        return JsonSyntaxError(
            f"invalid character {_go_quote_char(c)} {context}",
            hint or _hint_for(c, context),
            file=self.file,
            position=self.pos(self.i),
        )

    def skip_ws(self) -> None:
        text, n, i = self.text, self.n, self.i
        while i < n and text[i] in _JSON_SPACE:
            i += 1
        self.i = i

    # -- grammar ---------------------------------------------------------
    def parse_value(self, loc: Loc, context: str = "looking for beginning of value") -> Any:
        self.skip_ws()
        if self.i >= self.n:
            raise self.fail(context)
        c = self.text[self.i]
        if c == "{":
            return self.parse_object(loc)
        if c == "[":
            return self.parse_array(loc)
        if c == '"':
            return self.parse_string()
        if c == "-" or (c.isdigit() and c.isascii()):
            return self.parse_number()
        for word, value in (("true", True), ("false", False), ("null", None)):
            if c == word[0]:
                return self.parse_literal(word, value)
        raise self.fail(context)

    def parse_object(self, loc: Loc) -> dict[str, Any]:
        self.i += 1  # {
        result: dict[str, Any] = {}
        self.skip_ws()
        if self.i < self.n and self.text[self.i] == "}":
            self.i += 1
            return result
        while True:
            self.skip_ws()
            if self.i >= self.n or self.text[self.i] != '"':
                raise self.fail("looking for beginning of object key string")
            key_pos = self.pos(self.i)
            key = self.parse_string()
            self.skip_ws()
            if self.i >= self.n or self.text[self.i] != ":":
                raise self.fail("after object key")
            self.i += 1
            child = (*loc, key)
            value = self.parse_value(child)
            if not loc:
                self.top_last[key] = value
            if key in result:
                first = self.positions.get(child, key_pos)
                self.duplicates.append((child, first, key_pos))
                if value is None:
                    # Go's decoder treats a later null as a no-op: the earlier
                    # value stays in effect (the null is still decoded, which
                    # matters for types that decode JSON themselves)
                    self.shadowed.append((child, None, key_pos))
                    value = result[key]
                    key_pos = first
                elif isinstance(value, dict) and isinstance(result[key], dict):
                    # a repeated object is decoded into the same map/struct:
                    # the keys of both occurrences apply (and both are checked)
                    earlier = result.pop(key)
                    self.shadowed.append((child, earlier, first))
                    value = {**earlier, **value}
                else:
                    self.shadowed.append((child, result.pop(key), first))
            self.positions[child] = key_pos
            result[key] = value
            self.skip_ws()
            if self.i >= self.n:
                raise self.fail("after object key:value pair")
            c = self.text[self.i]
            self.i += 1
            if c == "}":
                return result
            if c != ",":
                self.i -= 1
                raise self.fail("after object key:value pair")

    def parse_array(self, loc: Loc) -> list[Any]:
        self.i += 1  # [
        result: list[Any] = []
        self.skip_ws()
        if self.i < self.n and self.text[self.i] == "]":
            self.i += 1
            return result
        while True:
            self.skip_ws()
            child = (*loc, len(result))
            self.positions[child] = self.pos(self.i)
            result.append(self.parse_value(child))
            self.skip_ws()
            if self.i >= self.n:
                raise self.fail("after array element")
            c = self.text[self.i]
            self.i += 1
            if c == "]":
                return result
            if c != ",":
                self.i -= 1
                raise self.fail("after array element")

    def parse_string(self) -> str:
        text, n = self.text, self.n
        self.i += 1  # opening quote
        out: list[str] = []
        start = self.i
        while True:
            if self.i >= n:
                raise self.fail("in string literal")
            c = text[self.i]
            if c == '"':
                out.append(text[start : self.i])
                self.i += 1
                return "".join(out)
            if c == "\\":
                out.append(text[start : self.i])
                out.append(self.parse_escape())
                start = self.i
                continue
            if c < " ":
                raise self.fail("in string literal")
            self.i += 1

    def parse_escape(self) -> str:
        self.i += 1  # backslash
        if self.i >= self.n:
            raise self.fail("in string escape code")
        c = self.text[self.i]
        simple = {
            '"': '"',
            "\\": "\\",
            "/": "/",
            "b": "\b",
            "f": "\f",
            "n": "\n",
            "r": "\r",
            "t": "\t",
        }
        if c in simple:
            self.i += 1
            return simple[c]
        if c != "u":
            raise self.fail("in string escape code")
        self.i += 1
        code = self.read_hex4()
        if 0xD800 <= code < 0xDC00:
            # a surrogate pair, or Go's replacement character for a lone half
            if self.text.startswith("\\u", self.i):
                save = self.i
                self.i += 2
                low = self.read_hex4()
                if 0xDC00 <= low < 0xE000:
                    return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
                self.i = save
            return "\ufffd"
        if 0xDC00 <= code < 0xE000:
            return "\ufffd"
        return chr(code)

    def read_hex4(self) -> int:
        value = 0
        for _ in range(4):
            if self.i >= self.n or self.text[self.i] not in "0123456789abcdefABCDEF":
                raise self.fail("in \\u hexadecimal character escape")
            value = value * 16 + int(self.text[self.i], 16)
            self.i += 1
        return value

    def parse_number(self) -> int | float:
        text, n = self.text, self.n
        start = self.i
        if text[self.i] == "-":
            self.i += 1
            if self.i >= n or not ("0" <= text[self.i] <= "9"):
                raise self.fail("in numeric literal")
        if text[self.i] == "0":
            self.i += 1
        else:
            while self.i < n and "0" <= text[self.i] <= "9":
                self.i += 1
        is_float = False
        if self.i < n and text[self.i] == ".":
            is_float = True
            self.i += 1
            if self.i >= n or not ("0" <= text[self.i] <= "9"):
                raise self.fail("after decimal point in numeric literal")
            while self.i < n and "0" <= text[self.i] <= "9":
                self.i += 1
        if self.i < n and text[self.i] in "eE":
            is_float = True
            self.i += 1
            if self.i < n and text[self.i] in "+-":
                self.i += 1
            if self.i >= n or not ("0" <= text[self.i] <= "9"):
                raise self.fail("in exponent of numeric literal")
            while self.i < n and "0" <= text[self.i] <= "9":
                self.i += 1
        literal = text[start : self.i]
        if not is_float and not _past_float64(literal):
            return int(literal)
        value = float(literal)
        if math.isinf(value):
            self.i = start
            raise JsonSyntaxError(
                f"json: cannot unmarshal number {literal} into Go value of type float64",
                "the number is too large for a 64-bit float",
                file=self.file,
                position=self.pos(start),
            )
        return GoFloat(value, literal)

    def parse_literal(self, word: str, value: Any) -> Any:
        for k, expected in enumerate(word):
            if k == 0:
                self.i += 1
                continue
            if self.i >= self.n or self.text[self.i] != expected:
                raise self.fail(f"in literal {word} (expecting {_go_quote_char(expected)})")
            self.i += 1
        return value


class GoFloat(float):
    """A JSON number written with a fraction or exponent; keeps its literal so
    messages can quote it the way dockerd does (``3.0``, ``1e3``)."""

    literal: str

    def __new__(cls, value: float, literal: str) -> GoFloat:
        obj = super().__new__(cls, value)
        obj.literal = literal
        return obj

    def __repr__(self) -> str:
        return self.literal

    def __getnewargs__(self) -> tuple[float, str]:  # type: ignore[override]
        return (float(self), self.literal)


def _hint_for(c: str, context: str) -> str:
    if c == "/":
        return "JSON has no comments; remove the comment"
    if c in "}]" and "beginning of" in context:
        return "JSON allows no trailing comma; remove the comma before it"
    if c == "'":
        return "JSON strings and keys need double quotes"
    if context == "looking for beginning of object key string":
        return "object keys must be double-quoted strings"
    if context == "after top-level value":
        return "there is more text after the closing brace of the top-level object"
    if context == "after object key:value pair":
        return "a comma or closing brace is missing before this character"
    if context == "after array element":
        return "a comma or closing bracket is missing before this character"
    if context == "after object key":
        return "a colon is missing after the key"
    if context == "looking for beginning of value" and c in "NI":
        return "NaN and Infinity are not JSON numbers"
    if context == "looking for beginning of value":
        return "a value must be a string in double quotes, a number, true, false, null, an object or an array"
    if "string literal" in context:
        return "control characters such as tabs and newlines must be escaped inside strings"
    return "fix the JSON syntax here"


def trim_go_space(text: str) -> tuple[str, int]:
    """Trim as Go's bytes.TrimSpace; returns the text and the number of
    characters removed at the start (to keep positions right)."""
    stripped = text.lstrip(_GO_SPACE)
    lead = len(text) - len(stripped)
    return stripped.rstrip(_GO_SPACE), lead


def parse_document(raw: bytes | str, *, file: str | None = None) -> JsonDocument:
    """Decode a whole file like dockerd: BOM, UTF-8, trimming, strict JSON.

    The top level is returned whatever its type; callers decide what a
    non-object means for their file kind. An empty (or white-space only) file
    gives an empty dict with ``empty=True``.
    """
    text = raw if isinstance(raw, str) else decode_text(raw, file=file)
    body, lead = trim_go_space(text)
    if not body:
        return JsonDocument(value={}, text=text, empty=True)
    parser = _Parser(text, file)
    parser.i = lead
    parser.n = lead + len(body)
    parser.skip_ws()
    root = parser.pos(parser.i)
    value = parser.parse_value(())
    parser.skip_ws()
    if parser.i < parser.n:
        raise parser.fail("after top-level value")
    parser.positions[()] = root
    return JsonDocument(
        value=value,
        text=text,
        positions=parser.positions,
        duplicates=parser.duplicates,
        shadowed=parser.shadowed,
        key_view=parser.top_last if parser.duplicates else None,
    )


#: the most digits an integer literal below 2**1024 (a float64's range) has
_FLOAT64_DIGITS = 309


def _past_float64(literal: str) -> bool:
    """Whether the integer ``literal`` is out of a float64's range, as
    dockerd decodes every number first (so is any integer int() would refuse:
    past 4300 digits it raises a ValueError)."""
    return len(literal.lstrip("-")) >= _FLOAT64_DIGITS and math.isinf(float(literal))


def _go_int(literal: str) -> int:
    if _past_float64(literal):
        raise ValueError(literal)
    return int(literal)


def _go_float(literal: str) -> GoFloat:
    value = float(literal)
    if math.isinf(value):
        raise ValueError(literal)
    return GoFloat(value, literal)


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


#: a ``\\uXXXX`` escape of a UTF-16 surrogate half: json.loads keeps a lone
#: one as a lone surrogate (no UTF-8 encoder takes it), Go makes it U+FFFD
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def loads_fast(raw: bytes | str) -> Any:
    """Decode without positions (the hot path for live files in ``plan``).

    Same verdicts as :func:`parse_document`; on any problem it falls back to the
    positional parser to raise the precise error."""
    text = raw if isinstance(raw, str) else decode_text(raw)
    body, _ = trim_go_space(text)
    if not body:
        return {}
    if _SURROGATE_ESCAPE.search(body):
        return parse_document(text).value
    try:
        return json.loads(
            body, parse_constant=_reject_constant, parse_float=_go_float, parse_int=_go_int
        )
    except ValueError:
        return parse_document(text).value


#: the deepest nesting of arrays and objects fleetcfg decodes in a file from a
#: host (Docker's configuration files nest a handful of levels)
MAX_DEPTH = 64
_BRACKET = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def too_deep(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects in ``raw`` nest deeper than ``limit`` (brackets
    inside strings do not count). Cheap and bounded: no decoding, no recursion,
    so a hostile file cannot exhaust the stack."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # fewer openings than the limit in all (strings included)
    depth = 0
    for m in _BRACKET.finditer(raw):
        token = m.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def iter_locs(value: Any, loc: Loc = ()) -> Iterator[Loc]:
    """Every key path in a decoded document, depth first."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*loc, key)
            yield from iter_locs(child, (*loc, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*loc, index)
            yield from iter_locs(child, (*loc, index))


def format_loc(loc: Loc) -> str:
    """``("log-opts", "max-size")`` -> ``log-opts.max-size``; list indices as
    ``[0]``; keys that are not plain words are quoted (``labels["a.b"]``)."""
    out: list[str] = []
    for part in loc:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part and all(ch.isalnum() or ch in "-_" for ch in part):
            out.append(f".{part}" if out else part)
        else:
            out.append(f"[{json.dumps(part)}]")
    return "".join(out)
