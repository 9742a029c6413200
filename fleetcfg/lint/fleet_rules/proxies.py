"""Proxy and registry mirror rules: NO_PROXY coverage of internal names,
mirrors and Docker's ranges, mirrors over http, mirrors of another registry."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from fleetcfg.core.numbers import is_digits
from fleetcfg.core.rules import (
    HTTP_MIRROR,
    MIRROR_SCOPE,
    NO_PROXY,
)
from fleetcfg.core.urlcreds import mask_url_credentials
from fleetcfg.core.yamlsource import KeyPath
from fleetcfg.lint.fleet_rules.base import (
    Fleet,
    Hit,
    Target,
    client_rule,
    daemon_rule,
    ip_or_none,
    network_of,
    strings_in,
)
from fleetcfg.lint.noproxy import IPNetwork, NoProxy, parse_no_proxy

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


def _registry_host(entry: str) -> tuple[str, str | None, IPNetwork | None]:
    """An insecure-registries entry as (host, port or None, CIDR or None)."""
    value = re.sub(r"^https?://", "", entry.strip(), flags=re.IGNORECASE).rstrip("/")
    if "/" in value:
        return value, None, network_of(value, False)
    if value.startswith("["):
        host, _, port = value[1:].partition("]")
        return host, port.lstrip(":") or None, None
    host, sep, port = value.rpartition(":")
    if sep and is_digits(port) and ":" not in host:
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
    for _, mirror in strings_in(t.data.get("registry-mirrors")):
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
    for _, entry in strings_in(t.data.get("insecure-registries")):
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
    insecure = [_registry_host(e) for _, e in strings_in(t.data.get("insecure-registries"))]
    names = {f"{h}:{p}".lower() if p else h.lower() for h, p, net in insecure if net is None}
    nets = [net for _, _, net in insecure if net is not None]
    for i, mirror in strings_in(t.data.get("registry-mirrors")):
        if not mirror.lower().startswith("http://"):
            continue
        try:
            netloc = urlsplit(mirror).netloc.rpartition("@")[2].lower()
        except ValueError:
            continue
        host = netloc.rpartition(":")[0] if is_digits(netloc.rpartition(":")[2]) else netloc
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
    for i, mirror in strings_in(t.data.get("registry-mirrors")):
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
