"""One fleet host: a real sshd in its own mount namespace, seen from the host side.

Folder layout (``<fleet>/hosts/<name>``)::

    etc-docker/           the host's /etc/docker
    etc-docker-service-d/ the host's /etc/systemd/system/docker.service.d
    etc-buildkit/         the host's /etc/buildkit
    root/                 the host's /root
    home/                 the host's /home (deploy's and nopriv's homes)
    sbin/                 the host's /usr/local/sbin: the shims
    sbin/.fleet/          the host's state (see shims/lib.sh) and settings
    sshd_config, ssh_host_ed25519_key(.pub), sshd.pid, sshd.log, start.log
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import posixpath
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from tests.fleet import config, engine, mounts, procs, system
from tests.fleet.errors import FleetError
from tests.fleet.keys import KeyPair, generate_ed25519
from tests.fleet.records import (
    CommandRecord,
    Event,
    JournalEntry,
    parse_commands,
    parse_events,
    parse_journal,
)

if TYPE_CHECKING:
    from tests.fleet.fleet import Fleet

SHIMS_DIR = Path(__file__).with_name("shims")
#: shim name -> file installed in the host's /usr/local/sbin (or .fleet/)
SHIMS = {
    "dockerd": "dockerd",
    "docker": "docker",
    "systemctl": "systemctl",
    "journalctl": "journalctl",
    ".fleet/lib.sh": "lib.sh",
    ".fleet/session": "session",
}
#: the same on a real-daemon host: the real CLI and dockerd, and the engine
#: supervisor that the systemctl shim drives
REAL_SHIMS = SHIMS | {
    "dockerd": "real-dockerd",
    "docker": "real-docker",
    ".fleet/engine.py": "../engine.py",
}
#: inside the host -> folder name on the host side
PRIVATE_DIRS = {
    "/etc/docker": "etc-docker",
    "/etc/systemd/system/docker.service.d": "etc-docker-service-d",
    "/etc/buildkit": "etc-buildkit",
    "/root": "root",
    "/home": "home",
    "/usr/local/sbin": "sbin",
}
#: the host's configuration folders a reset empties
CONFIG_DIRS = ("etc-docker", "etc-docker-service-d", "etc-buildkit")
#: a real-daemon host also has its own /run (docker.sock, containerd's
#: state) and its own image and container stores
REAL_PRIVATE_DIRS = PRIVATE_DIRS | {
    "/run": "run",
    "/var/lib/docker": "var-lib-docker",
    "/var/lib/containerd": "var-lib-containerd",
}
UNIT_STATES = ("active", "failed", "inactive")
BALLAST = ".fleet-ballast"
_DISK_MIN = 256 * 1024
_LISTEN_TIMEOUT = 30.0
_SHIM_CACHE: dict[str, bytes] = {}


def shim_bytes(name: str) -> bytes:
    if name not in _SHIM_CACHE:
        _SHIM_CACHE[name] = (SHIMS_DIR / name).read_bytes()
    return _SHIM_CACHE[name]


@dataclass(frozen=True, slots=True)
class Container:
    id: str  # 64 hex digits (docker ps -q prints the first 12)
    name: str
    state: str  # "running" | "exited"
    restart: str  # "always" | "no"
    image: str

    @property
    def short_id(self) -> str:
        return self.id[:12]


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.fleet-tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _clear_dir(path: Path, keep: Sequence[str] = ()) -> None:
    for entry in os.scandir(path):
        if entry.name in keep:
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)


class FleetHost:
    """A fleet host. ``name``/``address``/``port``/``user`` are what an
    inventory needs; the rest drives and observes the host from the host side."""

    def __init__(
        self, fleet: Fleet, *, index: int, name: str, address: str, port: int = 22
    ) -> None:
        self._fleet = fleet
        self.index = index
        self.name = name
        self.address = address
        self.port = port
        self.user = "root"
        self.dir = fleet.base_dir / "hosts" / name
        self._proc: subprocess.Popen[bytes] | None = None
        self._settings = config.HostSettings.for_engine(fleet.engine_version)
        self._engine: subprocess.Popen[bytes] | None = None

    @property
    def real(self) -> bool:
        """True on a real-daemon host (containerd + dockerd run for real)."""
        return self._fleet.engine_dir is not None

    @property
    def private_dirs(self) -> dict[str, str]:
        return REAL_PRIVATE_DIRS if self.real else PRIVATE_DIRS

    @property
    def shims(self) -> dict[str, str]:
        return REAL_SHIMS if self.real else SHIMS

    def __repr__(self) -> str:
        return f"FleetHost({self.name!r}, {self.address}:{self.port})"

    # ------------------------------------------------------------------ paths
    @property
    def state_dir(self) -> Path:
        """Host side of the host's /usr/local/sbin/.fleet (state, logs, settings)."""
        return self.dir / "sbin" / ".fleet"

    @property
    def host_key_file(self) -> Path:
        return self.dir / "ssh_host_ed25519_key"

    @property
    def sshd_config(self) -> Path:
        return self.dir / "sshd_config"

    def path(self, remote: str) -> Path:
        """The host-side path of ``remote`` (a path inside the host). Only the
        host's private folders map: /etc/docker,
        /etc/systemd/system/docker.service.d, /etc/buildkit, /root, /home and
        /usr/local/sbin."""
        pure = PurePosixPath(remote)
        if not pure.is_absolute() or ".." in pure.parts:
            raise FleetError(f"{remote!r} is not an absolute path", host=self.name)
        for inside, folder in sorted(self.private_dirs.items(), key=lambda i: -len(i[0])):
            if pure == PurePosixPath(inside) or pure.is_relative_to(inside):
                rel = pure.relative_to(inside)
                return self.dir / folder / rel
        raise FleetError(
            f"{remote} is not private to the host (only {', '.join(self.private_dirs)} are; "
            "everything else is the real machine's)",
            host=self.name,
        )

    # ------------------------------------------------------------------ files
    def write_file(
        self,
        remote: str,
        data: str | bytes,
        *,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        loaded: bool = True,
    ) -> Path:
        """Write a file inside the host (parents created). Fails like a real
        write would when the host's disk is full.

        A daemon configuration (a ``.json`` file right in ``/etc/docker``) is
        the one the host had when its daemon started: its mtime is set to
        before the daemon's start (what ``systemctl show -p
        ExecMainStartTimestamp`` reports), as a test that sets up a host
        means it. ``loaded=False``: a change after the start that dockerd
        did not load (its mtime is then after the start)."""
        target = self.path(remote)
        target.parent.mkdir(parents=True, exist_ok=True)
        raw = data.encode() if isinstance(data, str) else data
        with open(target, "wb") as fh:
            fh.write(raw)
        os.chmod(target, mode)
        os.chown(target, uid, gid)
        if posixpath.dirname(remote) == "/etc/docker" and remote.endswith(".json"):
            self._date_config(target, loaded=loaded)
        return target

    def _date_config(self, target: Path, *, loaded: bool) -> None:
        try:
            started = float(self._state("exec-main-start") or 0)
        except ValueError:
            started = 0.0
        if started <= 0:
            return
        if loaded:
            when = math.floor(started) - 1
            os.utime(target, (when, when))
            return
        self._past(started)
        os.utime(target, None)

    @staticmethod
    def _past(started: float) -> None:
        # a second the daemon's start is not in (the facts count in seconds)
        later = math.floor(started) + 1
        if time.time() < later:
            time.sleep(later - time.time() + 0.05)

    def wait_past_daemon_start(self) -> None:
        """Return once the clock is in a later second than the daemon's start:
        a file changed from now on counts as changed after the start (the
        facts compare whole seconds; on an idle machine a test's apply can
        otherwise write in the very second the daemon started)."""
        try:
            started = float(self._state("exec-main-start") or 0)
        except ValueError:
            started = 0.0
        if started > 0:
            self._past(started)

    def read_file(self, remote: str) -> str:
        return self.path(remote).read_text(encoding="utf-8")

    def read_bytes(self, remote: str) -> bytes:
        return self.path(remote).read_bytes()

    def exists(self, remote: str) -> bool:
        return self.path(remote).exists()

    def remove_file(self, remote: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(remote).unlink()

    def listdir(self, remote: str) -> list[str]:
        """Names in a folder of the host (the full-disk ballast left out)."""
        return sorted(n for n in os.listdir(self.path(remote)) if n != BALLAST)

    # --------------------------------------------------------------- settings
    @property
    def settings(self) -> config.HostSettings:
        return self._settings

    def _apply(self, settings: config.HostSettings) -> None:
        self._settings = settings
        self._write_settings()

    def _write_settings(self) -> None:
        text = config.render_settings(
            self._settings,
            host_name=self.name,
            host_dir=self.dir,
            dockerd_dir=self._fleet.dockerd_dir,
            daemon_id=self.daemon_id,
            engine_dir=self._fleet.engine_dir,
        )
        _write_atomic(self.state_dir / "settings", text.encode())
        _write_atomic(
            self.state_dir / "settings.json",
            json.dumps(self._settings.to_json() | {"host_name": self.name}, indent=2).encode(),
        )
        units = self.state_dir / "units"
        dropin_dir = units / "docker.service.d"
        dropin_dir.mkdir(parents=True, exist_ok=True)
        wanted = config.render_drop_ins(self._settings)
        for existing in os.listdir(dropin_dir):
            if existing not in wanted:
                (dropin_dir / existing).unlink()
        for name, text in wanted.items():
            _write_atomic(dropin_dir / name, text.encode())

    def _load_settings(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            data = json.loads((self.state_dir / "settings.json").read_text())
            self._settings = config.HostSettings.from_json(data)

    @property
    def daemon_id(self) -> str:
        digest = hashlib.sha256(f"fleet-daemon:{self.name}".encode()).hexdigest().upper()
        return ":".join(digest[i : i + 4] for i in range(0, 48, 4))

    def set_engine_version(
        self, version: str, *, suffix: str | None = None, build: str | None = None
    ) -> None:
        """What ``dockerd --version``, ``docker version`` and ``docker info``
        report. Below 23.0, ``dockerd --validate`` is an unknown flag. The
        host's dockerd is a new file, as after a package upgrade (a new inode
        and ctime: fleetcfg's record of the old binary no longer holds)."""
        known_suffix, known_build = config.engine_identity(version)
        shim = self.dir / "sbin" / "dockerd"
        _write_atomic(shim, shim.read_bytes(), mode=0o755)
        self._apply(
            replace(
                self._settings,
                engine_version=version,
                engine_suffix=known_suffix if suffix is None else suffix,
                engine_build=known_build if build is None else build,
            )
        )

    def set_exec_start(
        self, flags: Sequence[str], *, path: str = config.DEFAULT_EXEC_START_PATH
    ) -> None:
        """The unit's ExecStart (an ``override.conf`` drop-in when it differs
        from the packaged unit). Start and reload validate with these flags."""
        self._apply(replace(self._settings, exec_start_path=path, exec_start_flags=tuple(flags)))

    def set_drop_in(self, name: str, text: str | None) -> None:
        """Add (or with ``None`` remove) a docker.service drop-in shown by
        ``systemctl cat`` and ``DropInPaths``; its content is not interpreted."""
        drop_ins = dict(self._settings.drop_ins)
        if text is None:
            drop_ins.pop(name, None)
        else:
            drop_ins[name] = text
        self._apply(replace(self._settings, drop_ins=drop_ins))

    def set_containers(
        self, running: int, *, restart_always: bool = True, image: str = "busybox:1.36"
    ) -> None:
        """``running`` containers (all running now). When dockerd restarts
        without live-restore they are killed and only ``restart_always`` ones
        come back."""
        lines = []
        for i in range(running):
            cid = hashlib.sha256(f"{self.name}:container:{i}".encode()).hexdigest()
            restart = "always" if restart_always else "no"
            lines.append(f"{cid} app-{i + 1} running {restart} {image}\n")
        _write_atomic(self.state_dir / "containers", "".join(lines).encode())

    def containers(self) -> list[Container]:
        out = []
        with contextlib.suppress(FileNotFoundError):
            for line in (self.state_dir / "containers").read_text().splitlines():
                parts = line.split()
                if len(parts) >= 4:
                    image = parts[4] if len(parts) > 4 else ""
                    out.append(Container(parts[0], parts[1], parts[2], parts[3], image))
        return out

    def set_unit_state(self, state: str) -> None:
        """Put docker.service in ``state`` directly (test setup, no events)."""
        if state not in UNIT_STATES:
            raise FleetError(f"unit state must be one of {', '.join(UNIT_STATES)}", host=self.name)
        now = f"{time.time():.6f}"
        pid = 1000 + self.index * 7 % 30000
        values = {"unit": state, "state-change": now}
        if state == "active":
            values |= {
                "main-pid": str(pid),
                "last-pid": str(pid),
                "result": "success",
                "active-enter": now,
                "exec-main-start": now,
                "exec-main-exit": "0",
                "exec-main-status": "0",
            }
        elif state == "failed":
            values |= {
                "main-pid": "0",
                "last-pid": str(pid),
                "result": "exit-code",
                "exec-main-exit": now,
                "exec-main-status": "1",
                "inactive-enter": now,
            }
        else:
            values |= {"main-pid": "0", "result": "success", "inactive-enter": now}
        for name, value in values.items():
            _write_atomic(self.state_dir / name, f"{value}\n".encode())

    # ----------------------------------------------------------- observations
    def _state(self, name: str) -> str:
        try:
            return (self.state_dir / name).read_text().strip()
        except FileNotFoundError:
            return ""

    def unit_state(self) -> str:
        """``active``, ``failed``, ``inactive`` (or ``activating`` during a slow start)."""
        return self._state("unit") or "inactive"

    def running_config(self) -> bytes | None:
        """The daemon.json the daemon runs with (after reloads); None without one."""
        try:
            return (self.state_dir / "loaded.json").read_bytes()
        except FileNotFoundError:
            return None

    def running_config_sha256(self) -> str | None:
        value = self._state("loaded.sha256")
        return None if value in ("", "absent") else value

    def started_config_sha256(self) -> str | None:
        """sha256 of the daemon.json loaded at the daemon's last start."""
        value = self._state("started.sha256")
        return None if value in ("", "absent") else value

    def main_pid(self) -> int:
        value = self._state("main-pid")
        return int(value) if value.isdigit() else 0

    def events(self, kind: str | None = None) -> list[Event]:
        events = parse_events(self.state_dir / "events.log")
        return [e for e in events if kind is None or e.kind == kind]

    def event_kinds(self) -> list[str]:
        return [e.kind for e in self.events()]

    def journal(self) -> list[JournalEntry]:
        return parse_journal(self.state_dir / "journal.log")

    def journal_text(self) -> str:
        return "\n".join(e.message for e in self.journal())

    def commands(self) -> list[CommandRecord]:
        """Every SSH session the host served since the last reset."""
        return parse_commands(self.state_dir / "commands.log")

    def sshd_log(self) -> str:
        try:
            return (self.dir / "sshd.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # ----------------------------------------------------------------- faults
    def fault_slow_restart(self, seconds: float) -> None:
        """Every start of docker.service (start, restart) takes ``seconds``
        longer; the unit is ``activating`` meanwhile."""
        self._apply(replace(self._settings, slow_restart=float(seconds)))

    def install_plugin(self, name: str, *, enabled: bool = True) -> None:
        """A Docker plugin ``docker plugin ls`` lists, by the name it prints
        (``loki:latest`` for one installed ``--alias loki``)."""
        path = self.state_dir / "plugins"
        lines = path.read_text().splitlines() if path.exists() else []
        lines = [line for line in lines if line.split(" ")[0] != name]
        lines.append(f"{name} {'true' if enabled else 'false'}")
        _write_atomic(path, ("\n".join(lines) + "\n").encode())

    def fault_hold_start(self) -> None:
        """Every start of docker.service (start, restart) waits, ``activating``,
        until :meth:`release_start` (an event ``start-held`` says it waits): a
        test acts while a host is in the middle of its restart, whatever the
        machine's load, instead of racing a delay."""
        _write_atomic(self.state_dir / "faults" / "hold-start", b"", mode=0o666)

    def release_start(self) -> None:
        """Let the held starts go on (see :meth:`fault_hold_start`)."""
        (self.state_dir / "faults" / "hold-start").unlink(missing_ok=True)

    def fault_refuse_next_config(self, message: str = config.DEFAULT_REFUSE_MESSAGE) -> None:
        """dockerd refuses, at start, any daemon.json other than the one it runs
        with now (even one ``--validate`` accepts): the next restart with a new
        config fails, a restart after restoring the old file succeeds."""
        current = self._state("loaded.sha256") or "absent"
        self._apply(replace(self._settings, refuse_unless_sha=current, refuse_message=message))

    def fault_refuse_config_with_key(
        self, key: str, message: str = config.DEFAULT_REFUSE_MESSAGE
    ) -> None:
        """dockerd refuses, at start, any daemon.json containing ``"key":``."""
        self._apply(replace(self._settings, refuse_if_key=key, refuse_message=message))

    def fault_unreachable(self, *, drop_connections: bool = True) -> None:
        """The host stops accepting connections (refused); with
        ``drop_connections`` the open ones are cut too."""
        self._stop_listener()
        if drop_connections:
            self.drop_connections()

    def fault_unreachable_after(self, commands: int) -> None:
        """The next ``commands`` SSH sessions (commands, sftp) run; the one after
        that finds the host gone: connections are cut and refused from then on
        (until :meth:`restore_reachable`). Counted by sshd's ForceCommand; the
        listener is only stopped when the triggering session is root's."""
        faults = self.state_dir / "faults"
        (faults / "down").unlink(missing_ok=True)
        _write_atomic(faults / "unreachable-after", f"{commands}\n".encode(), mode=0o666)

    def restore_reachable(self) -> None:
        faults = self.state_dir / "faults"
        for name in ("down", "unreachable-after"):
            (faults / name).unlink(missing_ok=True)
        if not self.is_listening():
            self._start_listener()
            self._wait_listening()

    def drop_connections(self) -> None:
        """Cut every open connection (kill the host's sshd sessions and what they run)."""
        found = procs.host_processes(self.dir.parent).get(self.dir, [])
        procs.kill_all(p.pid for p in found if not p.is_listener)

    def fault_disk_full(self, *, free_bytes: int = 0) -> None:
        """The host's /etc/docker becomes a small tmpfs filled by a ballast file
        (``.fleet-ballast``): reading works, writing more than ``free_bytes``
        fails with ENOSPC. Existing files are kept."""
        etc = self.dir / "etc-docker"
        if mounts.is_mount_point(etc, "tmpfs"):
            self.restore_disk()
        saved = self.dir / ".etc-docker-saved"
        shutil.rmtree(saved, ignore_errors=True)
        shutil.copytree(etc, saved, symlinks=True)
        used = sum(f.stat().st_size for f in saved.rglob("*") if f.is_file())
        size = max(_DISK_MIN, (used + 64 * 1024 + 4095) // 4096 * 4096)
        mounts.mount_tmpfs(etc, size_bytes=size, mode=etc.stat().st_mode & 0o7777)
        shutil.copytree(saved, etc, symlinks=True, dirs_exist_ok=True)
        shutil.rmtree(saved, ignore_errors=True)
        chunk = b"\0" * 4096
        fd = os.open(etc / BALLAST, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        written = 0
        try:
            while True:
                try:
                    written += os.write(fd, chunk)
                except OSError:
                    break
            if free_bytes > 0:
                os.ftruncate(fd, max(0, written - free_bytes))
        finally:
            os.close(fd)

    def restore_disk(self) -> None:
        etc = self.dir / "etc-docker"
        if not mounts.is_mount_point(etc, "tmpfs"):
            return
        saved = self.dir / ".etc-docker-saved"
        shutil.rmtree(saved, ignore_errors=True)
        shutil.copytree(etc, saved, symlinks=True, ignore=shutil.ignore_patterns(BALLAST))
        mounts.unmount(etc)
        _clear_dir(etc)
        shutil.copytree(saved, etc, symlinks=True, dirs_exist_ok=True)
        shutil.rmtree(saved, ignore_errors=True)

    def disk_full(self) -> bool:
        return mounts.is_mount_point(self.dir / "etc-docker", "tmpfs")

    def clear_faults(self) -> None:
        """Undo every fault (slow/refusing dockerd, unreachable, full disk)."""
        self._apply(self._settings.with_faults_cleared())
        self.release_start()
        self.restore_reachable()
        self.restore_disk()

    # -------------------------------------------------------------------- ssh
    @property
    def public_key(self) -> str:
        """``ssh-ed25519 AAAA...`` of the host key sshd serves now."""
        text = (self.dir / "ssh_host_ed25519_key.pub").read_text().split()
        return " ".join(text[:2])

    def set_authorized_keys(self, lines: Sequence[str]) -> None:
        """The public keys this host accepts, for every user (default: the
        fleet's client key). ``[]`` makes every login fail authentication."""
        text = "".join(f"{line.strip()}\n" for line in lines)
        _write_atomic(self.state_dir / "authorized_keys", text.encode())

    def _write_host_key(self, pair: KeyPair) -> None:
        _write_atomic(self.host_key_file, pair.private_openssh, mode=0o600)
        _write_atomic(self.dir / "ssh_host_ed25519_key.pub", (pair.public_line + "\n").encode())

    def regenerate_host_key(self, *, update_known_hosts: bool = False) -> str:
        """Give the host a new host key (sshd restarts, open connections stay).
        Unless ``update_known_hosts``, the fleet's known_hosts keeps the old
        key, so clients see a changed host key. Returns the new public key."""
        self._write_host_key(generate_ed25519(f"root@{self.name}"))
        self._restart_listener()
        if update_known_hosts:
            self._fleet.write_client_files()
        return self.public_key

    def ssh_argv(self, command: str | None = None, *, user: str | None = None) -> list[str]:
        """The OpenSSH command line that runs ``command`` on this host."""
        argv = ["ssh", "-F", str(self._fleet.ssh_config)]
        if user is not None:
            argv += ["-l", user]
        argv.append(self.name)
        if command is not None:
            argv.append(command)
        return argv

    def ssh(
        self,
        command: str,
        *,
        user: str | None = None,
        input: str | None = None,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` through the system ssh client (never raises on a
        non-zero exit; look at ``returncode``)."""
        return subprocess.run(
            self.ssh_argv(command, user=user),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    # --------------------------------------------------------------- listener
    def listener_pid(self) -> int | None:
        """The pid of the host's sshd listener, None when it is not running."""
        if self._proc is not None:
            if self._proc.poll() is None:
                return self._proc.pid
            self._proc = None
        try:
            pid = int((self.dir / "sshd.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if not procs.is_alive(pid) or procs.listener_config(pid) != self.sshd_config:
            return None
        return pid

    def is_listening(self) -> bool:
        return self.listener_pid() is not None

    def _binds(self, *, skip: Sequence[str] = ()) -> str:
        """Shell commands that give a new mount namespace the host's private
        folders (``$1`` is the host folder), but those in ``skip``."""
        script = "mount --make-rslave /"
        for inside, folder in self.private_dirs.items():
            if inside in skip:
                continue
            script += f' && mkdir -p {inside} && mount --bind "$1/{folder}" {inside}'
        return script

    def _spawn(
        self, argv: list[str], log_name: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes] | None:
        """Start one of the host's long-running processes (sshd, the engine)."""
        log_path = self.dir / log_name
        if not self._fleet.owned_here:
            # a detached fleet outlives this process: its sshds must not be our
            # children (nobody would reap them), so a shell starts them and exits
            subprocess.run(
                ["/bin/sh", "-c", 'setsid "$@" </dev/null >>"$0" 2>&1 &', str(log_path), *argv],
                check=True,
                env=env,
            )
            return None
        with open(log_path, "ab") as log:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env=env,
            )

    # ----------------------------------------------------------------- engine
    def _start_engine(self) -> None:
        """Start the host's engine supervisor (tests/fleet/engine.py) in the
        host's folders and its own network and UTS namespaces; it starts
        containerd at once and dockerd when asked."""
        assert self._fleet.engine_dir is not None
        (self.dir / "engine" / "engine.pid").unlink(missing_ok=True)
        # the engine's namespace has the host's /etc/docker, /run and stores,
        # but the machine's /root, /home and /usr/local/sbin (so that the
        # fleet's resets, which end a host's sessions, leave it alone)
        script = self._binds(skip=("/root", "/home", "/usr/local/sbin"))
        script += ' && exec "$2" "$3" serve "$1"'
        argv = ["unshare", "--mount", "--net", "--uts", "--propagation", "unchanged", "--"]
        argv += ["/bin/sh", "-c", script, "fleet-engine", str(self.dir)]
        argv += [system.PYTHON3, engine.__file__]
        env = dict(os.environ, FLEET_ENGINE_DIR=str(self._fleet.engine_dir))
        self._engine = self._spawn(argv, "engine.log", env=env)

    def _wait_engine(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._engine is not None and self._engine.poll() is not None:
                break
            with contextlib.suppress(OSError):
                engine.ctl(self.dir, "state", timeout=5)
                return
            time.sleep(0.02)
        raise FleetError(
            "the engine supervisor did not start: " + self._engine_log(),
            host=self.name,
        )

    def _engine_log(self) -> str:
        try:
            return (self.dir / "engine.log").read_text(errors="replace")[-2000:].strip()
        except FileNotFoundError:
            return "(no engine.log)"

    def engine(self, verb: str) -> str:
        """Ask the host's engine supervisor (start, stop, restart, reload,
        state, reset); its reply ("active", "failed", "inactive", JSON)."""
        if not self.real:
            raise FleetError("only a real-daemon host has an engine", host=self.name)
        reply = engine.ctl(self.dir, verb)
        if reply.startswith("error"):
            raise FleetError(f"engine {verb}: {reply}", host=self.name)
        return reply

    def _engine_reset(self) -> None:
        """dockerd back to the baseline (restarted when its config or flags
        changed, or when it is not running), no containers."""
        if self._engine is None and procs.engine_pid(self.dir) is None:
            self._start_engine()
        self._wait_engine()
        reply = self.engine("reset")
        if reply != "active":
            raise FleetError(
                f"dockerd does not start with no daemon.json ({reply}): "
                + self.journal_text()[-2000:],
                host=self.name,
            )

    def _start_listener(self) -> None:
        (self.dir / "sshd.pid").unlink(missing_ok=True)
        script = self._binds() + ' && exec /usr/sbin/sshd -D -f "$1/sshd_config" -E "$1/sshd.log"'
        argv = ["unshare", "--mount", "--propagation", "unchanged"]
        if self.real:
            # its own hostname, as dockerd reports it (docker info's Name)
            argv.append("--uts")
            script = f"hostname {self.name} && {script}"
        argv += ["--", "/bin/sh", "-c", script, "fleet-host", str(self.dir)]
        self._proc = self._spawn(argv, "start.log")

    def _wait_listening(self, timeout: float = _LISTEN_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                break
            if procs.ssh_banner(self.address, self.port):
                return
            time.sleep(0.01)
        log = ""
        with contextlib.suppress(FileNotFoundError):
            log = (self.dir / "start.log").read_text(errors="replace")[-2000:]
        log += self.sshd_log()[-2000:]
        raise FleetError(
            f"sshd did not start listening on {self.address}:{self.port}: {log.strip()}",
            host=self.name,
            hint="another process may hold the address; see the sshd log in " + str(self.dir),
        )

    def _stop_listener(self) -> None:
        pid = self.listener_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        else:
            procs.kill_all([pid], timeout=10)
        deadline = time.monotonic() + 10
        while not procs.port_refuses(self.address, self.port) and time.monotonic() < deadline:
            time.sleep(0.01)

    def _restart_listener(self) -> None:
        self._stop_listener()
        self._start_listener()
        self._wait_listening()

    # ------------------------------------------------------------ preparation
    def _prepare(self, *, host_key: KeyPair) -> None:
        """Create the host's folders, key, sshd_config, shims and state."""
        for folder in self.private_dirs.values():
            (self.dir / folder).mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir / "root", 0o700)
        if self._fleet.engine_dir is not None:  # a real-daemon host (self.real)
            (self.dir / "run" / "sshd").mkdir(mode=0o755, exist_ok=True)
            (self.dir / "engine").mkdir(exist_ok=True)
            engine.write_rootfs_tar(self._fleet.engine_dir, self.dir / "engine" / "busybox.tar")
        os.chmod(self.dir / "sbin", 0o755)
        self._write_host_key(host_key)
        shutil.copyfile(self.host_key_file, self.dir / "ssh_host_ed25519_key.original")
        shutil.copyfile(
            self.dir / "ssh_host_ed25519_key.pub", self.dir / "ssh_host_ed25519_key.pub.original"
        )
        self.sshd_config.write_text(
            config.render_sshd_config(
                host_name=self.name,
                block=self._fleet.address_block,
                address=self.address,
                port=self.port,
                host_dir=self.dir,
            )
        )
        self._reset_files()

    def _install_shims(self) -> None:
        sbin = self.dir / "sbin"
        (sbin / ".fleet").mkdir(mode=0o755, exist_ok=True)
        for target, source in self.shims.items():
            path = sbin / target
            data = shim_bytes(source)
            try:
                same = path.read_bytes() == data and path.stat().st_mode & 0o777 == 0o755
            except FileNotFoundError:
                same = False
            if not same:
                _write_atomic(path, data, mode=0o755)

    def _reset_files(self) -> None:
        """Files, settings, unit state, logs and faults back to the defaults
        (the caller has cut the host's connections first)."""
        self.restore_disk()
        for folder in CONFIG_DIRS:
            _clear_dir(self.dir / folder)
        _clear_dir(self.dir / "root")
        _clear_dir(self.dir / "home")
        for user in system.BECOME_USERS:
            entry = pwd.getpwnam(user)
            home = self.dir / "home" / user
            home.mkdir(mode=0o700)
            os.chown(home, entry.pw_uid, entry.pw_gid)
        _clear_dir(
            self.dir / "sbin", keep=("dockerd", "docker", "systemctl", "journalctl", ".fleet")
        )
        self._install_shims()
        state = self.state_dir
        _clear_dir(state, keep=("lib.sh", "session", "engine.py"))
        faults = state / "faults"
        faults.mkdir(mode=0o777, exist_ok=True)
        os.chmod(faults, 0o777)
        (faults / "lock").touch(mode=0o666)
        os.chmod(faults / "lock", 0o666)
        (state / "units").mkdir(exist_ok=True)
        _write_atomic(state / "units" / "docker.service", config.render_unit().encode())
        self._settings = config.HostSettings.for_engine(self._fleet.engine_version)
        self._write_settings()
        if self.real:
            for name in ("journal.log", "events.log"):
                _write_atomic(state / name, b"")
            _write_atomic(state / "unit-file-state", b"enabled\n")
            _write_atomic(state / "commands.log", b"", mode=0o666)
            _write_atomic(state / "authorized_keys", self._fleet.authorized_keys.read_bytes())
            (state / "lock").touch()
            return
        self.set_unit_state("active")
        for name, value in (
            ("loaded.sha256", "absent"),
            ("started.sha256", "absent"),
            ("starts", "0"),
            ("unit-file-state", "enabled"),
        ):
            _write_atomic(state / name, f"{value}\n".encode())
        self.set_containers(config.DEFAULT_CONTAINERS)
        pid = self.main_pid()
        now = time.time()
        boot = [
            ("systemd", 1, "Starting docker.service - Docker Application Container Engine..."),
            ("dockerd", pid, 'level=info msg="Starting up"'),
            ("dockerd", pid, 'level=info msg="Daemon has completed initialization"'),
            ("dockerd", pid, 'level=info msg="API listen on /run/docker.sock"'),
            ("systemd", 1, "Started docker.service - Docker Application Container Engine."),
        ]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        journal = "".join(
            f"{now:.6f}\t{ident}\t{p}\t"
            + (f'time="{stamp}.000000000Z" {msg}' if ident == "dockerd" else msg)
            + "\n"
            for ident, p, msg in boot
        )
        _write_atomic(state / "journal.log", journal.encode())
        _write_atomic(state / "events.log", b"")
        _write_atomic(state / "commands.log", b"", mode=0o666)
        _write_atomic(state / "authorized_keys", self._fleet.authorized_keys.read_bytes())
        (state / "lock").touch()

    def reset(self) -> None:
        """Back to a clean default host: open connections cut, files, settings,
        faults, unit active, engine version, host key and listener restored."""
        self._reset(kill_sessions=True)
        self._fleet.write_client_files()

    def _reset(self, *, kill_sessions: bool) -> None:
        if kill_sessions:
            self.drop_connections()
        self._reset_files()
        if self.real:
            self._engine_reset()
        self._ensure_original_key()
        if not self.is_listening():
            self._start_listener()
            self._wait_listening()

    def _ensure_original_key(self) -> None:
        original = self.dir / "ssh_host_ed25519_key.original"
        if not original.exists():
            return
        if original.read_bytes() != self.host_key_file.read_bytes():
            _write_atomic(self.host_key_file, original.read_bytes(), mode=0o600)
            shutil.copyfile(
                self.dir / "ssh_host_ed25519_key.pub.original",
                self.dir / "ssh_host_ed25519_key.pub",
            )
            self._restart_listener()
