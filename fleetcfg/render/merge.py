"""Merging a profile chain, and filling in bare-printed variables.

``merge_chain`` merges the parsed outputs of a chain (``ci`` extends ``base``)
from the root down: mappings key by key, lists replaced unless the child lists
them under ``x-fleetcfg.append``; ``null`` deletes. It records, for every key
path of the result, which output (and which path there) supplied it.

Placeholders: a variable a template only ever prints bare (``{{ address }}``)
is rendered as a placeholder token, so that hosts differing only in such values
share one render, one parse and one merge; :func:`fill_placeholders` then puts
each host's values in. It refuses (:class:`PlaceholderMismatch`) wherever the
real text could parse differently (an unquoted YAML value that would read as a
number, a boolean or null, or keys that would collide), and the caller renders
that host for real.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fleetcfg.core.yamlsource import KeyPath, plain_scalar_is_string
from fleetcfg.inventory.layering import same_value
from fleetcfg.render.outputs import Output

_PLACEHOLDER_PREFIX = "zzfleetcfgvar"
_PLACEHOLDER_RE = re.compile(rf"{_PLACEHOLDER_PREFIX}\d+zz")
#: values that print the same wherever they land in YAML or JSON text
_PLACEHOLDER_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./+=~-]*$")

Provenance = dict[KeyPath, tuple[Output, KeyPath]]


def placeholder(index: int) -> str:
    return f"{_PLACEHOLDER_PREFIX}{index}zz"


def can_be_placeholder(value: Any) -> bool:
    """Whether ``value`` may be printed through a placeholder."""
    return type(value) is str and bool(_PLACEHOLDER_SAFE.match(value))


def has_placeholder(text: str) -> bool:
    return _PLACEHOLDER_PREFIX in text


class PlaceholderMismatch(Exception):
    """The real value could parse differently than its placeholder did."""


@dataclass(eq=False)
class Merged:
    """A profile chain merged (before placeholders are filled in)."""

    chain: tuple[Output, ...]  # the host's profile first
    data: dict[str, Any]
    removed: tuple[str, ...]
    provenance: Provenance
    secrets: frozenset[str]
    placeholders: bool


def merge_chain(chain: tuple[Output, ...]) -> Merged:
    """Merge ``chain`` (leaf first) from the root down."""
    provenance: Provenance = {}

    def record(value: Any, path: KeyPath, opath: KeyPath, output: Output) -> None:
        provenance[path] = (output, opath)
        if isinstance(value, dict):
            for k, v in value.items():
                record(v, (*path, k), (*opath, k), output)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                record(v, (*path, i), (*opath, i), output)

    def forget_below(path: KeyPath) -> None:
        depth = len(path)
        for p in [p for p in provenance if len(p) > depth and p[:depth] == path]:
            del provenance[p]

    def merge(lower: Any, upper: Any, path: KeyPath, opath: KeyPath, output: Output) -> Any:
        if isinstance(lower, dict) and isinstance(upper, dict):
            out = dict(lower)
            for k, v in upper.items():
                child, ochild = (*path, k), (*opath, k)
                if k in out:
                    out[k] = merge(out[k], v, child, ochild, output)
                    provenance[child] = (output, ochild)
                else:
                    out[k] = v
                    record(v, child, ochild, output)
            return out
        if isinstance(lower, list) and isinstance(upper, list) and opath in output.append:
            items = list(lower)
            for i, item in enumerate(upper):
                if not any(same_value(item, have) for have in items):
                    record(item, (*path, len(items)), (*opath, i), output)
                    items.append(item)
            return items
        forget_below(path)
        record(upper, path, opath, output)
        return upper

    data: dict[str, Any] = {}
    for output in reversed(chain):
        data = merge(data, output.data, (), (), output)
    removed = tuple(k for k, v in data.items() if v is None)
    return Merged(
        chain=chain,
        data=_without_nulls(data),
        removed=removed,
        provenance=provenance,
        secrets=frozenset().union(*(o.secrets for o in chain)),
        placeholders=any(o.placeholders for o in chain),
    )


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def fill_placeholders(merged: Merged, values: Mapping[str, str]) -> dict[str, Any]:
    """``merged.data`` with placeholders replaced by ``values`` (placeholder ->
    text); raises :class:`PlaceholderMismatch` where that is not exact."""

    def fill(text: str) -> str:
        out = _PLACEHOLDER_RE.sub(lambda m: values.get(m.group(0), m.group(0)), text)
        if has_placeholder(out):
            raise PlaceholderMismatch(text)
        return out

    def walk(value: Any, path: KeyPath) -> Any:
        if isinstance(value, str):
            if not has_placeholder(value):
                return value
            text = fill(value)
            source = merged.provenance.get(path)
            if source and source[1] in source[0].plain and not plain_scalar_is_string(text):
                raise PlaceholderMismatch(text)
            return text
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for k, v in value.items():
                key = k
                if has_placeholder(k):
                    key = fill(k)
                    if key in out or key in value:
                        raise PlaceholderMismatch(key)  # the real text repeats a key
                out[key] = walk(v, (*path, k))
            return out
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        return value

    data: dict[str, Any] = walk(merged.data, ())
    return data
