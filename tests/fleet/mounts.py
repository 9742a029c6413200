"""Mounts on the real machine's side of the fleet.

``<fleet>/hosts`` is a shared bind mount of itself; each host's namespace turns
its copy into a slave (``mount --make-rslave /``), so a tmpfs mounted later on
the host side over ``<fleet>/hosts/<name>/etc-docker`` (the full-disk fault)
propagates into that host's ``/etc/docker`` without anything propagating back."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.fleet.errors import FleetError


@dataclass(frozen=True, slots=True)
class Mount:
    mount_id: int
    mount_point: str
    fs_type: str


def _unescape(field: str) -> str:
    return (
        field.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        # backslash last, so the other escapes are not undone twice
        .replace("\\134", "\\")
    )


def mounts() -> list[Mount]:
    """This process' mount table (/proc/self/mountinfo), in mount order."""
    out = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            fields = left.split(" ")
            out.append(
                Mount(
                    mount_id=int(fields[0]),
                    mount_point=_unescape(fields[4]),
                    fs_type=right.split(" ", 1)[0],
                )
            )
    return out


def mounts_under(path: Path) -> list[Mount]:
    prefix = str(path)
    return [
        m for m in mounts() if m.mount_point == prefix or m.mount_point.startswith(prefix + "/")
    ]


def is_mount_point(path: Path, fs_type: str | None = None) -> bool:
    target = str(path)
    return any(
        m.mount_point == target and (fs_type is None or m.fs_type == fs_type) for m in mounts()
    )


def _run(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise FleetError(f"{what} failed: {' '.join(argv)}: {proc.stderr.strip()}")


def make_shared_bind(path: Path) -> None:
    """Bind ``path`` onto itself and make it the root of its own shared peer group."""
    if not is_mount_point(path):
        _run(["mount", "--bind", str(path), str(path)], "binding the fleet's hosts folder")
    if os.statvfs(path).f_flag & os.ST_NOEXEC:
        # the shims are executed from here (e.g. /tmp mounted noexec)
        _run(["mount", "-o", "remount,bind,exec", str(path)], "allowing exec in the hosts folder")
    _run(["mount", "--make-private", str(path)], "making the fleet's hosts folder private")
    _run(["mount", "--make-shared", str(path)], "making the fleet's hosts folder shared")


def mount_tmpfs(path: Path, *, size_bytes: int, mode: int = 0o755) -> None:
    _run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode={mode:o}", "fleet-disk", str(path)],
        f"mounting a small tmpfs on {path}",
    )


def unmount(path: Path) -> None:
    """Lazy unmount (processes of the fleet may still hold the mount)."""
    _run(["umount", "-l", str(path)], f"unmounting {path}")


def unmount_all_under(path: Path) -> None:
    """Unmount every mount at or below ``path``, the most recent first."""
    for mount in sorted(mounts_under(path), key=lambda m: m.mount_id, reverse=True):
        if is_mount_point(Path(mount.mount_point)):
            subprocess.run(["umount", "-l", mount.mount_point], capture_output=True, check=False)
