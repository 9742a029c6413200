"""Findings: what validation and lint report (rule id, severity, message, place)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in a file or in the fleet.

    ``path`` is the dotted key path inside the config (``log-opts.max-size``),
    ``""`` for the whole document. ``file``/``line``/``column`` point at the place
    a person has to edit (1-based); ``hosts`` lists the hosts it applies to.
    """

    rule: str
    severity: Severity
    message: str
    path: str = ""
    file: str | None = None
    line: int | None = None
    column: int | None = None
    hosts: tuple[str, ...] = field(default=())
    #: the key path as a tuple of keys and list indices (for locating)
    loc: tuple[str | int, ...] = field(default=(), compare=False, repr=False)

    def located(self, file: str | None, line: int | None, column: int | None) -> Finding:
        return replace(self, file=file, line=line, column=column)

    def with_severity(self, severity: Severity) -> Finding:
        return replace(self, severity=severity)

    def sort_key(self) -> tuple[str, int, int, int, str, str]:
        return (
            self.file or "",
            self.line or 0,
            self.column or 0,
            self.severity.rank,
            self.rule,
            self.path,
        )


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)
