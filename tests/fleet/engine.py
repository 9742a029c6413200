#!/usr/bin/env python3
"""The real Docker engine of one fleet host: containerd and dockerd under a
small supervisor that does for them what systemd does for containerd.service,
docker.socket and docker.service.

Standard library only: the supervisor runs with the machine's python3 and the
host's ``systemctl`` shim runs this file as the client (``ctl``).

    engine.py serve HOST_DIR        the supervisor (the test fleet starts it in
                                    the host's mount, network and UTS namespaces)
    engine.py ctl HOST_DIR VERB     ask it: start | stop | reload | state | reset
                                    | shutdown (prints the reply, exit 0 when ok)

The supervisor is dockerd's parent (and the subreaper of containerd's shims),
so it knows exactly when dockerd is up (``READY=1`` on ``NOTIFY_SOCKET``) and
when and how it exited. It owns ``/run/docker.sock`` like docker.socket does
and hands it to dockerd as fd 3 (``-H fd://``). It writes the unit's state in
the files the systemctl shim reads (see shims/lib.sh): unit, main-pid,
last-pid, result, exec-main-*, active-enter, ...; dockerd's output goes to
journal.log with systemd's own lines; containerd's to ``engine/containerd.log``.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

UNIT = "docker.service"
DESCRIPTION = "Docker Application Container Engine"
DOCKER_SOCK = "/run/docker.sock"
CONTAINERD_SOCK = "/run/containerd/containerd.sock"
IMAGE = "busybox:fleet"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 90.0
_PR_SET_CHILD_SUBREAPER = 36
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_LISTEN_FD = 3


def _now() -> str:
    return f"{time.time():.6f}"


class Engine:
    def __init__(self, host_dir: Path) -> None:
        self.host_dir = host_dir
        self.state = host_dir / "sbin" / ".fleet"
        self.runtime = host_dir / "engine"
        self.settings = json.loads((self.state / "settings.json").read_text())
        self.engine_dir = Path(os.environ["FLEET_ENGINE_DIR"])
        self.lock = threading.Lock()  # one control request at a time
        self.cond = threading.Condition()
        self.dockerd: subprocess.Popen[bytes] | None = None
        self.containerd: subprocess.Popen[bytes] | None = None
        self.exits: dict[int, int] = {}  # pid -> wait status
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.pumper: threading.Thread | None = None
        self.ready: set[int] = set()
        self.stopping = False
        self.dirty = False  # reloaded or started with a file since the baseline
        self.journal_lock = threading.Lock()
        self.baseline_flags = [str(f) for f in self.settings.get("exec_start_flags", [])]
        self.listening = False

    # ------------------------------------------------------------ state files
    def set(self, name: str, value: object) -> None:
        tmp = self.state / f".{name}.engine-tmp"
        tmp.write_text(f"{value}\n")
        os.replace(tmp, self.state / name)

    def get(self, name: str, default: str = "") -> str:
        try:
            return (self.state / name).read_text().strip() or default
        except FileNotFoundError:
            return default

    def journal(self, ident: str, pid: int, message: str) -> None:
        lines = "".join(f"{_now()}\t{ident}\t{pid}\t{line}\n" for line in message.splitlines())
        with self.journal_lock, open(self.state / "journal.log", "a") as fh:
            fh.write(lines)

    def systemd(self, message: str) -> None:
        self.journal("systemd", 1, message)

    def event(self, kind: str, **data: object) -> None:
        fields = "".join(f"\t{k}={v}" for k, v in data.items())
        with contextlib.suppress(OSError), open(self.state / "events.log", "a") as fh:
            fh.write(f"{_now()}\t{kind}{fields}\n")

    def unit(self, state: str) -> None:
        self.set("unit", state)
        self.set("state-change", _now())

    # ------------------------------------------------------------ environment
    def env(self) -> dict[str, str]:
        e = self.engine_dir
        lib = e / "usr/lib/x86_64-linux-gnu"
        return {
            "PATH": f"{e}/usr/sbin:{e}/usr/bin:{e}/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LD_LIBRARY_PATH": str(lib),
            "XTABLES_LIBDIR": str(lib / "xtables"),
            "LANG": "C.UTF-8",
            "HOME": "/root",
        }

    def flags(self) -> list[str]:
        self.settings = json.loads((self.state / "settings.json").read_text())
        return [str(f) for f in self.settings.get("exec_start_flags", [])]

    def config_file(self, flags: list[str]) -> Path:
        path = "/etc/docker/daemon.json"
        for i, flag in enumerate(flags):
            if flag == "--config-file" and i + 1 < len(flags):
                path = flags[i + 1]
            elif flag.startswith("--config-file="):
                path = flag.split("=", 1)[1]
        return Path(path)

    @staticmethod
    def sha256(path: Path) -> str:
        try:
            return hashlib.sha256(path.read_bytes()).hexdigest()
        except FileNotFoundError:
            return "absent"

    # ---------------------------------------------------------- docker.socket
    def open_socket(self) -> None:
        """Listen on /run/docker.sock (fd 3, handed to dockerd for ``-H
        fd://``), like docker.socket."""
        if self.listening:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(DOCKER_SOCK)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.bind(DOCKER_SOCK)
            os.chmod(DOCKER_SOCK, 0o660)
            sock.listen(128)
            os.dup2(sock.fileno(), _LISTEN_FD, inheritable=True)
        self.listening = True

    def close_socket(self) -> None:
        """Stop listening once dockerd is gone: clients get "Cannot connect to
        the Docker daemon" at once instead of waiting on a socket nobody
        serves (systemd would try to start dockerd again through the socket;
        a failed start stays failed here until the next start)."""
        if not self.listening:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(DOCKER_SOCK)
        reserve_fd()
        self.listening = False

    # -------------------------------------------------------------- processes
    def reap(self) -> None:
        """Reap every child (dockerd, containerd, orphaned shims, commands);
        a dockerd that dies on its own is recorded as systemd would."""
        while True:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                time.sleep(0.05)
                continue
            except InterruptedError:
                continue
            dockerd = self.dockerd
            if dockerd is not None and dockerd.pid == pid and not self.stopping:
                if self.pumper is not None:
                    self.pumper.join(timeout=5)
                self.dockerd_died(pid, status)
            with self.cond:
                self.exits[pid] = status
                proc = self.procs.pop(pid, None)
                if proc is not None:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                self.cond.notify_all()

    def spawn(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        with self.cond:
            kwargs.setdefault("env", self.env())
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **kwargs)
            self.exits.pop(proc.pid, None)
            self.procs[proc.pid] = proc
        return proc

    def wait(self, proc: subprocess.Popen[bytes], timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: proc.pid in self.exits, timeout=timeout)

    def run(self, *argv: str, timeout: float = 120.0) -> tuple[int, str]:
        with tempfile.TemporaryFile() as out:
            proc = self.spawn(list(argv), stdout=out, stderr=subprocess.STDOUT)
            if not self.wait(proc, timeout):
                proc.kill()
                self.wait(proc, 10)
            out.seek(0)
            return proc.returncode or 0, out.read().decode(errors="replace")

    def notifications(self, sock: socket.socket) -> None:
        while True:
            data = sock.recv(4096).decode(errors="replace")
            if "READY=1" in data.split("\n"):
                with self.cond:
                    if self.dockerd is not None:
                        self.ready.add(self.dockerd.pid)
                    self.cond.notify_all()

    def pump(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            self.journal("dockerd", proc.pid, raw.decode(errors="replace").rstrip("\n"))

    def wait_socket(self, path: str, timeout: float, proc: subprocess.Popen[bytes]) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.returncode is None:
            with socket.socket(socket.AF_UNIX) as s:
                try:
                    s.connect(path)
                    return True
                except OSError:
                    time.sleep(0.02)
        return False

    def ensure_containerd(self) -> None:
        if self.containerd is not None and self.containerd.returncode is None:
            return
        with open(self.runtime / "containerd.log", "ab") as log:
            self.containerd = self.spawn(["containerd"], stdout=log, stderr=log)
        if not self.wait_socket(CONTAINERD_SOCK, 30, self.containerd):
            raise RuntimeError("containerd did not start (see engine/containerd.log)")

    # ---------------------------------------------------------------- dockerd
    def start(self) -> str:
        if self.dockerd is not None and self.dockerd.returncode is None:
            return "active"
        self.ensure_containerd()
        flags = self.flags()
        cfg = self.config_file(flags)
        sha = self.sha256(cfg)
        self.unit("activating")
        self.set("inactive-exit", _now())
        self.systemd(f"Starting {UNIT} - {DESCRIPTION}...")
        env = self.env() | {"NOTIFY_SOCKET": str(self.runtime / "notify.sock")}
        env |= {"LISTEN_FDS": "1", "LISTEN_FDNAMES": "docker.socket"}
        dockerd = str(self.engine_dir / "usr/sbin/dockerd")
        self.open_socket()
        started = _now()
        self.stopping = False
        proc = self.spawn(
            ["/bin/sh", "-c", 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"', dockerd, *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            pass_fds=(_LISTEN_FD,),
        )
        self.pumper = threading.Thread(target=self.pump, args=(proc,), daemon=True)
        self.dockerd = proc
        self.pumper.start()
        self.event("starting", pid=proc.pid)
        deadline = time.monotonic() + START_TIMEOUT
        with self.cond:
            while proc.pid not in self.ready and proc.pid not in self.exits:
                if not self.cond.wait(timeout=max(0.0, deadline - time.monotonic())):
                    break
            ready = proc.pid in self.ready and proc.pid not in self.exits
        if not ready:
            if proc.returncode is None:
                proc.kill()
                self.wait(proc, 10)
            self.event("start-failed", pid=proc.pid, sha256=sha)
            return "failed"
        for name, value in (
            ("main-pid", proc.pid),
            ("last-pid", proc.pid),
            ("result", "success"),
            ("exec-main-start", started),
            ("exec-main-exit", 0),
            ("exec-main-status", 0),
            ("active-enter", _now()),
            ("started.sha256", sha),
            ("loaded.sha256", sha),
            ("starts", int(self.get("starts", "0")) + 1),
        ):
            self.set(name, value)
        self.unit("active")
        self.dirty = sha != "absent" or flags != self.baseline_flags
        (self.runtime / "started-at").write_text(self.get("active-enter"))
        self.systemd(f"Started {UNIT} - {DESCRIPTION}.")
        self.event("started", pid=proc.pid, sha256=sha)
        return "active"

    def dockerd_died(self, pid: int, status: int) -> None:
        """dockerd exited on its own (a start that failed, or a crash)."""
        was = self.get("unit")
        if os.WIFSIGNALED(status):
            sig = signal.Signals(os.WTERMSIG(status)).name.removeprefix("SIG")
            code, text, result = "killed", f"{os.WTERMSIG(status)}/{sig}", "signal"
            number = 128 + os.WTERMSIG(status)
        else:
            number = os.WEXITSTATUS(status)
            code, text, result = "exited", f"{number}/FAILURE", "exit-code"
        self.systemd(f"{UNIT}: Main process exited, code={code}, status={text}")
        self.systemd(f"{UNIT}: Failed with result '{result}'.")
        if was == "activating":
            self.systemd(f"Failed to start {UNIT} - {DESCRIPTION}.")
        now = _now()
        for name, value in (
            ("main-pid", 0),
            ("last-pid", pid),
            ("result", result),
            ("exec-main-exit", now),
            ("exec-main-status", number),
            ("inactive-enter", now),
        ):
            self.set(name, value)
        self.unit("failed")
        self.close_socket()
        self.event("exited", pid=pid, status=number)

    def stop(self) -> str:
        proc = self.dockerd
        if proc is None or proc.returncode is not None:
            if self.get("unit") in ("active", "activating", "deactivating"):
                self.unit("inactive")
            return "inactive"
        with self.cond:
            self.stopping = True
        self.unit("deactivating")
        self.systemd(f"Stopping {UNIT} - {DESCRIPTION}...")
        self.event("stopping", pid=proc.pid)
        proc.send_signal(signal.SIGTERM)
        if not self.wait(proc, STOP_TIMEOUT):
            proc.kill()
            self.wait(proc, 10)
        now = _now()
        for name, value in (
            ("main-pid", 0),
            ("exec-main-exit", now),
            ("exec-main-status", 0),
            ("inactive-enter", now),
            ("active-exit", now),
            ("result", "success"),
        ):
            self.set(name, value)
        self.unit("inactive")
        self.close_socket()
        self.systemd(f"{UNIT}: Deactivated successfully.")
        self.systemd(f"Stopped {UNIT} - {DESCRIPTION}.")
        self.event("stopped", pid=proc.pid)
        with self.cond:
            self.dockerd = None
            self.stopping = False
        return "inactive"

    def reload(self) -> str:
        proc = self.dockerd
        if proc is None or proc.returncode is not None or self.get("unit") != "active":
            return "inactive"
        self.dirty = True
        self.systemd(f"Reloading {UNIT} - {DESCRIPTION}...")
        self.event("reloading", pid=proc.pid)
        proc.send_signal(signal.SIGHUP)
        self.systemd(f"Reloaded {UNIT} - {DESCRIPTION}.")
        return "active"

    def docker(self, *args: str) -> tuple[int, str]:
        return self.run(str(self.engine_dir / "usr/bin/docker"), *args)

    def reset(self) -> str:
        """Back to the baseline: dockerd active with the unit's default flags
        and no daemon.json (restarted only when it differs), no containers,
        the state files rewritten from what really runs."""
        if self.dockerd is not None and self.dockerd.returncode is None:
            pid = self.dockerd.pid
            if self.dirty or self.flags() != self.baseline_flags:
                self.stop()
            else:
                self.republish(pid)
        if self.dockerd is None or self.dockerd.returncode is not None:
            self.dockerd = None
            if self.start() != "active":
                return "failed"
        ids = self.docker("ps", "-aq")[1].split()
        if ids:
            self.docker("rm", "-f", *ids)
        self.ensure_image()
        return "active"

    def republish(self, pid: int) -> None:
        for name, value in (
            ("main-pid", pid),
            ("last-pid", pid),
            ("result", "success"),
            ("exec-main-exit", 0),
            ("exec-main-status", 0),
            ("loaded.sha256", "absent"),
            ("started.sha256", "absent"),
        ):
            self.set(name, value)
        for name in ("exec-main-start", "active-enter", "state-change"):
            self.set(name, self.published_start)
        self.set("unit", "active")

    @property
    def published_start(self) -> str:
        return (self.runtime / "started-at").read_text().strip()

    def ensure_image(self) -> None:
        if self.docker("image", "inspect", IMAGE)[0] == 0:
            return
        code, out = self.docker("import", str(self.runtime / "busybox.tar"), IMAGE)
        if code != 0:
            raise RuntimeError(f"docker import failed: {out}")

    def shutdown(self) -> None:
        self.stop()
        kill_tree(os.getpid())

    # ----------------------------------------------------------------- server
    def handle(self, conn: socket.socket) -> None:
        with conn:
            verb = conn.makefile().readline().strip()
            with self.lock:
                try:
                    if verb == "start":
                        reply = self.start()
                    elif verb == "stop":
                        reply = self.stop()
                    elif verb == "restart":
                        self.stop()
                        reply = self.start()
                    elif verb == "reload":
                        reply = self.reload()
                    elif verb == "reset":
                        reply = self.reset()
                    elif verb == "state":
                        proc = self.dockerd
                        pid = proc.pid if proc is not None and proc.returncode is None else 0
                        reply = json.dumps({"unit": self.get("unit"), "pid": pid})
                    elif verb == "shutdown":
                        conn.sendall(b"bye\n")
                        self.shutdown()
                        os._exit(0)
                    else:
                        reply = f"error unknown verb {verb!r}"
                except Exception as exc:  # the client shows it
                    reply = f"error {type(exc).__name__}: {exc}"
            conn.sendall(reply.encode() + b"\n")

    def serve(self) -> None:
        reserve_fd()
        self.runtime.mkdir(exist_ok=True)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        socket.sethostname(str(self.settings.get("host_name", self.host_dir.name)))
        loopback_up()
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify_path = self.runtime / "notify.sock"
        notify_path.unlink(missing_ok=True)
        notify.bind(str(notify_path))
        ctl_path = self.runtime / "ctl.sock"
        ctl_path.unlink(missing_ok=True)
        ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ctl.bind(str(ctl_path))
        ctl.listen(16)
        threading.Thread(target=self.reap, daemon=True).start()
        threading.Thread(target=self.notifications, args=(notify,), daemon=True).start()

        def on_sigterm(*_: object) -> None:
            self.shutdown()
            os._exit(0)

        signal.signal(signal.SIGTERM, on_sigterm)
        (self.runtime / "engine.pid").write_text(f"{os.getpid()}\n")
        while True:
            conn, _ = ctl.accept()
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()


def reserve_fd() -> None:
    """Keep fd 3 taken (by /dev/null) while nothing listens: nothing else may
    get it, so that putting the next docker.socket there closes nothing."""
    null = os.open("/dev/null", os.O_RDONLY)
    if null != _LISTEN_FD:
        os.dup2(null, _LISTEN_FD, inheritable=True)
        os.close(null)


def loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s.fileno(), _SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | _IFF_UP))


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        out.setdefault(ppid, []).append(int(entry))
    return out


def kill_tree(root: int) -> None:
    """SIGKILL every descendant of ``root`` (containers, shims, containerd)."""
    tree = _children()
    todo, found = list(tree.get(root, [])), []
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def write_rootfs_tar(engine_dir: Path, out: Path) -> None:
    """A tiny image root: Debian's static busybox and a few applet links
    (``docker import`` turns it into busybox:fleet)."""
    with tarfile.open(out, "w") as tar:
        for name in ("bin", "tmp", "etc", "proc", "sys", "dev"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        tar.add(str(engine_dir / "bin/busybox"), arcname="bin/busybox")
        for applet in ("sh", "sleep", "cat", "echo", "ls", "true", "ps", "kill", "wget"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)


def ctl(host_dir: Path, verb: str, timeout: float = 300.0) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(host_dir / "engine" / "ctl.sock"))
        s.sendall(verb.encode() + b"\n")
        return s.makefile().readline().strip()


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "serve":
        Engine(Path(argv[1])).serve()
        return 0
    if len(argv) >= 3 and argv[0] == "ctl":
        try:
            reply = ctl(Path(argv[1]), argv[2])
        except OSError as exc:
            print(f"the host's engine supervisor does not answer: {exc}", file=sys.stderr)
            return 2
        print(reply)
        return 0 if reply in ("active", "inactive", "bye") or reply.startswith("{") else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
