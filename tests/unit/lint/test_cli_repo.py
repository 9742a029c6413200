"""`fleetcfg lint` without FILE arguments: the repo, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import app
from fleetcfg.core.rules import all_rules
from tests.unit.inventory.repo import write_repo
from tests.unit.lint.helpers import CLEAN, ONE_HOST
from tests.unit.lint.test_formats import assert_valid_sarif

REPO = Path(__file__).resolve().parents[3]
runner = CliRunner()

WARNING_ONLY = CLEAN.replace("live-restore: true", "live-restore: false")
WITH_ERROR = CLEAN + "hosts: [fd://]\n"


def repo(root: Path, profile: str = CLEAN) -> Path:
    return write_repo(root, ONE_HOST, {"base.yaml.j2": profile})


def test_the_shipped_example_exits_0_and_prints_only_the_summary_line() -> None:
    # CliRunner's stdout is not a terminal: CI logs get the summary line too
    result = runner.invoke(app, ["lint", "-i", str(REPO / "inventory.yaml")], env={})
    assert result.exit_code == 0, result.stdout
    assert result.stdout == "0 errors, 0 warnings, 13 hosts, 31 files\n"
    assert f"`{result.stdout.strip()}`" in (REPO / "README.md").read_text()  # as README says


def test_the_inventory_in_the_current_folder_is_the_default(
    tmp_path: Path, monkeypatch: Any
) -> None:
    repo(tmp_path, WITH_ERROR)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["lint"])
    assert result.exit_code == 1
    assert result.stdout.startswith("profiles/base.yaml.j2:5:1: FC039 error: ")
    *findings, summary = result.stdout.splitlines()
    assert findings[-1].endswith("[1 host: web-01]")
    assert summary == "1 error, 0 warnings, 1 host, 1 file"


def test_warnings_alone_exit_0(tmp_path: Path) -> None:
    repo(tmp_path, WARNING_ONLY)
    result = runner.invoke(app, ["lint", "-i", str(tmp_path)])
    assert result.exit_code == 0 and "FC037 warning" in result.stdout


def test_a_broken_inventory_exits_1_not_2(tmp_path: Path) -> None:
    write_repo(tmp_path, "defaults: [\n")
    result = runner.invoke(app, ["lint", "-i", str(tmp_path / "inventory.yaml")])
    assert result.exit_code == 1 and "FC050 error" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["lint", "-i", "/no/such/inventory.yaml"],
        ["lint", "--engine-version", "26.1"],
        ["lint", "--kind", "client"],
        ["lint", "-i", "inventory.yaml", "daemon.json"],
        ["lint", "--format", "xml"],
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, monkeypatch: Any, args: list[str]) -> None:
    repo(tmp_path)
    (tmp_path / "daemon.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.stdout


def test_no_inventory_in_the_current_folder_is_a_usage_error(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["lint"])
    assert result.exit_code == 2 and "inventory not found: inventory.yaml" in result.stderr


def test_json_format(tmp_path: Path) -> None:
    repo(tmp_path, WITH_ERROR)
    result = runner.invoke(app, ["lint", "-i", str(tmp_path), "--format", "json"])
    doc = json.loads(result.stdout)
    assert result.exit_code == 1
    [finding] = doc["findings"]
    assert finding["rule"] == "FC039" and finding["hosts"] == ["web-01"]
    assert finding["file"] == str(tmp_path / "profiles" / "base.yaml.j2") and finding["line"] == 5
    assert doc["summary"] == {"error": 1, "warning": 0, "info": 0}


def test_sarif_format_validates(tmp_path: Path, monkeypatch: Any) -> None:
    repo(tmp_path, WITH_ERROR)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["lint", "-f", "sarif"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert_valid_sarif(doc)
    [result_] = doc["runs"][0]["results"]
    assert result_["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "profiles/base.yaml.j2"
    )


def test_github_format(tmp_path: Path, monkeypatch: Any) -> None:
    repo(tmp_path, WITH_ERROR)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["lint", "-f", "github"])
    assert result.exit_code == 1
    assert result.stdout.startswith(
        "::error file=profiles/base.yaml.j2,line=5,col=1,title=FC039 hosts-with-systemd::"
    )


def test_file_mode_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text('{"hosts": ["fd://"], "live-restore": false}')
    result = runner.invoke(app, ["lint", str(path)])
    assert result.exit_code == 0 and result.stdout == "0 errors, 0 warnings, 1 file\n"


def test_file_mode_speaks_sarif_too(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text('{"log-level": "warning"}')
    result = runner.invoke(app, ["lint", "-f", "sarif", str(path)])
    assert result.exit_code == 1
    assert_valid_sarif(json.loads(result.stdout))


def test_explain_a_fleet_rule_says_how_to_disable_it() -> None:
    result = runner.invoke(app, ["lint", "--explain", "FC033"])
    assert result.exit_code == 0
    assert result.stdout.startswith("FC033 no-proxy (warning by default)")
    assert "lint: {disable: [FC033]}" in result.stdout


def test_explain_takes_a_rule_name_too() -> None:
    result = runner.invoke(app, ["lint", "--explain", "live-restore"])
    assert result.exit_code == 0 and result.stdout.startswith("FC037 live-restore ")


def test_explain_an_unknown_rule_suggests_the_closest_name() -> None:
    result = runner.invoke(app, ["lint", "--explain", "live-restor"])
    assert result.exit_code == 2 and "did you mean live-restore?" in result.output


def test_explain_a_loading_rule_says_it_cannot_be_disabled() -> None:
    result = runner.invoke(app, ["lint", "--explain", "fc050"])
    assert result.exit_code == 0 and "cannot be disabled" in result.stdout


def test_explain_all_lists_every_rule_with_its_default_severity() -> None:
    result = runner.invoke(app, ["lint", "--explain", "all"])
    lines = result.stdout.splitlines()
    assert result.exit_code == 0 and len(lines) == len(all_rules())
    assert any(line.startswith("FC039  error    hosts-with-systemd") for line in lines)


def test_fleetcfg_inventory_names_the_repo_to_lint(tmp_path: Path, monkeypatch: Any) -> None:
    path = repo(tmp_path / "repo", WITH_ERROR)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["lint"], env={"FLEETCFG_INVENTORY": str(path)})
    assert result.exit_code == 1 and "FC039 error" in result.stdout
    daemon_json = tmp_path / "daemon.json"
    daemon_json.write_text("{}")
    result = runner.invoke(app, ["lint", str(daemon_json)], env={"FLEETCFG_INVENTORY": str(path)})
    assert result.exit_code == 0, result.output  # FILE arguments: the variable does not count


def test_the_inventory_is_found_in_a_folder_above(tmp_path: Path, monkeypatch: Any) -> None:
    repo(tmp_path, WITH_ERROR)
    monkeypatch.chdir(tmp_path / "profiles")
    result = runner.invoke(app, ["lint"], env={"FLEETCFG_INVENTORY": ""})
    assert result.exit_code == 1
    assert result.stdout.startswith("../profiles/base.yaml.j2:5:1: FC039 error: ")
