"""Canonical JSON, semantic diffs and their masked rendering.

Targets are rendered from the models, never pasted from templates: sorted keys,
two-space indent, a trailing newline, UTF-8. Diffs are semantic first (key paths
such as ``log-opts.max-size``), so key order and white space never show up as a
change; the text diff comes second. Every value is masked on the way out:
secrets from ``env()``/``file()`` lookups, credentials in URLs, and the whole of
``auths`` in config.json.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fleetcfg.core.hashing import canonical_json
from fleetcfg.core.jsondoc import Loc, format_loc
from fleetcfg.core.secrets import (
    is_secret_path,
    mask_document,
    mask_text,
    mask_value,
)


class ChangeKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"
    KEPT = "kept"  # a key fleetcfg does not own, left as it is (manage: keys)


@dataclass(frozen=True, slots=True)
class Change:
    loc: Loc
    kind: ChangeKind
    old: Any = None
    new: Any = None

    @property
    def path(self) -> str:
        return format_loc(self.loc)

    @property
    def top_key(self) -> str:
        return str(self.loc[0]) if self.loc else ""


def semantic_diff(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[Change]:
    """Key-path changes from ``old`` to ``new``. Objects are compared key by key;
    arrays and scalars as whole values (their order matters to dockerd)."""
    out: list[Change] = []
    _diff(old or {}, new or {}, (), out)
    return out


def _diff(old: Any, new: Any, loc: Loc, out: list[Change]) -> None:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            child = (*loc, key)
            if key not in new:
                out.append(Change(child, ChangeKind.REMOVED, old=old[key]))
            elif key not in old:
                out.append(Change(child, ChangeKind.ADDED, new=new[key]))
            else:
                _diff(old[key], new[key], child, out)
        return
    if not _same(old, new):
        out.append(Change(loc, ChangeKind.CHANGED, old=old, new=new))


def _same(a: Any, b: Any) -> bool:
    # 1 and true are different JSON values, 1 and 1.0 are the same number
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def show(value: Any) -> str:
    """A compact JSON rendering for one-line diffs."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def render_change(change: Change, secrets: Iterable[str] = ()) -> str:
    """``log-opts.max-size: "10m" -> "50m"``; ``+ key: value``; ``- key: value``."""
    secrets = tuple(secrets)
    old = show(mask_value(change.loc, change.old, secrets))
    new = show(mask_value(change.loc, change.new, secrets))
    if change.kind is ChangeKind.ADDED:
        return f"+ {change.path}: {new}"
    if change.kind is ChangeKind.REMOVED:
        return f"- {change.path}: {old}"
    if change.kind is ChangeKind.KEPT:
        return f"= {change.path}: {old} (not managed by fleetcfg, kept)"
    if is_secret_path(change.loc):
        return f"~ {change.path}: (secret changed)"
    return f"~ {change.path}: {old} -> {new}"


def text_diff(
    old_text: str | None,
    new_text: str | None,
    *,
    path: str,
    secrets: Iterable[str] = (),
    old_data: Mapping[str, Any] | None = None,
    new_data: Mapping[str, Any] | None = None,
) -> str:
    """A unified diff of the two file texts, masked. When the decoded data is
    given, both sides are shown canonically masked (auths never appear)."""
    secrets = tuple(secrets)

    def prepare(text: str | None, data: Mapping[str, Any] | None) -> list[str]:
        if data is not None:
            text = canonical_json(mask_document(data, secrets))
        if text is None:
            return []
        return mask_text(text, secrets).splitlines(keepends=True)

    lines = difflib.unified_diff(
        prepare(old_text, old_data),
        prepare(new_text, new_data),
        fromfile=f"{path} (live)",
        tofile=f"{path} (target)",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
