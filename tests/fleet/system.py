"""What the real machine needs before a fleet can start.

Checked (never skipped: a missing prerequisite is a clear error) and, where it
is cheap and safe, put in place once: the mount points, sshd's privilege
separation folder, and the ``deploy`` / ``nopriv`` users for become tests."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import resource
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.fleet.errors import FleetError

#: where fleets register their address blocks and take their locks
RUN_DIR = Path("/run/fleetcfg-test-fleet")
DEFAULT_DOCKERD_DIR = Path("/var/cache/fleetcfg/docker.io")
DEFAULT_ENGINE_DIR = Path("/var/cache/fleetcfg/engine")
SUDOERS_FILE = Path("/etc/sudoers.d/fleetcfg-test-fleet")
#: deploy may run anything as root without a password; nopriv needs a password
SUDOERS = (
    "# fleetcfg test fleet: users for become tests (tests/fleet)\n"
    "deploy ALL=(ALL:ALL) NOPASSWD: ALL\n"
    "nopriv ALL=(ALL:ALL) ALL\n"
)
BECOME_USERS = ("deploy", "nopriv")
MOUNT_POINTS = (Path("/etc/docker"), Path("/root"), Path("/home"), Path("/usr/local/sbin"))

_INSTALL_HINT = "scripts/test installs it (CI runs it); on a dev machine run it once as root"


def dockerd_dir() -> Path:
    return Path(os.environ.get("FLEETCFG_DOCKERD_DIR") or DEFAULT_DOCKERD_DIR)


def engine_dir() -> Path:
    return Path(os.environ.get("FLEETCFG_ENGINE_DIR") or DEFAULT_ENGINE_DIR)


#: the engine supervisor and its client run with the machine's python3 (the
#: hosts' sessions have their own /root, where a pyenv python would live)
PYTHON3 = "/usr/bin/python3"
#: what a real-daemon fleet runs from the engine folder
ENGINE_FILES = (
    "usr/sbin/dockerd",
    "usr/bin/docker",
    "usr/bin/containerd",
    "usr/bin/containerd-shim-runc-v2",
    "usr/sbin/runc",
    "usr/sbin/iptables",
    "usr/bin/docker-init",
    "bin/busybox",
)


def check_engine() -> Path:
    """The engine folder of a real-daemon fleet (a clear error when incomplete)."""
    base = engine_dir()
    missing = [f for f in ENGINE_FILES if not os.access(base / f, os.X_OK)]
    if not os.access(PYTHON3, os.X_OK):
        missing.append(PYTHON3)
    if missing:
        raise FleetError(
            f"the real-daemon fleet needs Debian's engine packages in {base}; missing: "
            + ", ".join(missing),
            hint="run scripts/fetch-dockerd --engine (scripts/test does) or set "
            "FLEETCFG_ENGINE_DIR",
        )
    return base


@contextlib.contextmanager
def machine_lock(name: str) -> Iterator[None]:
    """A machine-wide lock (concurrent pytest-xdist workers prepare the machine once)."""
    RUN_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    with open(RUN_DIR / f"{name}.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def check_prerequisites() -> None:
    """Fail with a message that says what to install when the fleet cannot run."""
    if os.geteuid() != 0:
        raise FleetError(
            "the test fleet must run as root (it starts sshd in mount namespaces)",
            hint="run the end-to-end tests as root, as CI does",
        )
    missing = []
    for tool, package in (
        ("/usr/sbin/sshd", "openssh-server"),
        ("/usr/lib/openssh/sftp-server", "openssh-sftp-server"),
        ("ssh", "openssh-client"),
        ("unshare", "util-linux"),
        ("flock", "util-linux"),
        ("mount", "mount"),
        ("jq", "jq"),
        ("sudo", "sudo"),
        ("bash", "bash"),
    ):
        if not (Path(tool).exists() if tool.startswith("/") else shutil.which(tool)):
            missing.append(f"{tool} (Debian package {package})")
    if missing:
        raise FleetError("the test fleet needs " + ", ".join(missing), hint=_INSTALL_HINT)
    real = dockerd_dir() / "usr/sbin/dockerd"
    if not real.exists():
        raise FleetError(
            f"the real dockerd 26.1.5 is missing at {real}",
            hint="run scripts/fetch-dockerd (scripts/test does) or set FLEETCFG_DOCKERD_DIR",
        )


def prepare_machine() -> None:
    """Mount points, /run/sshd, the become users and a high open-files limit."""
    check_prerequisites()
    for path in (*MOUNT_POINTS, Path("/run/sshd")):
        path.mkdir(parents=True, exist_ok=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with machine_lock("users"):
        _ensure_users()


def _ensure_users() -> None:
    for user in BECOME_USERS:
        try:
            pwd.getpwnam(user)
        except KeyError:
            _run(
                ["useradd", "--create-home", "--shell", "/bin/bash", user], f"creating user {user}"
            )
        # sshd without PAM refuses accounts whose password is locked ("!"): "*"
        # means "no password" without locking the account
        if _shadow_password(user).startswith("!"):
            _run(["usermod", "--password", "*", user], f"unlocking user {user} for key logins")
    if not SUDOERS_FILE.exists() or SUDOERS_FILE.read_text() != SUDOERS:
        tmp = SUDOERS_FILE.with_name(".fleetcfg-test-fleet.tmp")
        tmp.write_text(SUDOERS)
        tmp.chmod(0o440)
        _run(["visudo", "-c", "-q", "-f", str(tmp)], "checking the fleet's sudoers file")
        tmp.replace(SUDOERS_FILE)


def _shadow_password(user: str) -> str:
    for line in Path("/etc/shadow").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name == user:
            return rest.split(":", 1)[0]
    return ""


def _run(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise FleetError(f"{what} failed: {proc.stderr.strip() or proc.stdout.strip()}")
