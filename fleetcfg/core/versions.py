"""Docker Engine versions: parsing and comparison."""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION_RE = re.compile(r"(?<![\d.])(\d{1,3})\.(\d{1,3})(?:\.(\d{1,4}))?")


@dataclass(frozen=True, order=True, slots=True)
class EngineVersion:
    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> EngineVersion:
        """Parse ``26.1``, ``26.1.5``, ``v28.5.2``, ``28.x`` or the output of
        ``dockerd --version`` (``Docker version 26.1.5+dfsg1, build a72d7cd``)."""
        raw = text.strip()
        short = re.fullmatch(r"v?(\d{1,3})(?:\.x)?", raw)
        if short:
            return LATEST_BY_MAJOR.get(int(short.group(1)), cls(int(short.group(1)), 0))
        m = _VERSION_RE.search(raw)
        if not m:
            raise ValueError(
                f"not a Docker Engine version: {text!r} (expected e.g. 26.1 or 28.5.2)"
            )
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))

    def __str__(self) -> str:
        return (
            f"{self.major}.{self.minor}"
            if self.patch == 0
            else (f"{self.major}.{self.minor}.{self.patch}")
        )

    @property
    def short(self) -> str:
        return f"{self.major}.{self.minor}"


#: what ``28`` or ``28.x`` means: the newest minor release of that major line we know
LATEST_BY_MAJOR: dict[int, EngineVersion] = {
    20: EngineVersion(20, 10),
    23: EngineVersion(23, 0),
    24: EngineVersion(24, 0),
    25: EngineVersion(25, 0),
    26: EngineVersion(26, 1),
    27: EngineVersion(27, 5),
    28: EngineVersion(28, 5),
    29: EngineVersion(29, 0),
}

#: the default validation target ("28.x")
DEFAULT_ENGINE = EngineVersion(28, 5)
#: the oldest engine fleetcfg models (Debian bookworm ships 20.10)
OLDEST_ENGINE = EngineVersion(20, 10)
