"""What is collected for one host while it is planned: warnings, errors
(masked, each once), the reasons for the action, the file plans and the exact
bytes to write, and the inventory's ``lint:`` settings applied to findings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from fleetcfg.core.findings import Finding, Severity
from fleetcfg.core.secrets import mask_text
from fleetcfg.plan.model import FilePlan


@dataclass(frozen=True)
class LintSettings:
    """The inventory's ``lint:`` settings, applied to findings in the plan."""

    disable: frozenset[str] = frozenset()
    severity: Mapping[str, str] = field(default_factory=dict)

    def apply(self, finding: Finding) -> Finding | None:
        if finding.rule in self.disable:
            return None
        override = self.severity.get(finding.rule)
        return finding.with_severity(Severity(override)) if override else finding


def _finding_text(f: Finding) -> str:
    where = ":".join(str(p) for p in (f.file, f.line) if p is not None)
    path = f" {f.path}:" if f.path else ""
    return f"{where + ': ' if where else ''}{f.rule}{path} {f.message}"


@dataclass
class HostNotes:
    """What is being collected for one host."""

    secrets: frozenset[str]
    lint: LintSettings
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    files: list[FilePlan] = field(default_factory=list)
    contents: dict[str, bytes] = field(default_factory=dict)
    restart_reasons: list[str] = field(default_factory=list)
    #: changed daemon.json keys dockerd applies only when it starts
    start_only: list[str] = field(default_factory=list)
    reset_notes: list[str] = field(default_factory=list)
    daemon_changed: bool = False
    daemon_unknown_running: bool = False
    #: live-restore in the daemon.json target (None: not set, dockerd's default off)
    desired_live_restore: bool | None = None
    client_changed: bool = False

    def mask(self, text: str) -> str:
        return mask_text(text, self.secrets)

    def warn(self, text: str) -> None:
        text = self.mask(text)
        if text not in self.warnings:
            self.warnings.append(text)

    def fail(self, text: str) -> None:
        text = self.mask(text)
        if text not in self.errors:
            self.errors.append(text)

    def findings(self, findings: Iterable[Finding], prefix: str = "") -> None:
        for raw in findings:
            f = self.lint.apply(raw)
            if f is None or f.severity is Severity.INFO:
                continue
            text = prefix + _finding_text(f)
            if f.severity is Severity.ERROR:
                self.fail(text)
            else:
                self.warn(text)
