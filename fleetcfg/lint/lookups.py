"""``env()`` and ``file()`` for lint: the real value when there is one, a
stand-in otherwise.

Lint runs in CI, where production secrets are (rightly) absent. A missing
environment variable or secret file is therefore not a lint error: the profile
renders with a stand-in value (registered as a secret like any lookup result,
so it is masked too) and everything else in the config is still checked.
Malformed lookups (``env(42)``, ``file("")``) remain errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleetcfg.core.secrets import Lookups

#: what a lookup yields when its secret is not available (URL- and YAML-safe)
STAND_IN = "fleetcfg-lint-stand-in"
_UNSET = object()


class StandInLookups(Lookups):
    """:class:`Lookups` that answer missing secrets with :data:`STAND_IN` and
    remember which ones were missing (:attr:`missing`)."""

    def __init__(self, base_dir: Path, environ: Any = None) -> None:
        super().__init__(base_dir, environ)
        self.missing: set[str] = set()

    def env(self, name: object, default: object = _UNSET) -> str:
        if default is not _UNSET:
            return super().env(name, default)
        if (
            not isinstance(name, str)
            or not (name.isascii() and name.isidentifier())
            or name in self.environ
        ):
            return super().env(name)  # the value, or the error for a malformed name
        self.missing.add(f"env({name})")
        return STAND_IN

    def file(self, name: object) -> str:
        if not isinstance(name, str) or not name:
            return super().file(name)
        path = Path(name).expanduser()
        if not path.is_absolute():
            path = self.base_dir / path
        if path.exists():
            return super().file(name)
        self.missing.add(f"file({name})")
        return STAND_IN
