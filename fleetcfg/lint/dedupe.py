"""One finding per mistake: findings from many hosts merged by rule, place and
message (the host list kept), then the repo's ``lint:`` settings applied."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from fleetcfg.core.findings import Finding, Severity

_Key = tuple[str, str | None, int | None, int | None, str]


class FindingSet:
    """Collects findings; the same rule at the same place with the same message
    is one finding whatever the number of hosts (kept in first-seen order)."""

    def __init__(self) -> None:
        self._items: dict[_Key, tuple[Finding, dict[str, None]]] = {}

    def add(self, finding: Finding, hosts: Iterable[str] = ()) -> None:
        key = (finding.rule, finding.file, finding.line, finding.column, finding.message)
        item = self._items.get(key)
        if item is None:
            item = self._items[key] = (finding, {})
        seen = item[1]
        for host in (*finding.hosts, *hosts):
            seen[host] = None

    def extend(self, findings: Iterable[Finding], hosts: Iterable[str] = ()) -> None:
        names = tuple(hosts)
        for finding in findings:
            self.add(finding, names)

    def __len__(self) -> int:
        return len(self._items)

    def findings(self) -> list[Finding]:
        """Every finding with all its hosts, sorted by place."""
        out = [replace(f, hosts=tuple(hosts)) for f, hosts in self._items.values()]
        out.sort(key=Finding.sort_key)
        return out


def apply_settings(
    findings: Iterable[Finding],
    disable: Iterable[str] = (),
    severity: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Drop disabled rules and re-grade the others (``lint:`` in inventory.yaml)."""
    off = {r.upper() for r in disable}
    grades = {r.upper(): Severity(s) for r, s in (severity or {}).items()}
    out = []
    for f in findings:
        if f.rule in off:
            continue
        grade = grades.get(f.rule)
        out.append(f if grade is None or grade is f.severity else f.with_severity(grade))
    return out
