"""The context every daemon.json check gets, and the check registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from fleetcfg.core.findings import Finding, Severity
from fleetcfg.core.jsondoc import format_loc
from fleetcfg.core.rules import Rule
from fleetcfg.core.versions import EngineVersion
from fleetcfg.dockerd.base import v
from fleetcfg.dockerd.daemon import DaemonConfig

E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO
START = "dockerd refuses to start"
EVERY_CONTAINER = "every container create fails"


@dataclass
class RuleContext:
    cfg: DaemonConfig
    raw: Mapping[str, Any]
    engine: EngineVersion
    invalid: frozenset[str]

    def has(self, key: str) -> bool:
        """The key is set (not null) and its value is well-typed."""
        return key not in self.invalid and self.raw.get(key) is not None

    def get(self, key: str) -> Any:
        """The raw value of a top-level key (None when absent)."""
        return self.raw.get(key)

    def at_least(self, version: str) -> bool:
        return self.engine >= v(version)


Check = Callable[[RuleContext], Iterator[Finding]]
CHECKS: list[Check] = []


def check(fn: Check) -> Check:
    CHECKS.append(fn)
    return fn


def find(rule: Rule, severity: Severity, message: str, *loc: str | int) -> Finding:
    return Finding(rule.id, severity, message, format_loc(loc), loc=tuple(loc))


def run_checks(ctx: RuleContext) -> list[Finding]:
    out: list[Finding] = []
    for fn in CHECKS:
        out.extend(fn(ctx))
    return out
