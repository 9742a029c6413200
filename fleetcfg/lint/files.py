"""Lint standalone daemon.json / config.json files."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fleetcfg.core.errors import UsageError
from fleetcfg.core.findings import Finding
from fleetcfg.core.versions import DEFAULT_ENGINE, EngineVersion
from fleetcfg.dockerd.validation import check_client_bytes, check_daemon_bytes

Kind = Literal["daemon", "client"]


def lint_bytes(
    raw: bytes | str,
    *,
    filename: str,
    kind: Kind = "daemon",
    engine: EngineVersion = DEFAULT_ENGINE,
) -> list[Finding]:
    """Every finding for one file's content, located at file:line:column."""
    if kind == "client":
        return check_client_bytes(raw, file=filename).findings
    return check_daemon_bytes(raw, file=filename, engine=engine).findings


def lint_file(
    path: str | Path, *, kind: Kind = "daemon", engine: EngineVersion = DEFAULT_ENGINE
) -> list[Finding]:
    """Read and lint one file; a missing or unreadable file is a usage error."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise UsageError("no such file", file=str(path)) from None
    except IsADirectoryError:
        raise UsageError("is a directory, not a file", file=str(path)) from None
    except OSError as exc:
        raise UsageError(f"cannot read: {exc.strerror}", file=str(path)) from None
    return lint_bytes(raw, filename=str(path), kind=kind, engine=engine)
