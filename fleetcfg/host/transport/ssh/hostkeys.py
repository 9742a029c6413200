"""Host keys: negotiate the key types known_hosts lists for a host, then
verify the key it presents (unknown, changed and revoked keys are refused;
``accept_new_host_keys`` records an unknown key, never a changed one)."""

from __future__ import annotations

import paramiko

from fleetcfg.core.errors import ChangedHostKeyError, HostKeyError, UnknownHostKeyError
from fleetcfg.host.transport.known_hosts import (
    KnownHostsStore,
    Verdict,
    fingerprint,
    key_label,
    known_key_types,
)
from fleetcfg.host.transport.targets import DEFAULT_SSH_PORT, Endpoint, ResolvedSshTarget

#: paramiko's host key algorithm names for a key type found in known_hosts
_NEGOTIATION_NAMES = {
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"),
}


def _known_files(endpoint: Endpoint) -> tuple[str, ...]:
    return endpoint.known_hosts_files + endpoint.global_known_hosts_files


def prefer_known_key_types(
    store: KnownHostsStore, transport: paramiko.Transport, endpoint: Endpoint
) -> None:
    entries = store.entries(_known_files(endpoint))
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


def verify_host_key(
    store: KnownHostsStore,
    transport: paramiko.Transport,
    endpoint: Endpoint,
    resolved: ResolvedSshTarget,
    where: str,
) -> None:
    key = transport.get_remote_server_key()
    key_type, blob = key.get_name(), key.asbytes()
    name = endpoint.known_hosts_name
    files = _known_files(endpoint)
    check = store.check(files, name, key_type, blob)
    if check.verdict is Verdict.UNKNOWN and resolved.accept_new_host_keys:
        check = store.add(
            endpoint.known_hosts_files[0],
            name,
            key_type,
            blob,
            create=endpoint.known_hosts_default,
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
