"""Lint output formats (pure functions: findings in, text out) and exit codes.

* ``text``: ``FILE:LINE:COL: FC012 error: message`` (one line per finding)
* ``json``: ``{"findings": [...], "summary": {...}}``; each finding has rule,
  severity, message, file, line, column, path and hosts (empty when the
  finding is not about hosts)
* ``sarif`` and ``github``: :mod:`fleetcfg.lint.sarif`, :mod:`fleetcfg.lint.github`
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.core.findings import Finding, Severity, has_errors
from fleetcfg.core.terminal import one_line


def exit_code(findings: Sequence[Finding]) -> ExitCode:
    """0 when there is no error (warnings allowed), 1 otherwise."""
    return ExitCode.ERROR if has_errors(findings) else ExitCode.OK


def location(f: Finding) -> str:
    if f.file is None:
        return "<input>"
    parts = [f.file, str(f.line or 1), str(f.column or 1)]
    return ":".join(parts)


def hosts_suffix(f: Finding, shown: int = 3) -> str:
    """`` [800 hosts: ci-01, ci-02, ci-03 and 797 more]`` (``""`` without hosts)."""
    if not f.hosts:
        return ""
    names = ", ".join(f.hosts[:shown]) + (
        f" and {len(f.hosts) - shown} more" if len(f.hosts) > shown else ""
    )
    return f" [{len(f.hosts)} host{'s' if len(f.hosts) != 1 else ''}: {names}]"


def text_line(f: Finding) -> str:
    """One finding on one line (a value it quotes may hold a newline)."""
    return one_line(f"{location(f)}: {f.rule} {f.severity.value}: {f.message}{hosts_suffix(f)}")


def summary(findings: Sequence[Finding]) -> dict[str, int]:
    counts = {s.value: 0 for s in Severity}
    for f in findings:
        counts[f.severity.value] += 1
    return counts


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def summary_line(
    findings: Sequence[Finding], *, hosts: int | None = None, files: int | None = None
) -> str:
    """``0 errors, 2 warnings, 12 hosts, 29 files`` (info only when there is
    some; hosts and files when known)."""
    c = summary(findings)
    parts = [_count(c["error"], "error"), _count(c["warning"], "warning")]
    if c["info"]:
        parts.append(f"{c['info']} info")
    if hosts is not None:
        parts.append(_count(hosts, "host"))
    if files is not None:
        parts.append(_count(files, "file"))
    return ", ".join(parts)


def format_text(findings: Sequence[Finding]) -> str:
    lines = [text_line(f) for f in findings]
    return "\n".join(lines) + ("\n" if lines else "")


def finding_dict(f: Finding) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rule": f.rule,
        "severity": f.severity.value,
        "message": f.message,
        "file": f.file,
        "line": f.line,
        "column": f.column,
        "path": f.path,
    }
    out["hosts"] = list(f.hosts)
    return out


def format_json(findings: Sequence[Finding]) -> str:
    doc = {"findings": [finding_dict(f) for f in findings], "summary": summary(findings)}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
