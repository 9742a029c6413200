"""Shared pytest configuration."""

import pytest

from fleetcfg.render import budget

pytest_plugins = ["tests.fleet.pytest_plugin"]


@pytest.fixture(autouse=True)
def _fresh_render_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with the run's total render CPU at zero: a test
    process runs the renders of hundreds of commands, a fleetcfg process
    those of one."""
    monkeypatch.setattr(budget, "_SPENT", [0.0])
