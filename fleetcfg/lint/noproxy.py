"""What a no-proxy list lets through, as the programs that read it decide.

dockerd hands ``proxies`` to Go's ``net/http`` (``golang.org/x/net/http/httpproxy``),
whose rules are:

* entries are comma-separated, trimmed and lower-cased; ``*`` matches everything;
* a CIDR (``10.0.0.0/8``) matches IP addresses written as such, never names
  (nothing is resolved);
* an IP, optionally with a port (``10.1.2.3``, ``10.1.2.3:5000``, ``[::1]:80``);
* a domain: ``corp.example.com`` matches the domain and its subdomains,
  ``.corp.example.com`` and ``*.corp.example.com`` only the subdomains; with a
  ``:port`` only that port;
* ``localhost`` and loopback addresses never use a proxy.

Containers get the client config's ``noProxy`` and may run anything; curl
and Python read a domain entry the same way for subdomains, which is what
:meth:`NoProxy.covers_domain` asks about.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class _Domain:
    suffix: str  # always starts with "."
    port: str
    match_host: bool  # the entry had no leading dot: the domain itself matches too


@dataclass(frozen=True, slots=True)
class NoProxy:
    """A parsed no-proxy list."""

    everything: bool
    cidrs: tuple[IPNetwork, ...]
    ips: tuple[tuple[IPAddress, str], ...]
    domains: tuple[_Domain, ...]

    def bypasses(self, host: str, port: str) -> bool:
        """Whether Go sends a request to ``host:port`` directly."""
        host = host.strip().lower().strip("[]")
        if host == "localhost":
            return True
        ip = _ip(host)
        if ip is not None and ip.is_loopback:
            return True
        if self.everything:
            return True
        if ip is not None:
            if any(ip in net for net in self.cidrs if net.version == ip.version):
                return True
            if any(ip == other and (not p or p == port) for other, p in self.ips):
                return True
        return any(
            (host.endswith(d.suffix) or (d.match_host and host == d.suffix[1:]))
            and (not d.port or d.port == port)
            for d in self.domains
        )

    def covers_network(self, net: IPNetwork) -> bool:
        """Whether every IP address of ``net`` goes direct."""
        return self.everything or any(
            c.version == net.version and net.subnet_of(c)  # type: ignore[arg-type]
            for c in self.cidrs
        )

    def covers_domain(self, domain: str, port: str) -> bool:
        """Whether every host under ``domain`` goes direct on ``port``."""
        return self.bypasses(f"fleetcfg-probe.{domain.lower().strip('.')}", port)


def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _split_host_port(entry: str) -> tuple[str, str] | None:
    """Go's net.SplitHostPort, for the shapes no-proxy entries take."""
    if entry.startswith("["):
        end = entry.find("]")
        if end < 0 or not entry[end + 1 :].startswith(":"):
            return None
        return entry[1:end], entry[end + 2 :]
    if entry.count(":") != 1:
        return None
    host, _, port = entry.partition(":")
    return host, port


def parse_no_proxy(text: str | None) -> NoProxy:
    """Parse a no-proxy value the way Go does (see the module docstring)."""
    cidrs: list[IPNetwork] = []
    ips: list[tuple[IPAddress, str]] = []
    domains: list[_Domain] = []
    for raw in (text or "").split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return NoProxy(True, (), (), ())
        if "/" in entry:
            try:
                cidrs.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                pass
            else:
                continue
        split = _split_host_port(entry)
        if split is not None:
            host, port = split
            if not host:
                continue  # Go ignores a malformed entry such as ":80"
        else:
            host, port = entry, ""
        ip = _ip(host)
        if ip is not None:
            ips.append((ip, port))
            continue
        if host.startswith("*."):
            host = host[1:]
        match_host = not host.startswith(".")
        domains.append(_Domain(host if not match_host else "." + host, port, match_host))
    return NoProxy(False, tuple(cidrs), tuple(ips), tuple(domains))
