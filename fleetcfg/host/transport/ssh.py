"""SSH transport on paramiko (the only module in fleetcfg that imports it).

One :class:`SshConnector` per run holds what hosts share: parsed ssh_config
files, loaded private keys, parsed known_hosts files and the connections to
jump hosts (one per bastion chain, not one per target). Each
:class:`SshTransport` keeps one connection to its host and reuses it for every
call; every operation is one exec round trip (no sftp).

Connecting: TCP (or ProxyCommand, or a ``direct-tcpip`` channel through the
jump hosts), banner, key exchange preferring the key types known_hosts lists,
host key verification, then public key authentication with the identity files
(parsed once per run), ssh-agent keys, or ``~/.ssh/id_*``.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import ipaddress
import itertools
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from fleetcfg.core.errors import (
    AuthenticationError,
    ChangedHostKeyError,
    CommandTimeoutError,
    ConnectError,
    ConnectionLostError,
    FleetcfgError,
    HostKeyError,
    TransportError,
    UnknownHostKeyError,
    UsageError,
)
from fleetcfg.host.transport import scripts
from fleetcfg.host.transport.base import CommandResult, FileState
from fleetcfg.host.transport.known_hosts import (
    KnownHostsStore,
    Verdict,
    fingerprint,
    key_label,
    known_key_types,
)
from fleetcfg.host.transport.targets import (
    DEFAULT_IDENTITY_NAMES,
    DEFAULT_SSH_PORT,
    Endpoint,
    ResolvedSshTarget,
    SshConfigLookup,
    SshTarget,
    default_ssh_config_path,
    resolve_ssh_target,
)

_CHUNK = 65536
#: how long a closed channel may wait for its connection to be declared dead
_SETTLE = 1.0
#: paramiko's host key algorithm names for a key type found in known_hosts
_NEGOTIATION_NAMES = {
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"),
}
_SSH_ERRORS = (paramiko.SSHException, EOFError, OSError)

# paramiko logs failures (e.g. "channel open FAILED") that fleetcfg reports as
# errors itself; without a handler Python would print them to stderr
logging.getLogger("paramiko").addHandler(logging.NullHandler())


def ssh_config_lookup(text: str) -> SshConfigLookup:
    """A lookup function over ssh_config content (paramiko's parser: Host and
    Match blocks, ``%h``-style tokens, first value wins)."""
    config = paramiko.SSHConfig.from_text(text)
    return _lookup_of(config)


def _lookup_of(config: paramiko.SSHConfig) -> SshConfigLookup:
    def lookup(name: str) -> dict[str, object]:
        return dict(config.lookup(name))

    return lookup


# --------------------------------------------------------------------------
# private keys


@dataclass(frozen=True, slots=True)
class _LoadedKey:
    stamp: tuple[int, int, int]
    key: paramiko.PKey | None
    problem: str | None


class _KeyCache:
    """Private keys parsed once per file per run (key parsing is slow, and a
    run connects to many hosts with the same key)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, _LoadedKey] = {}

    def load(self, path: str) -> tuple[paramiko.PKey | None, str | None]:
        try:
            st = Path(path).stat()
        except FileNotFoundError:
            return None, "not found"
        except OSError as exc:
            return None, f"cannot read it: {exc.strerror}"
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            cached = self._keys.get(path)
            if cached is not None and cached.stamp == stamp:
                return cached.key, cached.problem
            key: paramiko.PKey | None = None
            problem: str | None = None
            try:
                key = paramiko.PKey.from_path(path)
            except (paramiko.PasswordRequiredException, TypeError):
                problem = "encrypted with a passphrase; load it into ssh-agent"
            except PermissionError:
                problem = "permission denied reading it"
            except (paramiko.SSHException, ValueError, OSError):
                problem = "not a private key fleetcfg can use"
            self._keys[path] = _LoadedKey(stamp, key, problem)
            return key, problem


def _describe_key(key: paramiko.PKey) -> str:
    return f"{key_label(key.get_name())} {fingerprint(key.asbytes())}"


# --------------------------------------------------------------------------
# the connector


class SshConnector:
    """Shared state for one run: open all SSH transports through one
    connector and close it at the end (closing the jump host connections)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys = _KeyCache()
        self.known_hosts = KnownHostsStore()
        self._configs: dict[str, SshConfigLookup] = {}
        self._jumps: dict[tuple[Endpoint, ...], paramiko.Transport] = {}
        self._jump_locks: dict[tuple[Endpoint, ...], threading.Lock] = {}

    def __enter__(self) -> SshConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self, target: SshTarget) -> SshTransport:
        """A transport for ``target`` (it connects on first use)."""
        return SshTransport(target, connector=self)

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
            config = paramiko.SSHConfig.from_path(key)
        except FileNotFoundError:
            raise UsageError(
                f"ssh_config file {key} does not exist",
                host=target.host,
                hint="fix ssh_config_file in the inventory, or set it to 'none'",
            ) from None
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise UsageError(
                f"cannot read ssh_config file {key}: {exc}", file=key, host=target.host
            ) from None
        lookup = _lookup_of(config)
        with self._lock:
            self._configs[key] = lookup
        return lookup

    def resolve(self, target: SshTarget) -> ResolvedSshTarget:
        """``target`` with ssh_config and defaults applied."""
        return resolve_ssh_target(target, self._ssh_config(target))

    # -- connecting ---------------------------------------------------------

    def connect(self, resolved: ResolvedSshTarget) -> paramiko.Transport:
        """An authenticated connection to ``resolved`` (through its jump hosts)."""
        if resolved.jumps:
            jump = self._jump_transport(resolved.jumps, resolved)
            sock: Any = self._direct_channel(jump, resolved.jumps[-1], resolved.endpoint, resolved)
        else:
            sock = self._socket(resolved.endpoint, resolved, "")
        return self._handshake(resolved.endpoint, sock, resolved, "")

    def _jump_transport(
        self, chain: tuple[Endpoint, ...], resolved: ResolvedSshTarget
    ) -> paramiko.Transport:
        with self._lock:
            lock = self._jump_locks.setdefault(chain, threading.Lock())
        with lock:
            with self._lock:
                existing = self._jumps.get(chain)
            if existing is not None and existing.is_active():
                return existing
            hop = chain[-1]
            where = _hop_prefix(hop, len(chain), len(resolved.jumps))
            if len(chain) == 1:
                sock: Any = self._socket(hop, resolved, where)
            else:
                previous = self._jump_transport(chain[:-1], resolved)
                sock = self._direct_channel(previous, chain[-2], hop, resolved)
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
        except _SSH_ERRORS as exc:
            raise ConnectError(
                f"{via_endpoint.label} ({via_endpoint.describe()}) failed while opening a "
                f"connection to {dest.hostname}:{dest.port}: {_reason(exc)}",
                host=resolved.host,
            ) from None

    def _socket(self, endpoint: Endpoint, resolved: ResolvedSshTarget, where: str) -> Any:
        if endpoint.proxy_command:
            try:
                return paramiko.ProxyCommand(endpoint.proxy_command)
            except _SSH_ERRORS as exc:
                raise ConnectError(
                    f"{where}ProxyCommand {endpoint.proxy_command!r} failed: {_reason(exc)}",
                    host=resolved.host,
                ) from None
        return _tcp_connect(endpoint, resolved.connect_timeout, resolved.host, where)

    def _handshake(
        self, endpoint: Endpoint, sock: Any, resolved: ResolvedSshTarget, where: str
    ) -> paramiko.Transport:
        deadline = time.monotonic() + resolved.connect_timeout
        transport = paramiko.Transport(sock)
        ok = False
        try:
            remaining = _remaining(deadline)
            transport.banner_timeout = remaining
            transport.handshake_timeout = remaining
            transport.auth_timeout = remaining
            self._prefer_known_key_types(transport, endpoint)
            _prefer_aead_ciphers(transport)
            try:
                # a little longer than the banner timeout, so that a silent
                # server is reported as such rather than as a slow handshake
                transport.start_client(timeout=remaining + 0.25)
            except _SSH_ERRORS as exc:
                raise _handshake_error(exc, endpoint, resolved, where) from None
            if not transport.is_active() or not transport.initial_kex_done:
                raise ConnectError(
                    f"{where}SSH key exchange with {endpoint.describe()} did not finish "
                    f"within {resolved.connect_timeout:g}s",
                    host=resolved.host,
                    hint="is the server overloaded, or is something else listening there?",
                )
            self._verify_host_key(transport, endpoint, resolved, where)
            self._authenticate(transport, endpoint, resolved, where, deadline)
            # after the handshake: the banner and key exchange timeouts are
            # checked at each wake-up
            _wake_rarely_when_idle(transport)
            ok = True
            return transport
        finally:
            if not ok:
                with contextlib.suppress(Exception):
                    transport.close()

    # -- host keys ----------------------------------------------------------

    def _known_files(self, endpoint: Endpoint) -> tuple[str, ...]:
        return endpoint.known_hosts_files + endpoint.global_known_hosts_files

    def _prefer_known_key_types(self, transport: paramiko.Transport, endpoint: Endpoint) -> None:
        entries = self.known_hosts.entries(self._known_files(endpoint))
        known = known_key_types(entries, endpoint.known_hosts_name)
        if not known:
            return
        options = transport.get_security_options()
        available = list(options.key_types)
        preferred: list[str] = []
        for key_type in known:
            for name in _NEGOTIATION_NAMES.get(key_type, (key_type,)):
                if name in available and name not in preferred:
                    preferred.append(name)
        if preferred:
            options.key_types = preferred + [k for k in available if k not in preferred]

    def _verify_host_key(
        self,
        transport: paramiko.Transport,
        endpoint: Endpoint,
        resolved: ResolvedSshTarget,
        where: str,
    ) -> None:
        key = transport.get_remote_server_key()
        key_type, blob = key.get_name(), key.asbytes()
        name = endpoint.known_hosts_name
        files = self._known_files(endpoint)
        check = self.known_hosts.check(files, name, key_type, blob)
        if check.verdict is Verdict.UNKNOWN and resolved.accept_new_host_keys:
            check = self.known_hosts.add(
                endpoint.known_hosts_files[0],
                name,
                key_type,
                blob,
                hashed=endpoint.hash_known_hosts,
                also_check=files,
            )
        if check.verdict is Verdict.KNOWN:
            return
        presented = f"{key_label(key_type)} key {fingerprint(blob)}"
        if check.verdict is Verdict.REVOKED:
            entry = check.entries[0]
            raise HostKeyError(
                f"{where}{name} presented {presented}, which is marked @revoked in "
                f"{entry.file} line {entry.line}; refusing to connect",
                host=resolved.host,
                hint="find out why the key was revoked before doing anything else",
            )
        if check.verdict is Verdict.CHANGED:
            entry = check.entries[0]
            raise ChangedHostKeyError(
                f"{where}REMOTE HOST IDENTIFICATION HAS CHANGED for {name}: it presented "
                f"{presented}, but {entry.file} line {entry.line} lists a different "
                f"{key_label(entry.key_type)} key. Someone could be intercepting the "
                "connection (man-in-the-middle attack), or the host was reinstalled. "
                "fleetcfg refuses to connect, also with --accept-new-host-keys",
                host=resolved.host,
                hint=f"if the change is expected, remove line {entry.line} of {entry.file} "
                f"(ssh-keygen -R '{name}' -f {entry.file}) and connect again",
            )
        port = "" if endpoint.port == DEFAULT_SSH_PORT else f" -p {endpoint.port}"
        others = (
            f" (known_hosts only lists {', '.join(check.other_types)} keys for it)"
            if check.other_types
            else ""
        )
        raise UnknownHostKeyError(
            f"{where}the host key of {name} is not known: it presented {presented}{others}",
            host=resolved.host,
            hint="verify the fingerprint, then add the key with "
            f"`ssh-keyscan{port} -t {key_type} {endpoint.hostname} >> "
            f"{endpoint.known_hosts_files[0]}`, or rerun with --accept-new-host-keys",
        )

    # -- authentication -----------------------------------------------------

    def _authenticate(
        self,
        transport: paramiko.Transport,
        endpoint: Endpoint,
        resolved: ResolvedSshTarget,
        where: str,
        deadline: float,
    ) -> None:
        tried: list[str] = []
        files = list(endpoint.identity_files)
        if endpoint.use_default_keys:
            home = Path.home() / ".ssh"
            files = [str(home / name) for name in DEFAULT_IDENTITY_NAMES]
        for path in files:
            key, problem = self._keys.load(path)
            if key is None:
                if not (endpoint.use_default_keys and problem == "not found"):
                    tried.append(f"{path} ({problem})")
                continue
            if self._try_key(
                transport, endpoint, key, resolved=resolved, where=where, deadline=deadline
            ):
                return
            tried.append(f"{path} ({_describe_key(key)})")
        if endpoint.use_agent:
            agent = _open_agent()
            try:
                for agent_key in agent.get_keys() if agent is not None else ():
                    if self._try_key(
                        transport,
                        endpoint,
                        agent_key,
                        resolved=resolved,
                        where=where,
                        deadline=deadline,
                    ):
                        return
                    tried.append(f"ssh-agent key {_describe_key(agent_key)}")
            finally:
                if agent is not None:
                    agent.close()
        offered = "; ".join(tried) if tried else "no keys (no identity file and no ssh-agent)"
        raise AuthenticationError(
            f"{where}permission denied for user {endpoint.user} at {endpoint.describe()}; "
            f"tried: {offered}",
            host=resolved.host,
            hint="check the user and identity_files in the inventory, and that the "
            "public key is in the user's ~/.ssh/authorized_keys on the host",
        )

    def _try_key(
        self,
        transport: paramiko.Transport,
        endpoint: Endpoint,
        key: paramiko.PKey,
        *,
        resolved: ResolvedSshTarget,
        where: str,
        deadline: float,
    ) -> bool:
        transport.auth_timeout = _remaining(deadline)
        try:
            remaining = transport.auth_publickey(endpoint.user, key)
        except paramiko.BadAuthenticationType as exc:
            raise AuthenticationError(
                f"{where}{endpoint.describe()} does not accept public keys for user "
                f"{endpoint.user} (it allows: {', '.join(exc.allowed_types) or 'nothing'})",
                host=resolved.host,
                hint="fleetcfg authenticates with keys only; enable PubkeyAuthentication",
            ) from None
        except paramiko.AuthenticationException as exc:
            if "timeout" in str(exc).lower():
                raise ConnectError(
                    f"{where}authentication at {endpoint.describe()} timed out",
                    host=resolved.host,
                ) from None
            return False
        except _SSH_ERRORS as exc:
            raise ConnectError(
                f"{where}connection to {endpoint.describe()} failed during authentication: "
                f"{_reason(exc)}",
                host=resolved.host,
            ) from None
        if remaining:
            raise AuthenticationError(
                f"{where}{endpoint.describe()} wants more authentication after the key "
                f"({', '.join(remaining)}); multi-factor login is not supported",
                host=resolved.host,
            )
        return True


def _open_agent() -> paramiko.Agent | None:
    """The ssh-agent of SSH_AUTH_SOCK (its keys sign through this connection,
    so it stays open until authentication is over), or None."""
    try:
        return paramiko.Agent()
    except _SSH_ERRORS:
        return None


def _hop_prefix(hop: Endpoint, index: int, total: int) -> str:
    return f"{hop.label} (hop {index} of {total}, {hop.describe()}): "


def _remaining(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.01)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "the server closed the connection"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    return text or type(exc).__name__


def _tcp_connect(endpoint: Endpoint, timeout: float, owner: str, where: str) -> socket.socket:
    host, port = endpoint.hostname, endpoint.port
    address = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    try:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            sock = socket.create_connection((host, port), timeout=timeout)
        else:  # an IP address: no name resolution at all
            family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect((host, port))
            except BaseException:
                sock.close()
                raise
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


def _handshake_error(
    exc: BaseException, endpoint: Endpoint, resolved: ResolvedSshTarget, where: str
) -> FleetcfgError:
    text = str(exc)
    at = endpoint.describe()
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
        f"{where}SSH handshake with {at} failed: {_reason(exc)}",
        host=resolved.host,
    )


# --------------------------------------------------------------------------
# the transport


@dataclass(frozen=True, slots=True)
class _Exec:
    status: int
    stdout: bytes
    stderr: bytes


class SshTransport:
    """A connection to one host over SSH (see the module docstring).

    Usable from one thread at a time. The connection opens on first use (or
    :meth:`connect`) and is reused; after a lost connection the next call
    reconnects.
    """

    def __init__(self, target: SshTarget, *, connector: SshConnector | None = None) -> None:
        self.host = target.host
        self.target = target
        self._owns_connector = connector is None
        self._connector = connector if connector is not None else SshConnector()
        self._resolved: ResolvedSshTarget | None = None
        self._transport: paramiko.Transport | None = None

    def __enter__(self) -> SshTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SshTransport({self.host!r})"

    @property
    def resolved(self) -> ResolvedSshTarget:
        """The effective settings (inventory, then ssh_config, then defaults)."""
        if self._resolved is None:
            self._resolved = self._connector.resolve(self.target)
        return self._resolved

    @property
    def _become(self) -> bool:
        return self.resolved.become and self.resolved.endpoint.user != "root"

    def connect(self) -> None:
        """Open the connection now (otherwise the first call does)."""
        self._live()

    def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.close()
        if self._owns_connector:
            self._connector.close()

    def _live(self) -> paramiko.Transport:
        if self._transport is not None and self._transport.is_active():
            return self._transport
        if self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.close()
            self._transport = None
        self._transport = self._connector.connect(self.resolved)
        return self._transport

    # -- the protocol -------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        argv = [str(a) for a in argv]
        result = self._exec(argv, stdin, timeout, scripts.describe_argv(argv))
        return CommandResult.from_bytes(argv, result.status, result.stdout, result.stderr)

    def run_many(
        self, commands: Sequence[Sequence[str]], *, timeout: float | None = None
    ) -> list[CommandResult]:
        if not commands:
            return []
        batch = scripts.build_batch(commands)
        what = f"a batch of {len(commands)} commands"
        result = self._exec(batch.argv, None, timeout, what)
        try:
            return scripts.parse_batch(batch, result.stdout, result.stderr)
        except ValueError as exc:
            detail = result.stderr.decode("utf-8", "replace").strip()[:500]
            raise TransportError(
                f"running {len(commands)} commands in one batch failed ({exc}; "
                f"exit status {result.status}){': ' + detail if detail else ''}",
                host=self.host,
                hint="the host needs a POSIX sh and printf",
            ) from None

    def read_file(self, path: str) -> FileState:
        argv = scripts.read_file_argv(path)
        result = self._exec(argv, None, None, f"reading {path}")
        return scripts.parse_read_file(path, result.status, result.stdout, result.stderr, self.host)

    def write_file(
        self,
        path: str,
        data: bytes,
        *,
        mode: int = 0o644,
        owner: str = "root",
        group: str = "root",
    ) -> None:
        argv = scripts.write_file_argv(path, data, mode=mode, owner=owner, group=group)
        try:
            result = self._exec(argv, data, None, f"writing {path}")
        except ConnectionLostError:
            raise ConnectionLostError(
                f"connection lost while writing {path}; the file is either unchanged or "
                "completely replaced, never partly written",
                host=self.host,
                hint="check the host, then run plan again to see its state",
            ) from None
        scripts.check_write_result(path, result.status, result.stderr, self.host)

    # -- exec ---------------------------------------------------------------

    def _exec(
        self, argv: Sequence[str], stdin: bytes | None, timeout: float | None, what: str
    ) -> _Exec:
        timeout = timeout if timeout is not None else self.resolved.command_timeout
        transport = self._live()
        become = self._become
        cmdline = scripts.quote_argv(scripts.with_become(argv, become))
        try:
            result = _run_channel(transport, cmdline, stdin, timeout)
        except _ChannelTimeout:
            raise CommandTimeoutError(
                f"{what} did not finish within {timeout:g}s",
                host=self.host,
                hint="raise command_timeout for this host if it is just slow",
            ) from None
        except _ChannelLost as exc:
            self._drop()
            raise ConnectionLostError(
                f"connection lost during {what}: {exc}",
                host=self.host,
                hint="check the host and run again",
            ) from None
        if become:
            failure = scripts.sudo_failure(
                result.status, result.stderr, user=self.resolved.endpoint.user, host=self.host
            )
            if failure is not None:
                raise failure
        return result

    def _drop(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.close()


def _dying(transport: paramiko.Transport) -> bool:
    """Whether a channel that closed without an exit status lost its
    connection (rather than its command dying of a signal). paramiko closes
    the channels of a dead connection just before it marks the transport
    inactive, so allow it a moment to get there."""
    settle = time.monotonic() + _SETTLE
    while transport.is_active():
        if time.monotonic() >= settle:
            return False
        time.sleep(0.01)
    return True


class _ChannelTimeout(Exception):
    pass


class _ChannelLost(Exception):
    pass


def _run_channel(
    transport: paramiko.Transport, cmdline: str, stdin: bytes | None, timeout: float
) -> _Exec:
    """Run ``cmdline`` on a new session channel; collect stdout, stderr and
    the exit status while feeding ``stdin`` (interleaved, so that neither
    side can block the other on a full window)."""
    deadline = time.monotonic() + timeout
    try:
        channel = transport.open_session(timeout=timeout)
    except _SSH_ERRORS as exc:
        raise _ChannelLost(_reason(exc)) from None
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        with contextlib.suppress(Exception):
            channel.close()

    alarm = _WATCHDOG.schedule(timeout, expire)
    try:
        return _drive_channel(
            transport, channel, cmdline, stdin=stdin, deadline=deadline, expired=expired
        )
    except _SSH_ERRORS as exc:
        if expired.is_set():
            raise _ChannelTimeout from None
        raise _ChannelLost(_reason(exc)) from None
    finally:
        alarm.cancel()
        with contextlib.suppress(Exception):
            channel.close()


class _Alarm:
    """A pending timeout of :class:`_Watchdog`."""

    __slots__ = ("callback", "cancelled", "deadline")

    def __init__(self, deadline: float, callback: Callable[[], None]) -> None:
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _Watchdog:
    """One daemon thread that fires the timeouts of every running command (a
    ``threading.Timer`` per command would start a thread per exec, which is
    measurable when planning hundreds of hosts)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Alarm]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def schedule(self, delay: float, callback: Callable[[], None]) -> _Alarm:
        alarm = _Alarm(time.monotonic() + delay, callback)
        with self._cond:
            heapq.heappush(self._heap, (alarm.deadline, next(self._seq), alarm))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="fleetcfg-ssh-watchdog", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return alarm

    def _next(self) -> _Alarm:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].cancelled:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait <= 0:
                    return heapq.heappop(self._heap)[2]
                self._cond.wait(wait)

    def _run(self) -> None:
        while True:
            alarm = self._next()
            if not alarm.cancelled:
                with contextlib.suppress(Exception):
                    alarm.callback()


_WATCHDOG = _Watchdog()


def _drive_channel(
    transport: paramiko.Transport,
    channel: paramiko.Channel,
    cmdline: str,
    *,
    stdin: bytes | None,
    deadline: float,
    expired: threading.Event,
) -> _Exec:
    channel.exec_command(cmdline)
    out = bytearray()
    err = bytearray()
    pending = memoryview(stdin) if stdin else None
    if pending is None:
        channel.shutdown_write()
    while True:
        progressed = True
        while progressed:
            progressed = False
            if channel.recv_ready():
                out += channel.recv(_CHUNK)
                progressed = True
            if channel.recv_stderr_ready():
                err += channel.recv_stderr(_CHUNK)
                progressed = True
            if pending is not None and not channel.closed and channel.send_ready():
                try:
                    sent = channel.send(bytes(pending[:_CHUNK]))
                except OSError:
                    if not channel.closed:
                        raise
                    sent = 0  # the command exited without reading all its input
                pending = pending[sent:]
                progressed = progressed or sent > 0
                if not pending:
                    pending = None
                    channel.shutdown_write()
        if expired.is_set():
            raise _ChannelTimeout
        if channel.closed or (channel.eof_received and pending is None):
            while channel.recv_ready():
                out += channel.recv(_CHUNK)
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(_CHUNK)
            break
        if not transport.is_active():
            raise _ChannelLost("the connection dropped")
        wait = deadline - time.monotonic()
        if pending is not None:
            wait = min(wait, 0.05)  # poll for window space while sending
        select.select([channel], [], [], min(max(wait, 0.01), 5.0))
    if not channel.status_event.wait(max(deadline - time.monotonic(), 0.0)):
        raise _ChannelTimeout
    if expired.is_set():
        raise _ChannelTimeout
    if (not channel.exit_status_ready() or channel.exit_status < 0) and _dying(transport):
        raise _ChannelLost("the connection dropped")
    if pending is not None and not channel.exit_status_ready():
        raise _ChannelLost("the channel closed before all input was sent")
    return _Exec(channel.exit_status, bytes(out), bytes(err))
