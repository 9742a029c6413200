"""Shards: a fleet planned and applied by several machines (CI jobs) at once.

``--shard K/N`` keeps the hosts whose name hashes to slice K of N. A host's
slice depends only on its own name and N, so adding or removing a host moves
no other host, and the N slices of a selection are disjoint and cover it.

:func:`merge_plan_outputs` merges the ``fleetcfg plan --format json`` outputs
of the shards into one plan (every host once, one summary).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import ValidationError

from fleetcfg.core.errors import PlanError, UsageError
from fleetcfg.plan.model import HostPlan, Plan
from fleetcfg.plan.repohash import SECRET_DIGEST, combine

_SHARD = re.compile(r"([0-9]+)/([0-9]+)")


class _Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)


@dataclass(frozen=True, slots=True)
class Shard:
    """Slice ``index`` (1-based) of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        m = _SHARD.fullmatch(text.strip())
        if m is None or not 1 <= int(m.group(1)) <= int(m.group(2)):
            raise UsageError(
                f"--shard {text!r}: expected K/N with 1 <= K <= N",
                hint="e.g. --shard 1/4 ... --shard 4/4 in four CI jobs",
            )
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def contains(self, name: str) -> bool:
        return shard_of(name, self.count) == self.index

    def select(self, hosts: Iterable[N]) -> list[N]:
        """The hosts of this slice, in their order."""
        return [h for h in hosts if self.contains(h.name)]


def shard_of(name: str, count: int) -> int:
    """The slice (1..count) of host ``name``: a hash of the name alone
    (sha256, so the same on every machine and Python version)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


# --------------------------------------------------------------------------
# merging the shards' plans


def _host_plan(entry: Any, source: str, position: int) -> HostPlan:
    if not isinstance(entry, dict):
        raise PlanError(f"hosts[{position}] is not an object", file=source)
    fields = {k: v for k, v in entry.items() if k != "changes"}
    try:
        return HostPlan.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PlanError(
            f"hosts[{position}].{where}: {first['msg']}",
            file=source,
            host=str(entry.get("host", "")) or None,
            hint="merge the output of `fleetcfg plan --format json`",
        ) from None


def _always_read(files: dict[Any, Any]) -> frozenset[str]:
    """The names every shard covers: inventory.yaml and profiles/."""
    return frozenset(
        str(n) for n in files if n == "inventory.yaml" or str(n).startswith("profiles/")
    )


def _is_secret(digest: str) -> bool:
    return digest.startswith(SECRET_DIGEST)


def _merge_files(
    into: dict[str, str], files: dict[Any, Any], source: str, seen: dict[str, str]
) -> None:
    if seen:
        mine, theirs = _always_read(files), _always_read(into)
        if mine != theirs:
            name = sorted(mine ^ theirs)[0]
            where = source if name in mine else next(iter(seen.values()))
            raise PlanError(
                f"the shards were planned from different repos: only {where} has {name}",
                file=source,
                hint="plan every shard from the same commit",
            )
    for name, digest in files.items():
        known = into.setdefault(str(name), str(digest))
        if _is_secret(known) != _is_secret(str(digest)):
            secret, other = (
                (seen[str(name)], source) if _is_secret(known) else (source, seen[str(name)])
            )
            raise PlanError(
                f"{name} is recorded as a secret by {secret} and not by {other}: "
                "their digests cannot be compared",
                file=source,
                hint="plan every shard with the same fleetcfg version, from the same commit",
            )
        if known != str(digest):
            raise PlanError(
                f"the shards were planned from different repos: {name} differs between "
                f"{seen[str(name)]} and {source}",
                file=source,
                hint="plan every shard from the same commit",
            )
        seen.setdefault(str(name), source)


def merge_plan_outputs(documents: Sequence[tuple[str, Any]], fleetcfg_version: str) -> Plan:
    """One plan from the ``plan --format json`` objects of several shards
    (``(file name, decoded JSON)`` pairs). Refuses a host planned twice and
    shards planned from different repos: a repo file whose digest differs
    between two shards' ``repo_files`` (each shard's hosts may read other
    files: the merged plan's ``repo_files`` are all of them; a file read as a
    secret is compared by its scrypt digest, and refused when one shard
    recorded a bare sha256 of it: an older fleetcfg), or, for shards
    without ``repo_files``, a different ``repo_sha256``."""
    hosts: list[HostPlan] = []
    seen: dict[str, str] = {}
    repos: dict[str, str] = {}
    #: the shards' repo_files together (each shard's hosts read some files)
    digests: dict[str, str] = {}
    seen_files: dict[str, str] = {}
    complete = bool(documents)
    inventory = ""
    for source, data in documents:
        if not isinstance(data, dict) or not isinstance(data.get("hosts"), list):
            raise PlanError(
                "not the output of `fleetcfg plan --format json` (no hosts list)",
                file=source,
                hint="save each shard's output with fleetcfg plan --format json > FILE",
            )
        inventory = inventory or str(data.get("inventory", ""))
        files = data.get("repo_files")
        if isinstance(files, dict):
            _merge_files(digests, files, source, seen_files)
        else:
            complete = False
        repo = data.get("repo_sha256")
        if isinstance(repo, str):
            repos.setdefault(repo, source)
        for position, entry in enumerate(data["hosts"]):
            host = _host_plan(entry, source, position)
            if host.host in seen:
                raise PlanError(
                    f"planned in two shards: {seen[host.host]} and {source}",
                    file=source,
                    host=host.host,
                    hint="give every job the same --limit and N, and each its own K",
                )
            seen[host.host] = source
            hosts.append(host)
    if complete:
        return Plan(
            fleetcfg_version=fleetcfg_version,
            inventory=inventory,
            repo_sha256=combine(digests),
            repo_files=dict(sorted(digests.items())),
            hosts=hosts,
        )
    if len(repos) > 1:  # shards of an older fleetcfg: their hashes must agree
        first, second = list(repos.values())[:2]
        raise PlanError(
            f"the shards were planned from different repos: {first} and {second} "
            "(repo_sha256 differs)",
            file=second,
            hint="plan every shard from the same commit",
        )
    return Plan(
        fleetcfg_version=fleetcfg_version,
        inventory=inventory,
        repo_sha256=next(iter(repos), None),
        hosts=hosts,
    )
