"""Golden cases: each folder of tests/data/repos is a small repo; ``expected/``
holds what ``fleetcfg render HOST`` prints for it, run from the repo folder:
``HOST.json`` (stdout, exit 0) or ``HOST.err`` (stderr, exit 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import app

REPOS = Path(__file__).resolve().parents[2] / "data" / "repos"
CASES = sorted(
    (expected.parent.parent.name, expected)
    for expected in REPOS.glob("*/expected/*")
    if expected.suffix in (".json", ".err")
)


@pytest.mark.parametrize(("repo", "expected"), CASES, ids=[f"{r}/{e.name}" for r, e in CASES])
def test_render_matches_the_golden_output(
    repo: str, expected: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPOS / repo)
    result = CliRunner().invoke(app, ["render", expected.stem], env={"COLUMNS": "200"})
    if expected.suffix == ".json":
        assert result.exit_code == 0, result.output
        assert result.stdout == expected.read_text()
    else:
        assert result.exit_code == 1, result.output
        assert result.stderr == expected.read_text()


def test_every_golden_repo_has_expectations() -> None:
    for repo in REPOS.iterdir():
        assert list((repo / "expected").iterdir()), f"{repo.name} has no expected output"
