"""The repo's hash: what a plan, a shard and a bundle record of the repo
they were made from, so that a change to it is noticed.

It covers inventory.yaml, every file under profiles/ and every other repo
file the renderer read while rendering (registries' ``ca_file``,
``client_cert_file``, ``client_key_file``, ``file()`` in a profile: the
``read`` of :class:`fleetcfg.core.secrets.Lookups`, so nothing is rendered
a second time for it). Each file has a digest (:func:`repo_digests`, by its
name in the repo); the repo's sha256 is one sha256 over the sorted names and
digests (:func:`combine`), so shards that read different files can still be
merged and compared file by file. Only digests are recorded, never contents.

A file read as a secret (``file()``: a profile's lookup, a registry's
``client_key_file``) may hold a short password, and plans travel (CI
artifacts): a bare sha256 of it could be guessed offline. Its digest is
``scrypt:<hex>`` instead (:func:`secret_digest`: scrypt, salted with the
file's name so that it is the same on every machine and can be compared,
computed once per run and file), and the repo's sha256 covers that digest,
never the bytes. The form a plan recorded decides how a file is checked
against it (:func:`repo_changes`): plans written before secrets had their own
digest recorded a bare sha256 and are compared as before.

Plans written before the referenced files were covered (no ``repo_files``)
are checked with :func:`legacy_repo_sha256`, the hash they recorded.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

from fleetcfg.core.filedigest import scrypt
from fleetcfg.core.secrets import Lookups
from fleetcfg.inventory import Inventory

__all__ = [
    "combine",
    "legacy_repo_sha256",
    "lookup_digests",
    "repo_changes",
    "repo_digests",
    "repo_files",
    "repo_sha256",
    "secret_digest",
    "stale_repo_warning",
]

#: the digest of a referenced file that is not there (any more)
ABSENT = "absent"
#: the digest of a referenced file that cannot be read
UNREADABLE = "unreadable"


def repo_files(inventory: Inventory) -> dict[str, Path]:
    """inventory.yaml and every file under profiles/, by their name in the
    repo (always covered by the repo's sha256 and carried by ``fleetcfg bundle``)."""
    files = {"inventory.yaml": inventory.path}
    root = inventory.profiles_dir
    if root.is_dir():
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            files[f"profiles/{path.relative_to(root).as_posix()}"] = path
    return files


#: how the digest of a file read as a secret starts
SECRET_DIGEST = "scrypt:"  # noqa: S105 (a prefix, not a password)


@functools.lru_cache(maxsize=64)
def secret_digest(name: str, data: bytes) -> str:
    """``scrypt:<hex>``: the digest of the contents of repo file ``name`` read
    as a secret (:func:`~fleetcfg.core.filedigest.scrypt`), salted with its
    name: every file name is its own search."""
    salt = b"fleetcfg repo file\0" + name.encode("utf-8")
    return SECRET_DIGEST + scrypt(data, salt).hex()


def _digest(name: str, path: Path, secret: bool) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ABSENT
    except OSError:
        return UNREADABLE
    return secret_digest(name, data) if secret else hashlib.sha256(data).hexdigest()


def repo_digests(
    inventory: Inventory,
    referenced: Mapping[str, Path] | None = None,
    secrets: Collection[str] = (),
) -> dict[str, str]:
    """name in the repo -> digest of its contents (sha256, or
    :func:`secret_digest` for the names in ``secrets``), for inventory.yaml,
    profiles/ and the ``referenced`` files (name -> file), sorted by name."""
    files = {**(referenced or {}), **repo_files(inventory)}
    return {name: _digest(name, path, name in secrets) for name, path in sorted(files.items())}


def lookup_digests(inventory: Inventory, lookups: Lookups) -> dict[str, str]:
    """:func:`repo_digests` of the files ``lookups`` read (renders done)."""
    return repo_digests(inventory, dict(lookups.read), frozenset(lookups.secret_names))


def combine(digests: Mapping[str, str]) -> str:
    """The repo's sha256: one sha256 over the sorted names and digests."""
    total = hashlib.sha256()
    for name in sorted(digests):
        total.update(f"{name}\0{digests[name]}\n".encode())
    return total.hexdigest()


def repo_sha256(
    inventory: Inventory,
    referenced: Mapping[str, Path] | None = None,
    secrets: Collection[str] = (),
) -> str:
    """The repo's sha256 over inventory.yaml, profiles/ and ``referenced``
    (the digests of those, ``secrets`` among them read as secrets)."""
    return combine(repo_digests(inventory, referenced, secrets))


def legacy_repo_sha256(inventory: Inventory) -> str:
    """The hash plans recorded before ``repo_files``: sha256 over
    inventory.yaml and profiles/ (names and contents)."""
    digest = hashlib.sha256()
    for name, path in repo_files(inventory).items():
        data = path.read_bytes()
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def _named(inventory: Inventory, names: Iterable[str]) -> dict[str, Path]:
    return {name: inventory.root / name for name in names}


def repo_changes(
    inventory: Inventory, recorded_sha256: str | None, recorded: Mapping[str, str] | None
) -> list[str]:
    """The names of the repo files that changed (appeared, went or differ)
    since a plan recorded ``recorded_sha256`` and ``recorded`` (its
    ``repo_files``); ``[]`` when none did. For a plan without
    ``repo_files`` (older fleetcfg): ``["inventory.yaml or a profile"]`` when
    its hash differs."""
    if not recorded_sha256:
        return []
    if recorded is None:
        if legacy_repo_sha256(inventory) == recorded_sha256:
            return []
        return ["inventory.yaml or a profile"]
    secrets = {n for n, digest in recorded.items() if str(digest).startswith(SECRET_DIGEST)}
    current = repo_digests(inventory, _named(inventory, recorded), secrets)
    changed = sorted(
        n for n in current.keys() | recorded.keys() if current.get(n) != recorded.get(n)
    )
    if not changed and combine(current) != recorded_sha256:
        return ["the repo"]  # repo_files edited by hand
    return changed


#: at most this many changed files are named
_NAMED = 5


def stale_repo_warning(changed: Sequence[str]) -> str:
    """The warning ``apply PLANFILE`` prints for :func:`repo_changes`."""
    names = ", ".join(changed[:_NAMED])
    if len(changed) > _NAMED:
        names += f" and {len(changed) - _NAMED} more"
    return (
        f"warning: {names} changed since the plan was made; "
        "hosts whose target changed will be refused"
    )
