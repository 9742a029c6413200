"""The floors' known_hosts: parsed once into a dict, as the issue's floor is
defined (paramiko's own ``HostKeys.lookup`` scans every line per host, which
would make the floor itself quadratic in the fleet). Plain names only: the
test fleet's known_hosts has no hashed names. Imported by the floors, which
run without fleetcfg on the path: paramiko only."""

from __future__ import annotations

from pathlib import Path

import paramiko


class _Keys(dict[str, paramiko.PKey]):
    """key type -> key; ``keys()`` is a list, as paramiko's client indexes it."""

    def keys(self) -> list[str]:  # type: ignore[override]
        return list(super().keys())


class DictHostKeys(paramiko.HostKeys):
    """``paramiko.HostKeys`` whose lookup is one dict access."""

    def __init__(self, filename: str) -> None:
        super().__init__()
        self._index: dict[str, _Keys] = {}
        with Path(filename).open(encoding="utf-8") as fh:
            for line in fh:
                entry = paramiko.hostkeys.HostKeyEntry.from_line(line)
                if entry is None or entry.key is None:
                    continue
                for name in entry.hostnames:
                    self._index.setdefault(name, _Keys())[entry.key.get_name()] = entry.key

    def lookup(self, hostname: str) -> _Keys | None:  # type: ignore[override]
        return self._index.get(hostname)
