"""Rolling batches: in which order and how many hosts apply changes at once.

Order
    Hosts go group by group, in the order ``inventory.yaml`` defines its groups
    (a host in several groups goes with the first of them), hosts without a
    group last; within a group, in the plan's (inventory) order.
Canary
    The first ``canary`` hosts form a batch of their own. They are the first
    hosts in that order that need the most disruptive action (restart, else
    reload, else write), so that the canary proves the riskiest change.
Batch size
    ``batch_size`` hosts per batch: a number or ``"N%"`` of the hosts that
    change (rounded up, at least 1).
Wider batches for reloads
    A host that only needs ``systemctl reload docker`` (or only a client
    config.json write) counts as :data:`LIGHT_WEIGHT` of a host: a reload
    (SIGHUP) keeps every container running, and dockerd keeps its current
    settings when it rejects a reloaded file, so a bad reload cannot take a
    host down; twice as many such hosts per batch halves the rollout time
    without putting containers at risk. Restart hosts count as 1, and so do
    hosts that recreate a BuildKit builder (its bootstrap can fail, and the
    host then fails like a failed health gate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from fleetcfg.inventory.model import Rollout
from fleetcfg.plan.model import Action, HostPlan

#: what a reload-only or write-only host counts for in a batch
LIGHT_WEIGHT = 0.5
_SEVERITY = {Action.RESTART: 3, Action.RELOAD: 2, Action.WRITE: 1}


class Named(Protocol):
    @property
    def host(self) -> str: ...


H = TypeVar("H", bound=Named)


@dataclass(frozen=True, slots=True)
class Batch(Generic[H]):
    index: int  # 1-based
    hosts: tuple[H, ...]
    canary: bool = False

    @property
    def names(self) -> list[str]:
        return [h.host for h in self.hosts]


def weight(host: HostPlan) -> float:
    heavy = host.action is Action.RESTART or host.recreate_builder
    return 1.0 if heavy else LIGHT_WEIGHT


def order_hosts(hosts: Sequence[HostPlan], group_order: Sequence[str] = ()) -> list[HostPlan]:
    """``hosts`` group by group (see the module docstring); stable."""
    rank: Mapping[str, int] = {name: i for i, name in enumerate(group_order)}
    last = len(rank)

    def key(item: tuple[int, HostPlan]) -> tuple[int, int]:
        index, host = item
        ranks = [rank[g] for g in host.groups if g in rank]
        return (min(ranks) if ranks else last, index)

    return [h for _, h in sorted(enumerate(hosts), key=key)]


def make_batches(
    hosts: Sequence[HostPlan],
    rollout: Rollout,
    *,
    group_order: Sequence[str] = (),
) -> list[Batch[HostPlan]]:
    """Split the hosts that change into batches (see the module docstring).
    Hosts whose action is none or error are left out."""
    todo = [h for h in hosts if h.action in _SEVERITY and not h.unreachable]
    ordered = order_hosts(todo, group_order)
    if not ordered:
        return []
    size = float(rollout.batch_size_for(len(ordered)))
    batches: list[Batch[HostPlan]] = []
    rest = ordered
    canary_count = min(rollout.canary, len(ordered))
    if canary_count:
        top = max(_SEVERITY[h.action] for h in ordered)
        picks = [h for h in ordered if _SEVERITY[h.action] == top][:canary_count]
        picks += [h for h in ordered if h not in picks][: canary_count - len(picks)]
        chosen = {id(h) for h in picks}
        batches.append(Batch(1, tuple(h for h in ordered if id(h) in chosen), canary=True))
        rest = [h for h in ordered if id(h) not in chosen]
    current: list[HostPlan] = []
    load = 0.0
    for host in rest:
        w = weight(host)
        if current and load + w > size + 1e-9:
            batches.append(Batch(len(batches) + 1, tuple(current)))
            current, load = [], 0.0
        current.append(host)
        load += w
    if current:
        batches.append(Batch(len(batches) + 1, tuple(current)))
    return batches


def chunk_batches(items: Sequence[H], rollout: Rollout) -> list[Batch[H]]:
    """``items`` in their order, ``batch_size`` at a time (no canary, no
    weights: what a rollback does)."""
    size = max(1, rollout.batch_size_for(len(items))) if items else 1
    return [
        Batch(number + 1, tuple(items[start : start + size]))
        for number, start in enumerate(range(0, len(items), size))
    ]


def resolve_rollout(
    base: Rollout,
    *,
    batch_size: str | None = None,
    canary: int | None = None,
    max_failures: str | None = None,
    pause: str | None = None,
) -> Rollout:
    """``base`` (the inventory's ``rollout``) with command-line overrides,
    validated like inventory values (``"25%"``, ``"30s"``). Raises
    ``pydantic.ValidationError`` for a bad value."""
    data = base.model_dump()
    if batch_size is not None:
        data["batch_size"] = batch_size
    if canary is not None:
        data["canary"] = canary
    if max_failures is not None:
        data["max_failures"] = max_failures
    if pause is not None:
        data["pause"] = pause
    return Rollout.model_validate(data)
