"""Lint standalone daemon.json / config.json files."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fleetcfg.core.boundedread import TEXT_LIMIT, link_out_of, read_bounded
from fleetcfg.core.errors import UsageError
from fleetcfg.core.findings import Finding
from fleetcfg.core.versions import DEFAULT_ENGINE, EngineVersion
from fleetcfg.dockerd.validation import check_client_bytes, check_daemon_bytes
from fleetcfg.inventory import DEFAULT_INVENTORY, PROFILES_DIR

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


def _not_a_config_file(path: Path) -> UsageError | None:
    """A usage error saying what to do with a repo file given as a FILE
    argument (inventory.yaml, a profile), else ``None``."""
    name = path.name.lower()
    in_profiles = path.parent.name == PROFILES_DIR
    repo = path.parent.parent if in_profiles else path.parent
    inventory = repo / DEFAULT_INVENTORY
    if name.endswith(".j2") or (in_profiles and name.endswith((".yaml", ".yml"))):
        return UsageError(
            "is a profile, not a daemon.json or config.json",
            file=str(path),
            hint=f"the repo lint renders it for every host that uses it and lints the "
            f"result: fleetcfg lint -i {inventory} (fleetcfg render HOST shows what a host gets)",
        )
    if name.endswith((".yaml", ".yml")):
        return UsageError(
            "is YAML (an inventory?), not a daemon.json or config.json",
            file=str(path),
            hint=f"lint the repo it describes: fleetcfg lint -i {path}",
        )
    return None


def lint_file(
    path: str | Path, *, kind: Kind = "daemon", engine: EngineVersion = DEFAULT_ENGINE
) -> list[Finding]:
    """Read and lint one file; a missing or unreadable file is a usage error,
    and so is a repo file (inventory.yaml, a profile) given instead."""
    p = Path(path)
    refused = _not_a_config_file(p)
    if refused is not None:
        raise refused
    target = link_out_of(p)
    if target is not None:
        raise UsageError(
            f"is a symbolic link out of the repo (to {target}): not read",
            file=str(path),
            hint="if that file is meant, lint it by its own path",
        )
    try:
        raw = read_bounded(p, TEXT_LIMIT)
    except FileNotFoundError:
        raise UsageError("no such file", file=str(path)) from None
    except IsADirectoryError:
        raise UsageError("is a directory, not a file", file=str(path)) from None
    except OSError as exc:
        raise UsageError(f"cannot read: {exc.strerror}", file=str(path)) from None
    return lint_bytes(raw, filename=str(path), kind=kind, engine=engine)
