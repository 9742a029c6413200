"""Plays cloud-init's ``write_files`` (and ``defer``) on a file system, as the
real module does: decode the content, write it, set permissions and owner.

``init`` is the network stage (before docker.service starts); ``final`` is
write_files_deferred, just before runcmd's script runs."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any, Literal

from ruamel.yaml import YAML

#: (path, content, mode, "owner:group")
Writer = Callable[[str, bytes, int, str], None]


def load_cloud_config(text: str) -> dict[str, Any]:
    first, _, _ = text.partition("\n")
    assert first == "#cloud-config", f"the first line must be #cloud-config, not {first!r}"
    data = YAML(typ="safe").load(io.StringIO(text))
    assert isinstance(data, dict)
    return data


def decode(entry: dict[str, Any]) -> bytes:
    content = str(entry.get("content", ""))
    encoding = entry.get("encoding", "text/plain")
    if encoding in ("b64", "base64"):
        return base64.b64decode(content)
    assert encoding == "text/plain", f"this player does not decode {encoding}"
    return content.encode()


def play_write_files(
    document: dict[str, Any], write: Writer, *, stage: Literal["init", "final"]
) -> list[str]:
    """Write the entries of ``stage``; returns their paths."""
    written = []
    for entry in document.get("write_files", []):
        if bool(entry.get("defer", False)) != (stage == "final"):
            continue
        mode = int(str(entry.get("permissions", "0644")), 8)
        write(entry["path"], decode(entry), mode, str(entry.get("owner", "root:root")))
        written.append(entry["path"])
    return written
