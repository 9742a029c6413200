"""Load inventory.yaml for lint: every problem becomes a located finding with
a rule id (FC050-FC055) instead of an exception. A missing inventory stays a
usage error (exit 2): there is no repo to lint."""

from __future__ import annotations

import re
from pathlib import Path

from fleetcfg.core.errors import InventoryError
from fleetcfg.core.findings import Finding
from fleetcfg.core.rules import (
    DUPLICATE_ADDRESS,
    DUPLICATE_HOST,
    GROUP_CONFLICT,
    INVENTORY_SCHEMA,
    INVENTORY_STRUCTURE,
    YAML_SYNTAX,
    Rule,
)
from fleetcfg.inventory import Inventory, InventoryErrors, load_inventory

#: resolver problems (cross-checks over the whole file), by their wording
_RESOLVER_PROBLEMS: tuple[tuple[re.Pattern[str], Rule], ...] = (
    (re.compile(r"^host '.*' is defined twice"), DUPLICATE_HOST),
    (re.compile(r"^hosts '.*' \(.*\) and '.*' both point at "), DUPLICATE_ADDRESS),
    (re.compile(r"^groups '.*' \(.*\) and '.*' \(.*\) set .* differently"), GROUP_CONFLICT),
    (
        re.compile(
            r"^(the group name 'all' is reserved|'.*' is both a group and a host"
            r"|group '.*' lists (unknown child group|itself as a child|child '.*' twice)"
            r"|groups form a cycle|groups nest more than)"
        ),
        INVENTORY_STRUCTURE,
    ),
)


def problem_finding(problem: InventoryError, rule: Rule) -> Finding:
    """A located finding for one inventory problem (message plus hint)."""
    message = problem.message + (f" ({problem.hint})" if problem.hint else "")
    return Finding(
        rule.id,
        rule.severity,
        message,
        problem.key or "",
        problem.file,
        problem.line,
        problem.column,
        (problem.host,) if problem.host else (),
    )


def classify(problem: InventoryError, *, several: bool) -> Rule:
    """The rule of one problem: YAML syntax (raised alone by the parser),
    a cross-check of the resolver, or else the shape of the file."""
    for pattern, rule in _RESOLVER_PROBLEMS:
        if pattern.match(problem.message):
            return rule
    if several or problem.message.startswith("inventory.yaml must be a mapping"):
        return INVENTORY_SCHEMA
    return YAML_SYNTAX


def load_for_lint(path: str | Path) -> tuple[Inventory | None, list[Finding]]:
    """The inventory and the findings about its hosts and groups (a duplicate
    host or address, a group conflict, a bad group reference: lint goes on
    without the hosts they leave ambiguous), or ``None`` and the findings that
    stopped it loading (YAML syntax, the inventory format).
    Raises :class:`~fleetcfg.core.errors.UsageError` when the file does not exist."""
    try:
        inventory = load_inventory(path, keep_going=True)
        return inventory, [
            problem_finding(p, classify(p, several=True)) for p in inventory.problems
        ]
    except InventoryErrors as exc:
        return None, [problem_finding(p, classify(p, several=True)) for p in exc.problems]
    except InventoryError as exc:
        return None, [problem_finding(exc, classify(exc, several=False))]
