"""OpenSSH known_hosts files: lookup, verdicts with line numbers, and safe appends.

Keys are compared as (type, blob) pairs, so this module needs no SSH library.
It understands what OpenSSH writes and reads: comma-separated host patterns,
``[host]:port`` names, hashed names (``|1|salt|hmac``), ``*``/``?`` wildcards,
negated patterns, ``@revoked`` lines (``@cert-authority`` lines are skipped:
host certificates are not supported).

:class:`KnownHostsIndex` answers "which lines are about this name" without a
scan: plain names are keys of a dict, hashed names are grouped by salt (one
HMAC per distinct salt, which is what hashing costs OpenSSH too), and only
lines with wildcards or negations are matched pattern by pattern.
:class:`KnownHostsStore` caches parsed files and their index (one parse per
file per run, not per host) and serialises appends: a thread lock per file
inside the process, ``flock`` across processes (several fleetcfg runs, or
pytest-xdist workers).

Which files these are may come from the repo under review (inventory.yaml's
``ssh.known_hosts``, an ssh_config of the repo), so the store reads only
regular files of at most :data:`KNOWN_HOSTS_LIMIT` (not ``/dev/zero`` or a
named pipe), appends only to a file that is a known_hosts file already (not
``~/.bashrc`` or ``/etc/passwd``), and creates a file only where the caller
says it may (OpenSSH's own ``~/.ssh/known_hosts``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import enum
import errno
import fcntl
import hashlib
import hmac
import os
import re
import secrets
import stat
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

from fleetcfg.core.boundedread import MIB, read_regular, too_large
from fleetcfg.core.errors import HostKeyError

#: the largest known_hosts file read (about 150 bytes a hashed host: 400,000 hosts)
KNOWN_HOSTS_LIMIT = 64 * MIB


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


def _hashed_parts(pattern: str) -> tuple[bytes, bytes] | None:
    """(salt, digest) of a ``|1|salt|hmac`` name, or None when malformed."""
    parts = pattern.split("|")
    if len(parts) != 4 or parts[0] or parts[1] != "1":
        return None
    try:
        return (
            base64.b64decode(parts[2], validate=True),
            base64.b64decode(parts[3], validate=True),
        )
    except (binascii.Error, ValueError):
        return None


def _hashed_matches(pattern: str, name: str) -> bool:
    parts = _hashed_parts(pattern)
    if parts is None:
        return False
    salt, expected = parts
    actual = hmac.digest(salt, name.encode(), "sha1")
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


def _lines(text: str) -> Iterator[tuple[int, str | None, list[str], bytes | None]]:
    """(line number, marker, fields, key blob) of each line of known_hosts
    ``text`` that is not blank or a comment (``@revoked``-style marker taken
    off; the blob None when the line has no valid base64 key)."""
    for lineno, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            continue
        marker = fields.pop(0) if fields[0].startswith("@") else None
        yield lineno, marker, fields, _blob(fields[2]) if len(fields) >= 3 else None


def _blob(key_b64: str) -> bytes | None:
    try:
        return base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError):
        return None


def parse_known_hosts(text: str, file: str = "<known_hosts>") -> list[KnownHostEntry]:
    """Parse known_hosts content; malformed lines are skipped (as OpenSSH does)."""
    entries: list[KnownHostEntry] = []
    for lineno, marker, fields, blob in _lines(text):
        if blob is None:
            continue
        entries.append(
            KnownHostEntry(
                file=file,
                line=lineno,
                patterns=tuple(p for p in fields[0].split(",") if p),
                key_type=fields[1],
                key_blob=blob,
                marker=marker,
            )
        )
    return entries


def foreign_line(text: str) -> int | None:
    """The number of the first line of ``text`` that is neither blank, a
    comment nor a host key entry (a file that is not a known_hosts file): an
    entry's key blob starts with its type as a length-prefixed string."""
    for lineno, _marker, fields, blob in _lines(text):
        if blob is None:
            return lineno
        size = int.from_bytes(blob[:4], "big")
        if len(blob) < 4 + size or blob[4 : 4 + size] != fields[1].encode():
            return lineno
    return None


def _unusable(path: str, why: str, hint: str | None = None) -> HostKeyError:
    return HostKeyError(f"cannot use known_hosts file {path}: {why}", hint=hint)


def _is_plain(pattern: str) -> bool:
    return not pattern.startswith(("!", "|")) and "*" not in pattern and "?" not in pattern


class KnownHostsIndex(Sequence[KnownHostEntry]):
    """Entries (in file order) indexed by the names they list.

    Built once per set of files; :meth:`lookup` costs a dict access for plain
    names, one HMAC per distinct salt of hashed names, and a pattern match
    only for the lines that have wildcards or negations."""

    def __init__(self, entries: Iterable[KnownHostEntry]) -> None:
        self._entries = tuple(entries)
        self._exact: dict[str, list[int]] = {}
        self._hashed: dict[bytes, dict[bytes, list[int]]] = {}
        self._patterned: list[int] = []
        self._revoked: dict[tuple[str, bytes], int] = {}
        for position, entry in enumerate(self._entries):
            if entry.marker == "@revoked":
                self._revoked.setdefault((entry.key_type, entry.key_blob), position)
            if entry.marker is not None:
                continue
            hashed = _hashed_parts(entry.patterns[0]) if len(entry.patterns) == 1 else None
            if all(_is_plain(p) for p in entry.patterns):
                for name in {p.lower() for p in entry.patterns}:
                    self._exact.setdefault(name, []).append(position)
            elif hashed is not None:
                salt, digest = hashed
                self._hashed.setdefault(salt, {}).setdefault(digest, []).append(position)
            else:
                self._patterned.append(position)

    @overload
    def __getitem__(self, index: int) -> KnownHostEntry: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[KnownHostEntry]: ...
    def __getitem__(self, index: int | slice) -> KnownHostEntry | Sequence[KnownHostEntry]:
        return self._entries[index]

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, name: str) -> list[KnownHostEntry]:
        """The unmarked entries that list ``name``, in file order."""
        lowered = name.lower()
        found = set(self._exact.get(lowered, ()))
        if self._hashed:
            names = {name.encode(), lowered.encode()}
            for salt, digests in self._hashed.items():
                for encoded in names:
                    found.update(digests.get(hmac.digest(salt, encoded, "sha1"), ()))
        found.update(p for p in self._patterned if self._entries[p].matches(name))
        return [self._entries[p] for p in sorted(found)]

    def revoked(self, key_type: str, key_blob: bytes) -> KnownHostEntry | None:
        position = self._revoked.get((key_type, key_blob))
        return None if position is None else self._entries[position]


def _indexed(entries: Iterable[KnownHostEntry]) -> KnownHostsIndex:
    return entries if isinstance(entries, KnownHostsIndex) else KnownHostsIndex(entries)


def check_host_key(
    entries: Iterable[KnownHostEntry], name: str, key_type: str, key_blob: bytes
) -> HostKeyCheck:
    """Compare a presented key with what the entries say about ``name``
    (pass a :class:`KnownHostsIndex` to check many names against one file)."""
    index = _indexed(entries)
    revoked = index.revoked(key_type, key_blob)
    if revoked is not None:
        return HostKeyCheck(Verdict.REVOKED, (revoked,))
    known: KnownHostEntry | None = None
    conflicting: list[KnownHostEntry] = []
    other_types: list[str] = []
    for entry in index.lookup(name):
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
    for entry in _indexed(entries).lookup(name):
        if entry.key_type not in types:
            types.append(entry.key_type)
    return types


@dataclass
class _Cached:
    stamp: tuple[int, int, int]
    entries: list[KnownHostEntry]


@dataclass
class KnownHostsStore:
    """Parsed known_hosts files, cached by (inode, size, mtime), with one
    index per set of files, plus a thread- and process-safe way to record
    accepted keys."""

    _cache: dict[str, _Cached] = field(default_factory=dict)
    _indexes: dict[tuple[str, ...], tuple[tuple[object, ...], KnownHostsIndex]] = field(
        default_factory=dict
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _file_locks: dict[str, threading.Lock] = field(default_factory=dict)

    def entries(self, files: Sequence[str]) -> KnownHostsIndex:
        """The entries of ``files`` in order, indexed (rebuilt only when a
        file changed)."""
        key = tuple(files)
        loaded = [self._load(path) for path in key]
        stamps = tuple(c.stamp if c is not None else None for c in loaded)
        with self._lock:
            cached = self._indexes.get(key)
            if cached is not None and cached[0] == stamps:
                return cached[1]
        index = KnownHostsIndex(e for c in loaded if c is not None for e in c.entries)
        with self._lock:
            self._indexes[key] = (stamps, index)
        return index

    def _load(self, path: str) -> _Cached | None:
        """``path`` parsed (None: it does not exist or cannot be read, as
        OpenSSH skips it); ``HostKeyError`` when it is not a regular file or
        larger than :data:`KNOWN_HOSTS_LIMIT`."""
        if path == os.devnull:
            return None
        try:
            st = os.stat(path)  # noqa: PTH116 (once per file per host: pathlib costs more)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            raise _unusable(path, "not a regular file")
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            cached = self._cache.get(path)
            if cached is not None and cached.stamp == stamp:
                return cached
        try:
            raw = read_regular(path, KNOWN_HOSTS_LIMIT)
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.EFBIG):
                raise _unusable(path, exc.strerror or str(exc)) from None
            return None
        cached = _Cached(stamp, parse_known_hosts(raw.decode("utf-8", errors="replace"), path))
        with self._lock:
            self._cache[path] = cached
        return cached

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
        create: bool,
        hashed: bool = False,
        also_check: Sequence[str] = (),
    ) -> HostKeyCheck:
        """Record ``name``'s key in ``path`` unless it is there by now.

        The file is re-read under an exclusive lock, so two concurrent runs
        never both append, and a key that changed in the meantime is reported
        (``CHANGED``) instead of being recorded. ``also_check`` are other files
        (global known_hosts) that take part in that last check. Returns the
        verdict after the call: ``KNOWN`` when recorded or already present.
        ``path`` must be a known_hosts file (a regular file of host key
        entries, comments and blank lines; ``HostKeyError`` otherwise, and
        nothing is written); it is created (and its folder, 0700) only when
        ``create``. ``/dev/null`` records nothing, as with OpenSSH.
        """
        if path == os.devnull:
            return HostKeyCheck(Verdict.KNOWN)
        target = Path(path)
        flags = os.O_RDWR | os.O_APPEND | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
        with self._file_lock(path):
            if create:
                target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                flags |= os.O_CREAT
            try:
                fd = os.open(target, flags, 0o600)
            except FileNotFoundError:
                raise _unusable(
                    path,
                    "it does not exist, and fleetcfg creates no known_hosts file but "
                    "~/.ssh/known_hosts (a repo under review may name any path)",
                    hint=f"create it first (touch {path}), or add the key with ssh-keyscan",
                ) from None
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise _unusable(path, "not a regular file")
                fcntl.flock(fd, fcntl.LOCK_EX)
                content = _read_all(fd, path)
                text = content.decode("utf-8", errors="replace")
                foreign = foreign_line(text)
                if foreign is not None:
                    raise _unusable(
                        path,
                        f"it is not a known_hosts file (line {foreign} is not a host key "
                        "entry): not adding a line to it",
                        hint="check ssh.known_hosts in the inventory, or UserKnownHostsFile in ssh_config",
                    )
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


def _read_all(fd: int, path: str) -> bytes:
    """The whole file ``path`` open as ``fd`` (from its start), at most
    :data:`KNOWN_HOSTS_LIMIT` bytes (``HostKeyError`` past it)."""
    chunks: list[bytes] = []
    size = 0
    while size <= KNOWN_HOSTS_LIMIT:
        chunk = os.pread(fd, 1 << 20, size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    raise _unusable(path, too_large(KNOWN_HOSTS_LIMIT))
