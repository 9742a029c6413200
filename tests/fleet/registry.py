"""Address blocks: who uses them, and cleaning up after fleets that crashed.

A fleet on block ``127.0.10`` gives its hosts ``127.0.10.1`` to ``127.0.10.254``
and carries on in ``127.0.11.x`` past 254 hosts. For every third octet it uses,
it holds an exclusive ``flock`` on ``/run/fleetcfg-test-fleet/blocks/<block>.lock``
while its owner process lives, and records its folder in ``<block>.json``.

- A lock that is free but a record that names a fleet means that fleet's owner
  is gone (crashed, killed, or the fleet was started detached by
  ``python -m tests.fleet start``): starting a fleet on the block stops it.
- A held lock means a live owner: starting another fleet there is refused
  (:class:`BlockBusyError`)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from tests.fleet import mounts, procs
from tests.fleet.config import SSHD_MARKER
from tests.fleet.errors import FleetError
from tests.fleet.system import RUN_DIR

BLOCKS_DIR = RUN_DIR / "blocks"
HOSTS_PER_BLOCK = 254


class BlockBusyError(FleetError):
    """Another live process owns a fleet on this address block."""


def parse_block(block: str) -> tuple[int, int, int]:
    parts = block.split(".")
    if len(parts) != 3 or not all(p.isdigit() and int(p) <= 255 for p in parts):
        raise FleetError(f"address block {block!r} must look like 127.0.10 (three octets)")
    a, b, c = (int(p) for p in parts)
    if a != 127:
        raise FleetError(f"address block {block!r} must be on loopback (127.x.y)")
    return a, b, c


def address(block: str, index: int) -> str:
    """The address of host number ``index`` (0-based) of a fleet on ``block``."""
    a, b, c = parse_block(block)
    third = c + index // HOSTS_PER_BLOCK
    if third > 255:
        raise FleetError(f"too many hosts for address block {block}: they would pass 127.{b}.255")
    return f"{a}.{b}.{third}.{index % HOSTS_PER_BLOCK + 1}"


def blocks_for(block: str, count: int) -> list[str]:
    """The third-octet blocks ``count`` hosts on ``block`` occupy."""
    a, b, c = parse_block(block)
    used = max(1, (count + HOSTS_PER_BLOCK - 1) // HOSTS_PER_BLOCK)
    if c + used - 1 > 255:
        raise FleetError(f"{count} hosts do not fit from address block {block} (past 127.{b}.255)")
    return [f"{a}.{b}.{c + i}" for i in range(used)]


class Lease:
    """Exclusive locks on address blocks, held until :meth:`release`."""

    def __init__(self) -> None:
        self._files: dict[str, IO[str]] = {}

    @property
    def blocks(self) -> list[str]:
        return list(self._files)

    def acquire(self, blocks: Iterable[str], *, wait: float = 0.0) -> None:
        """Lock every block (``wait`` seconds at most for each, then refuse)."""
        BLOCKS_DIR.mkdir(parents=True, exist_ok=True)
        for block in blocks:
            if block in self._files:
                continue
            fh = open(BLOCKS_DIR / f"{block}.lock", "a+")  # noqa: SIM115 (held open)
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        fh.close()
                        record = registered(block) or {}
                        raise BlockBusyError(
                            f"address block {block} is in use by a live fleet (owner pid "
                            f"{record.get('owner_pid', '?')}, folder {record.get('base_dir', '?')})",
                            hint="stop that fleet or pick another block",
                        ) from None
                    time.sleep(0.05)
            self._files[block] = fh

    def release(self) -> None:
        for fh in self._files.values():
            with contextlib.suppress(OSError):
                fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()
        self._files.clear()


def find_free_block(first: int = 150, last: int = 250, *, b: int = 0) -> str:
    """A block ``127.<b>.X`` (X in first..last) that no fleet uses right now,
    picked from a random starting point (concurrent runs rarely collide)."""
    span = list(range(first, last + 1))
    start = random.randrange(len(span))
    for third in span[start:] + span[:start]:
        block = f"127.{b}.{third}"
        if registered(block) is not None:
            continue
        probe = Lease()
        try:
            probe.acquire([block])
        except BlockBusyError:
            continue
        probe.release()
        return block
    raise FleetError(f"no free address block in 127.{b}.{first}-{last}")


def registered(block: str) -> dict[str, object] | None:
    try:
        data = json.loads((BLOCKS_DIR / f"{block}.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def register(blocks: Iterable[str], base_dir: Path, *, owner_pid: int | None) -> None:
    BLOCKS_DIR.mkdir(parents=True, exist_ok=True)
    record = {"base_dir": str(base_dir), "owner_pid": owner_pid, "since": time.time()}
    for block in blocks:
        tmp = BLOCKS_DIR / f".{block}.json.tmp"
        tmp.write_text(json.dumps(record))
        tmp.replace(BLOCKS_DIR / f"{block}.json")


def unregister(blocks: Iterable[str], base_dir: Path) -> None:
    for block in blocks:
        record = registered(block)
        if record is not None and record.get("base_dir") == str(base_dir):
            (BLOCKS_DIR / f"{block}.json").unlink(missing_ok=True)


def _listen_block(config: Path) -> str | None:
    """The block of a fleet sshd_config's ListenAddress (None if not a fleet's)."""
    try:
        text = config.read_text()
    except OSError:
        return None
    if not text.startswith(SSHD_MARKER):
        return None
    for line in text.splitlines():
        if line.startswith("ListenAddress "):
            addr = line.split()[1].rsplit(":", 1)[0]
            return addr.rsplit(".", 1)[0]
    return None


def cleanup_stale(blocks: Iterable[str]) -> None:
    """Stop every fleet left behind on these blocks (the caller holds their locks)."""
    wanted = set(blocks)
    stale: set[Path] = set()
    for block in wanted:
        record = registered(block)
        if record is not None:
            stale.add(Path(str(record["base_dir"])))
    for _pid, config in procs.stray_listeners():
        if _listen_block(config) in wanted:
            stale.add(config.parent.parent.parent)
    for base in stale:
        teardown_dir(base)
    for block in wanted:
        (BLOCKS_DIR / f"{block}.json").unlink(missing_ok=True)


def is_fleet_dir(base: Path) -> bool:
    return (base / "fleet.json").exists() or (base / "hosts").is_dir()


def kill_engines(hosts_root: Path) -> None:
    """Kill the engine supervisor of every real-daemon host under
    ``hosts_root`` with everything it runs (containerd, dockerd, shims,
    containers)."""
    pids: list[int] = []
    if hosts_root.is_dir():
        for host_dir in hosts_root.iterdir():
            pid = procs.engine_pid(host_dir)
            if pid is not None:
                pids += [pid, *procs.descendants(pid)]
    procs.kill_all(pids)


def teardown_dir(base: Path, *, keep_dir: bool | None = None) -> None:
    """Kill every process of the fleet in ``base``, unmount its mounts and
    delete its files (the folder itself too unless it existed before the fleet)."""
    hosts_root = base / "hosts"
    pids = [p.pid for found in procs.host_processes(hosts_root).values() for p in found]
    pids += [pid for pid, cfg in procs.stray_listeners() if cfg.parent.parent == hosts_root]
    procs.kill_all(pids)
    kill_engines(hosts_root)
    mounts.unmount_all_under(base)
    if not base.exists() or not is_fleet_dir(base):
        return
    if keep_dir is None:
        try:
            keep_dir = bool(json.loads((base / "fleet.json").read_text()).get("keep_dir"))
        except (FileNotFoundError, ValueError):
            keep_dir = False
    if mounts.mounts_under(base):
        raise FleetError(f"cannot remove the fleet folder {base}: something is still mounted in it")
    if keep_dir:
        for entry in os.scandir(base):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
    else:
        shutil.rmtree(base, ignore_errors=True)
