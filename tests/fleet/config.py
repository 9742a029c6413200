"""Text the fleet writes: sshd_config per host, the client's ssh_config and
known_hosts, the docker.service unit and the shims' settings file."""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

#: first line of every fleet sshd_config (how stray fleet sshds are recognised)
SSHD_MARKER = "# fleetcfg test fleet"
DEFAULT_ENGINE_VERSION = "26.1.5"
DEFAULT_EXEC_START_PATH = "/usr/bin/dockerd"
DEFAULT_EXEC_START_FLAGS: tuple[str, ...] = (
    "-H",
    "fd://",
    "--containerd=/run/containerd/containerd.sock",
)
DEFAULT_CONTAINERS = 2
DEFAULT_REFUSE_MESSAGE = (
    "failed to start daemon: Error initializing network controller: "
    "the daemon refused its new configuration (fault injected by the test fleet)"
)
#: PATH of every session: the host's /usr/local/sbin (the shims) comes first,
#: for root and for the non-root users alike
SESSION_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: version -> (suffix, build) as `dockerd --version` prints them
KNOWN_BUILDS = {
    "26.1.5": ("+dfsg1", "411e817"),
    "20.10.24": ("+dfsg1", "297e128"),
    "27.5.1": ("", "4c9b3b0"),
    "28.5.2": ("", "89c5e8f"),
}


def engine_identity(version: str) -> tuple[str, str]:
    """(suffix, build) for a version: Debian's for the ones we know, else a
    made-up but stable build id."""
    if version in KNOWN_BUILDS:
        return KNOWN_BUILDS[version]
    return "", hashlib.sha1(version.encode()).hexdigest()[:7]


@dataclass(frozen=True)
class HostSettings:
    """What the test decided about a host (persisted as settings.json)."""

    engine_version: str = DEFAULT_ENGINE_VERSION
    engine_suffix: str = "+dfsg1"
    engine_build: str = "411e817"
    exec_start_path: str = DEFAULT_EXEC_START_PATH
    exec_start_flags: tuple[str, ...] = DEFAULT_EXEC_START_FLAGS
    slow_restart: float = 0.0
    refuse_unless_sha: str = ""
    refuse_if_key: str = ""
    refuse_message: str = DEFAULT_REFUSE_MESSAGE
    drop_ins: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_engine(cls, version: str) -> HostSettings:
        suffix, build = engine_identity(version)
        return cls(engine_version=version, engine_suffix=suffix, engine_build=build)

    def with_faults_cleared(self) -> HostSettings:
        return replace(self, slow_restart=0.0, refuse_unless_sha="", refuse_if_key="")

    def to_json(self) -> dict[str, object]:
        return {
            "engine_version": self.engine_version,
            "engine_suffix": self.engine_suffix,
            "engine_build": self.engine_build,
            "exec_start_path": self.exec_start_path,
            "exec_start_flags": list(self.exec_start_flags),
            "slow_restart": self.slow_restart,
            "refuse_unless_sha": self.refuse_unless_sha,
            "refuse_if_key": self.refuse_if_key,
            "refuse_message": self.refuse_message,
            "drop_ins": dict(self.drop_ins),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> HostSettings:
        flags = data.get("exec_start_flags", list(DEFAULT_EXEC_START_FLAGS))
        drop_ins = data.get("drop_ins", {})
        assert isinstance(flags, list) and isinstance(drop_ins, dict)
        return cls(
            engine_version=str(data.get("engine_version", DEFAULT_ENGINE_VERSION)),
            engine_suffix=str(data.get("engine_suffix", "")),
            engine_build=str(data.get("engine_build", "")),
            exec_start_path=str(data.get("exec_start_path", DEFAULT_EXEC_START_PATH)),
            exec_start_flags=tuple(str(f) for f in flags),
            slow_restart=float(str(data.get("slow_restart", 0.0))),
            refuse_unless_sha=str(data.get("refuse_unless_sha", "")),
            refuse_if_key=str(data.get("refuse_if_key", "")),
            refuse_message=str(data.get("refuse_message", DEFAULT_REFUSE_MESSAGE)),
            drop_ins={str(k): str(v) for k, v in drop_ins.items()},
        )


def render_settings(
    settings: HostSettings,
    *,
    host_name: str,
    host_dir: Path,
    dockerd_dir: Path,
    daemon_id: str,
    engine_dir: Path | None = None,
) -> str:
    """The shell file every shim sources (bash syntax, values quoted)."""
    q = shlex.quote
    flags = " ".join(q(f) for f in settings.exec_start_flags)
    slow = f"{settings.slow_restart:g}"
    return "\n".join(
        [
            "# written by the test fleet (tests/fleet); the shims source it",
            f"FLEET_HOST={q(host_name)}",
            f"FLEET_HOST_DIR={q(str(host_dir))}",
            f"DOCKERD_DIR={q(str(dockerd_dir))}",
            "# set on a real-daemon host: the unpacked engine (dockerd, containerd, CLI)",
            f"ENGINE_DIR={q(str(engine_dir or ''))}",
            f"DAEMON_ID={q(daemon_id)}",
            f"ENGINE_VERSION={q(settings.engine_version)}",
            f"ENGINE_SUFFIX={q(settings.engine_suffix)}",
            f"ENGINE_BUILD={q(settings.engine_build)}",
            f"EXEC_START_PATH={q(settings.exec_start_path)}",
            f"EXEC_START_FLAGS=({flags})",
            f"SLOW_RESTART={q(slow)}",
            f"REFUSE_UNLESS_SHA={q(settings.refuse_unless_sha)}",
            f"REFUSE_IF_KEY={q(settings.refuse_if_key)}",
            f"REFUSE_MESSAGE={q(settings.refuse_message)}",
            "",
        ]
    )


def render_unit() -> str:
    """docker.service as Docker's packages install it (/lib/systemd/system)."""
    exec_start = " ".join([DEFAULT_EXEC_START_PATH, *DEFAULT_EXEC_START_FLAGS])
    return f"""[Unit]
Description=Docker Application Container Engine
Documentation=https://docs.docker.com
After=network-online.target docker.socket firewalld.service containerd.service time-set.target
Wants=network-online.target containerd.service
Requires=docker.socket

[Service]
Type=notify
ExecStart={exec_start}
ExecReload=/bin/kill -s HUP $MAINPID
TimeoutStartSec=0
RestartSec=2
Restart=always
StartLimitBurst=3
StartLimitInterval=60s
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
Delegate=yes
KillMode=process
OOMScoreAdjust=-500

[Install]
WantedBy=multi-user.target
"""


def _unit_quote(arg: str) -> str:
    if arg and all(c not in arg for c in " \t\"'\\;$%"):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"'


def render_drop_ins(settings: HostSettings) -> dict[str, str]:
    """Drop-in files (name -> text): ``override.conf`` when ExecStart differs
    from the unit's, plus the ones the test set."""
    out: dict[str, str] = {}
    if (
        settings.exec_start_path != DEFAULT_EXEC_START_PATH
        or settings.exec_start_flags != DEFAULT_EXEC_START_FLAGS
    ):
        argv = " ".join(
            _unit_quote(a) for a in [settings.exec_start_path, *settings.exec_start_flags]
        )
        out["override.conf"] = f"[Service]\nExecStart=\nExecStart={argv}\n"
    out.update(settings.drop_ins)
    return out


#: inside the host: read by sshd in the host's namespace, so non-root users can
#: read it whatever the permissions of the fleet folder's parents
AUTHORIZED_KEYS = "/usr/local/sbin/.fleet/authorized_keys"


def render_sshd_config(
    *, host_name: str, block: str, address: str, port: int, host_dir: Path
) -> str:
    return f"""{SSHD_MARKER} block={block} host={host_name}
ListenAddress {address}:{port}
HostKey {host_dir}/ssh_host_ed25519_key
PidFile {host_dir}/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AuthorizedKeysFile {AUTHORIZED_KEYS}
Subsystem sftp internal-sftp
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
AllowAgentForwarding yes
GatewayPorts no
X11Forwarding no
PermitTunnel no
MaxStartups 1000:30:2000
MaxSessions 200
MaxAuthTries 10
LoginGraceTime 60
ClientAliveInterval 0
UseDNS no
PrintMotd no
PrintLastLog no
AcceptEnv LANG LC_*
SetEnv PATH={SESSION_PATH}
ForceCommand /usr/local/sbin/.fleet/session
LogLevel VERBOSE
"""


@dataclass(frozen=True, slots=True)
class ClientEntry:
    name: str
    address: str
    port: int
    public_key: str  # "ssh-ed25519 AAAA..."


def _known_hosts_name(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


def render_known_hosts(entries: Iterable[ClientEntry]) -> str:
    lines = []
    for entry in entries:
        names = f"{_known_hosts_name(entry.address, entry.port)},{entry.name}"
        lines.append(f"{names} {entry.public_key}")
    return "\n".join(lines) + "\n"


def render_ssh_config(
    entries: Sequence[ClientEntry], *, identity_file: Path, known_hosts: Path
) -> str:
    blocks = [
        "# fleetcfg test fleet: ssh -F this-file <host> (OpenSSH client configuration)",
    ]
    for entry in entries:
        blocks.append(
            f"""Host {entry.name}
    HostName {entry.address}
    Port {entry.port}
    User root"""
        )
    blocks.append(
        f"""Host *
    IdentityFile {identity_file}
    IdentitiesOnly yes
    UserKnownHostsFile {known_hosts}
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    UpdateHostKeys no
    BatchMode yes
    ConnectTimeout 10
    ServerAliveInterval 0
    ControlMaster no
    ControlPath none
    LogLevel ERROR"""
    )
    return "\n\n".join(blocks) + "\n"
