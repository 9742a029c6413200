"""The SSH connector: what one run shares between its hosts (parsed
ssh_config files, loaded private keys, parsed known_hosts files, one
connection per jump host chain), and connecting: TCP, ProxyCommand or a
``direct-tcpip`` channel through the jump hosts, then the handshake, host key
verification and authentication."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import paramiko

from fleetcfg.core.boundedread import TEXT_LIMIT, read_regular
from fleetcfg.core.errors import ConnectCancelled, ConnectError, UsageError
from fleetcfg.host.transport.known_hosts import KnownHostsStore
from fleetcfg.host.transport.ssh.auth import KeyCache, authenticate
from fleetcfg.host.transport.ssh.common import SSH_ERRORS, reason, remaining
from fleetcfg.host.transport.ssh.dial import handshake_error, hop_prefix, tcp_connect
from fleetcfg.host.transport.ssh.hostkeys import prefer_known_key_types, verify_host_key
from fleetcfg.host.transport.ssh.openings import Attempt, Openings
from fleetcfg.host.transport.ssh.transport import SshTransport
from fleetcfg.host.transport.targets import (
    Endpoint,
    ResolvedSshTarget,
    SshConfigLookup,
    SshTarget,
    default_ssh_config_path,
    resolve_ssh_target,
)


def ssh_config_lookup(text: str) -> SshConfigLookup:
    """A lookup function over ssh_config content (paramiko's parser: Host and
    Match blocks, ``%h``-style tokens, first value wins)."""
    config = paramiko.SSHConfig.from_text(text)
    return _lookup_of(config)


def _lookup_of(config: paramiko.SSHConfig) -> SshConfigLookup:
    def lookup(name: str) -> dict[str, object]:
        return dict(config.lookup(name))

    return lookup


#: How often the reading thread of an idle connection wakes up (paramiko's
#: default is 0.1 s). ``apply`` keeps every host's connection open from the
#: plan to the end of the rollout: at 10 wake-ups a second, 500 idle
#: connections cost the controller more CPU than the rollout's own work, and
#: that cost grows with the fleet times the rollout's length. Data wakes the
#: thread at once; this only bounds how late it notices a local close. Set
#: after the handshake, whose timeouts are checked at each wake-up.
_IDLE_WAKEUP = 1.0


def _wake_rarely_when_idle(transport: paramiko.Transport) -> None:
    settimeout = getattr(transport.sock, "settimeout", None)
    if settimeout is not None:
        settimeout(_IDLE_WAKEUP)


#: AES-GCM first: its tag is checked inside the cipher (C), whereas with
#: aes-ctr + hmac-* paramiko compares every packet's MAC byte by byte in
#: Python, the largest share of the controller's CPU per host in a fleet
#: plan. OpenSSH has offered these ciphers since 6.2 (2013).
_AEAD_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def _prefer_aead_ciphers(transport: paramiko.Transport) -> None:
    options = transport.get_security_options()
    available = list(options.ciphers)
    first = [c for c in _AEAD_CIPHERS if c in available]
    options.ciphers = first + [c for c in available if c not in first]


def _unparsable(text: str, exc: BaseException) -> str:
    """Why paramiko could not parse ssh_config ``text``, without its content."""
    bad = str(exc).removeprefix("Unparsable line ")
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() == bad.strip():
            return f"line {number} is not an ssh_config setting"
    return "it is not an ssh_config file"


class SshConnector:
    """Shared state for one run: open all SSH transports through one
    connector and close it at the end (closing the jump host connections).
    :meth:`cancel_opening` (Ctrl-C) cancels the connections being opened."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys = KeyCache()
        self.known_hosts = KnownHostsStore()
        self._configs: dict[str, SshConfigLookup] = {}
        self._jumps: dict[tuple[Endpoint, ...], paramiko.Transport] = {}
        self._jump_locks: dict[tuple[Endpoint, ...], threading.Lock] = {}
        self._openings = Openings()

    def __enter__(self) -> SshConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self, target: SshTarget) -> SshTransport:
        """A transport for ``target`` (it connects on first use)."""
        return SshTransport(target, connector=self)

    def cancel_opening(self) -> None:
        """Cancel the connections being opened now, and refuse to open new
        ones (see :mod:`~fleetcfg.host.transport.ssh.openings`); they raise
        :class:`~fleetcfg.core.errors.ConnectCancelled`."""
        self._openings.cancel()

    def close(self) -> None:
        with self._lock:
            jumps = list(self._jumps.values())
            self._jumps.clear()
        for transport in reversed(jumps):
            with contextlib.suppress(Exception):
                transport.close()

    # -- settings -----------------------------------------------------------

    def _ssh_config(self, target: SshTarget) -> SshConfigLookup | None:
        setting = target.ssh_config_file
        if setting is not None and setting.lower() == "none":
            return None
        if setting is None:
            path = default_ssh_config_path()
            if not path.is_file():
                return None
        else:
            path = Path(setting).expanduser()
        key = str(path)
        with self._lock:
            cached = self._configs.get(key)
        if cached is not None:
            return cached
        try:
            # bounded, and only a regular file: the inventory may name any path
            text = read_regular(key, TEXT_LIMIT).decode("utf-8", errors="replace")
            lookup = ssh_config_lookup(text)
        except FileNotFoundError:
            raise UsageError(
                f"ssh_config file {key} does not exist",
                host=target.host,
                hint="fix ssh_config_file in the inventory, or set it to 'none'",
            ) from None
        except OSError as exc:
            raise UsageError(
                f"cannot read ssh_config file {key}: {exc.strerror or exc}",
                file=key,
                host=target.host,
            ) from None
        except (paramiko.SSHException, ValueError) as exc:
            # never the line itself: the inventory may name any file of this
            # machine (/etc/shadow), and the message is printed
            raise UsageError(
                f"cannot read ssh_config file {key}: {_unparsable(text, exc)}",
                file=key,
                host=target.host,
            ) from None
        with self._lock:
            self._configs[key] = lookup
        return lookup

    def resolve(self, target: SshTarget) -> ResolvedSshTarget:
        """``target`` with ssh_config and defaults applied."""
        return resolve_ssh_target(target, self._ssh_config(target))

    # -- connecting ---------------------------------------------------------

    def connect(
        self, resolved: ResolvedSshTarget, *, cancellable: bool = True
    ) -> paramiko.Transport:
        """An authenticated connection to ``resolved`` (through its jump
        hosts). ``cancellable``: :meth:`cancel_opening` may cancel it (a
        first connection; not a host in flight reconnecting)."""
        if not cancellable:
            return self._connect(resolved, None)
        with self._openings.attempt() as attempt:
            try:
                if self._openings.cancelled:
                    raise self._cancelled(resolved)
                return self._connect(resolved, attempt)
            except Exception:  # whatever closing it mid-way made paramiko raise
                if self._openings.cancelled:
                    raise self._cancelled(resolved) from None
                raise

    @staticmethod
    def _cancelled(resolved: ResolvedSshTarget) -> ConnectCancelled:
        return ConnectCancelled(
            f"connecting to {resolved.endpoint.describe()} was cancelled: the run was "
            "interrupted before this host was reached (nothing was done on it)",
            host=resolved.host,
        )

    def _connect(self, resolved: ResolvedSshTarget, attempt: Attempt | None) -> paramiko.Transport:
        if resolved.jumps:
            jump = self._jump_transport(resolved.jumps, resolved, attempt)
            sock: Any = self._direct_channel(jump, resolved.jumps[-1], resolved.endpoint, resolved)
            if attempt is not None:
                attempt.hold(sock)
        else:
            sock = self._socket(resolved.endpoint, resolved, "", attempt)
        return self._handshake(resolved.endpoint, sock, resolved, "")

    def _jump_transport(
        self, chain: tuple[Endpoint, ...], resolved: ResolvedSshTarget, attempt: Attempt | None
    ) -> paramiko.Transport:
        with self._lock:
            lock = self._jump_locks.setdefault(chain, threading.Lock())
        with lock:
            with self._lock:
                existing = self._jumps.get(chain)
            if existing is not None and existing.is_active():
                return existing
            hop = chain[-1]
            where = hop_prefix(hop, len(chain), len(resolved.jumps))
            if len(chain) == 1:
                sock: Any = self._socket(hop, resolved, where, attempt)
            else:
                previous = self._jump_transport(chain[:-1], resolved, attempt)
                sock = self._direct_channel(previous, chain[-2], hop, resolved)
                if attempt is not None:
                    attempt.hold(sock)
            transport = self._handshake(hop, sock, resolved, where)
            with self._lock:
                self._jumps[chain] = transport
            return transport

    def _direct_channel(
        self,
        via: paramiko.Transport,
        via_endpoint: Endpoint,
        dest: Endpoint,
        resolved: ResolvedSshTarget,
    ) -> paramiko.Channel:
        try:
            return via.open_channel(
                "direct-tcpip",
                dest_addr=(dest.hostname, dest.port),
                src_addr=("127.0.0.1", 0),
                timeout=resolved.connect_timeout,
            )
        except paramiko.ChannelException as exc:
            raise ConnectError(
                f"{via_endpoint.label} ({via_endpoint.describe()}) could not open a "
                f"connection to {dest.hostname}:{dest.port}: {exc.text}",
                host=resolved.host,
                hint="check that the host is reachable from the jump host and that "
                "the jump host allows TCP forwarding",
            ) from None
        except SSH_ERRORS as exc:
            raise ConnectError(
                f"{via_endpoint.label} ({via_endpoint.describe()}) failed while opening a "
                f"connection to {dest.hostname}:{dest.port}: {reason(exc)}",
                host=resolved.host,
            ) from None

    def _socket(
        self, endpoint: Endpoint, resolved: ResolvedSshTarget, where: str, attempt: Attempt | None
    ) -> Any:
        if endpoint.proxy_command:
            try:
                proxy = paramiko.ProxyCommand(endpoint.proxy_command)
            except SSH_ERRORS as exc:
                raise ConnectError(
                    f"{where}ProxyCommand {endpoint.proxy_command!r} failed: {reason(exc)}",
                    host=resolved.host,
                ) from None
            if attempt is not None:
                attempt.hold(proxy)
            return proxy
        hold = attempt.hold if attempt is not None else None
        return tcp_connect(endpoint, resolved.connect_timeout, resolved.host, where, hold)

    def _handshake(
        self, endpoint: Endpoint, sock: Any, resolved: ResolvedSshTarget, where: str
    ) -> paramiko.Transport:
        deadline = time.monotonic() + resolved.connect_timeout
        transport = paramiko.Transport(sock)
        ok = False
        try:
            left = remaining(deadline)
            transport.banner_timeout = left
            transport.handshake_timeout = left
            transport.auth_timeout = left
            prefer_known_key_types(self.known_hosts, transport, endpoint)
            _prefer_aead_ciphers(transport)
            try:
                # a little longer than the banner timeout, so that a silent
                # server is reported as such rather than as a slow handshake
                transport.start_client(timeout=left + 0.25)
            except SSH_ERRORS as exc:
                raise handshake_error(exc, endpoint, resolved, where) from None
            if not transport.is_active() or not transport.initial_kex_done:
                raise ConnectError(
                    f"{where}SSH key exchange with {endpoint.describe()} did not finish "
                    f"within {resolved.connect_timeout:g}s",
                    host=resolved.host,
                    hint="is the server overloaded, or is something else listening there?",
                )
            verify_host_key(self.known_hosts, transport, endpoint, resolved, where)
            authenticate(
                self._keys, transport, endpoint, resolved=resolved, where=where, deadline=deadline
            )
            # after the handshake: the banner and key exchange timeouts are
            # checked at each wake-up
            _wake_rarely_when_idle(transport)
            ok = True
            return transport
        finally:
            if not ok:
                with contextlib.suppress(Exception):
                    transport.close()
