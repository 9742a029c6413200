"""Local files written atomically: the mode is set on the open file, never by
name (a folder another user may write, such as node-exporter's textfile
folder that converge writes fleetcfg.prom into)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from fleetcfg.core import atomicfile
from fleetcfg.core.atomicfile import write_atomic
from fleetcfg.plan import fleet
from fleetcfg.plan.fleet import save_plan
from fleetcfg.plan.model import Plan


def swap_before_rename(monkeypatch: pytest.MonkeyPatch, module: object, victim: Path) -> None:
    """The attack: the folder's other writer replaces the temporary file by a
    link to ``victim`` while it is flushed (before the rename)."""
    real_fsync: Callable[[int], None] = os.fsync

    def fsync(fd: int) -> None:
        real_fsync(fd)
        for entry in victim.parent.parent.joinpath("shared").iterdir():
            if entry.name.startswith(".") and not entry.is_symlink():
                entry.unlink()
                entry.symlink_to(victim)

    monkeypatch.setattr(module, "os", _OsWith(fsync))


class _OsWith:
    def __init__(self, fsync: Callable[[int], None]) -> None:
        self.fsync = fsync

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)


@pytest.mark.parametrize("writer", ["metrics", "plan"])
def test_a_link_swapped_in_for_the_temporary_file_keeps_its_targets_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: str
) -> None:
    secret = tmp_path / "etc" / "shadow"
    secret.parent.mkdir()
    secret.write_text("root:$6$hash:::\n")
    secret.chmod(0o640)
    shared = tmp_path / "shared"
    shared.mkdir()
    if writer == "metrics":
        swap_before_rename(monkeypatch, atomicfile, secret)
        write_atomic(shared / "fleetcfg.prom", "fleetcfg_up 1\n", 0o644)
    else:
        swap_before_rename(monkeypatch, fleet, secret)
        save_plan(
            Plan(fleetcfg_version="0", inventory="inventory.yaml", hosts=[]), shared / "p.json"
        )
    assert secret.stat().st_mode & 0o777 == 0o640
    assert secret.read_text() == "root:$6$hash:::\n"
