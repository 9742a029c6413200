"""Repos with planted mistakes (tests/data/lint/*): `fleetcfg lint` exits 1 and
points at the right file, line, rule and hosts for every one of them
(expected.yaml next to each inventory)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import app
from fleetcfg.core.yamlsource import load_yaml

ROOT = Path(__file__).resolve().parents[3]
PLANTED = ROOT / "tests" / "data" / "lint"
REPOS = sorted(p.name for p in PLANTED.iterdir() if (p / "inventory.yaml").is_file())


def expected(name: str) -> dict[str, Any]:
    path = PLANTED / name / "expected.yaml"
    data = load_yaml(path.read_text(), str(path)).data
    assert isinstance(data, dict)
    return data


def test_there_are_planted_repos_for_every_family_of_rules() -> None:
    assert {"networks", "proxies", "daemon-hygiene", "templates", "yaml-syntax"} <= set(REPOS)


@pytest.mark.parametrize("name", REPOS)
def test_each_planted_mistake_is_found_where_it_is(name: str, monkeypatch: Any) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(
        app, ["lint", "-i", f"tests/data/lint/{name}", "--format", "json"], env={}
    )
    want = expected(name)
    assert result.exit_code == want["exit"] == 1, result.stdout
    prefix = f"tests/data/lint/{name}/"
    got = [
        {
            "rule": f["rule"],
            "severity": f["severity"],
            "file": f["file"].removeprefix(prefix),
            "line": f["line"],
            "hosts": f.get("hosts", []),
        }
        for f in json.loads(result.stdout)["findings"]
    ]
    assert got == want["findings"]
