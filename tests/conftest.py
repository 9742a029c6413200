"""Shared pytest configuration."""

from __future__ import annotations

import pytest

from fleetcfg.render import budget
from tests.shells import SHELLS, use_shell

pytest_plugins = ["tests.fleet.pytest_plugin"]


@pytest.fixture(autouse=True)
def _fresh_render_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with the run's total render CPU at zero: a test
    process runs the renders of hundreds of commands, a fleetcfg process
    those of one."""
    monkeypatch.setattr(budget, "_SPENT", [0.0])


@pytest.fixture(params=SHELLS)
def posix_shell(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """``sh`` on PATH is each POSIX sh a host may have, in turn (see tests/shells.py)."""
    use_shell(request.param, tmp_path_factory.mktemp("shell"), monkeypatch)
    return str(request.param)
