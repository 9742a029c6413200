"""Option parsing shared by the commands (turns bad values into usage errors)."""

from __future__ import annotations

from enum import StrEnum

from fleetcfg.errors import UsageError
from fleetcfg.versions import EngineVersion


class FileKind(StrEnum):
    daemon = "daemon"
    client = "client"


def parse_engine(text: str | None, *, option: str = "--engine-version") -> EngineVersion | None:
    if text is None:
        return None
    try:
        return EngineVersion.parse(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None
