"""Validation entry points: raw decoded JSON in, typed model and findings out.

(Being written in issue #2; the signatures below are the contract other modules
use.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from fleetcfg.findings import Finding, has_errors
from fleetcfg.versions import DEFAULT_ENGINE, EngineVersion

T = TypeVar("T")


@dataclass
class CheckResult(Generic[T]):
    """``config`` is the validated model, or ``None`` when there is an error.
    ``findings`` carry key paths but no file positions (callers locate them)."""

    config: T | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not has_errors(self.findings)


def check_daemon(data: object, engine: EngineVersion = DEFAULT_ENGINE) -> CheckResult[object]:
    """Validate decoded daemon.json content for ``engine``."""
    raise NotImplementedError


def check_client(data: object) -> CheckResult[object]:
    """Validate decoded ~/.docker/config.json content."""
    raise NotImplementedError
