"""The host programs run under each POSIX ``sh`` a host may have: dash
(Debian, Ubuntu) and bash in POSIX mode (``/bin/sh`` on RHEL, Fedora)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

SHELLS = ("dash", "bash")


def use_shell(name: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``sh`` on PATH is ``name`` from here on (bash started as ``sh`` is in
    POSIX mode); returns the folder that holds it, first on PATH."""
    real = shutil.which(name)
    assert real is not None, f"{name} is not installed"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sh").symlink_to(real)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    return folder
