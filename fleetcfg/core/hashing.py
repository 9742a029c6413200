"""Hashing and the canonical JSON form: what fleetcfg writes and what it hashes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(data: Mapping[str, Any]) -> str:
    """The one way fleetcfg writes a config file."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
