"""Reaching a host's SSH port: TCP (no name resolution for an IP address),
and the messages for a connection or handshake that fails."""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Callable
from typing import Any

from fleetcfg.core.errors import ConnectError, FleetcfgError
from fleetcfg.host.transport.ssh.common import reason
from fleetcfg.host.transport.targets import Endpoint, ResolvedSshTarget


def hop_prefix(hop: Endpoint, index: int, total: int) -> str:
    return f"{hop.label} (hop {index} of {total}, {hop.describe()}): "


def tcp_connect(
    endpoint: Endpoint,
    timeout: float,
    owner: str,
    where: str,
    hold: Callable[[socket.socket], None] | None = None,
) -> socket.socket:
    """A TCP connection to ``endpoint``; ``hold`` gets each socket before it
    connects (to cancel a connect in progress, see ``openings``)."""
    host, port = endpoint.hostname, endpoint.port
    address = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    try:
        sock = _connect_first(_addresses(host, port), timeout, hold)
    except socket.gaierror as exc:
        raise ConnectError(
            f"{where}cannot resolve host name {host!r}: {exc.strerror}",
            host=owner,
            hint="check the address in the inventory (or HostName in ssh_config) and DNS",
        ) from None
    except ConnectionRefusedError:
        raise ConnectError(
            f"{where}connection refused by {address}",
            host=owner,
            hint=f"is sshd running and listening on port {port}?",
        ) from None
    except TimeoutError:
        raise ConnectError(
            f"{where}connecting to {address} timed out after {timeout:g}s",
            host=owner,
            hint="is the host up and is the port reachable (firewall)?",
        ) from None
    except OSError as exc:
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL):
            reason = "no route to host" if exc.errno == errno.EHOSTUNREACH else exc.strerror
        else:
            reason = exc.strerror or str(exc)
        raise ConnectError(
            f"{where}cannot connect to {address}: {reason}",
            host=owner,
            hint="is the host up and reachable from here?",
        ) from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _addresses(host: str, port: int) -> list[tuple[socket.AddressFamily, tuple[Any, ...]]]:
    """Where ``host`` is: an IP address as it is (no name resolution at
    all), a name through the resolver."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        found = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        return [(family, tuple(addr)) for family, _, _, _, addr in found]
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    return [(family, (host, port))]


def _connect_first(
    addresses: list[tuple[socket.AddressFamily, tuple[Any, ...]]],
    timeout: float,
    hold: Callable[[socket.socket], None] | None,
) -> socket.socket:
    """The first of ``addresses`` that accepts (as ``socket.create_connection``)."""
    last: OSError | None = None
    for family, addr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if hold is not None:
                hold(sock)
            sock.settimeout(timeout)
            sock.connect(addr)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
        except BaseException:
            sock.close()
            raise
    raise last if last is not None else OSError("no address to connect to")


def _closed_by_peer(exc: BaseException) -> bool:
    """The server closed (or reset) the connection before its banner: not a
    timeout. paramiko raises "Error reading SSH protocol banner" for both; what
    it was reading when it failed tells them apart."""
    seen: BaseException | None = exc
    for _ in range(3):
        if isinstance(seen, EOFError | ConnectionResetError | BrokenPipeError):
            return True
        if seen is None:
            break
        seen = seen.__cause__ or seen.__context__
    return False


def handshake_error(
    exc: BaseException, endpoint: Endpoint, resolved: ResolvedSshTarget, where: str
) -> FleetcfgError:
    text = str(exc)
    at = endpoint.describe()
    if _closed_by_peer(exc):
        return ConnectError(
            f"{where}{at} closed the connection before sending an SSH banner",
            host=resolved.host,
            hint="sshd refused it at once: too many connections being authenticated "
            "(MaxStartups), a TCP wrapper or firewall rule (hosts.deny, fail2ban), or "
            "what listens there is not an SSH server",
        )
    if "banner" in text.lower():
        return ConnectError(
            f"{where}no SSH banner from {at} within {resolved.connect_timeout:g}s",
            host=resolved.host,
            hint="is an SSH server listening on that port? (an overloaded sshd, or "
            "MaxStartups, can also delay the banner)",
        )
    if "incompatible" in text.lower():
        return ConnectError(
            f"{where}no common algorithms with {at}: {text}",
            host=resolved.host,
            hint="the server's SSH version is too old or too restricted for paramiko",
        )
    return ConnectError(
        f"{where}SSH handshake with {at} failed: {reason(exc)}",
        host=resolved.host,
    )
