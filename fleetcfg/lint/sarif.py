"""SARIF 2.1.0 output, for GitHub code scanning, GitLab and IDE viewers.

One run, tool ``fleetcfg`` with the metadata of every rule that fired
(``tool.driver.rules``: id, name, descriptions, default level, help), and one
result per finding: ``ruleId``/``ruleIndex``, ``level``, ``message``, a
physical location relative to the repo root (``%SRCROOT%``: the folder lint
ran in, which is the checkout in CI) with line and column, and the hosts in
``properties``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from fleetcfg import __version__
from fleetcfg.core.findings import Finding, Severity
from fleetcfg.core.rules import Rule, get_rule

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"

_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def level(severity: Severity) -> str:
    return _LEVELS[severity]


def artifact_uri(file: str, root: Path) -> tuple[str, str | None]:
    """(uri, uriBaseId) of a finding's file: relative to ``root`` when it is
    inside it, else an absolute ``file://`` URI."""
    path = Path(file)
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(root)
        except ValueError:
            return path.as_uri(), None
    posix = PurePosixPath(path.as_posix())
    text = str(posix).removeprefix("./")
    return quote(text, safe="/"), SRCROOT


def rule_descriptor(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.explanation},
        "defaultConfiguration": {"level": level(rule.severity)},
        "help": {
            "text": f"{rule.explanation}\n\nfleetcfg lint --explain {rule.id}",
            "markdown": f"{rule.explanation}\n\n`fleetcfg lint --explain {rule.id}`",
        },
        "properties": {"tags": [_category(rule.id)]},
    }


def _category(rule_id: str) -> str:
    number = int(rule_id[2:])
    if number < 30:
        return "config-file"
    if number < 50:
        return "fleet"
    return "repo"


def _descriptor_for(rule_id: str) -> dict[str, Any]:
    try:
        return rule_descriptor(get_rule(rule_id))
    except KeyError:
        return {"id": rule_id}


def _fingerprint(f: Finding, uri: str) -> str:
    text = "\x00".join((f.rule, uri, f.path, f.message))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _result(f: Finding, index: int, root: Path) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": f.rule,
        "ruleIndex": index,
        "level": level(f.severity),
        "message": {"text": f.message},
    }
    if f.file is not None:
        uri, base = artifact_uri(f.file, root)
        artifact: dict[str, Any] = {"uri": uri}
        if base is not None:
            artifact["uriBaseId"] = base
        physical: dict[str, Any] = {"artifactLocation": artifact}
        if f.line is not None:
            region: dict[str, Any] = {"startLine": max(1, f.line)}
            if f.column is not None:
                region["startColumn"] = max(1, f.column)
            physical["region"] = region
        result["locations"] = [{"physicalLocation": physical}]
        result["partialFingerprints"] = {"fleetcfgFinding/v1": _fingerprint(f, uri)}
    properties: dict[str, Any] = {}
    if f.path:
        properties["path"] = f.path
    if f.hosts:
        properties["hosts"] = list(f.hosts)
        properties["hostCount"] = len(f.hosts)
    if properties:
        result["properties"] = properties
    return result


def sarif_document(
    findings: Sequence[Finding], *, root: Path | None = None, failure: str | None = None
) -> dict[str, Any]:
    """The SARIF log of ``findings``; file paths are made relative to ``root``
    (default: the current directory). ``failure``: lint could not finish
    (the log then says so: ``executionSuccessful`` false, and why)."""
    invocation: dict[str, Any] = {"executionSuccessful": failure is None}
    if failure is not None:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": failure}}
        ]
    base = (root or Path.cwd()).resolve()
    rule_ids = sorted({f.rule for f in findings})
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "fleetcfg",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": [_descriptor_for(r) for r in rule_ids],
                    }
                },
                "originalUriBaseIds": {SRCROOT: {"uri": base.as_uri().rstrip("/") + "/"}},
                "invocations": [invocation],
                "columnKind": "unicodeCodePoints",
                "results": [_result(f, index[f.rule], base) for f in findings],
            }
        ],
    }


def format_sarif(
    findings: Sequence[Finding], *, root: Path | None = None, failure: str | None = None
) -> str:
    document = sarif_document(findings, root=root, failure=failure)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
