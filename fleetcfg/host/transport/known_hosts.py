"""OpenSSH known_hosts files: lookup, verdicts with line numbers, and safe appends.

Keys are compared as (type, blob) pairs, so this module needs no SSH library.
It understands what OpenSSH writes and reads: comma-separated host patterns,
``[host]:port`` names, hashed names (``|1|salt|hmac``), ``*``/``?`` wildcards,
negated patterns, ``@revoked`` lines (``@cert-authority`` lines are skipped:
host certificates are not supported).

:class:`KnownHostsStore` caches parsed files (one parse per file per run, not
per host) and serialises appends: a thread lock per file inside the process,
``flock`` across processes (several fleetcfg runs, or pytest-xdist workers).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import enum
import fcntl
import hashlib
import hmac
import os
import re
import secrets
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class KnownHostEntry:
    file: str
    line: int
    patterns: tuple[str, ...]
    key_type: str
    key_blob: bytes
    marker: str | None = None

    def matches(self, name: str) -> bool:
        return host_matches(self.patterns, name)

    def same_key(self, key_type: str, key_blob: bytes) -> bool:
        return self.key_type == key_type and self.key_blob == key_blob


class Verdict(enum.Enum):
    KNOWN = "known"
    UNKNOWN = "unknown"
    CHANGED = "changed"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class HostKeyCheck:
    verdict: Verdict
    #: for CHANGED: the entries that list another key of the same type;
    #: for REVOKED: the @revoked entry; for KNOWN: the matching entry
    entries: tuple[KnownHostEntry, ...] = ()
    #: key types known for this name (other than the presented one)
    other_types: tuple[str, ...] = ()


def fingerprint(key_blob: bytes) -> str:
    """OpenSSH's ``SHA256:...`` fingerprint of a public key blob."""
    digest = hashlib.sha256(key_blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def key_label(key_type: str) -> str:
    """``ssh-ed25519`` -> ``ED25519``, ``ecdsa-sha2-nistp256`` -> ``ECDSA``."""
    base = key_type.removeprefix("ssh-").split("-")[0]
    return base.upper()


def hash_hostname(name: str, salt: bytes | None = None) -> str:
    """The hashed form OpenSSH writes with ``HashKnownHosts yes``."""
    salt = salt if salt is not None else secrets.token_bytes(20)
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def _hashed_matches(pattern: str, name: str) -> bool:
    parts = pattern.split("|")
    if len(parts) != 4 or parts[1] != "1":
        return False
    try:
        salt = base64.b64decode(parts[2], validate=True)
        expected = base64.b64decode(parts[3], validate=True)
    except (binascii.Error, ValueError):
        return False
    actual = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(actual, expected)


_GLOB_CACHE: dict[str, re.Pattern[str]] = {}


def _glob_matches(pattern: str, name: str) -> bool:
    if "*" not in pattern and "?" not in pattern:
        return pattern == name
    compiled = _GLOB_CACHE.get(pattern)
    if compiled is None:
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        compiled = re.compile(regex, re.DOTALL)
        _GLOB_CACHE[pattern] = compiled
    return compiled.fullmatch(name) is not None


def host_matches(patterns: Iterable[str], name: str) -> bool:
    """OpenSSH semantics: a matching negated pattern vetoes; otherwise any
    matching positive pattern matches. Host names compare case-insensitively."""
    lowered = name.lower()
    matched = False
    for raw in patterns:
        negated = raw.startswith("!")
        pattern = raw[1:] if negated else raw
        if pattern.startswith("|"):
            hit = _hashed_matches(pattern, name) or _hashed_matches(pattern, lowered)
        else:
            hit = _glob_matches(pattern.lower(), lowered)
        if hit:
            if negated:
                return False
            matched = True
    return matched


def parse_known_hosts(text: str, file: str = "<known_hosts>") -> list[KnownHostEntry]:
    """Parse known_hosts content; malformed lines are skipped (as OpenSSH does)."""
    entries: list[KnownHostEntry] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        marker: str | None = None
        if fields[0].startswith("@"):
            marker = fields.pop(0)
        if len(fields) < 3:
            continue
        hosts, key_type, key_b64 = fields[0], fields[1], fields[2]
        try:
            blob = base64.b64decode(key_b64, validate=True)
        except (binascii.Error, ValueError):
            continue
        entries.append(
            KnownHostEntry(
                file=file,
                line=lineno,
                patterns=tuple(p for p in hosts.split(",") if p),
                key_type=key_type,
                key_blob=blob,
                marker=marker,
            )
        )
    return entries


def check_host_key(
    entries: Iterable[KnownHostEntry], name: str, key_type: str, key_blob: bytes
) -> HostKeyCheck:
    """Compare a presented key with what the entries say about ``name``."""
    known: KnownHostEntry | None = None
    conflicting: list[KnownHostEntry] = []
    other_types: list[str] = []
    for entry in entries:
        if entry.marker == "@revoked":
            if entry.same_key(key_type, key_blob):
                return HostKeyCheck(Verdict.REVOKED, (entry,))
            continue
        if entry.marker is not None or not entry.matches(name):
            continue
        if entry.key_type != key_type:
            if entry.key_type not in other_types:
                other_types.append(entry.key_type)
        elif entry.key_blob == key_blob:
            known = known or entry
        else:
            conflicting.append(entry)
    # OpenSSH also accepts a key when another line for the same host has it;
    # only when no line has the presented key is a same-type entry a change
    if known is not None:
        return HostKeyCheck(Verdict.KNOWN, (known,))
    if conflicting:
        return HostKeyCheck(Verdict.CHANGED, tuple(conflicting), tuple(other_types))
    return HostKeyCheck(Verdict.UNKNOWN, (), tuple(other_types))


def known_key_types(entries: Iterable[KnownHostEntry], name: str) -> list[str]:
    """Key types listed for ``name``, in file order (to prefer them when
    negotiating, so that a host with several keys presents a known one)."""
    types: list[str] = []
    for entry in entries:
        if entry.marker is None and entry.key_type not in types and entry.matches(name):
            types.append(entry.key_type)
    return types


@dataclass
class _Cached:
    stamp: tuple[int, int, int]
    entries: list[KnownHostEntry]


@dataclass
class KnownHostsStore:
    """Parsed known_hosts files, cached by (inode, size, mtime), plus a
    thread- and process-safe way to record accepted keys."""

    _cache: dict[str, _Cached] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _file_locks: dict[str, threading.Lock] = field(default_factory=dict)

    def entries(self, files: Sequence[str]) -> list[KnownHostEntry]:
        out: list[KnownHostEntry] = []
        for path in files:
            out.extend(self._load(path))
        return out

    def _load(self, path: str) -> list[KnownHostEntry]:
        try:
            st = Path(path).stat()
        except OSError:
            return []
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            cached = self._cache.get(path)
            if cached is not None and cached.stamp == stamp:
                return cached.entries
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        entries = parse_known_hosts(text, path)
        with self._lock:
            self._cache[path] = _Cached(stamp, entries)
        return entries

    def check(
        self, files: Sequence[str], name: str, key_type: str, key_blob: bytes
    ) -> HostKeyCheck:
        return check_host_key(self.entries(files), name, key_type, key_blob)

    def _file_lock(self, path: str) -> threading.Lock:
        with self._lock:
            return self._file_locks.setdefault(path, threading.Lock())

    def add(
        self,
        path: str,
        name: str,
        key_type: str,
        key_blob: bytes,
        *,
        hashed: bool = False,
        also_check: Sequence[str] = (),
    ) -> HostKeyCheck:
        """Record ``name``'s key in ``path`` unless it is there by now.

        The file is re-read under an exclusive lock, so two concurrent runs
        never both append, and a key that changed in the meantime is reported
        (``CHANGED``) instead of being recorded. ``also_check`` are other files
        (global known_hosts) that take part in that last check. Returns the
        verdict after the call: ``KNOWN`` when recorded or already present.
        """
        target = Path(path)
        with self._file_lock(path):
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                with os.fdopen(os.dup(fd), "rb") as reader:
                    reader.seek(0)
                    content = reader.read()
                text = content.decode("utf-8", errors="replace")
                entries = parse_known_hosts(text, path)
                others = [e for e in self.entries(also_check) if e.file != path]
                verdict = check_host_key([*entries, *others], name, key_type, key_blob)
                if verdict.verdict is Verdict.UNKNOWN:
                    host_field = hash_hostname(name) if hashed else name
                    line = f"{host_field} {key_type} {base64.b64encode(key_blob).decode()}\n"
                    prefix = "\n" if content and not content.endswith(b"\n") else ""
                    os.write(fd, (prefix + line).encode())
                    os.fsync(fd)
                    verdict = HostKeyCheck(Verdict.KNOWN)
            finally:
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            with self._lock:
                self._cache.pop(path, None)
        return verdict
