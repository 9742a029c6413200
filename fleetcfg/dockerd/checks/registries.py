"""Registry mirrors, insecure registries and proxies (checked at start)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from fleetcfg.core.findings import Finding
from fleetcfg.core.numbers import is_digits
from fleetcfg.core.rules import (
    PROXY,
    REGISTRY,
)
from fleetcfg.core.urlcreds import mask_url_credentials
from fleetcfg.dockerd.checks.context import (
    INFO,
    START,
    E,
    RuleContext,
    W,
    check,
    find,
)
from fleetcfg.dockerd.values import (
    ip_problem,
    prefix_problem,
    proxy_url_problem,
    split_host_port,
    url_problem,
)


@check
def registry_mirrors(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.has("registry-mirrors"):
        return
    for i, mirror in enumerate(ctx.cfg.registry_mirrors or []):
        shown = mask_url_credentials(mirror)
        problem = url_problem(mirror, schemes=("http", "https"))
        if problem and problem.endswith("has no host"):
            yield find(
                REGISTRY,
                W,
                f'registry mirror "{shown}" has no host; dockerd accepts it but can never use it',
                "registry-mirrors",
                i,
            )
            continue
        if problem:
            yield find(
                REGISTRY,
                E,
                f"registry mirror {mask_url_credentials(problem)}; {START} (invalid "
                "mirror). Write it as https://host[:port]",
                "registry-mirrors",
                i,
            )
            continue
        parts = urlsplit(mirror)
        if parts.username is not None or parts.password is not None:
            yield find(
                REGISTRY,
                E,
                f'registry mirror "{shown}" contains credentials (username/password not '
                f"allowed in URI); {START}. Log in with `docker login` on the mirror or "
                "let the mirror authenticate upstream",
                "registry-mirrors",
                i,
            )
        if parts.query or parts.fragment or mirror.endswith(("?", "#")):
            yield find(
                REGISTRY,
                E,
                f'registry mirror "{shown}" has a query or fragment; {START}. Remove '
                "everything from ? or #",
                "registry-mirrors",
                i,
            )
        if parts.path not in ("", "/"):
            yield find(
                REGISTRY,
                INFO,
                f'registry mirror "{shown}" has a path: dockerd then requests '
                f"{parts.path.rstrip('/')}/v2/... on the mirror. Most registries "
                "(Distribution, Harbor, Nexus) serve /v2/ only at the root; keep the path "
                "only if your mirror really serves it there",
                "registry-mirrors",
                i,
            )


_DOMAIN_PORT = re.compile(
    r"^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$"
)


def insecure_registry_problem(entry: str) -> tuple[str | None, bool]:
    """(problem, had_scheme) for one insecure-registries entry, as dockerd's
    loadInsecureRegistries sees it."""
    if entry.startswith("-") or entry.endswith("-"):
        return "cannot begin or end with a hyphen", False
    value, had_scheme = entry, False
    for prefix in ("http://", "https://"):
        if value.lower().startswith(prefix):
            value, had_scheme = value[len(prefix) :], True
            break
    if "://" in value:
        return "should not contain '://'", had_scheme
    if prefix_problem(value) is None:
        return None, had_scheme
    hp = split_host_port(value)
    host, port = hp if hp is not None else (value, "")
    if not (_DOMAIN_PORT.match(value) or ip_problem(host) is None):
        return f'invalid host "{host}" (a host[:port] or a CIDR, no path)', had_scheme
    if port and (not is_digits(port) or int(port) > 65535):
        return f'invalid port "{port}"', had_scheme
    return None, had_scheme


@check
def insecure_registries(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.has("insecure-registries"):
        return
    for i, entry in enumerate(ctx.cfg.insecure_registries or []):
        problem, had_scheme = insecure_registry_problem(entry)
        if problem:
            yield find(
                REGISTRY,
                E,
                f'insecure registry "{entry}" is not valid: {problem}; {START}. Write '
                "host:port or a CIDR",
                "insecure-registries",
                i,
            )
        elif had_scheme:
            yield find(
                REGISTRY,
                W,
                f'insecure registry "{entry}": dockerd strips the scheme and warns; write '
                "it without http:// or https://",
                "insecure-registries",
                i,
            )


@check
def allow_nondistributable(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.has("allow-nondistributable-artifacts") or ctx.at_least("28.1"):
        return
    for i, entry in enumerate(ctx.cfg.allow_nondistributable_artifacts or []):
        problem, had_scheme = insecure_registry_problem(entry)
        if had_scheme:
            problem = "should not contain '://'"
        if problem:
            yield find(
                REGISTRY,
                E,
                f'allow-nondistributable-artifacts entry "{entry}" is not valid: '
                f"{problem}; {START}",
                "allow-nondistributable-artifacts",
                i,
            )


@check
def proxies(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.has("proxies") or ctx.cfg.proxies is None:
        return
    for key in ("http-proxy", "https-proxy"):
        value = getattr(ctx.cfg.proxies, key.replace("-", "_"))
        if not value:
            continue
        problem = proxy_url_problem(value)
        if problem:
            yield find(
                PROXY,
                E,
                f"proxies.{key} {mask_url_credentials(problem)}; every image pull "
                "through the proxy fails. Write http://host:port",
                "proxies",
                key,
            )
