"""Output formats: text, json, SARIF 2.1.0 (validated against the schema) and
GitHub workflow annotations."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from fleetcfg.core.findings import Finding, Severity
from fleetcfg.lint.github import annotation, escape_data, escape_property, format_github
from fleetcfg.lint.repo import lint_repo
from fleetcfg.lint.report import format_json, format_text
from fleetcfg.lint.sarif import sarif_document

DATA = Path(__file__).resolve().parents[2] / "data"
SCHEMA = DATA / "schema" / "sarif-schema-2.1.0.json"


@cache
def _validator() -> Any:
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def assert_valid_sarif(doc: dict[str, Any]) -> None:
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def finding(**kw: Any) -> Finding:
    base: dict[str, Any] = {
        "rule": "FC037",
        "severity": Severity.WARNING,
        "message": "live-restore is off",
        "path": "live-restore",
        "file": "profiles/base.yaml.j2",
        "line": 4,
        "column": 1,
        "hosts": ("web-01", "web-02"),
    }
    base.update(kw)
    return Finding(**base)


# -- SARIF -----------------------------------------------------------------------------


def test_sarif_of_a_planted_repo_validates_and_carries_rule_metadata(
    monkeypatch: Any,
) -> None:
    monkeypatch.chdir(DATA.parent.parent)
    report = lint_repo("tests/data/lint/proxies")
    doc = sarif_document(report.findings)
    assert_valid_sarif(doc)
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted({f.rule for f in report.findings})
    fc040 = next(r for r in rules if r["id"] == "FC040")
    assert fc040["name"] == "credentials-in-repo"
    assert fc040["defaultConfiguration"] == {"level": "error"}
    assert fc040["shortDescription"]["text"] and fc040["fullDescription"]["text"]
    assert "fleetcfg lint --explain FC040" in fc040["help"]["text"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"].startswith("tests/data/lint/proxies/")
        assert location["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert location["region"]["startLine"] >= 1
        assert result["properties"]["hostCount"] == len(result["properties"]["hosts"])


def test_sarif_levels_follow_severities() -> None:
    doc = sarif_document(
        [
            finding(severity=s, rule=r)
            for s, r in zip(Severity, ("FC039", "FC037", "FC035"), strict=True)
        ]
    )
    assert [r["level"] for r in doc["runs"][0]["results"]] == ["error", "warning", "note"]
    assert_valid_sarif(doc)


def test_sarif_paths_are_relative_to_the_repo_root_or_absolute_uris(tmp_path: Path) -> None:
    inside = finding(file=str(tmp_path / "profiles" / "my base.yaml.j2"))
    outside = finding(file="/elsewhere/inventory.yaml", line=None, column=None, hosts=())
    doc = sarif_document([inside, outside], root=tmp_path)
    assert_valid_sarif(doc)
    first, second = (r["locations"][0]["physicalLocation"] for r in doc["runs"][0]["results"])
    assert first["artifactLocation"] == {
        "uri": "profiles/my%20base.yaml.j2",
        "uriBaseId": "%SRCROOT%",
    }
    assert second == {"artifactLocation": {"uri": "file:///elsewhere/inventory.yaml"}}
    assert (
        doc["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"]
        == tmp_path.resolve().as_uri() + "/"
    )


def test_sarif_without_findings_is_a_valid_empty_run() -> None:
    doc = sarif_document([])
    assert_valid_sarif(doc)
    assert doc["runs"][0]["results"] == [] and doc["version"] == "2.1.0"


# -- GitHub annotations ------------------------------------------------------------------


def test_github_annotations_name_file_line_column_and_rule(tmp_path: Path) -> None:
    line = annotation(finding(file=str(tmp_path / "profiles/base.yaml.j2")), tmp_path)
    assert line == (
        "::warning file=profiles/base.yaml.j2,line=4,col=1,title=FC037 live-restore::"
        "live-restore is off [2 hosts: web-01, web-02]"
    )


def test_github_levels_and_escaping() -> None:
    text = format_github(
        [
            finding(severity=Severity.ERROR, message="100% broken\nsecond line"),
            finding(severity=Severity.INFO, file="a,b:c.yaml", hosts=()),
        ],
        root=Path("/nonexistent"),
    )
    first, second = text.splitlines()
    assert first.startswith("::error ") and first.endswith(
        "::100%25 broken%0Asecond line [2 hosts: web-01, web-02]"
    )
    assert second.startswith("::notice file=a%2Cb%3Ac.yaml,")
    assert escape_data("a\r\nb%") == "a%0D%0Ab%25"
    assert escape_property("x: y, z") == "x%3A y%2C z"


# -- json and text ---------------------------------------------------------------------


def test_json_keeps_every_host_and_counts_by_severity() -> None:
    doc = json.loads(format_json([finding(), finding(rule="FC039", severity=Severity.ERROR)]))
    assert doc["findings"][0]["hosts"] == ["web-01", "web-02"]
    assert doc["findings"][0]["path"] == "live-restore"
    assert doc["summary"] == {"error": 1, "warning": 1, "info": 0}


def test_text_is_one_line_per_finding_with_a_host_count() -> None:
    hosts = tuple(f"h{i}" for i in range(800))
    assert format_text([finding(hosts=hosts)]) == (
        "profiles/base.yaml.j2:4:1: FC037 warning: live-restore is off "
        "[800 hosts: h0, h1, h2 and 797 more]\n"
    )
