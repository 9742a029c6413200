"""Parsers for the value formats dockerd uses, written to accept exactly what
dockerd's Go code accepts (go-units sizes, Go's net.ParseIP, netip prefixes,
Go durations, listen addresses, domains, labels). Each returns ``None`` when the
value is fine, or a short reason string when it is not."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from fleetcfg.core.numbers import is_digits

_R = TypeVar("_R")

#: addresses and prefixes up to this long are parsed once per process (every
#: host's config names the same pools and DNS servers); longer text is not kept
_REMEMBERED = 64


def _remembered(parse: Callable[[str], _R]) -> Callable[[str], _R]:
    cached = functools.lru_cache(maxsize=1024)(parse)

    @functools.wraps(parse)
    def parse_once(text: str) -> _R:
        return cached(text) if len(text) <= _REMEMBERED else parse(text)

    return parse_once


_DECIMAL = {"k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4, "p": 1000**5}
_BINARY = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
# The grammar both go-units parsers (the regexp of v0.4 and the hand-written
# parser of v0.5) accept: digits with an optional fraction, an optional space,
# then b, or a unit letter optionally followed by b or ib.
_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?) ?(?:([kmgtp])(?:i?b)?|b)?$", re.IGNORECASE)


def parse_size(text: str, *, binary: bool = True) -> int | None:
    """Bytes for a go-units size (``64M``, ``1g``, ``128MiB``, ``10 KB``), or
    ``None`` if dockerd would reject it. ``binary`` selects RAMInBytes (1024)
    versus FromHumanSize (1000) multipliers."""
    m = _SIZE_RE.match(text)
    if not m:
        return None
    number = float(m.group(1))
    unit = (m.group(2) or "").lower()
    if unit:
        number *= (_BINARY if binary else _DECIMAL)[unit]
    return int(number)


def size_problem(text: str) -> str | None:
    if text == "":
        return "an empty string is not a size; write e.g. 64m, or remove the key"
    if parse_size(text) is None:
        return (
            f"{text!r} is not a size dockerd understands; write a number with an optional unit, "
            "e.g. 64m, 512k, 1g, 128MiB"
        )
    return None


_DURATION_RE = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$")


def duration_problem(text: str) -> str | None:
    """Go's time.ParseDuration, or a plain number of seconds (builder history
    maxAge accepts both)."""
    if text == "0" or _DURATION_RE.match(text) or re.fullmatch(r"\d+", text):
        return None
    return f"{text!r} is not a duration; write e.g. 48h, 30m or 3600s"


@_remembered
def ip_problem(text: str) -> str | None:
    """Go's net.ParseIP: IPv4 dotted quad without leading zeros, or IPv6 (with
    an embedded IPv4 allowed), no zone, no brackets, no prefix."""
    if "%" in text or "/" in text:
        return f"{text!r} is not an IP address"
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return f"{text!r} is not an IP address"
    return None


@_remembered
def ip_version(text: str) -> int | None:
    try:
        return ipaddress.ip_address(text).version
    except ValueError:
        return None


@_remembered
def prefix_problem(text: str) -> str | None:
    """A CIDR as netip.ParsePrefix / net.ParseCIDR accept it (host bits allowed)."""
    if "/" not in text:
        return f"{text!r} is not a CIDR: the /prefix-length is missing"
    addr, _, bits = text.partition("/")
    if ip_problem(addr) is not None:
        return f"{text!r} is not a CIDR: {addr!r} is not an IP address"
    if not is_digits(bits) or (len(bits) > 1 and bits.startswith("0")):
        return f"{text!r} is not a CIDR: bad prefix length {bits!r}"
    limit = 32 if ip_version(addr) == 4 else 128
    if int(bits) > limit:
        return f"{text!r} is not a CIDR: the prefix length is larger than {limit}"
    return None


@_remembered
def network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The network a CIDR denotes (host bits masked), or None."""
    if prefix_problem(text) is not None:
        return None
    return ipaddress.ip_network(text, strict=False)


def is_canonical_prefix(text: str) -> bool:
    net = network(text)
    return net is not None and str(net.network_address) == text.partition("/")[0]


def port_problem(text: str) -> str | None:
    if not is_digits(text) or int(text) > 65535:
        return f"port {text!r} is not a number from 0 to 65535"
    return None


def split_host_port(text: str) -> tuple[str, str] | None:
    """Go's net.SplitHostPort: ``host:port`` or ``[v6]:port``; None when there is
    no port."""
    if text.startswith("["):
        end = text.find("]")
        if end == -1 or not text[end + 1 :].startswith(":"):
            return None
        return text[1:end], text[end + 2 :]
    if text.count(":") != 1:
        return None
    host, _, port = text.partition(":")
    return host, port


def listen_address_problem(text: str) -> str | None:
    """A ``host:port`` listen address for net.Listen (metrics-addr)."""
    hp = split_host_port(text)
    if hp is None:
        return f"{text!r} is not host:port (the port is missing)"
    host, port = hp
    if port == "" or port_problem(port):
        return f"{text!r} has no valid port"
    if not host:
        return f"{text!r} has no host (dockerd cannot look up an empty host); write 0.0.0.0:PORT or an IP"
    if ip_problem(host) is not None and not _HOSTNAME_RE.match(host):
        return f"{text!r}: {host!r} is neither an IP address nor a host name"
    return None


_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


def hostname_ok(text: str) -> bool:
    return bool(_HOSTNAME_RE.match(text))


# opts.ValidateDNSSearch: the domain regexp of moby's opts package.
_DOMAIN_RE = re.compile(
    r"^(:?(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))(:?\.(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])))*)\.?\s*$"
)


def dns_search_problem(text: str) -> str | None:
    if text == ".":
        return None
    domain = text.removesuffix(".")
    if not domain or domain[0] == "." or len(domain) > 255 or not _DOMAIN_RE.match(domain):
        return f"{text!r} is not a valid domain"
    if is_digits(domain.replace(".", "")):
        return f"{text!r} is not a valid domain"
    return None


_RESERVED_LABEL_PREFIXES = ("com.docker.", "io.docker.", "org.dockerproject.")


def label_problem(text: str) -> str | None:
    """opts.ValidateLabel: ``key=value``; reserved namespaces refused."""
    if "=" not in text:
        return f"label {text!r} is not key=value (dockerd: bad attribute format)"
    key = text.split("=", 1)[0]
    if key.lower().startswith(_RESERVED_LABEL_PREFIXES):
        return (
            f"label {text!r} is not allowed: the namespaces com.docker.*, io.docker.* and "
            "org.dockerproject.* are reserved for internal use"
        )
    return None


def daemon_host_problem(text: str) -> str | None:
    """opts.ValidateHost/ParseDaemonHost for an entry of ``hosts``."""
    value = text.strip()
    if value == "":
        return None  # dockerd substitutes the default socket
    proto, sep, addr = value.partition("://")
    if not sep:
        proto, addr = "tcp", value
    if proto == "fd":
        return None
    if proto == "unix":
        return None
    if proto == "npipe":
        return f"invalid bind address ({text}): npipe:// is only supported on Windows"
    if proto != "tcp":
        return f"invalid bind address ({text}): unsupported proto '{proto}'"
    if "/" in addr:
        host_part, _, path = addr.partition("/")
        if path:
            return f"invalid bind address ({text}): should not contain a path element"
        addr = host_part
    if addr == "":
        return None
    hp = split_host_port(addr) if (":" in addr) else (addr, "")
    if hp is None:
        return f"invalid bind address ({text}): bad host:port"
    port = hp[1]
    if port and port_problem(port):
        return f"invalid bind address ({text}): invalid port {port!r}"
    return None


def url_problem(text: str, *, schemes: tuple[str, ...]) -> str | None:
    try:
        parts = urlsplit(text)
        _ = parts.port
    except ValueError as exc:
        return f"{text!r} is not a valid URL ({exc})"
    if parts.scheme.lower() not in schemes:
        want = " or ".join(f"{s}://" for s in schemes)
        if not parts.scheme or "://" not in text:
            return f"{text!r} has no scheme; it must start with {want}"
        return f"{text!r} has an unsupported scheme {parts.scheme!r}; use {want}"
    if not parts.hostname:
        return f"{text!r} has no host"
    return None


PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def proxy_url_problem(value: str) -> str | None:
    """Go's http proxy handling: a URL, or host:port (read as http://host:port)."""
    target = value if "://" in value else f"http://{value}"
    return url_problem(target, schemes=PROXY_SCHEMES)
