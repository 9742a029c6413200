"""Fleet rules (FC030-FC041): what no single file shows.

Each rule is a small function from one host's rendered configuration
(:class:`Target`) and what is known about the whole inventory (:class:`Fleet`)
to :class:`Hit` s. A hit names the key path in the rendered document; the repo
lint turns it into a finding located at the template or inventory line that
produced the key (or, for a missing key, at the profile every other one
extends). Messages never depend on the host they are found on, so that one
mistake shared by 800 hosts is reported once.

Rules read the raw rendered data and skip values of the wrong type: the model
validation reports those.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from fleetcfg.core.rules import (
    COVERS_INVENTORY,
    CREDENTIALS,
    HOSTS_SYSTEMD,
    HTTP_MIRROR,
    LIVE_RESTORE,
    LOG_ROTATION,
    METRICS_EXPOSED,
    METRICS_OTHER_HOST,
    MIRROR_SCOPE,
    NO_PROXY,
    RANGE_OVERLAP,
    RESERVED_OVERLAP,
    Rule,
)
from fleetcfg.core.secrets import mask_url_credentials
from fleetcfg.core.yamlsource import KeyPath
from fleetcfg.inventory import Inventory
from fleetcfg.lint.noproxy import IPAddress, IPNetwork, NoProxy, parse_no_proxy

#: dockerd's pools when default-address-pools is not set (libnetwork ipamutils):
#: 172.17.0.0/16 to 172.31.0.0/16 and 192.168.0.0/16 (split into /20s)
BUILTIN_POOLS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in ("172.17.0.0/16", "172.18.0.0/15", "172.20.0.0/14", "172.24.0.0/13", "192.168.0.0/16")
)
BUILTIN_POOLS_TEXT = "172.17.0.0-172.31.255.255 and 192.168.0.0/16"
#: registries whose caches people put in registry-mirrors by mistake
_OTHER_REGISTRY = re.compile(
    r"ghcr|quay|gcr\.io|registry\.k8s\.io|k8s\.gcr|mcr\.microsoft|public\.ecr|ecr\.aws|nvcr|gitlab"
)
_REGISTRY_NAMES = {
    "ghcr": "ghcr.io",
    "quay": "quay.io",
    "gcr.io": "gcr.io",
    "registry.k8s.io": "registry.k8s.io",
    "k8s.gcr": "registry.k8s.io",
    "mcr.microsoft": "mcr.microsoft.com",
    "public.ecr": "public.ecr.aws",
    "ecr.aws": "public.ecr.aws",
    "nvcr": "nvcr.io",
    "gitlab": "registry.gitlab.com",
}
_CLIENT_PROXY_KEYS = ("httpProxy", "httpsProxy", "ftpProxy", "allProxy")
_AUTH_SECRET_KEYS = ("auth", "password", "identitytoken", "registrytoken")


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


# -- helpers ------------------------------------------------------------------


def ip_or_none(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def _network(text: str, interface: bool) -> IPNetwork | None:
    try:
        if interface:
            return ipaddress.ip_interface(text.strip()).network
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _strings(value: Any) -> list[tuple[int, str]]:
    return (
        [(i, v) for i, v in enumerate(value) if isinstance(v, str)]
        if isinstance(value, list)
        else []
    )


def _get_ci(item: Mapping[str, Any], key: str) -> Any:
    """dockerd decodes nested structs case-insensitively (Base, base)."""
    for k, v in item.items():
        if k.lower() == key:
            return v
    return None


def _hosts_text(hosts: list[tuple[str, IPAddress]]) -> str:
    shown = ", ".join(f"{name} {ip}" for name, ip in hosts[:3])
    more = f" and {len(hosts) - 3} more" if len(hosts) > 3 else ""
    return f"{len(hosts)} inventory host{'s' if len(hosts) != 1 else ''} ({shown}{more})"


def _from_lookup(value: str, secrets: frozenset[str]) -> bool:
    """Whether ``value`` came out of env()/file() rather than the repo's text."""
    forms = {value, unquote(value)}
    if forms & secrets:
        return True
    return any(len(s) >= 4 and any(s in f for f in forms) for s in secrets)


@dataclass(frozen=True, slots=True)
class DockerRange:
    """An address range dockerd allocates from on one host."""

    label: str  # "default-address-pools[0] 172.18.0.0/15"
    net: IPNetwork
    path: KeyPath
    text: str  # as written
    kind: str  # "pool" or "bridge"


def docker_ranges(data: Mapping[str, Any]) -> list[DockerRange]:
    """The explicit ranges of a daemon.json: pools, then the default bridge
    (bip, else fixed-cidr; bip6, else fixed-cidr-v6)."""
    out: list[DockerRange] = []
    pools = data.get("default-address-pools")
    if isinstance(pools, list):
        for i, pool in enumerate(pools):
            base = _get_ci(pool, "base") if isinstance(pool, dict) else None
            net = _network(base, False) if isinstance(base, str) else None
            if net is not None and isinstance(base, str):
                out.append(
                    DockerRange(
                        f"default-address-pools[{i}] {base}",
                        net,
                        ("default-address-pools", i, _base_key(pool)),
                        base,
                        "pool",
                    )
                )
    for bridge, cidr in (("bip", "fixed-cidr"), ("bip6", "fixed-cidr-v6")):
        for key, interface in ((bridge, True), (cidr, False)):
            value = data.get(key)
            net = _network(value, interface) if isinstance(value, str) and value else None
            if net is not None and isinstance(value, str):
                out.append(DockerRange(f"{key} {value}", net, (key,), value, "bridge"))
                break
    return out


def _base_key(pool: Mapping[str, Any]) -> str:
    return next((k for k in pool if k.lower() == "base"), "base")


def uses_builtin_pools(data: Mapping[str, Any]) -> bool:
    pools = data.get("default-address-pools")
    return not (isinstance(pools, list) and pools)


# -- the rules -------------------------------------------------------------------

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


_RANGE_KEYS = ("default-address-pools", "bip", "fixed-cidr", "bip6", "fixed-cidr-v6")


@daemon_rule(*_RANGE_KEYS)
def address_ranges(t: Target, fleet: Fleet) -> Iterator[Hit]:
    """FC030 (reserved ranges) and FC032 (inventory hosts) for every range."""
    for r in docker_ranges(t.data):
        clash = [
            (net, where)
            for net, where in fleet.reserved
            if net.version == r.net.version and net.overlaps(r.net)
        ]
        if clash:
            listed = ", ".join(f"{net} ({where})" for net, where in clash)
            yield Hit(
                RESERVED_OVERLAP,
                f"{r.label} overlaps networks.reserved {listed}: a Docker network there "
                "routes those addresses into a local bridge, and the host and its containers "
                "lose the real machines. Move it out of the reserved ranges",
                r.path,
                value=r.text,
            )
            continue
        covered = fleet.hosts_in(r.net)
        if covered:
            yield Hit(
                COVERS_INVENTORY,
                f"{r.label} contains the addresses of {_hosts_text(covered)}: once dockerd "
                "creates a network there, this host and its containers cannot reach them. "
                "Move it out of the fleet's addresses",
                r.path,
                value=r.text,
            )
    if uses_builtin_pools(t.data):
        yield from _builtin_pools(t, fleet)


def _builtin_pools(t: Target, fleet: Fleet) -> Iterator[Hit]:
    clash = [
        (net, where)
        for net, where in fleet.reserved
        if net.version == 4 and any(net.overlaps(p) for p in BUILTIN_POOLS)
    ]
    where = ("default-address-pools",)
    if clash:
        listed = ", ".join(f"{net} ({loc})" for net, loc in clash)
        yield Hit(
            RESERVED_OVERLAP,
            "default-address-pools is not set, so dockerd creates networks from its built-in "
            f"pools ({BUILTIN_POOLS_TEXT}), which overlap networks.reserved {listed}. Set "
            "default-address-pools to ranges clear of the reserved ones",
            where,
            absent=True,
        )
        return
    covered = sorted(
        {hit for net in BUILTIN_POOLS for hit in fleet.hosts_in(net)}, key=lambda h: int(h[1])
    )
    if covered:
        yield Hit(
            COVERS_INVENTORY,
            "default-address-pools is not set, so dockerd creates networks from its built-in "
            f"pools ({BUILTIN_POOLS_TEXT}), which contain the addresses of "
            f"{_hosts_text(covered)}. Set default-address-pools to ranges clear of the fleet",
            where,
            absent=True,
        )


@daemon_rule(*_RANGE_KEYS)
def overlapping_ranges(t: Target, fleet: Fleet) -> Iterator[Hit]:
    """FC031: pools overlapping each other or the default bridge."""
    ranges = docker_ranges(t.data)
    pools = [r for r in ranges if r.kind == "pool"]
    for i, later in enumerate(pools):
        for earlier in pools[:i]:
            if later.net.version == earlier.net.version and later.net.overlaps(earlier.net):
                yield Hit(
                    RANGE_OVERLAP,
                    f"{later.label} overlaps {earlier.label}: the same addresses are handed "
                    "out by two pools. Give each pool its own range",
                    later.path,
                    value=later.text,
                )
                break
    for bridge in (r for r in ranges if r.kind == "bridge"):
        for pool in pools:
            if bridge.net.version == pool.net.version and bridge.net.overlaps(pool.net):
                yield Hit(
                    RANGE_OVERLAP,
                    f"the default bridge ({bridge.label}) overlaps {pool.label}: dockerd skips "
                    "the bridge's subnet in the pool, which hides where networks come from. "
                    "Keep the bridge outside the pools",
                    bridge.path,
                    value=bridge.text,
                )
                break


def _registry_host(entry: str) -> tuple[str, str | None, IPNetwork | None]:
    """An insecure-registries entry as (host, port or None, CIDR or None)."""
    value = re.sub(r"^https?://", "", entry.strip(), flags=re.IGNORECASE).rstrip("/")
    if "/" in value:
        return value, None, _network(value, False)
    if value.startswith("["):
        host, _, port = value[1:].partition("]")
        return host, port.lstrip(":") or None, None
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, port, None
    return value, None, None


def _mirror_url(mirror: str) -> tuple[str, str, str] | None:
    """(scheme, host, port) of a registry mirror URL."""
    try:
        parts = urlsplit(mirror if "://" in mirror else f"https://{mirror}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    return scheme, parts.hostname, str(port or (80 if scheme == "http" else 443))


def _suggest_entry(host: str, internal: tuple[str, ...]) -> str:
    for domain in internal:
        if host == domain or host.endswith("." + domain):
            return f'"{host}" (or "{domain}" for the whole domain)'
    return f'"{host}"'


@daemon_rule("proxies", "registry-mirrors", "insecure-registries")
def daemon_no_proxy(t: Target, fleet: Fleet) -> Iterator[Hit]:
    """FC033: registries and internal domains the daemon's proxy would carry."""
    proxies = t.data.get("proxies")
    if not isinstance(proxies, dict):
        return
    http, https = (
        bool(v) and isinstance(v, str)
        for v in (proxies.get("http-proxy"), proxies.get("https-proxy"))
    )
    if not (http or https):
        return
    raw = proxies.get("no-proxy")
    np = parse_no_proxy(raw if isinstance(raw, str) else None)
    path: KeyPath = ("proxies", "no-proxy") if "no-proxy" in proxies else ("proxies",)
    verb = "misses" if raw else "is empty, so it misses"
    for _, mirror in _strings(t.data.get("registry-mirrors")):
        parsed = _mirror_url(mirror)
        if parsed is None:
            continue
        scheme, host, port = parsed
        proxy = "http-proxy" if scheme == "http" else "https-proxy"
        if (http if scheme == "http" else https) and not np.bypasses(host, port):
            yield Hit(
                NO_PROXY,
                f'proxies.no-proxy {verb} the registry mirror "{mask_url_credentials(mirror)}": '
                f"dockerd sends mirror pulls through the proxy ({proxy}), which usually cannot "
                "reach internal hosts, and then silently pulls from Docker Hub instead. Add "
                f"{_suggest_entry(host, fleet.internal_domains)} to no-proxy",
                path,
            )
    for _, entry in _strings(t.data.get("insecure-registries")):
        reg_host, reg_port, net = _registry_host(entry)
        if net is not None:
            missed = not np.covers_network(net)
        else:
            ports: list[str] = (
                [reg_port] if reg_port else [p for p, on in (("443", https), ("80", http)) if on]
            )
            missed = any(not np.bypasses(reg_host, p) for p in ports)
        if missed:
            yield Hit(
                NO_PROXY,
                f'proxies.no-proxy {verb} the insecure registry "{entry}": dockerd sends its '
                "requests through the proxy, which cannot reach a private registry (pulls "
                f"and pushes fail). Add {_suggest_entry(reg_host, fleet.internal_domains)} to "
                "no-proxy",
                path,
            )
    yield from _internal_domains(
        np, http=http, https=https, fleet=fleet, path=path, what="proxies.no-proxy", who="dockerd"
    )


def _internal_domains(
    np: NoProxy,
    *,
    http: bool,
    https: bool,
    fleet: Fleet,
    path: KeyPath,
    what: str,
    who: str,
) -> Iterator[Hit]:
    for domain in fleet.internal_domains:
        if any(
            on and not np.covers_domain(domain, port) for port, on in (("443", https), ("80", http))
        ):
            yield Hit(
                NO_PROXY,
                f"{what} does not cover the internal domain {domain} (networks.internal_domains):"
                f" {who} would send requests for its hosts to the proxy. Add "
                f'"{domain}" (the domain and its subdomains) to it',
                path,
            )


@client_rule("proxies")
def client_no_proxy(t: Target, fleet: Fleet) -> Iterator[Hit]:
    """FC033 for ~/.docker/config.json: proxies handed to containers."""
    proxies = t.data.get("proxies")
    if not isinstance(proxies, dict) or not fleet.internal_domains:
        return
    for name, cfg in proxies.items():
        if not isinstance(cfg, dict):
            continue
        http = isinstance(cfg.get("httpProxy"), str) and bool(cfg.get("httpProxy"))
        https = isinstance(cfg.get("httpsProxy"), str) and bool(cfg.get("httpsProxy"))
        if not (http or https):
            continue
        raw = cfg.get("noProxy")
        np = parse_no_proxy(raw if isinstance(raw, str) else None)
        path: KeyPath = ("proxies", name, "noProxy") if "noProxy" in cfg else ("proxies", name)
        yield from _internal_domains(
            np,
            http=http,
            https=https,
            fleet=fleet,
            path=path,
            what=f"proxies.{name}.noProxy",
            who="containers",
        )


@daemon_rule("registry-mirrors", "insecure-registries")
def http_mirror(t: Target, fleet: Fleet) -> Iterator[Hit]:
    """FC034: an http:// mirror that insecure-registries does not list."""
    insecure = [_registry_host(e) for _, e in _strings(t.data.get("insecure-registries"))]
    names = {f"{h}:{p}".lower() if p else h.lower() for h, p, net in insecure if net is None}
    nets = [net for _, _, net in insecure if net is not None]
    for i, mirror in _strings(t.data.get("registry-mirrors")):
        if not mirror.lower().startswith("http://"):
            continue
        try:
            netloc = urlsplit(mirror).netloc.rpartition("@")[2].lower()
        except ValueError:
            continue
        host = netloc.rpartition(":")[0] if netloc.rpartition(":")[2].isdigit() else netloc
        ip = ip_or_none(host)
        if not netloc or netloc in names or (ip is not None and any(ip in n for n in nets)):
            continue
        yield Hit(
            HTTP_MIRROR,
            f'registry mirror "{mask_url_credentials(mirror)}" is plain HTTP but '
            f'"{netloc}" is not in insecure-registries: BuildKit builds and the containerd '
            'image store use HTTPS for it ("server gave HTTP response to HTTPS client"). '
            f'Add "{netloc}" to insecure-registries, or serve the mirror over HTTPS',
            ("registry-mirrors", i),
            value=mirror,
        )


@daemon_rule("registry-mirrors")
def mirror_scope(t: Target, fleet: Fleet) -> Iterator[Hit]:
    """FC035: a mirror that looks like a cache of another registry."""
    for i, mirror in _strings(t.data.get("registry-mirrors")):
        match = _OTHER_REGISTRY.search(mirror.lower())
        if match is None:
            continue
        registry = _REGISTRY_NAMES.get(match.group(0), match.group(0))
        yield Hit(
            MIRROR_SCOPE,
            f'registry mirror "{mask_url_credentials(mirror)}" looks like a cache of '
            f"{registry}, but dockerd uses registry-mirrors for Docker Hub images only: "
            f"{registry} images never go through it. Pull them by the cache's own name",
            ("registry-mirrors", i),
            value=mirror,
        )


@daemon_rule("log-driver", "log-opts")
def log_rotation(t: Target, fleet: Fleet) -> Iterator[Hit]:
    """FC036: json-file logs without max-size."""
    driver = t.data.get("log-driver")
    if driver not in (None, "", "json-file"):
        return
    opts = t.data.get("log-opts")
    if isinstance(opts, dict) and opts.get("max-size") not in (None, ""):
        return
    which = "the json-file log driver" if driver else "the default log driver (json-file)"
    message = (
        f'{which} keeps every container\'s log in one file forever without "max-size" in '
        "log-opts: one chatty container fills the disk and stops every container. Set "
        'log-opts max-size and max-file (e.g. "50m" and "5"), or use the local driver'
    )
    if isinstance(opts, dict) and "log-opts" in t.data:
        yield Hit(LOG_ROTATION, message, ("log-opts",))
    elif driver:
        yield Hit(LOG_ROTATION, message, ("log-driver",))
    else:
        yield Hit(LOG_ROTATION, message, ("log-opts",), absent=True)


@daemon_rule("live-restore")
def live_restore(t: Target, fleet: Fleet) -> Iterator[Hit]:
    """FC037: live-restore off."""
    value = t.data.get("live-restore")
    if value is True or (value is not None and not isinstance(value, bool)):
        return
    if value is False:
        message = '"live-restore" is false: every dockerd restart stops all containers'
        yield Hit(LIVE_RESTORE, message + ". Set it to true", ("live-restore",))
    else:
        message = (
            '"live-restore" is not set (default false): every dockerd restart stops all containers'
        )
        yield Hit(
            LIVE_RESTORE, message + '. Add "live-restore": true', ("live-restore",), absent=True
        )


def _listen_host(addr: str) -> str | None:
    if addr.startswith("["):
        end = addr.find("]")
        return addr[1:end] if end > 0 else None
    if ":" not in addr:
        return None
    return addr.rpartition(":")[0]


@daemon_rule(per_host=True)
def metrics_address(t: Target, fleet: Fleet) -> Iterator[Hit]:
    """FC038 (every interface) and FC041 (another host's address)."""
    addr = t.data.get("metrics-addr")
    if not isinstance(addr, str) or not addr:
        return
    host = _listen_host(addr.strip())
    if host is None:
        return
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - that is what the rule looks for
        yield Hit(
            METRICS_EXPOSED,
            f'metrics-addr "{addr}" serves the engine\'s metrics, without authentication, on '
            "every interface of the host. Bind it to the host's internal address "
            '("{{ address }}:9323") or 127.0.0.1',
            ("metrics-addr",),
            value=addr,
        )
        return
    ip = ip_or_none(host)
    if ip is None or ip.is_loopback or ip == ip_or_none(t.address):
        return
    others = [name for name in fleet.owners.get(ip, ()) if name != t.host]
    if others:
        yield Hit(
            METRICS_OTHER_HOST,
            f'metrics-addr "{addr}" is the address of inventory host {others[0]}: dockerd '
            "cannot listen on an address the host does not have and refuses to start. "
            'Use "{{ address }}:PORT" in the profile',
            ("metrics-addr",),
            value=host,
        )


@daemon_rule("hosts")
def hosts_key(t: Target, fleet: Fleet) -> Iterator[Hit]:
    """FC039: hosts in daemon.json."""
    if t.data.get("hosts") is not None:
        yield Hit(
            HOSTS_SYSTEMD,
            '"hosts" in daemon.json conflicts with the -H fd:// that systemd\'s docker.service '
            'passes: dockerd refuses to start ("specified both as a flag and in the '
            'configuration file: hosts"). Remove it, or drop -H from the unit with a '
            "systemd drop-in and disable FC039",
            ("hosts",),
        )


def _password_in_url(url: str) -> str | None:
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        return parts.password or None
    except ValueError:
        return None


@daemon_rule("proxies", secrets=True)
def daemon_credentials(t: Target, fleet: Fleet) -> Iterator[Hit]:
    """FC040: a proxy password written in the repo."""
    proxies = t.data.get("proxies")
    if not isinstance(proxies, dict):
        return
    for key in ("http-proxy", "https-proxy"):
        url = proxies.get(key)
        if not isinstance(url, str):
            continue
        password = _password_in_url(url)
        if password and not _from_lookup(password, t.secrets):
            yield _credential_hit(f"proxies.{key}", ("proxies", key), password, url)


def _credential_hit(what: str, path: KeyPath, secret: str, shown: str | None = None) -> Hit:
    example = f" ({mask_url_credentials(shown)})" if shown else ""
    return Hit(
        CREDENTIALS,
        f"{what}{example} holds a password written in clear in the repo: anyone who can "
        'read the repo has it. Read it when rendering with env("NAME") or file("PATH") in '
        "the profile, and rotate it",
        path,
        value=secret,
    )


@client_rule("proxies", "auths", secrets=True)
def client_credentials(t: Target, fleet: Fleet) -> Iterator[Hit]:
    """FC040 for config.json: proxy passwords and registry auths in the repo."""
    proxies = t.data.get("proxies")
    if isinstance(proxies, dict):
        for name, cfg in proxies.items():
            if not isinstance(cfg, dict):
                continue
            for key in _CLIENT_PROXY_KEYS:
                url = cfg.get(key)
                password = _password_in_url(url) if isinstance(url, str) else None
                if password and not _from_lookup(password, t.secrets):
                    yield _credential_hit(
                        f"proxies.{name}.{key}", ("proxies", name, key), password, url
                    )
    auths = t.data.get("auths")
    if isinstance(auths, dict):
        for registry, entry in auths.items():
            if not isinstance(entry, dict):
                continue
            for key in _AUTH_SECRET_KEYS:
                value = entry.get(key)
                if isinstance(value, str) and value and not _from_lookup(value, t.secrets):
                    yield Hit(
                        CREDENTIALS,
                        f'auths."{registry}".{key} holds a registry credential written in clear '
                        'in the repo. Read it with file("PATH") or env("NAME") in the profile '
                        "(or leave auths to docker login / a credential helper), and rotate it",
                        ("auths", registry, key),
                        value=value,
                    )
