"""``env()`` and ``file()`` for lint: always a stand-in, never the value.

Lint runs in CI on pull requests: the repo under review is not trusted, and
lint has no use for real secrets. So a lookup never reads the environment or a
file: it is checked like a real one (the variable must be declared in
inventory.yaml, the path must stay inside the repo) and renders as
:data:`STAND_IN` (registered as a secret like any lookup result, so it is
masked too), and everything else in the config is still checked.
"""

from __future__ import annotations

from pathlib import Path

from fleetcfg.core.secrets import Lookups

#: what every lookup yields in lint (URL- and YAML-safe)
STAND_IN = "fleetcfg-lint-stand-in"
_UNSET = object()


class StandInLookups(Lookups):
    """:class:`Lookups` that check each lookup and answer :data:`STAND_IN`,
    remembering which lookups it stood in for (:attr:`missing`)."""

    stand_in = True

    def __init__(self, base_dir: Path, allowed_env: frozenset[str]) -> None:
        super().__init__(base_dir, {}, allowed_env=allowed_env)
        self.missing: set[str] = set()

    def env(self, name: object, default: object = _UNSET) -> str:
        self.missing.add(f"env({self.env_name(name)})")
        return STAND_IN

    def file(self, name: object) -> str:
        self.file_path(name)
        self.missing.add(f"file({name})")
        return STAND_IN
