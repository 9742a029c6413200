"""Located errors for inventory.yaml: pydantic's shape errors mapped back to
the key or value to fix, and the error that carries every problem at once."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from fleetcfg.core.errors import InventoryError
from fleetcfg.core.yamlsource import KeyPath, YamlDocument, format_path
from fleetcfg.inventory.model import (
    SETTING_NAMES,
    Group,
    HostEntry,
    InventoryModel,
    Lint,
    Networks,
    Rollout,
    ServiceSettings,
    SshSettings,
)


class InventoryErrors(InventoryError):
    """Several problems in inventory.yaml at once (``problems``, in file order)."""

    def __init__(self, problems: list[InventoryError]) -> None:
        problems = sorted(problems, key=lambda p: (p.file or "", p.line or 0, p.column or 0))
        first = problems[0]
        super().__init__(
            first.message,
            file=first.file,
            line=first.line,
            column=first.column,
            host=first.host,
            key=first.key,
            hint=first.hint,
        )
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(InventoryError.__str__(p) for p in self.problems)


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    return f"did you mean {', '.join(close)}?" if close else None


def located_validation_errors(exc: ValidationError, doc: YamlDocument) -> list[InventoryError]:
    """One located problem per path (the alternatives of a union joined)."""
    by_path: dict[tuple[KeyPath, bool], tuple[list[str], str | None]] = {}
    for err in exc.errors(include_url=False):
        path, is_key = _data_path(doc.data, err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        hint: str | None = None
        if err["type"] == "extra_forbidden":
            unknown = path[-1] if path else "?"
            message = f"unknown key {unknown!r}"
            hint = suggest(str(unknown), _allowed_keys(path)) or (
                "see the inventory format in README.md"
            )
            is_key = True
        elif err["type"] == "string_pattern_mismatch" and is_key and path[-2:-1] == ("vars",):
            message = (
                f"invalid variable name {path[-1]!r}: use letters, digits and '_' "
                "(profiles refer to it as {{ name }})"
            )
        elif err["type"] == "string_pattern_mismatch" and is_key:
            message = f"invalid name {path[-1]!r}: use letters, digits, '.', '_' and '-'"
        messages, _ = by_path.setdefault((path, is_key), ([], hint))
        message = _plain_words(message)
        if message not in messages:
            messages.append(message)
    problems: list[InventoryError] = []
    for (path, is_key), (messages, hint) in by_path.items():
        loc = doc.key_location(path) if is_key else doc.value_location(path)
        problems.append(
            InventoryError(
                messages[0] + "".join(" or " + m.removeprefix("expected ") for m in messages[1:]),
                file=loc.file,
                line=loc.line,
                column=loc.column,
                key=format_path(path) or None,
                hint=hint,
            )
        )
    return problems


def _plain_words(message: str) -> str:
    """pydantic's wording in the words of the YAML file."""
    message = re.sub(r"a valid dictionary( or instance of \w+)?", "a mapping", message)
    message = message.replace("a valid list", "a list").replace("a valid string", "a string")
    return re.sub(r"^Input should be ", "expected ", message)


def _data_path(data: Any, loc: tuple[int | str, ...]) -> tuple[KeyPath, bool]:
    """The document path a pydantic ``loc`` points at (dropping union tags);
    ``True`` when the error is about a mapping key rather than a value."""
    path: list[str | int] = []
    node = data
    is_key = False
    for part in loc:
        if part == "[key]":
            is_key = True
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            path.append(part)
            node = node[part]
        elif (
            isinstance(node, dict)
            and isinstance(part, str)
            and (part in node or not _is_union_tag(part))
        ):
            path.append(part)  # an unknown key ('extra_forbidden') is not in the model
            node = node.get(part)
    return tuple(path), is_key


def _is_union_tag(part: str) -> bool:
    """pydantic adds union member tags (``function-plain[...]``, ``int``) to locs."""
    return "[" in part or part in ("int", "str", "float", "bool", "list", "dict", "none")


def _allowed_keys(path: KeyPath) -> list[str]:
    """Key names valid where ``path`` ends (for "did you mean")."""
    parent = path[:-1]
    if not parent:
        return list(InventoryModel.model_fields)
    if parent[-1] == "ssh":
        return list(SshSettings.model_fields)
    if parent[-1] == "service":
        return list(ServiceSettings.model_fields)
    if parent == ("rollout",):
        return list(Rollout.model_fields)
    if parent == ("networks",):
        return list(Networks.model_fields)
    if parent == ("lint",):
        return list(Lint.model_fields)
    if len(parent) == 2 and parent[0] == "groups":
        return list(Group.model_fields)
    if parent[-2:-1] == ("hosts",):
        return list(HostEntry.model_fields)
    return list(SETTING_NAMES)
