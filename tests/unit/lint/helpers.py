"""Small repos for lint tests, and ways to look at the findings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fleetcfg.core.findings import Finding
from fleetcfg.lint.repo import RepoReport, lint_repo
from tests.unit.inventory.repo import write_repo

#: a daemon profile no fleet rule fires on
CLEAN = """
live-restore: true
log-opts: {max-size: "50m", max-file: "5"}
default-address-pools:
  - {base: 172.20.0.0/14, size: 24}
"""

#: one host, the base profile
ONE_HOST = """
defaults:
  engine_version: "26.1"
  daemon_profile: base
hosts:
  web-01: {address: 10.0.0.1}
"""


def lint(
    root: Path,
    inventory: str = ONE_HOST,
    profiles: Mapping[str, str] | None = None,
) -> RepoReport:
    """Write the repo under ``root`` and lint it."""
    path = write_repo(root, inventory, dict(profiles or {"base.yaml.j2": CLEAN}))
    return lint_repo(path)


def daemon(root: Path, profile: str, inventory: str = ONE_HOST) -> RepoReport:
    """Lint a one-profile repo whose base profile is ``CLEAN`` plus ``profile``."""
    return lint(root, inventory, {"base.yaml.j2": CLEAN + profile})


def rules(report: RepoReport) -> list[str]:
    return [f.rule for f in report.findings]


def of(report: RepoReport, rule: str) -> list[Finding]:
    return [f for f in report.findings if f.rule == rule]


def one(report: RepoReport, rule: str) -> Finding:
    found = of(report, rule)
    assert len(found) == 1, report.findings
    return found[0]


def relative(finding: Finding, root: Path) -> tuple[str, int | None]:
    """(file relative to the repo root, line) of a finding."""
    assert finding.file is not None
    return Path(finding.file).relative_to(root).as_posix(), finding.line
