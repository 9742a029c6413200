"""What every fleet rule works with: a hit, one host's target, what the rules
know about the fleet, small readers of rendered values, and the registry
that runs the rules (memoised on the values each rule reads)."""

from __future__ import annotations

import bisect
import functools
import ipaddress
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from fleetcfg.core.rules import (
    Rule,
)
from fleetcfg.core.yamlsource import KeyPath
from fleetcfg.inventory import Inventory
from fleetcfg.lint.noproxy import IPAddress, IPNetwork


@dataclass(frozen=True, slots=True)
class Hit:
    """One rule firing on one host's document.

    ``path``: the key to blame in the rendered document; ``absent``: the key is
    missing (blame the profile the others extend); ``value``: the offending
    value, used to find the inventory variable that supplied it."""

    rule: Rule
    message: str
    path: KeyPath = ()
    absent: bool = False
    value: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """One host's rendered document, as the rules see it."""

    host: str
    address: str
    data: Mapping[str, Any]
    #: values that env()/file() lookups returned (not written in the repo)
    secrets: frozenset[str] = frozenset()


@dataclass
class Fleet:
    """What the rules know about the whole inventory."""

    #: networks.reserved, with where each is written
    reserved: tuple[tuple[IPNetwork, str], ...] = ()
    internal_domains: tuple[str, ...] = ()
    #: IP address -> the hosts inventory.yaml gives it
    owners: dict[IPAddress, tuple[str, ...]] = field(default_factory=dict)
    _sorted: dict[int, list[tuple[int, IPAddress]]] = field(default_factory=dict)

    @classmethod
    def from_inventory(cls, inventory: Inventory) -> Fleet:
        networks = inventory.networks
        reserved = tuple(
            (ipaddress.ip_network(cidr), str(inventory.location(("networks", "reserved", i))))
            for i, cidr in enumerate(networks.reserved)
        )
        owners: dict[IPAddress, list[str]] = {}
        for host in inventory.hosts.values():
            ip = ip_or_none(host.address)
            if ip is not None and not ip.is_loopback:
                owners.setdefault(ip, []).append(host.name)
        return cls.build(reserved, networks.internal_domains, owners)

    @classmethod
    def build(
        cls,
        reserved: Iterable[tuple[IPNetwork, str]] = (),
        internal_domains: Iterable[str] = (),
        owners: Mapping[IPAddress, Iterable[str]] | None = None,
    ) -> Fleet:
        fleet = cls(
            tuple(reserved),
            tuple(internal_domains),
            {ip: tuple(names) for ip, names in (owners or {}).items()},
        )
        for ip in fleet.owners:
            fleet._sorted.setdefault(ip.version, []).append((int(ip), ip))
        for entries in fleet._sorted.values():
            entries.sort()
        return fleet

    def hosts_in(self, net: IPNetwork) -> list[tuple[str, IPAddress]]:
        """Inventory hosts whose address lies in ``net`` (address order)."""
        entries = self._sorted.get(net.version, [])
        lo = bisect.bisect_left(entries, (int(net.network_address),))
        hi = bisect.bisect_right(entries, (int(net.broadcast_address) + 1,))
        return [(name, ip) for _, ip in entries[lo:hi] for name in self.owners[ip]]


def ip_or_none(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def network_of(text: str, interface: bool) -> IPNetwork | None:
    try:
        if interface:
            return ipaddress.ip_interface(text.strip()).network
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def strings_in(value: Any) -> list[tuple[int, str]]:
    return (
        [(i, v) for i, v in enumerate(value) if isinstance(v, str)]
        if isinstance(value, list)
        else []
    )


def get_ci(item: Mapping[str, Any], key: str) -> Any:
    """dockerd decodes nested structs case-insensitively (Base, base)."""
    for k, v in item.items():
        if k.lower() == key:
            return v
    return None


def hosts_text(hosts: list[tuple[str, IPAddress]]) -> str:
    shown = ", ".join(f"{name} {ip}" for name, ip in hosts[:3])
    more = f" and {len(hosts) - 3} more" if len(hosts) > 3 else ""
    return f"{len(hosts)} inventory host{'s' if len(hosts) != 1 else ''} ({shown}{more})"


def from_lookup(value: str, secrets: frozenset[str]) -> bool:
    """Whether ``value`` came out of env()/file() rather than the repo's text."""
    forms = {value, unquote(value)}
    if forms & secrets:
        return True
    return any(len(s) >= 4 and any(s in f for f in forms) for s in secrets)


RuleFn = Callable[[Target, Fleet], Iterator[Hit]]


@dataclass(frozen=True, slots=True)
class FleetRule:
    """A rule function and what it reads: the top-level ``keys`` of the
    document (its hits depend on nothing else but the fleet, so they are
    memoised on those values), or ``per_host`` when it compares the document
    with the host itself."""

    fn: RuleFn
    keys: tuple[str, ...]
    secrets: bool = False
    per_host: bool = False


DAEMON_RULES: list[FleetRule] = []
CLIENT_RULES: list[FleetRule] = []


def daemon_rule(
    *keys: str, secrets: bool = False, per_host: bool = False
) -> Callable[[RuleFn], RuleFn]:
    def register(fn: RuleFn) -> RuleFn:
        DAEMON_RULES.append(FleetRule(fn, keys, secrets, per_host))
        return fn

    return register


def client_rule(*keys: str, secrets: bool = False) -> Callable[[RuleFn], RuleFn]:
    def register(fn: RuleFn) -> RuleFn:
        CLIENT_RULES.append(FleetRule(fn, keys, secrets))
        return fn

    return register


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return ("d", tuple((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("l", tuple(_freeze(v) for v in value))
    return (type(value).__name__, value)


class RuleRunner:
    """Runs the fleet rules for one fleet, memoising each rule's hits on the
    values it reads (hosts that render the same pools, proxies or log options
    are checked once)."""

    def __init__(self, fleet: Fleet, limit: int = 4096) -> None:
        self.fleet = fleet
        self.limit = limit
        self._memo: dict[tuple[Any, ...], tuple[Hit, ...]] = {}

    def daemon(self, target: Target) -> list[Hit]:
        return self._run(DAEMON_RULES, target)

    def client(self, target: Target) -> list[Hit]:
        return self._run(CLIENT_RULES, target)

    def _run(self, rules: list[FleetRule], target: Target) -> list[Hit]:
        out: list[Hit] = []
        data = target.data
        for rule in rules:
            if rule.per_host:
                out.extend(rule.fn(target, self.fleet))
                continue
            key = (
                rule.fn,
                tuple(_freeze(data.get(k)) for k in rule.keys),
                target.secrets if rule.secrets else None,
            )
            hits = self._memo.get(key)
            if hits is None:
                if len(self._memo) >= self.limit:
                    self._memo.clear()
                hits = self._memo[key] = tuple(rule.fn(target, self.fleet))
            out.extend(hits)
        return out
