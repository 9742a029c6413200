"""What converge reads its configuration from must be root's.

converge runs as root from a timer and writes what the repo says to
``/etc/docker`` (a daemon.json with ``"hosts": ["tcp://0.0.0.0:2375"]`` is
root for anyone on the network). So whoever can write the checkout it reads
(inventory.yaml, profiles/, the files they read, ``.git``, whose config
git runs commands from) or the trusted keys of signed bundles is root on
the host. Like sshd's StrictModes for ``authorized_keys``, converge refuses
a source that anyone but root (or the user converge runs as) owns or may
write, or that lies in a folder they may write. A root-owned folder with
the sticky bit (``/tmp``) is fine above it: others cannot replace what is
in it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from fleetcfg.core.errors import FleetcfgError

__all__ = ["UnsafeSourceError", "foreign_control", "refuse_foreign_source"]


class UnsafeSourceError(FleetcfgError):
    """Someone but root controls what converge would read."""


#: who may write a file, by its group and other write bits
_WRITERS = {0o022: "group and others", 0o020: "its group", 0o002: "others"}


def _owners() -> set[int]:
    return {0, os.geteuid()}


def _why(path: Path, st: os.stat_result, *, above: bool) -> str | None:
    if st.st_uid not in _owners():
        return f"{path} belongs to uid {st.st_uid}"
    if stat.S_ISLNK(st.st_mode):
        return None  # the folder that holds it is checked
    if st.st_mode & 0o022:
        if above and stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX:
            return None  # /tmp: others cannot replace what is in it
        who = _WRITERS[st.st_mode & 0o022]
        return f"{path} is writable by {who} (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def _above(path: Path) -> str | None:
    for folder in reversed(path.parents):
        reason = _why(folder, folder.lstat(), above=True)
        if reason is not None:
            return reason
    return None


def foreign_control(path: Path) -> str | None:
    """Why someone but root (or this process's user) controls ``path``: it,
    every folder above it (as named, and where links lead), and, for a
    folder, everything in it; None when nobody else does."""
    named = Path(os.path.abspath(path))  # noqa: PTH100 (lexical: the folders as named)
    real = named.resolve()
    reason = _above(named) or _above(real)
    if reason is not None:
        return reason
    st = real.lstat()
    reason = _why(real, st, above=False)
    if reason is not None or not stat.S_ISDIR(st.st_mode):
        return reason
    for top, folders, files in os.walk(real):
        for name in (*folders, *files):
            entry = Path(top, name)
            reason = _why(entry, entry.lstat(), above=False)
            if reason is not None:
                return reason
    return None


def refuse_foreign_source(path: Path, what: str) -> None:
    """Raise :class:`UnsafeSourceError` when someone but root controls
    ``path`` (``what`` names it: "the checkout", "the trusted keys")."""
    try:
        reason = foreign_control(path)
    except OSError as exc:
        raise UnsafeSourceError(
            f"cannot check who controls {what}: {exc.strerror or exc}", file=str(path)
        ) from None
    if reason is not None:
        raise UnsafeSourceError(
            f"refusing to converge from {what} {path}: {reason}; whoever can change it "
            "decides what converge writes to /etc/docker as root",
            file=str(path),
            hint=f"chown -R root:root {path} && chmod -R go-w {path}",
        )
