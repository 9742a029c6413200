"""What a host has now, gathered in one round trip.

The planner decides from these facts; ``apply`` gathers them again right
before it touches a host (through :func:`fleetcfg.plan.fleet.plan_host`) to
detect a stale plan.

One ``run_many`` batch (:func:`fact_commands`) asks for everything:

====  ===============================================================  ====================
 #    command                                                          parsed by
====  ===============================================================  ====================
 0    ``sh -c FILES_PROGRAM sh .docker/config.json                     :func:`parse_files`
      /etc/docker/daemon.json /etc/docker/.fleetcfg/state.json
      @root @alice``: every file (content, mode, owner, or absent)
      with one ``stat`` and one ``cat``; ``@USER`` is
      ``.docker/config.json`` in the home ``getent passwd`` reports
 1    ``dockerd --version``                                            :func:`parse_engine`
 2    ``sh -c UNIT_PROGRAM sh docker.service``: ``systemctl show``     :func:`parse_unit`
      (LoadState, ActiveState, ExecStart with drop-ins, Environment,
      EnvironmentFiles), then the EnvironmentFile= contents when
      ExecStart uses ``$VARIABLES`` (Debian's ``$DOCKER_OPTS``)
last  with ``info=True`` only: ``timeout 10 docker info --format       :func:`parse_info`
      '{{json .ContainersRunning}} {{json .LiveRestoreEnabled}}
      {{json .ServerVersion}}'``
====  ===============================================================  ====================

``docker info`` is the slowest fact by far (an API call that gathers the
whole system state) and only matters when dockerd is about to restart (how
many containers a restart stops). :func:`fleetcfg.plan.fleet.plan_host` asks for
it (:func:`gather_daemon_info`, one more exec on the same connection) only for
hosts whose plan is a restart of a running daemon.

A second round trip happens only when the unit's ExecStart passes
``--config-file``: dockerd then reads that file instead of
``/etc/docker/daemon.json``, and the facts describe that file.

The parsing functions are pure (a :class:`~fleetcfg.host.transport.base.CommandResult`
in, a dataclass out), so the fake and the real transports share them.
``FILES_PROGRAM`` and ``UNIT_PROGRAM`` start with a ``# fleetcfg-facts:``
line naming the program and its version; :class:`~tests.fakes.dockerhost.FakeDockerHost`
emulates them by that name.

``/etc/docker/.fleetcfg/state.json`` is what fleetcfg last wrote on the host
(written by apply, see :mod:`fleetcfg.host.state`)::

    {"format": 1,
     "files": {"/etc/docker/daemon.json": {"sha256": "... (null: fleetcfg removed it)",
                                           "written_at": "2025-01-31T10:00:00.000000Z",
                                           "written_by": "alice@laptop", "plan_id": "...", ...}}}

:func:`parse_state` reads only what drift needs and ignores the rest; it also
accepts the path -> entry mapping at the top level.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from fleetcfg.core.errors import UsageError
from fleetcfg.core.hashing import sha256_hex
from fleetcfg.core.versions import EngineVersion
from fleetcfg.dockerd.keys import BOOL_FLAGS
from fleetcfg.host.transport.base import CommandResult, Transport
from fleetcfg.plan.model import HostFacts

DAEMON_JSON = "/etc/docker/daemon.json"
STATE_DIR = "/etc/docker/.fleetcfg"
STATE_FILE = f"{STATE_DIR}/state.json"
#: where a client user's config lives, relative to the home ``getent`` reports
CLIENT_CONFIG = ".docker/config.json"
UNIT = "docker.service"
#: seconds ``docker info`` may take (a wedged dockerd must not stall the plan)
INFO_TIMEOUT = 10
#: Engine release that added ``dockerd --validate``
VALIDATE_SINCE = EngineVersion(23, 0)

INFO_FORMAT = "{{json .ContainersRunning}} {{json .LiveRestoreEnabled}} {{json .ServerVersion}}"

#: Reads files: ``REL PATH|@USER...`` (``@USER``: REL in USER's home). Prints
#: ``user NAME<TAB>PASSWD-LINE<TAB>GROUP`` or ``nouser NAME`` per user, then
#: ``entry STATE<TAB>PATH`` per file (present, absent, nodir: its folder is
#: missing too, directory, unreadable), ``stat SIZE MODE OWNER GROUP<TAB>PATH``
#: per present file (one ``stat``; MTIME in epoch seconds), ``dir MTIME<TAB>DIR``
#: for the folder of each absent file, a line ``--``, then the present files'
#: contents back to back (one ``cat``). Exit 5: a file vanished mid-way.
FILES_PROGRAM = r"""# fleetcfg-facts: files v1
export LC_ALL=C
tab=$(printf '\t')
rel=$1
dirs=
shift
n=$#
while [ "$n" -gt 0 ]; do
  a=$1
  shift
  n=$((n - 1))
  case $a in
  @*)
    u=${a#@}
    if e=$(getent passwd "$u"); then
      IFS=: read -r _ _ _ gid _ h _ <<EOF
$e
EOF
      g=$(getent group "$gid") && g=${g%%:*} || g=$gid
      printf 'user %s\t%s\t%s\n' "$u" "$e" "$g"
      set -- "$@" "${h%/}/$rel"
    else
      printf 'nouser %s\n' "$u"
    fi
    ;;
  *) set -- "$@" "$a" ;;
  esac
done
n=$#
while [ "$n" -gt 0 ]; do
  p=$1
  shift
  n=$((n - 1))
  d=${p%/*}
  if [ -d "$p" ]; then
    st=directory
  elif [ -f "$p" ]; then
    if [ -r "$p" ]; then
      st=present
      set -- "$@" "$p"
    else
      st=unreadable
    fi
  elif [ -e "$p" ] || [ -L "$p" ]; then
    st=unreadable
  elif [ -d "${d:-/}" ]; then
    st=absent
    dirs="$dirs${d:-/}
"
  else
    st=nodir
  fi
  printf 'entry %s\t%s\n' "$st" "$p"
done
if [ "$#" -gt 0 ]; then
  stat -L -c "stat %s %a %U %G %Y$tab%n" -- "$@" || exit 5
fi
if [ -n "$dirs" ]; then
  old=$IFS
  IFS='
'
  set -f
  stat -L -c "dir %Y$tab%n" -- $dirs 2>/dev/null
  set +f
  IFS=$old
fi
printf -- '--\n'
[ "$#" -gt 0 ] || exit 0
exec cat -- "$@"
"""

#: ``systemctl show`` of the unit (its exit status when it fails); then, when
#: the output has a ``$`` (ExecStart may use variables), a line
#: ``#fleetcfg-envfiles`` and every EnvironmentFile=: ``file SIZE PATH`` then
#: SIZE bytes of content, ``unreadable 0 PATH`` or ``absent 0 PATH``.
UNIT_PROGRAM = r"""# fleetcfg-facts: unit v1
export LC_ALL=C TZ=UTC
out=$(systemctl show "$1" -p LoadState -p ActiveState -p SubState -p MainPID -p ExecStart \
  -p FragmentPath -p DropInPaths -p Environment -p EnvironmentFiles -p ActiveEnterTimestamp)
s=$?
printf '%s\n' "$out"
[ "$s" -eq 0 ] || exit "$s"
case $out in *'$'*) ;; *) exit 0 ;; esac
printf '#fleetcfg-envfiles\n'
printf '%s\n' "$out" | while IFS= read -r line; do
  case $line in EnvironmentFiles=/*) ;; *) continue ;; esac
  f=${line#EnvironmentFiles=}
  f=${f% (ignore_errors=*)}
  if [ -f "$f" ] && [ -r "$f" ]; then
    n=$(wc -c <"$f")
    printf 'file %s %s\n' $n "$f"
    cat -- "$f"
  elif [ -e "$f" ]; then
    printf 'unreadable 0 %s\n' "$f"
  else
    printf 'absent 0 %s\n' "$f"
  fi
done
exit 0
"""
ENVFILES_MARK = b"#fleetcfg-envfiles\n"

_USER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*\$?$")


# --------------------------------------------------------------------------
# the facts


@dataclass(frozen=True, slots=True)
class FileFacts:
    """One file on the host. ``problem`` says why it could not be read (its
    content is then unknown, which is not the same as absent)."""

    path: str
    exists: bool
    content: bytes | None = None
    sha256: str | None = None
    mode: int | None = None
    owner: str | None = None
    group: str | None = None
    #: the folder the file lives in exists (apply creates it otherwise)
    parent_exists: bool = True
    problem: str | None = None
    #: last modification (epoch seconds) of the file, or of its folder when
    #: the file is absent (None: unknown)
    mtime: int | None = None

    @property
    def known(self) -> bool:
        return self.problem is None


@dataclass(frozen=True, slots=True)
class UserFacts:
    """A client user as the host knows it (``getent passwd``)."""

    name: str
    exists: bool
    home: str | None = None
    uid: int | None = None
    gid: int | None = None
    #: the user's primary group (its name, or the gid when it has none)
    group: str | None = None
    #: ``~/.docker/config.json`` in the user's real home
    config: FileFacts | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class UnitFacts:
    """docker.service as systemd runs it (drop-ins included)."""

    load_state: str | None = None
    active_state: str | None = None
    sub_state: str | None = None
    main_pid: int | None = None
    #: when the unit last became active (epoch seconds; None: unknown)
    active_since: int | None = None
    #: ExecStart's argv with ``$VAR``/``${VAR}`` expanded from Environment=
    #: and EnvironmentFile= (the dockerd binary first)
    exec_start: tuple[str, ...] = ()
    #: ExecStart as systemd shows it (unexpanded)
    exec_start_raw: str = ""
    fragment_path: str | None = None
    drop_in_paths: tuple[str, ...] = ()
    #: variables ExecStart uses that no Environment=/EnvironmentFile= sets
    #: (systemd expands them to nothing)
    unset_variables: tuple[str, ...] = ()
    #: EnvironmentFile= files that exist but could not be read
    unreadable_env_files: tuple[str, ...] = ()
    #: variables ExecStart uses that are set -> where (an EnvironmentFile= path,
    #: or "Environment=")
    variables: Mapping[str, str] = field(default_factory=dict)

    @property
    def loaded(self) -> bool:
        return self.load_state not in (None, "not-found", "masked")

    @property
    def active(self) -> bool:
        return self.active_state in ("active", "reloading")

    @property
    def flags(self) -> tuple[str, ...]:
        """dockerd's command-line arguments (ExecStart without the binary)."""
        return self.exec_start[1:]

    @property
    def config_file(self) -> str:
        """The daemon.json dockerd reads (``--config-file``, else the default)."""
        return config_file_of(self.flags)

    @property
    def sources(self) -> str:
        """Where ExecStart is defined, for messages."""
        places = [p for p in (self.fragment_path, *self.drop_in_paths) if p]
        return ", ".join(places) if places else UNIT


@dataclass(frozen=True, slots=True)
class DaemonInfo:
    """What the running daemon has: its running containers and live-restore."""

    running_containers: int | None = None
    live_restore: bool | None = None
    server_version: str | None = None
    #: where live-restore comes from: "docker info", "ExecStart" (a flag), or
    #: "daemon.json" (the file is unchanged since dockerd started)
    source: str = "docker info"


@dataclass(frozen=True, slots=True)
class StateEntry:
    """What fleetcfg last wrote to one file (from state.json)."""

    path: str
    #: sha256 of the bytes written (None: fleetcfg removed the file)
    sha256: str | None
    written_at: str | None = None
    written_by: str | None = None
    plan_id: str | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the planner needs to know about one host. A ``*_problem``
    field says why the matching fact is unknown."""

    host: str
    daemon_json: FileFacts
    users: Mapping[str, UserFacts] = field(default_factory=dict)
    engine: EngineVersion | None = None
    #: ``dockerd --version`` as printed
    engine_text: str | None = None
    engine_problem: str | None = None
    unit: UnitFacts | None = None
    unit_problem: str | None = None
    info: DaemonInfo | None = None
    info_problem: str | None = None
    #: path -> what fleetcfg last wrote there
    state: Mapping[str, StateEntry] = field(default_factory=dict)
    state_problem: str | None = None

    @property
    def has_validate(self) -> bool:
        return self.engine is not None and self.engine >= VALIDATE_SINCE

    def to_host_facts(self, mask: Callable[[str], str] | None = None) -> HostFacts:
        """The part of the facts a plan records (``mask`` masks secrets in
        the ExecStart flags, e.g. ``--http-proxy`` credentials)."""
        flags = list(self.unit.flags) if self.unit is not None else []
        if mask is not None:
            flags = [mask(f) for f in flags]
        return HostFacts(
            engine_version=str(self.engine) if self.engine is not None else None,
            has_validate=self.has_validate,
            exec_start=flags,
            active=self.unit.active if self.unit is not None and self.unit.loaded else None,
            running_containers=self.info.running_containers if self.info else None,
            live_restore=self.info.live_restore if self.info else None,
            unit_state=self.unit.active_state if self.unit is not None else None,
            config_file=self.daemon_json.path,
        )


# --------------------------------------------------------------------------
# the commands


def check_user_name(user: str) -> str:
    if not _USER_RE.match(user):
        raise UsageError(
            f"{user!r} is not a valid user name",
            hint="client_users lists login names such as root or gitlab-runner",
        )
    return user


def files_command(paths: Sequence[str], users: Sequence[str] = ()) -> list[str]:
    """Read ``paths`` (absolute) and each user's ``~/.docker/config.json``."""
    for path in paths:
        if not path.startswith("/"):
            raise UsageError(f"remote paths must be absolute, got {path!r}")
    return [
        "sh",
        "-c",
        FILES_PROGRAM,
        "sh",
        CLIENT_CONFIG,
        *paths,
        *(f"@{check_user_name(u)}" for u in users),
    ]


def info_command() -> list[str]:
    return ["timeout", str(INFO_TIMEOUT), "docker", "info", "--format", INFO_FORMAT]


def fact_commands(users: Sequence[str] = (), *, info: bool = False) -> list[list[str]]:
    """The argv of every fact, in the order :func:`parse_facts` expects
    (``docker info`` last, with ``info``)."""
    commands = [
        files_command([DAEMON_JSON, STATE_FILE], users),
        ["dockerd", "--version"],
        ["sh", "-c", UNIT_PROGRAM, "sh", UNIT],
    ]
    if info:
        commands.append(info_command())
    return commands


def gather_facts(transport: Transport, users: Sequence[str] = (), *, info: bool = False) -> Facts:
    """Ask ``transport``'s host for its facts (one round trip; a second one
    only when the unit reads another daemon.json through ``--config-file``).
    ``info``: ask ``docker info`` in the same round trip."""
    users = [check_user_name(u) for u in users]
    results = transport.run_many(fact_commands(users, info=info))
    facts = parse_facts(transport.host, users, results, info=info)
    if facts.unit is not None and facts.unit.config_file != facts.daemon_json.path:
        path = facts.unit.config_file
        files, _ = parse_files(transport.run(files_command([path])), [path])
        facts = replace(facts, daemon_json=files[path])
    return facts


def containers_command() -> list[str]:
    return ["timeout", str(INFO_TIMEOUT), "docker", "ps", "-q"]


def parse_containers(result: CommandResult) -> tuple[int | None, str | None]:
    """``docker ps -q`` -> how many containers run."""
    if result.exit_status == 124:
        return None, f"docker ps did not answer within {INFO_TIMEOUT}s (is dockerd hung?)"
    if not result.ok:
        return None, _failure(result, "docker ps")
    return len([line for line in result.stdout.splitlines() if line.strip()]), None


def running_live_restore(facts: Facts) -> tuple[bool | None, str]:
    """live-restore as the running daemon has it, when the facts prove it
    without asking the daemon: a ``--live-restore`` flag in ExecStart, or a
    daemon.json (or, when there is none, its folder) unchanged since the unit
    became active, so that dockerd runs exactly that file. (None, "") when
    only ``docker info`` can tell."""
    unit = facts.unit
    if unit is None:
        return None, ""
    for flag in parse_flags(unit.flags):
        if flag.name == "live-restore":
            return (flag.value or "true").lower() in ("true", "1"), "ExecStart"
    file = facts.daemon_json
    since = unit.active_since
    if since is None or not file.known or file.mtime is None or file.mtime >= since:
        return None, ""
    if not file.exists:
        return False, "daemon.json"
    try:
        data = json.loads((file.content or b"").decode("utf-8-sig") or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, ""
    if not isinstance(data, dict):
        return None, ""
    value = data.get("live-restore", False)
    return (value if isinstance(value, bool) else None), "daemon.json"


def gather_daemon_info(transport: Transport, facts: Facts) -> Facts:
    """``facts`` with the daemon's running containers and live-restore (one
    exec): ``docker ps -q`` when :func:`running_live_restore` knows
    live-restore, else ``docker info`` (slow: it gathers the whole system
    state)."""
    live, source = running_live_restore(facts)
    if live is None:
        info, problem = parse_info(transport.run(info_command()))
        return replace(facts, info=info, info_problem=problem)
    count, problem = parse_containers(transport.run(containers_command()))
    if count is None:
        return replace(facts, info=None, info_problem=problem)
    return replace(facts, info=DaemonInfo(count, live, None, source=source), info_problem=None)


# --------------------------------------------------------------------------
# parsing


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0].strip() if lines else ""


def _failure(result: CommandResult, what: str) -> str:
    """Why a fact command failed, for messages."""
    if result.exit_status == 127:
        return f"{result.argv[0]} is not installed (or not on PATH)"
    detail = _first_line(result.stderr) or _first_line(result.stdout)
    return f"{what} failed (exit status {result.exit_status})" + (f": {detail}" if detail else "")


_STAT_RE = re.compile(r"(\d+) ([0-7]{1,4}) (\S+) (\S+)(?: (\d+))?")
_CHANGED = "a file changed while it was read; run plan again"


def parse_files(
    result: CommandResult, paths: Sequence[str], users: Sequence[str] = ()
) -> tuple[dict[str, FileFacts], dict[str, UserFacts]]:
    """Decode what ``FILES_PROGRAM`` printed for ``paths`` and ``users``:
    each path's file, and each user (its config.json in ``config``)."""
    raw = result.stdout_bytes
    if raw.startswith(b"--\n"):
        header, sep, content = b"", b"--\n", raw[3:]
    else:
        header, sep, content = raw.partition(b"\n--\n")

    def failed(why: str) -> tuple[dict[str, FileFacts], dict[str, UserFacts]]:
        files = {p: FileFacts(p, exists=False, problem=why) for p in paths}
        return files, {u: UserFacts(u, exists=False, problem=why) for u in users}

    if result.exit_status == 5:
        return failed(_CHANGED)
    if not sep or not result.ok:
        why = _failure(result, "reading files")
        if "Permission denied" in result.stderr:
            why += " (use become: true, or connect as root)"
        return failed(why)
    entries: dict[str, str] = {}
    stats: list[tuple[str, int, int, str, str, int | None]] = []
    dir_mtimes: dict[str, int] = {}
    homes: dict[str, tuple[str, str]] = {}
    for line in header.decode("utf-8", "replace").split("\n"):
        kind, _, rest = line.partition(" ")
        if kind == "user":
            name, _, tail = rest.partition("\t")
            passwd, _, group = tail.rpartition("\t")
            homes[name] = (passwd, group)
        elif kind == "entry":
            state, _, path = rest.partition("\t")
            entries[path] = state
        elif kind == "stat":
            fields, _, path = rest.partition("\t")
            m = _STAT_RE.fullmatch(fields)
            if m:
                size, mode, owner, group, mtime = m.groups()
                when = int(mtime) if mtime else None
                stats.append((path, int(size), int(mode, 8), owner, group, when))
        elif kind == "dir":
            mtime, _, path = rest.partition("\t")
            if mtime.isdigit():
                dir_mtimes[path] = int(mtime)
    if sum(stat[1] for stat in stats) != len(content):
        return failed(_CHANGED)
    present: dict[str, FileFacts] = {}
    pos = 0
    for path, size, mode, owner, group, mtime in stats:
        data = content[pos : pos + size]
        pos += size
        present[path] = FileFacts(
            path, True, data, sha256_hex(data), mode, owner, group, mtime=mtime
        )

    def file(path: str) -> FileFacts:
        if path in present:
            return present[path]
        state = entries.get(path)
        if state == "absent":
            folder = path.rpartition("/")[0] or "/"
            return FileFacts(path, exists=False, mtime=dir_mtimes.get(folder))
        if state == "nodir":
            return FileFacts(path, exists=False, parent_exists=False)
        if state == "directory":
            return FileFacts(path, exists=True, problem=f"{path} is a directory")
        if state == "unreadable":
            return FileFacts(
                path,
                exists=True,
                problem=f"{path}: permission denied (use become: true, or connect as root)",
            )
        return FileFacts(path, exists=False, problem=f"{path} was not read")

    files = {path: file(path) for path in paths}
    people: dict[str, UserFacts] = {}
    for user in users:
        if user not in homes:
            people[user] = UserFacts(user, exists=False, problem=f"user {user} does not exist")
            continue
        found = _user_from(user, *homes[user])
        if found.exists:
            home = (found.home or "/").rstrip("/")
            found = replace(found, config=file(f"{home}/{CLIENT_CONFIG}"))
        people[user] = found
    return files, people


def _user_from(name: str, passwd: str, group: str) -> UserFacts:
    entry = passwd.split(":")
    if len(entry) < 7:
        return UserFacts(name, exists=False, problem=f"unexpected getent passwd output for {name}")

    def number(text: str) -> int | None:
        return int(text) if text.isdigit() else None

    return UserFacts(
        name=name,
        exists=True,
        home=entry[5] or "/",
        uid=number(entry[2]),
        gid=number(entry[3]),
        group=group or entry[3],
    )


def parse_engine(result: CommandResult) -> tuple[EngineVersion | None, str | None, str | None]:
    """``dockerd --version`` -> (version, the line printed, problem)."""
    text = _first_line(result.stdout)
    if not result.ok or not text:
        return None, text or None, _failure(result, "dockerd --version")
    try:
        return EngineVersion.parse(text), text, None
    except ValueError:
        return None, text, f"cannot read the Engine version from `dockerd --version`: {text!r}"


def parse_properties(text: str) -> dict[str, list[str]]:
    """``Name=value`` lines of ``systemctl show`` (a property given several
    times, like ExecStart with several commands, keeps every value)."""
    props: dict[str, list[str]] = {}
    for line in text.splitlines():
        name, eq, value = line.partition("=")
        if eq and name and " " not in name:
            props.setdefault(name, []).append(value)
    return props


_ARGV_RE = re.compile(r"argv\[\]=(.*?) ; (?:ignore_errors|flags)=")


def exec_start_argv(value: str) -> tuple[str, ...]:
    """The argv of one ``ExecStart={ path=... ; argv[]=... ; ... }`` value.
    systemd joins the arguments with spaces (newer releases quote those that
    need it)."""
    m = _ARGV_RE.search(value)
    text = m.group(1) if m else value.strip().strip("{}").strip()
    if not text:
        return ()
    try:
        return tuple(shlex.split(text))
    except ValueError:
        return tuple(text.split())


def parse_env_files(raw: bytes) -> tuple[dict[str, str | None], str | None]:
    """The EnvironmentFile= part of ``UNIT_PROGRAM``'s output: path -> content
    (``None`` when it exists but cannot be read; absent files are left out)."""
    files: dict[str, str | None] = {}
    pos = 0
    header_re = re.compile(rb"(file|unreadable|absent) (\d+) ([^\n]*)\n")
    while pos < len(raw):
        m = header_re.match(raw, pos)
        if m is None:
            return files, "unexpected output while reading the unit's EnvironmentFile="
        kind, size, path = m.group(1), int(m.group(2)), m.group(3).decode("utf-8", "replace")
        pos = m.end()
        if kind == b"file":
            files[path] = raw[pos : pos + size].decode("utf-8", "replace")
            pos += size
        elif kind == b"unreadable":
            files[path] = None
    return files, None


def parse_environment_file(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines as systemd's EnvironmentFile= reads them: ``#`` and
    ``;`` comments, single or double quotes, backslash continuation."""
    out: dict[str, str] = {}
    joined = re.sub(r"\\\n", "", text)
    for raw_line in joined.splitlines():
        line = raw_line.strip()
        if not line or line[0] in "#;":
            continue
        key, eq, value = line.partition("=")
        key = key.strip()
        if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            inner = value[1:-1]
            value = re.sub(r"\\(.)", r"\1", inner) if value[0] == '"' else inner
        out[key] = value
    return out


def parse_environment_property(values: Sequence[str]) -> dict[str, str]:
    """``Environment=A=1 "B=two words"`` as systemctl show prints it."""
    out: dict[str, str] = {}
    for value in values:
        try:
            words = shlex.split(value)
        except ValueError:
            words = value.split()
        for word in words:
            key, eq, val = word.partition("=")
            if eq:
                out[key] = val
    return out


_VAR_WORD = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
_VAR_ANY = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def expand_exec_start(
    argv: Sequence[str], env: Mapping[str, str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """systemd's variable expansion in ExecStart: a word that is exactly
    ``$VAR`` becomes the value split at white space (nothing when unset);
    ``${VAR}`` and ``$VAR`` inside a word are replaced in place. Returns the
    argv and the variables that were not set."""
    unset: list[str] = []
    out: list[str] = []

    def value(name: str) -> str:
        if name not in env and name not in unset:
            unset.append(name)
        return env.get(name, "")

    for word in argv:
        whole = _VAR_WORD.match(word)
        if whole:
            out.extend(value(whole.group(1)).split())
            continue
        out.append(_VAR_ANY.sub(lambda m: value(m.group(1) or m.group(2)), word))
    return tuple(out), tuple(unset)


def parse_unit(result: CommandResult) -> tuple[UnitFacts | None, str | None, list[str]]:
    """What ``UNIT_PROGRAM`` printed -> the unit, the problem when it is
    unknown, and warnings."""
    warnings: list[str] = []
    if result.exit_status == 127:
        return None, "systemctl is not installed (no systemd?)", warnings
    if not result.ok:
        return None, _failure(result, "systemctl show docker.service"), warnings
    raw = result.stdout_bytes
    show, mark, rest = raw.partition(b"\n" + ENVFILES_MARK)
    props = parse_properties(show.decode("utf-8", "replace"))
    if not props:
        return None, "systemctl show docker.service printed nothing", warnings

    def one(name: str) -> str | None:
        values = props.get(name)
        return values[0] if values else None

    raw_values = [v for v in props.get("ExecStart", []) if v.strip()]
    argv: tuple[str, ...] = ()
    for value in raw_values:
        candidate = exec_start_argv(value)
        if candidate:
            argv = candidate
            if "dockerd" in candidate[0]:
                break
    env = parse_environment_property(props.get("Environment", []))
    where = dict.fromkeys(env, "Environment=")
    unreadable: list[str] = []
    if mark:
        files, problem = parse_env_files(rest)
        if problem:
            warnings.append(problem)
        for path, text in files.items():
            if text is None:
                unreadable.append(path)
            else:
                values = parse_environment_file(text)
                env.update(values)
                where.update(dict.fromkeys(values, path))
    expanded, unset = expand_exec_start(argv, env)
    used = {m.group(1) or m.group(2) for word in argv for m in _VAR_ANY.finditer(word)}
    pid_text = one("MainPID") or ""
    return (
        UnitFacts(
            load_state=one("LoadState"),
            active_state=one("ActiveState"),
            sub_state=one("SubState"),
            main_pid=int(pid_text) if pid_text.isdigit() else None,
            active_since=parse_systemd_utc(one("ActiveEnterTimestamp") or ""),
            exec_start=expanded,
            exec_start_raw=" ".join(argv),
            fragment_path=one("FragmentPath") or None,
            drop_in_paths=tuple((one("DropInPaths") or "").split()),
            unset_variables=unset,
            unreadable_env_files=tuple(unreadable),
            variables={name: where[name] for name in sorted(used) if name in where},
        ),
        None,
        warnings,
    )


_UTC_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (?:UTC|GMT)$")


def parse_systemd_utc(text: str) -> int | None:
    """``Tue 2024-05-07 10:15:00 UTC`` -> epoch seconds (None unless the
    timestamp is in UTC: the unit program asks systemctl for UTC)."""
    m = _UTC_STAMP.search(text.strip())
    if m is None:
        return None
    moment = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    return int(moment.timestamp())


def parse_info(result: CommandResult) -> tuple[DaemonInfo | None, str | None]:
    """``docker info --format INFO_FORMAT`` -> what the daemon reports."""
    if result.exit_status == 124:
        return None, f"docker info did not answer within {INFO_TIMEOUT}s (is dockerd hung?)"
    if not result.ok:
        return None, _failure(result, "docker info")
    try:
        decoder = json.JSONDecoder()
        text = result.stdout.strip()
        values: list[Any] = []
        pos = 0
        while pos < len(text) and len(values) < 3:
            value, end = decoder.raw_decode(text, pos)
            values.append(value)
            pos = end
            while pos < len(text) and text[pos].isspace():
                pos += 1
    except json.JSONDecodeError:
        return None, f"unexpected docker info output: {result.stdout.strip()[:80]!r}"
    running, live, version = [*values, None, None, None][:3]
    return (
        DaemonInfo(
            running_containers=running if isinstance(running, int) else None,
            live_restore=live if isinstance(live, bool) else None,
            server_version=version if isinstance(version, str) else None,
        ),
        None,
    )


def parse_state(file: FileFacts) -> tuple[dict[str, StateEntry], str | None]:
    """fleetcfg's own record of what it last wrote (see the module docstring)."""
    if not file.known:
        return {}, file.problem
    if not file.exists or not file.content:
        return {}, None
    try:
        data = json.loads(file.content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {}, f"{file.path} is not valid JSON ({exc}); drift cannot be checked"
    if not isinstance(data, dict):
        return {}, f"{file.path} is not a JSON object; drift cannot be checked"
    entries = data.get("files", data)
    out: dict[str, StateEntry] = {}
    if not isinstance(entries, dict):
        return {}, f"{file.path}: 'files' is not an object; drift cannot be checked"
    for path, entry in entries.items():
        if not isinstance(path, str) or not path.startswith("/"):
            continue
        if isinstance(entry, str):
            out[path] = StateEntry(path, entry)
        elif isinstance(entry, dict) and isinstance(entry.get("sha256"), str | None):

            def text(key: str, item: dict[str, Any] = entry) -> str | None:
                value = item.get(key)
                return str(value) if value is not None else None

            out[path] = StateEntry(
                path,
                entry["sha256"],
                written_at=text("written_at"),
                written_by=text("written_by"),
                plan_id=text("plan_id"),
            )
    return out, None


def parse_facts(
    host: str, users: Sequence[str], results: Sequence[CommandResult], *, info: bool = False
) -> Facts:
    """Decode the results of :func:`fact_commands` (same order, same ``info``)."""
    expected = 3 + (1 if info else 0)
    if len(results) != expected:
        raise ValueError(f"expected {expected} fact results, got {len(results)}")
    files, people = parse_files(results[0], [DAEMON_JSON, STATE_FILE], users)
    engine, engine_text, engine_problem = parse_engine(results[1])
    unit, unit_problem, _warnings = parse_unit(results[2])
    state, state_problem = parse_state(files[STATE_FILE])
    daemon_info: DaemonInfo | None = None
    info_problem: str | None = "not asked"
    if info:
        daemon_info, info_problem = parse_info(results[-1])
    return Facts(
        host=host,
        daemon_json=files[DAEMON_JSON],
        users=people,
        engine=engine,
        engine_text=engine_text,
        engine_problem=engine_problem,
        unit=unit,
        unit_problem=unit_problem,
        info=daemon_info,
        info_problem=info_problem,
        state=state,
        state_problem=state_problem,
    )


# --------------------------------------------------------------------------
# dockerd's command line

#: single-letter dockerd flags -> long names
SHORT_FLAGS = {
    "H": "host",
    "D": "debug",
    "l": "log-level",
    "G": "group",
    "b": "bridge",
    "s": "storage-driver",
    "p": "pidfile",
    "g": "graph",
    "e": "exec-driver",
}


@dataclass(frozen=True, slots=True)
class Flag:
    """One flag on dockerd's command line, as written."""

    name: str  # the long name
    written: str  # e.g. "-H fd://" or "--debug"
    value: str | None = None


def parse_flags(args: Sequence[str]) -> list[Flag]:
    """dockerd's flags (pflag syntax: ``--name=value``, ``--name value``,
    ``-H value``, ``-Hvalue``, ``-D``)."""
    flags: list[Flag] = []
    items = list(args)
    i = 0
    while i < len(items):
        arg = items[i]
        i += 1
        if arg == "--":
            break
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            if eq:
                flags.append(Flag(name, arg, value))
            elif name in BOOL_FLAGS:
                flags.append(Flag(name, arg))
            elif i < len(items) and not items[i].startswith("-"):
                flags.append(Flag(name, f"{arg} {items[i]}", items[i]))
                i += 1
            else:
                flags.append(Flag(name, arg))
        elif arg.startswith("-") and len(arg) > 1:
            letters = arg[1:]
            j = 0
            while j < len(letters):
                letter = letters[j]
                name = SHORT_FLAGS.get(letter, letter)
                rest = letters[j + 1 :]
                if name in BOOL_FLAGS:
                    flags.append(Flag(name, f"-{letter}"))
                    j += 1
                    continue
                if rest.startswith("="):
                    rest = rest[1:]
                if rest:
                    flags.append(Flag(name, f"-{letter}{rest}", rest))
                elif i < len(items):
                    flags.append(Flag(name, f"-{letter} {items[i]}", items[i]))
                    i += 1
                else:
                    flags.append(Flag(name, f"-{letter}"))
                break
    return flags


def config_file_of(args: Sequence[str]) -> str:
    """The ``--config-file`` on dockerd's command line, else the default."""
    path = DAEMON_JSON
    for flag in parse_flags(args):
        if flag.name == "config-file" and flag.value:
            path = flag.value
    return path
