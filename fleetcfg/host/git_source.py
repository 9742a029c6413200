"""``fleetcfg converge --ref REF``: converge from a git ref of the checkout the
inventory is in, fetched first, without touching its working tree.

The steps: ``git fetch`` (the checkout's default remote), resolve ``REF`` to a
commit and its committer time (the revision converge compares with the last
one it applied), then ``git archive`` of that commit, extracted with
tarfile's ``data`` filter (no absolute names, no ``..``, no links that leave
the folder, no devices) into a private temporary folder that converge reads
the inventory from.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from fleetcfg.core.errors import FleetcfgError, UsageError
from fleetcfg.core.numbers import is_digits
from fleetcfg.core.terminal import clip
from fleetcfg.host.pull import Revision

#: the most ``git archive`` may produce (a repo of inventory and profiles is small)
MAX_ARCHIVE = 256 * 1024 * 1024
GIT_TIMEOUT = 300


class GitSourceError(FleetcfgError):
    """The ref could not be fetched, resolved or exported (nothing applied)."""


@dataclass(frozen=True)
class GitSource:
    """Converge from ``ref`` of the git checkout that holds ``inventory``."""

    inventory: Path
    ref: str
    fetch: bool = True

    def __post_init__(self) -> None:
        if not self.ref or self.ref.startswith("-") or any(c.isspace() for c in self.ref):
            raise UsageError(f"--ref {self.ref!r} is not a git ref (like origin/main or v42)")


def _git(root: Path, *args: str) -> bytes:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            check=False,
            timeout=GIT_TIMEOUT,
        )
    except FileNotFoundError:
        raise GitSourceError("git is not installed on this host") from None
    except subprocess.TimeoutExpired:
        raise GitSourceError(f"git {args[0]} did not finish within {GIT_TIMEOUT}s") from None
    if out.returncode != 0:
        said = clip(out.stderr.decode("utf-8", "replace").strip() or f"exit {out.returncode}")
        raise GitSourceError(f"git {' '.join(args[:2])} failed in {root}: {said}")
    return out.stdout


def checkout_of(source: GitSource) -> tuple[Path, Path]:
    """The checkout's top folder and the inventory's path inside it. The
    working tree may not have the inventory (yet, or any more): the path is
    taken as written, from its nearest folder that exists."""
    inventory = source.inventory.absolute()
    if inventory.suffix not in (".yaml", ".yml"):
        inventory = inventory / "inventory.yaml"
    folder = inventory.parent
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    top = Path(_git(folder, "rev-parse", "--show-toplevel").decode().strip())
    inside = folder.resolve() / inventory.relative_to(folder)
    try:
        return top, inside.relative_to(top.resolve())
    except ValueError:
        raise UsageError(f"{inventory} is not inside the git checkout {top}") from None


def resolve(source: GitSource) -> tuple[Path, Path, Revision]:
    """Fetch (unless ``fetch`` is off) and resolve the ref: the checkout,
    the inventory inside it, the commit and its time."""
    top, inventory = checkout_of(source)
    if source.fetch:
        _git(top, "fetch", "--quiet")
    try:
        commit = _git(top, "rev-parse", "--verify", "--quiet", f"{source.ref}^{{commit}}")
    except GitSourceError:
        fetched = " (after git fetch)" if source.fetch else ""
        raise GitSourceError(f"{source.ref} is not a commit of {top}{fetched}") from None
    commit_id = commit.decode().strip()
    when = _git(top, "log", "-1", "--format=%ct", commit_id).decode().strip()
    if not is_digits(when):
        raise GitSourceError(f"cannot read the commit time of {commit_id}")
    return top, inventory, Revision(commit_id, int(when))


def export(top: Path, commit: str, dest: Path) -> None:
    """The tree of ``commit`` under ``dest`` (an empty private folder)."""
    data = _git(top, "archive", "--format=tar", commit)
    if len(data) > MAX_ARCHIVE:
        raise GitSourceError(f"the tree of {commit[:12]} is larger than {MAX_ARCHIVE} bytes")
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise GitSourceError(f"cannot unpack the tree of {commit[:12]}: {exc}") from None
