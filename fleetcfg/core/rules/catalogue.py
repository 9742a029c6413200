"""The catalogue's machinery: a :class:`Rule`, the registry every rule joins
when it is defined (:func:`rule`) and the lookups over it."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from fleetcfg.core.findings import Severity


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    name: str
    severity: Severity
    summary: str
    explanation: str


_RULES: list[Rule] = []


def rule(id: str, name: str, severity: Severity, summary: str, explanation: str) -> Rule:
    r = Rule(id, name, severity, summary, " ".join(explanation.split()))
    _RULES.append(r)
    return r


E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


def all_rules() -> list[Rule]:
    return sorted(_RULES, key=lambda r: r.id)


def get_rule(rule: str) -> Rule:
    """The rule with id ``rule`` (``FC037``, any case) or name ``rule``
    (``live-restore``); :class:`KeyError` otherwise."""
    wanted = rule.strip()
    for r in _RULES:
        if r.id == wanted.upper() or r.name == wanted.lower():
            return r
    raise KeyError(rule)


def suggest_rule(rule: str) -> str | None:
    """ "did you mean ..." for a rule name or id that is not one."""
    names = difflib.get_close_matches(rule.strip().lower(), [r.name for r in _RULES], n=3)
    return f"did you mean {', '.join(names)}?" if names else None
