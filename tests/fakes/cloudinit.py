"""Plays cloud-init's ``write_files`` (and ``defer``) on a file system, as the
real module does: decode the content, write it, set permissions and owner;
and ``bootcmd``, as cc_bootcmd does: the entries as one ``/bin/sh`` script.

``init`` is the network stage (before docker.service starts); ``final`` is
write_files_deferred, just before runcmd's script runs."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping
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


def shellify(entries: list[Any]) -> str:
    """cloud-init's ``util.shellify``: one ``/bin/sh`` script, a string entry
    as it is, a list entry as one quoted command."""
    script = "#!/bin/sh\n"
    for entry in entries:
        if isinstance(entry, list):
            script += " ".join("'" + str(a).replace("'", "'\"'\"'") + "'" for a in entry) + "\n"
        else:
            script += f"{entry}\n"
    return script


def play_bootcmd(
    document: dict[str, Any], *, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """cloud-init's bootcmd (the first module of the network stage, on every
    boot): the entries as one script run by ``/bin/sh`` with ``env``
    (``INSTANCE_ID`` included, as cc_bootcmd sets it)."""
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as script:
        script.write(shellify(document.get("bootcmd", [])))
    try:
        return subprocess.run(
            ["/bin/sh", script.name],
            env=dict(env),
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    finally:
        os.unlink(script.name)


def bootcmd_files(document: dict[str, Any]) -> dict[str, bytes]:
    """The files the bootcmd entries of ``fleetcfg cloud-init`` carry (path ->
    bytes), read from their ``put PATH MODE SHA256 <<'FLEETCFG_FILE'``
    here-documents."""
    found: dict[str, bytes] = {}
    for entry in document.get("bootcmd", []):
        lines = str(entry).splitlines()
        for index, line in enumerate(lines):
            if not line.startswith("put "):
                continue
            end = lines.index("FLEETCFG_FILE", index)
            found[line.split()[1]] = base64.b64decode("".join(lines[index + 1 : end]))
    return found
