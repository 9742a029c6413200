"""Processes of fleet hosts, found through /proc.

Every fleet host lives in its own mount namespace whose ``/usr/local/sbin`` is
a bind mount of ``<fleet>/hosts/<name>/sbin``. That is how the fleet finds a
host's processes (its sshd listener, the sessions and whatever they run), even
those of a fleet started by a process that has since crashed."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True, slots=True)
class HostProcess:
    pid: int
    host_dir: Path  # <fleet>/hosts/<name>
    is_listener: bool  # the sshd that accepts connections (not a session)


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _mount_ns(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/mnt").st_ino
    except OSError:
        return None


def _sbin_source(pid: int) -> str | None:
    """The source folder of /usr/local/sbin's bind mount in pid's namespace."""
    try:
        with open(f"/proc/{pid}/mountinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                fields = line.split(" ")
                if len(fields) > 4 and fields[4] == "/usr/local/sbin":
                    return fields[3].replace("\\040", " ")
    except OSError:
        return None
    return None


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            raw = fh.read()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def listener_config(pid: int) -> Path | None:
    """The sshd_config of pid when it is an sshd listener started with ``-D -f``.

    sshd rewrites its command line (``sshd: /usr/sbin/sshd -D -f CFG ...
    [listener] 0 of 10-100 startups``); before it does, it is the plain argv."""
    text = " ".join(_cmdline(pid))
    text = text.removeprefix("sshd: ")
    tokens = text.split()
    if not tokens or tokens[0] != SSHD or "-D" not in tokens or "-f" not in tokens:
        return None
    idx = tokens.index("-f")
    return Path(tokens[idx + 1]) if idx + 1 < len(tokens) else None


def is_alive(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0:1]
    return state != ["Z"]


def host_processes(hosts_root: Path) -> dict[Path, list[HostProcess]]:
    """Every live process inside a fleet host of ``hosts_root`` (``<fleet>/hosts``),
    grouped by host folder."""
    root = str(hosts_root)
    suffix = "/" + hosts_root.parent.name + "/" + hosts_root.name + "/"
    by_ns: dict[int, list[int]] = defaultdict(list)
    own_ns = _mount_ns(os.getpid())
    for pid in _pids():
        ns = _mount_ns(pid)
        if ns is not None and ns != own_ns:
            by_ns[ns].append(pid)
    found: dict[Path, list[HostProcess]] = defaultdict(list)
    for pids in by_ns.values():
        source = None
        for pid in pids:
            source = _sbin_source(pid)
            if source is not None:
                break
        if source is None or not source.endswith("/sbin"):
            continue
        host_path = source[: -len("/sbin")]
        # mountinfo shows the path inside the filesystem: the full path when the
        # fleet lives on the root filesystem, a shorter one on a /tmp tmpfs
        if host_path.startswith(root + "/"):
            host_dir = Path(host_path)
        elif suffix in host_path + "/" and str(hosts_root / host_path.rsplit("/", 1)[-1]).endswith(
            host_path
        ):
            # the tmpfs case: the path must be the tail of ours (another fleet
            # whose folder also ends in .../<name>/hosts/ is not ours)
            host_dir = hosts_root / host_path.rsplit("/", 1)[-1]
        else:
            continue
        if host_dir.parent != hosts_root:
            continue
        for pid in pids:
            if not is_alive(pid):
                continue
            listener = listener_config(pid) is not None
            found[host_dir].append(HostProcess(pid=pid, host_dir=host_dir, is_listener=listener))
    return dict(found)


def engine_pid(host_dir: Path) -> int | None:
    """The pid of a real-daemon host's engine supervisor, None when it does
    not run (the pid file is checked against the process' command line)."""
    try:
        pid = int((host_dir / "engine" / "engine.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    argv = _cmdline(pid)
    if "serve" in argv and str(host_dir) in argv and is_alive(pid):
        return pid
    return None


def descendants(root: int) -> list[int]:
    """Every live descendant of ``root`` (children first)."""
    children: dict[int, list[int]] = defaultdict(list)
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children[ppid].append(pid)
    out: list[int] = []
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop(0)
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def stray_listeners() -> list[tuple[int, Path]]:
    """Fleet sshd listeners anywhere on the machine: (pid, sshd_config path)."""
    out = []
    for pid in _pids():
        config = listener_config(pid)
        if (
            config is not None
            and config.name == "sshd_config"
            and config.parent.parent.name == "hosts"
        ):
            out.append((pid, config))
    return out


def kill_all(pids: Iterable[int], *, timeout: float = 10.0) -> None:
    """SIGKILL every pid and wait until none is alive (zombies count as dead)."""
    pending = set(pids)
    for pid in pending:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = {pid for pid in pending if is_alive(pid)}
        if pending:
            time.sleep(0.01)


def ssh_banner(address: str, port: int, *, timeout: float = 1.0) -> bool:
    """True when an SSH server answers on address:port with its banner."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def port_refuses(address: str, port: int) -> bool:
    """True when nothing listens on address:port (the connection is refused)."""
    try:
        with socket.create_connection((address, port), timeout=1.0):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
