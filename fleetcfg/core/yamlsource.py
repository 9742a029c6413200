"""YAML loading that remembers where every key and value was written.

``inventory.yaml`` and the rendered profiles are read with ruamel.yaml's
composer (YAML 1.2: ``yes``/``on`` are strings, ``0o17`` is octal) and turned
into plain Python data (dict, list, str, int, float, bool, None) together with
a table of positions: for every key path (``("groups", "ci", "vars", "x")``,
list items by index) the file, line and column of the key and of its value.
Everything downstream (pydantic errors, variable provenance, lint findings)
uses those positions to point at the line a person has to edit.

Rules that differ from a plain ``yaml.safe_load``:

* a key written twice in one mapping is an error naming both lines (YAML 1.2
  forbids it; a silent "last one wins" hides mistakes);
* mapping keys are always strings, exactly as written (``22:`` is ``"22"``);
* timestamps stay the string that was written; custom tags (``!vault``) and
  binary values are errors; merge keys (``<<: *base``) work;
* a syntax error becomes one located error (file:line:column) with a hint;
* input is bounded (the file is untrusted: it comes from a pull request):
  nesting deeper than :data:`MAX_DEPTH`, more than :data:`MAX_NODES` keys and
  values, more than :data:`MAX_ALIASES` alias uses, or aliases that expand to
  more than :data:`MAX_ALIAS_EXPANSION` values or :data:`MAX_ALIAS_TEXT`
  characters (a "billion laughs" bomb) are located errors, before any of
  it is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError, StreamMark, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.resolver import VersionedResolver

from fleetcfg.core.boundedread import INVENTORY_LIMIT, MIB, read_bounded
from fleetcfg.core.errors import FleetcfgError
from fleetcfg.core.terminal import one_line

#: a path inside a document: mapping keys and list indices
KeyPath = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_MERGE = _TAG + "merge"
_PLAIN_TAGS = frozenset(_TAG + t for t in ("str", "int", "float", "bool", "null"))

#: mappings and lists nested deeper than this are refused
MAX_DEPTH = 64
#: keys and values (every mapping, list and scalar) per document: each
#: costs about 1.2 KB while it is parsed, so a 16 MiB file of ``1,1,1,...``
#: (8 million of them) would take about 10 GB and minutes of CPU. A host
#: written as ``name: {address: ...}`` is 4, so 20,000 hosts with a dozen
#: variables each fit many times over.
MAX_NODES = 1_000_000
#: alias uses (``*name``) per document
MAX_ALIASES = 10_000
#: values that aliases may add when they are expanded (beyond the written ones)
MAX_ALIAS_EXPANSION = 200_000
#: characters (of keys and scalars) that aliases may add when they are
#: expanded: a string of a megabyte named 10,000 times is few values, but
#: 10 GB once validated, copied or printed
MAX_ALIAS_TEXT = 16 * MIB


def _limit_hint(file: str) -> str:
    return f"{file} comes from the repo under review: keep it a plain, shallow file"


class _LimitExceeded(Exception):
    def __init__(self, message: str, mark: StreamMark | None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


class _BoundedComposer(Composer):
    """ruamel's composer with a cap on nesting and on alias uses; it counts
    the nodes it composes (the builder caps what aliases add to them)."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.level = 0
        self.aliases = 0
        self.nodes = 0
        #: the most keys and values (MAX_NODES unless the load says otherwise)
        self.limit = MAX_NODES

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                mark = self.parser.peek_event().start_mark
                raise _LimitExceeded(f"more than {MAX_ALIASES} aliases (*name)", mark)
            return super().compose_node(parent, index)
        self.level += 1
        try:
            if self.level > MAX_DEPTH:
                mark = self.parser.peek_event().start_mark
                raise _LimitExceeded(f"nested deeper than {MAX_DEPTH} levels", mark)
            self.nodes += 1
            if self.nodes > self.limit:
                mark = self.parser.peek_event().start_mark
                raise _LimitExceeded(f"more than {self.limit:,} keys and values", mark)
            return super().compose_node(parent, index)
        finally:
            self.level -= 1


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """A place in a file: 1-based line and column (either may be unknown)."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


@dataclass(eq=False)
class YamlDocument:
    """Plain data plus where each part of it was written.

    ``keys[path]`` is the (line, column) of the mapping key (for a list item:
    of the item), ``values[path]`` of the value; both 1-based. ``plain`` holds
    the paths of string scalars written without quotes (only when requested).
    """

    data: Any
    file: str
    keys: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    values: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    plain: set[KeyPath] | None = None

    def _nearest(self, table: dict[KeyPath, tuple[int, int]], path: KeyPath) -> SourceLocation:
        for n in range(len(path), 0, -1):
            pos = table.get(path[:n])
            if pos is not None:
                return SourceLocation(self.file, pos[0], pos[1])
        return SourceLocation(self.file, 1, 1)

    def key_location(self, path: KeyPath) -> SourceLocation:
        """Where the key of ``path`` (or of its nearest written ancestor) is."""
        return self._nearest(self.keys, tuple(path))

    def value_location(self, path: KeyPath) -> SourceLocation:
        """Where the value of ``path`` (or of its nearest written ancestor) starts."""
        return self._nearest(self.values, tuple(path))

    def has(self, path: KeyPath) -> bool:
        return tuple(path) in self.keys

    def line_of(self, path: KeyPath) -> int | None:
        """The line of the exact key ``path``, or ``None`` if it was not written."""
        pos = self.keys.get(tuple(path))
        return pos[0] if pos else None


def _hint_for(problem: str) -> str | None:
    if "'\\t'" in problem or "\t" in problem:
        return "indent YAML with spaces, not tabs"
    if "mapping values are not allowed" in problem:
        return "quote values that contain ': ' or put the nested mapping on its own lines"
    if "found undefined alias" in problem:
        return "define the anchor (&name) before using *name"
    if "expected a single document" in problem:
        return "remove the '---' separator: one document per file"
    return None


class _Builder:
    """Turns composed nodes into plain data and records positions."""

    def __init__(
        self,
        file: str,
        yaml: YAML,
        error: type[FleetcfgError],
        track_plain: bool,
        budget: int,
        *,
        text_budget: int,
    ) -> None:
        self.file = file
        #: nodes this document may still build (aliases build theirs again)
        self.budget = budget
        #: characters of keys and scalars it may still build (likewise)
        self.text_budget = text_budget
        self.constructor = yaml.constructor
        self.error = error
        self.keys: dict[KeyPath, tuple[int, int]] = {}
        self.values: dict[KeyPath, tuple[int, int]] = {}
        self.plain: set[KeyPath] | None = set() if track_plain else None

    def fail(self, node: Node, message: str, hint: str | None = None) -> FleetcfgError:
        mark = node.start_mark
        return self.error(
            message, file=self.file, line=mark.line + 1, column=mark.column + 1, hint=hint
        )

    @staticmethod
    def pos(node: Node) -> tuple[int, int]:
        return (node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: Node, path: KeyPath) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise self.fail(
                node,
                f"aliases expand to more than {MAX_ALIAS_EXPANSION} values (an alias bomb?)",
                _limit_hint(self.file),
            )
        if isinstance(node, ScalarNode):
            self.spend_text(node)
        if isinstance(node, MappingNode):
            return self.mapping(node, path)
        if isinstance(node, SequenceNode):
            out: list[Any] = []
            for index, item in enumerate(node.value):
                item_path = (*path, index)
                self.keys[item_path] = self.values[item_path] = self.pos(item)
                out.append(self.build(item, item_path))
            return out
        return self.scalar(node, path)

    def spend_text(self, node: ScalarNode) -> None:
        self.text_budget -= len(str(node.value))
        if self.text_budget < 0:
            raise self.fail(
                node,
                f"aliases expand to more than {MAX_ALIAS_TEXT // MIB} MiB of text (an alias bomb?)",
                _limit_hint(self.file),
            )

    def scalar(self, node: Node, path: KeyPath) -> Any:
        tag = str(node.tag)
        if tag == _TAG + "str":
            if self.plain is not None and getattr(node, "style", None) is None:
                self.plain.add(path)
            return node.value
        if tag == _TAG + "timestamp":
            return node.value
        if tag not in _PLAIN_TAGS:
            raise self.fail(
                node,
                f"unsupported YAML tag {tag.replace(_TAG, '!!')}",
                "use plain strings, numbers, booleans, lists and mappings",
            )
        try:
            return self.constructor.construct_object(node)
        except (YAMLError, ValueError) as exc:  # e.g. '!!int abc'
            raise self.fail(
                node, f"invalid {tag.replace(_TAG, '!!')} value {node.value!r}"
            ) from exc

    def key_of(self, node: Node) -> str:
        if not isinstance(node, ScalarNode):
            raise self.fail(node, "mapping keys must be plain strings, not lists or mappings")
        self.spend_text(node)
        return str(node.value)

    def mapping(self, node: MappingNode, path: KeyPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merges.append(value_node)
                continue
            key = self.key_of(key_node)
            key_path = (*path, key)
            if key in out:
                first = self.keys[key_path][0]
                raise self.fail(
                    key_node,
                    f"duplicate key {key!r} (first written at line {first})",
                    "remove one of them: YAML keeps only one",
                )
            self.keys[key_path] = self.pos(key_node)
            self.values[key_path] = self.pos(value_node)
            out[key] = self.build(value_node, key_path)
        if merges:
            # keys written here win over merged ones, and keep their positions
            written = {k: (self.keys[(*path, k)], self.values[(*path, k)]) for k in out}
            for merge in merges:
                sources = merge.value if isinstance(merge, SequenceNode) else [merge]
                for source in sources:
                    if not isinstance(source, MappingNode):
                        raise self.fail(
                            source, "a merge key (<<) needs a mapping or a list of mappings"
                        )
                    for key, value in self.mapping(source, path).items():
                        out.setdefault(key, value)
            for key, (key_pos, value_pos) in written.items():
                self.keys[(*path, key)] = key_pos
                self.values[(*path, key)] = value_pos
        return out


def _located_syntax_error(
    exc: MarkedYAMLError, file: str, error: type[FleetcfgError]
) -> FleetcfgError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    message = f"YAML syntax error: {problem}"
    if exc.context and exc.problem and exc.context_mark is not None:
        message += f" ({exc.context} started at line {exc.context_mark.line + 1})"
    return error(
        message,
        file=file,
        line=mark.line + 1 if mark is not None else None,
        column=mark.column + 1 if mark is not None else None,
        hint=_hint_for(f"{problem} {exc.context or ''}"),
    )


def load_yaml(
    text: str,
    file: str,
    *,
    error: type[FleetcfgError] = FleetcfgError,
    track_plain: bool = False,
    max_values: int | None = None,
) -> YamlDocument:
    """Parse one YAML document. ``file`` is the name used in positions and
    errors; ``error`` the FleetcfgError subclass raised for bad input;
    ``max_values``: the most keys and values it may hold (default
    :data:`MAX_NODES`)."""
    yaml = YAML(typ="safe", pure=True)
    yaml.Composer = _BoundedComposer
    if max_values is not None:
        yaml.composer.limit = max_values
    try:
        root = yaml.compose(text)
    except _LimitExceeded as exc:
        mark = exc.mark
        raise error(
            f"YAML too complex: {exc.message}",
            file=file,
            line=mark.line + 1 if mark is not None else None,
            column=mark.column + 1 if mark is not None else None,
            hint=_limit_hint(file),
        ) from None
    except MarkedYAMLError as exc:
        raise _located_syntax_error(exc, file, error) from None
    except ReaderError as exc:  # a character YAML does not allow, by its offset
        offset = exc.position if isinstance(exc.position, int) else 0
        char = (
            exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or " ")
        )
        raise error(
            f"YAML error: unacceptable character #x{char:04x}: {exc.reason}",
            file=file,
            line=text.count("\n", 0, offset) + 1,
            column=offset - (text.rfind("\n", 0, offset) + 1) + 1,
        ) from None
    except YAMLError as exc:
        raise error(f"YAML error: {one_line(str(exc))}", file=file) from None
    composer: _BoundedComposer = yaml.composer
    builder = _Builder(
        file,
        yaml,
        error,
        track_plain,
        composer.nodes + MAX_ALIAS_EXPANSION,
        text_budget=len(text) + MAX_ALIAS_TEXT,
    )
    data = None if root is None else builder.build(root, ())
    return YamlDocument(data, file, builder.keys, builder.values, builder.plain)


def read_text(
    path: Path, display: str, error: type[FleetcfgError], limit: int = INVENTORY_LIMIT
) -> str:
    """Read a UTF-8 text file (a BOM is accepted) of at most ``limit`` bytes,
    with located errors."""
    try:
        raw = read_bounded(path, limit)
    except FileNotFoundError:
        raise error(f"file not found: {display}", file=display) from None
    except IsADirectoryError:
        raise error(f"{display} is a directory, expected a file", file=display) from None
    except OSError as exc:
        raise error(f"cannot read {display}: {exc.strerror}", file=display) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise error(
            f"not valid UTF-8 (byte offset {exc.start})",
            file=display,
            line=line,
            hint="save the file as UTF-8",
        ) from None


def load_yaml_file(
    path: Path,
    display: str | None = None,
    *,
    error: type[FleetcfgError] = FleetcfgError,
) -> YamlDocument:
    """Read and parse ``path``; positions and errors name it as ``display``."""
    name = display if display is not None else str(path)
    return load_yaml(read_text(path, name, error), name, error=error)


_RESOLVER = VersionedResolver()


def plain_scalar_is_string(text: str) -> bool:
    """Whether ``text`` written without quotes reads as a string in YAML 1.2
    (``10.0.0.1`` does; ``2375``, ``true``, ``null``, ``1e3`` do not)."""
    return bool(_RESOLVER.resolve(ScalarNode, text, (True, False)) == _TAG + "str")


def iter_leaves(value: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, Any]]:
    """Every leaf of nested dicts (lists and scalars are leaves; an empty dict
    is a leaf too), with its key path."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from iter_leaves(item, (*path, key))
    else:
        yield path, value


def format_path(path: KeyPath) -> str:
    """``("ssh", "port")`` -> ``ssh.port``; list indices as ``[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
