"""Hashing and the canonical JSON form: what fleetcfg writes and what it hashes."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from json.encoder import encode_basestring  # the C encoder when CPython has it
from typing import Any


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(data: Mapping[str, Any]) -> str:
    """The one way fleetcfg writes a config file: exactly
    ``json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\\n"``.

    With an indent, :mod:`json` encodes in pure Python through generators; a
    plan encodes several documents per host (the target's bytes, the masked
    text diff, the credential check), so the plain JSON values config files
    hold take a direct path here, about three times faster. Anything else
    (keys that are not strings, other types) is left to :func:`json.dumps`."""
    out: list[str] = []
    try:
        _encode(data, "\n", out)
    except _Unsupported:
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    out.append("\n")
    return "".join(out)


class _Unsupported(Exception):
    """A value the direct path does not encode (``json.dumps`` does)."""


def _float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _encode(value: object, newline: str, out: list[str]) -> None:
    """Append ``value`` encoded at the nesting whose line break and indent
    is ``newline`` (exact types only: a subclass may encode otherwise)."""
    if type(value) is str:
        out.append(encode_basestring(value))
    elif type(value) is dict:
        _encode_dict(value, newline, out)
    elif type(value) is list or type(value) is tuple:
        _encode_list(value, newline, out)
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif type(value) is int:
        out.append(int.__repr__(value))
    elif type(value) is float:
        out.append(_float(value))
    else:
        raise _Unsupported


def _encode_dict(value: dict[object, object], newline: str, out: list[str]) -> None:
    if not value:
        out.append("{}")
        return
    keys: list[str] = []
    for key in value:
        if type(key) is not str:
            raise _Unsupported  # json.dumps converts them (or refuses a mix its own way)
        keys.append(key)
    keys.sort()
    inner = newline + "  "
    first = True
    for key in keys:
        out.append("{" + inner if first else "," + inner)
        first = False
        out.append(encode_basestring(key))
        out.append(": ")
        _encode(value[key], inner, out)
    out.append(newline + "}")


def _encode_list(value: list[object] | tuple[object, ...], newline: str, out: list[str]) -> None:
    if not value:
        out.append("[]")
        return
    inner = newline + "  "
    first = True
    for item in value:
        out.append("[" + inner if first else "," + inner)
        first = False
        _encode(item, inner, out)
    out.append(newline + "]")
