"""Writing small fleetcfg repos (inventory.yaml + profiles/) under tmp_path."""

from __future__ import annotations

import textwrap
from pathlib import Path

from fleetcfg.inventory import Inventory, load_inventory


def write_repo(root: Path, inventory: str, profiles: dict[str, str] | None = None) -> Path:
    """Write ``inventory.yaml`` and ``profiles/*`` under ``root``; returns the
    inventory path. Texts are dedented."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "inventory.yaml"
    path.write_text(textwrap.dedent(inventory).lstrip("\n"))
    for name, text in (profiles or {}).items():
        target = root / "profiles" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def load_repo(root: Path, inventory: str, profiles: dict[str, str] | None = None) -> Inventory:
    return load_inventory(write_repo(root, inventory, profiles))


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    """The 1-based line of the ``occurrence``-th line containing ``needle``."""
    seen = 0
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in {path}")
