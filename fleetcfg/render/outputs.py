"""A rendered profile text, parsed: its data, where each key sits in the
template, and its ``x-fleetcfg`` block (``extends``, ``append``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fleetcfg.core.errors import TemplateError
from fleetcfg.core.jsondoc import JsonSyntaxError, parse_document
from fleetcfg.core.numbers import is_digits
from fleetcfg.core.yamlsource import KeyPath, SourceLocation, format_path, load_yaml
from fleetcfg.render.budget import RenderBudgetExceeded, render_budget, why_stopped
from fleetcfg.render.profiles import ProfileFile
from fleetcfg.render.templates import Analysis

#: the reserved top-level block of a profile (removed before validation)
EXTENSION_KEY = "x-fleetcfg"
EXTENSION_KEYS = ("extends", "append")
#: the most characters of a rendered line an error quotes
SHOWN_LINE = 200


@dataclass(eq=False)
class Output:
    """One rendered, parsed profile text; shared by every host that renders
    the same text. ``positions`` are (line, column) in the rendered text,
    ``lines[i]`` the template line of rendered line ``i + 1``; ``plain`` the
    paths of unquoted YAML strings."""

    profile: ProfileFile
    analysis: Analysis | None
    text: str
    lines: list[int]
    data: dict[str, Any]
    positions: dict[KeyPath, tuple[int, int]]
    plain: frozenset[KeyPath]
    extends: str | None
    append: frozenset[KeyPath]
    secrets: frozenset[str]
    #: the data holds placeholders for bare-printed variables
    placeholders: bool

    def template_location(self, path: KeyPath) -> SourceLocation:
        """The template line (and column, when the line is plain text) where
        ``path`` or its nearest written ancestor was produced."""
        for n in range(len(path), 0, -1):
            pos = self.positions.get(path[:n])
            if pos is not None:
                line = self.lines[pos[0] - 1] if pos[0] <= len(self.lines) else pos[0]
                column = pos[1] if self._literal(pos[0], line) else None
                return SourceLocation(self.profile.display, line, column)
        return SourceLocation(self.profile.display, self.lines[0] if self.lines else 1)

    def _literal(self, rendered_line: int, template_line: int) -> bool:
        """Whether the template line came out unchanged (columns then agree)."""
        if self.analysis is None:
            return True
        rendered = self.text.split("\n")
        source = self.analysis.source_lines
        return (
            rendered_line <= len(rendered)
            and template_line <= len(source)
            and rendered[rendered_line - 1] == source[template_line - 1]
        )


def parse_output(
    profile: ProfileFile,
    analysis: Analysis | None,
    text: str,
    lines: list[int],
    *,
    secrets: frozenset[str],
    host: str,
    placeholders: bool,
    mask: Callable[[str], str],
) -> Output:
    """Parse rendered text as the profile's format, with positions; errors
    point at the template line and quote the rendered line (masked)."""

    def invalid(message: str, rendered_line: int) -> TemplateError:
        rendered = text.split("\n")
        shown = rendered[rendered_line - 1].strip() if 0 < rendered_line <= len(rendered) else ""
        # masked before it is shortened: a secret cut in two would not be found
        shown = mask(shown)
        if len(shown) > SHOWN_LINE:
            shown = shown[: SHOWN_LINE - 3] + "..."
        line = lines[rendered_line - 1] if 0 < rendered_line <= len(lines) else None
        return TemplateError(
            mask(f"{message}; rendered line {rendered_line}: {shown!r}"),
            file=profile.display,
            line=line,
            host=host,
            hint=f"fix the template so that it renders valid {profile.format.upper()}",
        )

    watch = None
    try:
        with render_budget() as watch:
            data, positions, plain = _parse(profile, text, lines, invalid)
    except RenderBudgetExceeded as exc:
        raise TemplateError(
            f"parsing the rendered text stopped: {why_stopped(exc, watch)}",
            file=profile.display,
            line=lines[0] if lines else 1,
            host=host,
            hint="a profile renders one config file: bound what it writes",
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TemplateError(
            "a profile must render to a mapping of configuration keys",
            file=profile.display,
            line=lines[0] if lines else 1,
            host=host,
        )
    extends, append = _extension(profile, data, positions, lines, host)
    return Output(
        profile=profile,
        analysis=analysis,
        text=text,
        lines=lines,
        data=data,
        positions=positions,
        plain=plain,
        extends=extends,
        append=append,
        secrets=secrets,
        placeholders=placeholders,
    )


def _template_line(lines: list[int], rendered_line: int) -> int:
    return lines[rendered_line - 1] if 0 < rendered_line <= len(lines) else rendered_line


def _extension(
    profile: ProfileFile,
    data: dict[str, Any],
    positions: Mapping[KeyPath, tuple[int, int]],
    lines: list[int],
    host: str,
) -> tuple[str | None, frozenset[KeyPath]]:
    """Remove and check the ``x-fleetcfg`` block."""
    block = data.pop(EXTENSION_KEY, None)
    if block is None:
        return None, frozenset()

    def fail(path: KeyPath, message: str, hint: str | None = None) -> TemplateError:
        pos = positions.get(path) or positions.get((EXTENSION_KEY,)) or (1, 1)
        line = lines[pos[0] - 1] if pos[0] <= len(lines) else pos[0]
        return TemplateError(
            message, file=profile.display, line=line, host=host, key=format_path(path), hint=hint
        )

    if not isinstance(block, dict):
        raise fail((EXTENSION_KEY,), f"{EXTENSION_KEY} must be a mapping (extends, append)")
    for key in block:
        if key not in EXTENSION_KEYS:
            raise fail(
                (EXTENSION_KEY, key),
                f"unknown key {key!r} in {EXTENSION_KEY}",
                hint=f"{EXTENSION_KEY} takes {' and '.join(EXTENSION_KEYS)}",
            )
    extends = block.get("extends")
    if extends is not None and (not isinstance(extends, str) or not extends):
        raise fail((EXTENSION_KEY, "extends"), "extends must name a profile")
    raw = block.get("append") or []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(a, str) for a in raw):
        raise fail((EXTENSION_KEY, "append"), "append must be a list of key paths")
    append: set[KeyPath] = set()
    for index, dotted in enumerate(raw):
        path = resolve_path(data, dotted)
        if not isinstance(value_at(data, path), list):
            raise fail(
                (EXTENSION_KEY, "append", index),
                f"append: {dotted!r} is not a list this profile sets",
                hint="list the lists that extend the parent profile's instead of replacing them",
            )
        append.add(path)
    return extends, frozenset(append)


def value_at(data: Any, path: KeyPath) -> Any:
    """The value at ``path``, or None."""
    node = data
    for part in path:
        if not isinstance(node, Mapping | list):
            return None
        try:
            node = node[part]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def resolve_path(data: Any, dotted: str) -> KeyPath:
    """A dotted key path (``log-opts.max-size``, ``registry-mirrors[0]`` or
    ``registry-mirrors.0``) as a tuple, matched against ``data`` so that keys
    containing dots (``default-network-opts.bridge.com.docker.network.bridge.mtu``)
    come out whole."""
    raw: list[str | int] = []
    for part in dotted.split(".") if dotted else []:
        m = re.fullmatch(r"(.*?)((?:\[\d+\])*)", part)
        head, indices = (m.group(1), m.group(2)) if m else (part, "")
        if head:
            raw.append(head)
        raw.extend(int(i) for i in re.findall(r"\[(\d+)\]", indices))
    out: list[str | int] = []
    node = data
    i = 0
    while i < len(raw):
        token = raw[i]
        if isinstance(node, list) and (isinstance(token, int) or is_digits(token)):
            index = int(token)
            out.append(index)
            node = node[index] if index < len(node) else None
            i += 1
            continue
        if isinstance(node, Mapping):
            for j in range(len(raw), i, -1):
                key = ".".join(str(t) for t in raw[i:j])
                if key in node:
                    out.append(key)
                    node = node[key]
                    i = j
                    break
            else:
                out.append(token)
                node = None
                i += 1
            continue
        out.append(token)
        node = None
        i += 1
    return tuple(out)


#: the most keys and values a rendered YAML profile may hold: a profile
#: renders one config file (a daemon.json of every key dockerd knows is a few
#: hundred values; 12,000 labels are 12,000), and each costs about 1.2 KB and
#: 20 to 40 us to parse, so that 2 MiB of `1,1,1,...` (a million values) took
#: 20 s and 1.3 GB per host
MAX_RENDERED_VALUES = 100_000


def _parse(
    profile: ProfileFile,
    text: str,
    lines: list[int],
    invalid: Callable[[str, int], TemplateError],
) -> tuple[Any, dict[KeyPath, tuple[int, int]], frozenset[KeyPath]]:
    """The data of rendered ``text``, its positions and its plain strings."""
    if profile.format == "json":
        try:
            doc = parse_document(text, file=profile.display)
        except JsonSyntaxError as exc:
            hint = f" ({exc.hint_text})" if exc.hint_text else ""
            raise invalid(
                f"the rendered JSON is invalid: {exc.go_message}{hint}", exc.line or 1
            ) from None
        if doc.duplicates:
            loc, _first, last = doc.duplicates[0]
            raise invalid(f"key {format_path(loc)!r} is written twice", last.line)
        positions = {loc: (p.line, p.column) for loc, p in doc.positions.items()}
        return doc.value, positions, frozenset()
    try:
        ydoc = load_yaml(
            text,
            profile.display,
            error=TemplateError,
            track_plain=True,
            max_values=MAX_RENDERED_VALUES,
        )
    except TemplateError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        # the YAML error counts rendered lines; say which template line that is
        message = re.sub(
            r"started at line (\d+)",
            lambda m: f"started at template line {_template_line(lines, int(m.group(1)))}",
            exc.message,
        )
        raise invalid(f"the rendered YAML is invalid: {message}{hint}", exc.line or 1) from None
    return ydoc.data, ydoc.keys, frozenset(ydoc.plain or ())
