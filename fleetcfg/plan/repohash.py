"""The repo's hash: what a plan, a shard and a bundle record of the repo
they were made from, so that a change to it is noticed.

It covers inventory.yaml, every file under profiles/ and every other repo
file the renderer read while rendering (registries' ``ca_file``,
``client_cert_file``, ``client_key_file``, ``file()`` in a profile: the
``read`` of :class:`fleetcfg.core.secrets.Lookups`, so nothing is rendered
a second time for it). Each file has a sha256 (:func:`repo_digests`, by its
name in the repo); the repo's sha256 is one sha256 over the sorted names and
digests (:func:`combine`), so shards that read different files can still be
merged and compared file by file. Only hashes are recorded, never contents.

Plans written before the referenced files were covered (no ``repo_files``)
are checked with :func:`legacy_repo_sha256`, the hash they recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from fleetcfg.inventory import Inventory

__all__ = [
    "combine",
    "legacy_repo_sha256",
    "repo_changes",
    "repo_digests",
    "repo_files",
    "repo_sha256",
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


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return ABSENT
    except OSError:
        return UNREADABLE


def repo_digests(
    inventory: Inventory, referenced: Mapping[str, Path] | None = None
) -> dict[str, str]:
    """name in the repo -> sha256 of its contents, for inventory.yaml,
    profiles/ and the ``referenced`` files (name -> file), sorted by name."""
    files = {**(referenced or {}), **repo_files(inventory)}
    return {name: _digest(path) for name, path in sorted(files.items())}


def combine(digests: Mapping[str, str]) -> str:
    """The repo's sha256: one sha256 over the sorted names and digests."""
    total = hashlib.sha256()
    for name in sorted(digests):
        total.update(f"{name}\0{digests[name]}\n".encode())
    return total.hexdigest()


def repo_sha256(inventory: Inventory, referenced: Mapping[str, Path] | None = None) -> str:
    """The repo's sha256 over inventory.yaml, profiles/ and ``referenced``."""
    return combine(repo_digests(inventory, referenced))


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
    current = repo_digests(inventory, _named(inventory, recorded))
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
