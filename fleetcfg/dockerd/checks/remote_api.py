"""The Docker API on the network: ``hosts`` with TCP and no TLS."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from fleetcfg.core.findings import Finding
from fleetcfg.core.rules import TCP_WITHOUT_TLS
from fleetcfg.dockerd.checks.context import RuleContext, W, check, find


def tcp_address(host: str) -> str | None:
    """The address of a TCP listen address of ``hosts`` (``tcp://0.0.0.0:2375``,
    or ``:2375``: no scheme means tcp), else ``None``."""
    scheme, sep, rest = host.partition("://")
    if not sep:
        scheme, rest = "tcp", host
    if scheme != "tcp":
        return None
    address = rest.split("/", 1)[0]
    if address.startswith("["):
        return address[1:].partition("]")[0]
    return address.rpartition(":")[0] if ":" in address else address


def _loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@check
def tcp_without_tls(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.has("hosts") or ctx.get("tlsverify") is True:
        return
    for index, host in enumerate(ctx.get("hosts") or ()):
        address = tcp_address(host) if isinstance(host, str) else None
        if address is None or _loopback(address):
            continue  # loopback: only local users reach it (as with the unix socket)
        yield find(
            TCP_WITHOUT_TLS,
            W,
            f'"hosts" listens on {host} without TLS: dockerd warns, waits 15 s at start, '
            "then serves the Docker API (root on the host) to anyone who can reach the "
            "port. Use unix:// or "
            'fd:// only (ssh:// reaches it remotely), or set "tlsverify": true with '
            "tlscacert, tlscert and tlskey",
            "hosts",
            index,
        )
