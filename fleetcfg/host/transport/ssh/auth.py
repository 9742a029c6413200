"""Public key authentication: the identity files (each parsed once per run),
then ssh-agent keys, or ``~/.ssh/id_*``; keys only, no passwords."""

from __future__ import annotations

import stat
import threading
from dataclasses import dataclass
from pathlib import Path

import paramiko

from fleetcfg.core.boundedread import TEXT_LIMIT, too_large
from fleetcfg.core.errors import AuthenticationError, ConnectError
from fleetcfg.host.transport.known_hosts import fingerprint, key_label
from fleetcfg.host.transport.ssh.common import SSH_ERRORS, reason, remaining
from fleetcfg.host.transport.targets import DEFAULT_IDENTITY_NAMES, Endpoint, ResolvedSshTarget

#: the largest private key file read (an RSA key of 16,384 bits is 12 KB)
KEY_LIMIT = TEXT_LIMIT


@dataclass(frozen=True, slots=True)
class _LoadedKey:
    stamp: tuple[int, int, int]
    key: paramiko.PKey | None
    problem: str | None


class KeyCache:
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
        # the inventory may name any path: paramiko reads the file whole
        if not stat.S_ISREG(st.st_mode):
            return None, "not a regular file"
        if st.st_size > KEY_LIMIT:
            return None, too_large(KEY_LIMIT)
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


def authenticate(
    keys: KeyCache,
    transport: paramiko.Transport,
    endpoint: Endpoint,
    *,
    resolved: ResolvedSshTarget,
    where: str,
    deadline: float,
) -> None:
    """Log in to ``endpoint`` with the first key it accepts, or raise
    :class:`AuthenticationError` naming every key tried."""
    tried: list[str] = []
    files = list(endpoint.identity_files)
    if endpoint.use_default_keys:
        home = Path.home() / ".ssh"
        files = [str(home / name) for name in DEFAULT_IDENTITY_NAMES]
    for path in files:
        key, problem = keys.load(path)
        if key is None:
            if not (endpoint.use_default_keys and problem == "not found"):
                tried.append(f"{path} ({problem})")
            continue
        if _try_key(transport, endpoint, key, resolved=resolved, where=where, deadline=deadline):
            return
        tried.append(f"{path} ({_describe_key(key)})")
    if endpoint.use_agent:
        agent = _open_agent()
        try:
            for agent_key in agent.get_keys() if agent is not None else ():
                if _try_key(
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
    transport: paramiko.Transport,
    endpoint: Endpoint,
    key: paramiko.PKey,
    *,
    resolved: ResolvedSshTarget,
    where: str,
    deadline: float,
) -> bool:
    transport.auth_timeout = remaining(deadline)
    try:
        more = transport.auth_publickey(endpoint.user, key)
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
    except SSH_ERRORS as exc:
        raise ConnectError(
            f"{where}connection to {endpoint.describe()} failed during authentication: "
            f"{reason(exc)}",
            host=resolved.host,
        ) from None
    if more:
        raise AuthenticationError(
            f"{where}{endpoint.describe()} wants more authentication after the key "
            f"({', '.join(more)}); multi-factor login is not supported",
            host=resolved.host,
        )
    return True


def _open_agent() -> paramiko.Agent | None:
    """The ssh-agent of SSH_AUTH_SOCK (its keys sign through this connection,
    so it stays open until authentication is over), or None."""
    try:
        return paramiko.Agent()
    except SSH_ERRORS:
        return None
