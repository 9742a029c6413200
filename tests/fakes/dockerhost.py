"""A typical Docker host on top of :class:`~tests.fakes.transport.FakeTransport`.

:class:`FakeDockerHost` has ``/etc/docker/daemon.json``, empty
``/etc/systemd/system/docker.service.d`` and ``/etc/buildkit`` folders, an active
``docker.service`` and answers the commands facts, planner and executor tests
need, like the real tools (and the e2e fleet's shims) do:

- ``dockerd --version``; ``dockerd --validate --config-file F`` (engines
  before 23.0 reject the flag; the check is a JSON-object check unless a
  ``validator`` is given)
- ``systemctl is-active|show|cat|reload|restart|start|stop|reset-failed|daemon-reload``
  for docker(.service); ``show`` understands ``-p/--property`` and ``--value``
- ``docker version|info --format '{{json .}}'`` or ``'{{.A.B}}'``; ``docker ps -q``;
  ``docker plugin ls --format '{{.Name}} {{.Enabled}}'`` (``plugins``)
- ``journalctl -u docker [-n N] [-o cat]``: what dockerd and systemd logged
  (:attr:`FakeDockerHost.journal`, one message per line; ``--since`` is
  accepted and ignored); ``date +%s`` (the simulated clock)
- ``timeout DURATION COMMAND...`` (runs COMMAND)
- the facts programs of :mod:`fleetcfg.plan.facts`, recognised by their first line:
  ``# fleetcfg-facts: files v1`` (files, and ``@USER`` config.json files in
  the homes of :meth:`FakeDockerHost.add_user`'s users) and
  ``# fleetcfg-facts: unit v1`` (``systemctl show`` and the unit's
  ``environment_files``; ``environment`` is its Environment=) and
  ``# fleetcfg-facts: engine v1`` (``dockerd --version`` or apply's record
  of it: :meth:`FakeDockerHost.engine_identity`; ``version_runs`` counts the
  real runs)

``dockerd --validate`` and every start/reload also report a setting given both
as an ExecStart flag and in the file (``-H fd://`` with ``"hosts"``), as dockerd
does. ``containers`` containers run while the daemon is active (``docker ps -q``,
``ContainersRunning``); ``lose_containers_on_restart`` of them do not come back
after a restart.

A restart loads daemon.json (an invalid file leaves the unit ``failed``, as
dockerd exits); a reload applies a valid file and keeps the old configuration
on an invalid one (dockerd logs the error and keeps running).
"""

from __future__ import annotations

import json
import posixpath
import re
import time
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from fleetcfg.core.versions import EngineVersion
from fleetcfg.host.programs.base import identify
from fleetcfg.host.transport.base import CommandResult
from tests.fakes import programs as fakeapply
from tests.fakes.buildx import FakeBuildx, run_conditional
from tests.fakes.transport import (
    FAKE_EPOCH,
    FakeTransport,
    FakeUnhandledCommandError,
    run_chain,
)

DAEMON_JSON = "/etc/docker/daemon.json"
#: the folders of the host's other managed files (empty on a new host):
#: docker.service drop-ins and BuildKit's config
SURFACE_DIRS = ("/etc/systemd/system/docker.service.d", "/etc/buildkit")
FACTS_FILES = "facts_files"
FACTS_UNIT = "facts_unit"
FACTS_ENGINE = "engine"
AS_USER = "as_user"
READ = "read"
UNIT = "docker.service"
UNIT_PATH = "/lib/systemd/system/docker.service"
DEBIAN_EXEC_START = ("/usr/sbin/dockerd", "-H", "fd://", "$DOCKER_OPTS")
#: what a typical host has in daemon.json (the default of FakeDockerHost)
TYPICAL_DAEMON_JSON: Mapping[str, Any] = MappingProxyType(
    {"log-driver": "json-file", "log-opts": {"max-file": "3", "max-size": "10m"}}
)
_EPOCH = FAKE_EPOCH  # timestamps are this plus the fake's simulated clock

#: ``validator(content, path)`` returns dockerd's error text, or None when valid
Validator = Callable[[bytes, str], str | None]


def json_object_validator(content: bytes, path: str) -> str | None:
    """The default check: the file must hold one JSON object."""
    prefix = f"unable to configure the Docker daemon with file {path}: "
    try:
        data = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return prefix + f"invalid character: {exc}"
    if not isinstance(data, dict):
        return prefix + "json: cannot unmarshal into Go value of type map[string]interface {}"
    return None


def canonical_json(data: Mapping[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def _result(status: int = 0, stdout: str = "", stderr: str = "") -> CommandResult:
    return CommandResult((), status, stdout, stderr)


class FakeDockerHost(FakeTransport):
    """A FakeTransport with a Docker engine on it (``daemon_json=None``: the
    host has no daemon.json). State is public: tweak it
    (``unit_state = "failed"``, ``fail_restarts = 1``) or assert on it
    (``restarts``, ``reloads``, ``loaded_config``)."""

    def __init__(
        self,
        host: str = "docker1",
        *,
        engine: str = "26.1.5",
        daemon_json: Mapping[str, Any] | str | bytes | None = TYPICAL_DAEMON_JSON,
        client_config: Mapping[str, Any] | str | bytes | None = None,
        unit_state: str = "active",
        exec_start: Sequence[str] = DEBIAN_EXEC_START,
        validator: Validator | None = None,
        strict: bool = True,
    ) -> None:
        super().__init__(host=host, strict=strict)
        self.engine = EngineVersion.parse(engine)
        self.engine_text = engine
        #: how many times ``dockerd --version`` ran (``engine.sh`` answers
        #: from apply's record while the binary is unchanged)
        self.version_runs = 0
        self.exec_start = tuple(exec_start)
        self.validator: Validator = validator or json_object_validator
        self.unit_state = unit_state
        self.main_pid = 4242 if unit_state == "active" else 0
        self.starts = 1 if unit_state == "active" else 0
        self.restarts = 0
        self.reloads = 0
        self.reload_errors: list[str] = []
        #: how many of the next restarts/starts fail (the unit ends ``failed``)
        self.fail_restarts = 0
        #: what dockerd and systemd logged, one message per line (journalctl -o cat)
        self.journal: list[str] = []
        #: containers (restart=always) that run while the daemon is active
        self.containers = 2
        #: installed plugins (``docker plugin ls``): name (``loki:latest``) -> enabled
        self.plugins: dict[str, bool] = {}
        #: containers that do not come back after the next restarts
        self.lose_containers_on_restart = 0
        self.resets_failed = 0
        #: ``systemctl daemon-reload`` runs (unit drop-ins read again)
        self.daemon_reloads = 0
        self.active_since = _EPOCH
        #: Environment= of docker.service, and its EnvironmentFile= paths
        #: (their content is the fake's files)
        self.environment: dict[str, str] = {}
        self.environment_files: list[str] = []
        #: user -> (home, uid, gid, primary group), as ``getent`` answers
        self.users: dict[str, tuple[str, int, int, str]] = {"root": ("/root", 0, 0, "root")}
        self.add_dir("/etc/docker")
        for folder in SURFACE_DIRS:
            self.add_dir(folder)
        self.add_dir("/root")
        if daemon_json is not None:
            self.add_file(DAEMON_JSON, _as_bytes(daemon_json))
        if client_config is not None:
            self.add_file("/root/.docker/config.json", _as_bytes(client_config), mode=0o600)
        for entry in self.files.values():  # these predate the daemon's start
            entry.mtime = _EPOCH - 3600
        #: the daemon.json content the running daemon uses (None: none)
        self.loaded_config: bytes | None = (
            self.content(self.config_path) if unit_state == "active" else None
        )
        #: ``docker buildx``: its builders and the calls it saw
        self.buildx = FakeBuildx()
        self.on(["dockerd"], self._dockerd, prefix=True)
        self.on(["systemctl"], self._systemctl, prefix=True)
        self.on(["docker"], self._docker, prefix=True)
        self.on(["journalctl"], self._journalctl, prefix=True)
        self.on(["date", "+%s"], self._date)
        self.on(["timeout"], self._timeout, prefix=True)
        self.on(["sh", "-c"], self._program, prefix=True)

    def add_user(
        self,
        name: str,
        *,
        home: str | None = None,
        uid: int | None = None,
        group: str | None = None,
    ) -> None:
        """A login user (``getent passwd``); its home folder is created."""
        home = home or ("/root" if name == "root" else f"/home/{name}")
        uid = uid if uid is not None else 1000 + len(self.users)
        self.users[name] = (home, uid, uid, group or name)
        self.add_dir(home)

    # -- what the daemon sees -----------------------------------------------

    @property
    def config_path(self) -> str:
        """The daemon.json the unit's ExecStart makes dockerd read."""
        path = DAEMON_JSON
        flags = list(self.exec_start)
        for i, flag in enumerate(flags):
            if flag == "--config-file" and i + 1 < len(flags):
                path = flags[i + 1]
            elif flag.startswith("--config-file="):
                path = flag.split("=", 1)[1]
        return path

    @property
    def containers_running(self) -> int:
        return self.containers if self.unit_state == "active" else 0

    @property
    def running_config(self) -> dict[str, Any]:
        """The loaded daemon.json, decoded (``{}`` when none, or when the file
        was broken before the fake daemon started)."""
        if not self.loaded_config:
            return {}
        try:
            data = json.loads(self.loaded_config.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def _check_config(self) -> str | None:
        content = self.content(self.config_path)
        if content is None:
            return None
        return self.validator(content, self.config_path) or _flag_conflict(
            content, self.config_path, self.exec_start[1:]
        )

    def log(self, message: str) -> None:
        """Add a line to the journal."""
        self.journal.extend(message.splitlines() or [""])

    # -- dockerd ------------------------------------------------------------

    def _dockerd(
        self, argv: tuple[str, ...], stdin: bytes | None, fake: FakeTransport
    ) -> CommandResult:
        args = argv[1:]
        if "--version" in args or "-v" in args:
            self.version_runs += 1
            return _result(0, f"Docker version {self.engine_text}, build a72d7cd\n")
        if "--validate" in args:
            if self.engine < EngineVersion(23, 0):
                return _result(
                    1, "", "Status: unknown flag: --validate\nSee 'dockerd --help'., Code: 125\n"
                )
            path = DAEMON_JSON
            for i, arg in enumerate(args):
                if arg == "--config-file" and i + 1 < len(args):
                    path = args[i + 1]
                elif arg.startswith("--config-file="):
                    path = arg.split("=", 1)[1]
            content = self.content(path)
            if content is None:
                return _result(
                    1,
                    "",
                    f"unable to configure the Docker daemon with file {path}: "
                    f"open {path}: no such file or directory\n",
                )
            error = self.validator(content, path) or _flag_conflict(content, path, args)
            if error:
                return _result(1, "", error + "\n")
            return _result(0, "", "configuration OK\n")
        return _result(1, "", "dockerd on this host is managed by systemd\n")

    # -- systemctl ----------------------------------------------------------

    def _systemctl(
        self, argv: tuple[str, ...], stdin: bytes | None, fake: FakeTransport
    ) -> CommandResult:
        props: list[str] = []
        value_only = quiet = False
        words: list[str] = []
        args = list(argv[1:])
        while args:
            arg = args.pop(0)
            if arg in ("-p", "--property") and args:
                props += args.pop(0).split(",")
            elif arg.startswith("--property="):
                props += arg.split("=", 1)[1].split(",")
            elif arg == "--value":
                value_only = True
            elif arg in ("-q", "--quiet"):
                quiet = True
            elif arg.startswith("-"):
                continue
            else:
                words.append(arg)
        if not words:
            return _result(1, "", "systemctl: fake needs a verb\n")
        verb, units = words[0], [u if "." in u else u + ".service" for u in words[1:]]
        if verb == "daemon-reload":
            self.daemon_reloads += 1
            return _result()
        if verb == "reset-failed" and not units:
            units = [UNIT]
        if units != [UNIT]:
            return _result(5, "", f"Unit {' '.join(units)} not found.\n")
        if verb == "is-active":
            return _result(
                0 if self.unit_state == "active" else 3, "" if quiet else f"{self.unit_state}\n"
            )
        if verb == "show":
            return self._show(props, value_only)
        if verb == "cat":
            return _result(0, f"# {UNIT_PATH}\n{self.unit_file()}")
        if verb == "reload":
            return self._reload()
        if verb == "reset-failed":
            self.resets_failed += 1
            if self.unit_state == "failed":
                self.unit_state = "inactive"
            return _result()
        if verb in ("restart", "start"):
            if verb == "start" and self.unit_state == "active":
                return _result()
            return self._start(restart=verb == "restart")
        if verb == "stop":
            self.unit_state = "inactive"
            self.main_pid = 0
            self.loaded_config = None
            return _result()
        return _result(1, "", f"systemctl: fake does not know the verb {verb!r}\n")

    def unit_file(self) -> str:
        return (
            "[Unit]\nDescription=Docker Application Container Engine\n\n"
            "[Service]\nType=notify\n"
            f"ExecStart={' '.join(self.exec_start)}\n"
            "ExecReload=/bin/kill -s HUP $MAINPID\nRestart=always\n"
        )

    def _now(self) -> float:
        return _EPOCH + self.clock

    def properties(self) -> dict[str, str]:
        sub = {"active": "running", "failed": "failed"}.get(self.unit_state, "dead")
        flags = " ".join(self.exec_start[1:])
        exec_start = (
            f"{{ path={self.exec_start[0]} ; argv[]={self.exec_start[0]} {flags} ; "
            "ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; "
            f"pid={self.main_pid} ; code=(null) ; status=0/0 }}"
        )
        return {
            "Id": UNIT,
            "LoadState": "loaded",
            "ActiveState": self.unit_state,
            "SubState": sub,
            "Result": "exit-code" if self.unit_state == "failed" else "success",
            "MainPID": str(self.main_pid),
            "ExecMainPID": str(self.main_pid),
            "NRestarts": "0",
            "ExecStart": exec_start,
            "FragmentPath": UNIT_PATH,
            "DropInPaths": "",
            "Environment": " ".join(f"{k}={v}" for k, v in self.environment.items()),
            "UnitFileState": "enabled",
            "ActiveEnterTimestamp": _systemd_time(self.active_since),
            "ExecMainStartTimestamp": _systemd_time(self.active_since),
        }

    def _show(self, wanted: list[str], value_only: bool) -> CommandResult:
        props = self.properties()
        names = wanted or list(props)
        lines = [props[n] if value_only else f"{n}={props[n]}" for n in names if n in props]
        return _result(0, "".join(line + "\n" for line in lines))

    def _reload(self) -> CommandResult:
        if self.unit_state != "active":
            return _result(1, "", f"{UNIT} is not active, cannot reload.\n")
        self.reloads += 1
        self.log(f"Got signal to reload configuration, reloading from: {self.config_path}")
        error = self._check_config()
        if error:
            self.reload_errors.append(error)  # dockerd logs it and keeps the old config
            first = error.splitlines()[0].replace('"', '\\"')
            self.log(f'level=error msg="Error reloading configuration" error="{first}"')
        else:
            self.loaded_config = self.content(self.config_path)
            self.log(f"Reloaded configuration file={self.config_path}")
        return _result()

    def _start(self, *, restart: bool) -> CommandResult:
        if restart:
            self.restarts += 1
        error = self._check_config()
        if error is None and self.fail_restarts > 0:
            self.fail_restarts -= 1
            error = "failed to start daemon (fake fault)"
        self.log("Starting docker.service - Docker Application Container Engine...")
        if error is not None:
            self.unit_state = "failed"
            self.main_pid = 0
            self.loaded_config = None
            self.log(error)
            self.log("docker.service: Failed with result 'exit-code'.")
            return _result(
                1,
                "",
                f"Job for {UNIT} failed because the control process exited with error code.\n"
                f'See "systemctl status {UNIT}" and "journalctl -xeu {UNIT}" for details.\n',
            )
        self.unit_state = "active"
        self.starts += 1
        self.main_pid = 4242 + self.starts
        self.active_since = self._now()
        self.loaded_config = self.content(self.config_path)
        lost = min(self.lose_containers_on_restart, self.containers)
        self.containers -= lost
        self.lose_containers_on_restart -= lost
        self.log("Started docker.service - Docker Application Container Engine.")
        return _result()

    def _date(
        self, argv: tuple[str, ...], stdin: bytes | None, fake: FakeTransport
    ) -> CommandResult:
        return _result(0, f"{int(self._now())}\n")

    # -- journalctl ---------------------------------------------------------

    def _journalctl(
        self, argv: tuple[str, ...], stdin: bytes | None, fake: FakeTransport
    ) -> CommandResult:
        args = list(argv[1:])
        lines: int | None = None
        for i, arg in enumerate(args):
            if arg in ("-n", "--lines") and i + 1 < len(args) and args[i + 1].isdigit():
                lines = int(args[i + 1])
            elif arg.startswith("--lines="):
                lines = int(arg.split("=", 1)[1])
        entries = self.journal if lines is None else self.journal[-lines:] if lines else []
        if not entries:
            return _result(0, "-- No entries --\n")
        return _result(0, "".join(line + "\n" for line in entries))

    # -- docker (client) ----------------------------------------------------

    def info(self) -> dict[str, Any]:
        config = self.running_config
        return {
            "ServerVersion": self.engine_text,
            "Name": self.host,
            "Driver": config.get("storage-driver", "overlay2"),
            "LoggingDriver": config.get("log-driver", "json-file"),
            "DockerRootDir": config.get("data-root", "/var/lib/docker"),
            "Debug": bool(config.get("debug", False)),
            "LiveRestoreEnabled": bool(config.get("live-restore", False)),
            "ContainersRunning": self.containers_running,
            "Labels": list(config.get("labels", [])),
            "RegistryConfig": {"Mirrors": list(config.get("registry-mirrors", []))},
        }

    def _docker(
        self, argv: tuple[str, ...], stdin: bytes | None, fake: FakeTransport
    ) -> CommandResult:
        args = list(argv[1:])
        fmt = None
        for i, arg in enumerate(args):
            if arg in ("-f", "--format") and i + 1 < len(args):
                fmt = args[i + 1]
            elif arg.startswith("--format="):
                fmt = arg.split("=", 1)[1]
        verb = next((a for a in args if not a.startswith("-")), "")
        if verb not in ("info", "version", "ps", "plugin", "buildx"):
            return _result(1, "", f"docker: fake does not know {verb!r}\n")
        if self.unit_state != "active":
            return _result(
                1,
                "",
                "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                "Is the docker daemon running?\n",
            )
        if verb == "buildx":
            return self.buildx.run(self, args[args.index("buildx") + 1 :])
        if verb == "plugin":  # ls --format '{{.Name}} {{.Enabled}}'
            lines = "".join(f"{n} {str(on).lower()}\n" for n, on in self.plugins.items())
            return _result(0, lines)
        if verb == "ps":
            ids = "".join(f"{index:012x}\n" for index in range(1, self.containers_running + 1))
            return _result(0, ids if "-q" in args else "CONTAINER ID\n" + ids)
        data: dict[str, Any] = (
            self.info()
            if verb == "info"
            else {
                "Client": {"Version": "28.2.2"},
                "Server": {"Version": self.engine_text},
            }
        )
        if fmt is None:
            return _result(0, json.dumps(data, indent=1) + "\n")
        return _result(0, _go_format(fmt, data) + "\n")

    # -- timeout and the facts programs ----------------------------------------

    def _timeout(
        self, argv: tuple[str, ...], stdin: bytes | None, fake: FakeTransport
    ) -> CommandResult:
        rest = list(argv[1:])
        while rest and rest[0].startswith("-"):
            rest.pop(0)
        if len(rest) < 2:
            return _result(125, "", "timeout: missing operand\n")
        return self._dispatch(tuple(rest[1:]), stdin, self.command_timeout)

    def _program(
        self, argv: tuple[str, ...], stdin: bytes | None, fake: FakeTransport
    ) -> CommandResult:
        program = identify(
            argv, [*fakeapply.NAMES, FACTS_FILES, FACTS_UNIT, FACTS_ENGINE, AS_USER, READ]
        )
        if program is not None:
            args, rest = program.parse(argv)
            if program.name == AS_USER:
                return self._as_user(args["user"], rest, stdin)
            if program.name == READ:
                return self._read_program(args["path"], int(args["cap"]))
            if program.name == FACTS_FILES:
                return self._files_program(args["rel"], int(args["cap"]), rest)
            if program.name == FACTS_UNIT:
                return self._unit_program(args["unit"])
            if program.name == FACTS_ENGINE:
                return self._engine_program(args["record"], bool(args["save"]), fake)
            return fakeapply.run_program(self, program, args, stdin, rest)
        first = argv[2].split("\n", 1)[0].strip() if len(argv) > 2 else ""
        if len(argv) == 3 and "\n" not in argv[2] and not first.startswith("#"):
            conditional = run_conditional(self, argv[2])
            return conditional if conditional is not None else run_chain(self, argv[2])
        if self.strict:
            raise FakeUnhandledCommandError(
                f"FakeDockerHost({self.host!r}) does not emulate this sh program "
                f"({first!r}); register a handler with fake.on(...)"
            )
        return _result(127, "", "sh: fake does not run programs\n")

    def engine_identity(self) -> str:
        """``engine.sh``'s first record line for the binary the host has (the
        fake's stat of dockerd: it changes with the Engine version, as an
        upgrade replaces the binary)."""
        return f"fleetcfg-engine v1 fake {self.engine_text} /usr/sbin/dockerd"

    def _engine_program(self, record: str, save: bool, fake: FakeTransport) -> CommandResult:
        """``engine.sh``: the recorded line when the record is root's, not
        writable by others and names the binary the host has; else the real
        ``dockerd --version`` (recorded with ``save``). The fake has no
        symlinks; its folders are root's."""
        entry = self.file(record)
        if entry is not None and entry.owner == "root" and not entry.mode & 0o022:
            have, _, rest = entry.content.decode(errors="replace").partition("\n")
            line = rest.partition("\n")[0]
            if have == self.engine_identity() and line:
                return _result(0, line + "\n")
        result = self._dispatch(("dockerd", "--version"), None, self.command_timeout)
        line = result.stdout.partition("\n")[0]
        if (
            save
            and result.ok
            and line.startswith("Docker version ")
            and self.is_dir(posixpath.dirname(record))
        ):
            self.add_file(record, f"{self.engine_identity()}\n{line}\n", mode=0o600)
        return result

    def _as_user(self, user: str, argv: Sequence[str], stdin: bytes | None) -> CommandResult:
        """``as_user.sh``: the fake has no permissions; it runs the command."""
        if user not in self.users:
            return _result(67, "", f"fleetcfg: there is no user {user} on this host\n")
        return self._dispatch(tuple(argv), stdin, self.command_timeout)

    def _read_program(self, path: str, cap: int) -> CommandResult:
        if self.is_dir(path):
            return _result(4, "", f"fleetcfg: {path} is a directory\n")
        entry = self.file(path)
        if entry is None:
            return _result(3, "", f"stat: cannot statx '{path}': No such file or directory\n")
        size = len(entry.content)
        if size > cap:
            return _result(6, "", f"fleetcfg: {path} is {size} bytes, more than the {cap} bytes\n")
        head = f"{entry.mode:o} {entry.owner} {entry.group} {size}\n".encode()
        return CommandResult.from_bytes((), 0, head + entry.content, b"")

    def _files_program(self, rel: str, cap: int, items: Sequence[str]) -> CommandResult:
        lines: list[str] = []
        paths: list[str] = []
        for item in items:
            if not item.startswith("@"):
                paths.append(item)
                continue
            user = item[1:]
            found = self.users.get(user)
            if found is None:
                lines.append(f"nouser {user}")
                continue
            home, uid, gid, group = found
            lines.append(f"user {user}\t{user}:x:{uid}:{gid}::{home}:/bin/sh\t{group}")
            paths.append(home.rstrip("/") + "/" + rel)
        present = []
        for path in paths:
            parent = posixpath.dirname(path) or "/"
            if self.is_dir(path):
                state = "directory"
            elif (entry := self.file(path)) is not None and len(entry.content) > cap:
                state = "toolarge"
                lines.append(f"why too many bytes\t{path}")
            elif self.file(path) is not None:
                state = "present"
                present.append(path)
            else:
                state = "absent" if self.is_dir(parent) else "nodir"
            lines.append(f"entry {state}\t{path}")
        content = b""
        for path in present:
            entry = self.file(path)
            assert entry is not None
            mtime = int(entry.mtime if entry.mtime is not None else self._now())
            lines.append(
                f"stat {len(entry.content)} {entry.mode:o} {entry.owner} {entry.group} "
                f"{mtime}\t{path}"
            )
            content += entry.content
        for path in paths:  # folders of absent files: changed "just now"
            parent = posixpath.dirname(path) or "/"
            if self.file(path) is None and not self.is_dir(path) and self.is_dir(parent):
                lines.append(f"dir {int(self._now())}\t{parent}")
        text = "".join(line + "\n" for line in lines) + "--\n"
        return CommandResult.from_bytes((), 0, text.encode() + content, b"")

    def _unit_program(self, unit: str) -> CommandResult:
        props = ["LoadState", "ActiveState", "SubState", "MainPID", "ExecStart"]
        props += ["FragmentPath", "DropInPaths", "Environment", "EnvironmentFiles"]
        props += ["ActiveEnterTimestamp", "ExecMainStartTimestamp"]
        argv = ["systemctl", "show", unit]
        for prop in props:
            argv += ["-p", prop]
        show = self._systemctl(tuple(argv), None, self)
        out = bytearray(show.stdout_bytes)
        if not show.ok:
            return CommandResult.from_bytes((), show.exit_status, bytes(out), show.stderr.encode())
        if b"$" in out:
            out += b"#fleetcfg-envfiles\n"
            for name in self.environment_files:
                entry = self.file(name)
                if entry is not None:
                    out += f"file {len(entry.content)} {name}\n".encode() + entry.content
                else:
                    out += f"absent 0 {name}\n".encode()
        return CommandResult.from_bytes((), 0, bytes(out), b"")


def _go_format(fmt: str, data: Mapping[str, Any]) -> str:
    """The simple Go templates people pass to ``--format``."""

    def field(match: re.Match[str]) -> str:
        as_json, path = match.group(1), match.group(2)
        value: Any = data
        for part in [p for p in path.split(".") if p]:
            value = value.get(part) if isinstance(value, Mapping) else None
        if as_json:
            return json.dumps(value, separators=(",", ":"))
        if value is None:
            return "<no value>"
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return re.sub(r"\{\{-?\s*(json\s+)?\.([A-Za-z0-9_.]*)\s*-?\}\}", field, fmt)


def _systemd_time(epoch: float) -> str:
    return time.strftime("%a %Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def _as_bytes(value: Mapping[str, Any] | str | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return canonical_json(dict(value))


def _flag_conflict(content: bytes, path: str, flags: Sequence[str]) -> str | None:
    """dockerd's error for ``-H``/``--host`` on the command line and ``hosts``
    in the file (the classic systemd ``-H fd://`` conflict), else None."""
    hosts = [
        flags[i + 1] if flag in ("-H", "--host") else flag.split("=", 1)[1]
        for i, flag in enumerate(flags)
        if (flag in ("-H", "--host") and i + 1 < len(flags)) or flag.startswith("--host=")
    ]
    if not hosts:
        return None
    try:
        data = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or "hosts" not in data:
        return None
    from_file = " ".join(str(h) for h in data["hosts"]) if isinstance(data["hosts"], list) else ""
    return (
        f"unable to configure the Docker daemon with file {path}: the following directives "
        "are specified both as a flag and in the configuration file: hosts: "
        f"(from flag: [{' '.join(hosts)}], from file: [{from_file}])"
    )
