"""The forms a secret may leak in, for tests that assert it never does."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus


def secret_forms(secret: str) -> list[str]:
    """``secret`` as written, JSON-escaped (once and twice), as a Python repr,
    URL-encoded (every way) and base64-encoded."""
    escaped = json.dumps(secret)[1:-1]
    return [
        secret,
        escaped,
        json.dumps(escaped)[1:-1],
        repr(secret)[1:-1],
        quote(secret, safe=""),
        quote(secret, safe="/"),
        quote_plus(secret),
        base64.b64encode(secret.encode()).decode().rstrip("="),
    ]


def assert_hidden(secret: str, text: str, where: str = "") -> None:
    """No form of ``secret``, nor most of it, is in ``text``."""
    for form in [*secret_forms(secret), secret[1:-1]]:
        assert form not in text, f"{where} shows {form!r}"
