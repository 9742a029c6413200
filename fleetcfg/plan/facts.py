"""What a host has now, gathered in one round trip.

The planner decides from these facts; ``apply`` gathers them again right
before it touches a host (through :func:`fleetcfg.plan.fleet.plan_host`) to
detect a stale plan.

One ``run_many`` batch (:func:`fact_commands`) asks for everything:

====  ===============================================================  ====================
 #    command                                                          parsed by
====  ===============================================================  ====================
 0    ``facts_files.sh .docker/config.json 1048576                    :func:`parse_files`
      /etc/docker/daemon.json /etc/docker/.fleetcfg/state.json``:
      root's files (content, mode, owner, or absent; refused when
      they or a folder above them are a symlink, someone else's or
      writable by others), at most 1 MiB each
 1    ``engine.sh /etc/docker/.fleetcfg/engine``: ``dockerd            :func:`parse_engine`
      --version``, or the line apply recorded (``save``, under the
      lock) when the binary is the same (path, stat -L device, inode,
      size, mtime, ctime) and the record is root's (fc_trusted)
 2    ``facts_unit.sh docker.service``: ``systemctl show``             :func:`parse_unit`
      (LoadState, ActiveState, ExecStart with drop-ins, Environment,
      EnvironmentFiles, ExecMainStartTimestamp: when dockerd's process
      started, see :mod:`fleetcfg.plan.running`), then the
      EnvironmentFile= contents (at most 1 MiB each) when ExecStart uses
      ``$VARIABLES`` (Debian's ``$DOCKER_OPTS``)
3..   per client user: ``as_user.sh USER facts_files.sh ... @USER``:    :func:`parse_files`
      ``.docker/config.json`` in the home ``getent passwd`` reports,
      read AS the user (their own permissions; nothing root-only is
      ever read from a path a user controls)
last  with ``info=True`` only: ``timeout 10 docker info --format       :func:`parse_info`
      '{{json .ContainersRunning}} {{json .LiveRestoreEnabled}}
      {{json .ServerVersion}}'``
====  ===============================================================  ====================

``docker info`` is the slowest fact by far (an API call that gathers the
whole system state) and only matters when dockerd is about to restart (how
many containers a restart stops). :func:`fleetcfg.plan.fleet.plan_host` asks for
it (:func:`gather_daemon_info`, one more exec on the same connection) only for
hosts whose plan is a restart of a running daemon.

Likewise ``docker plugin ls`` (:func:`fleetcfg.plan.plugins.gather_plugins`)
only for a host whose new daemon.json names a logging plugin.

A second round trip happens only when the unit's ExecStart passes
``--config-file``: dockerd then reads that file instead of
``/etc/docker/daemon.json``, and the facts describe that file. Another one
reads the host's surface files (:func:`gather_surface`: the certs.d files,
drop-ins and buildkitd.toml the inventory gives the host, and those fleetcfg
wrote earlier in folders it created), only for hosts that have some; their
paths depend on the render, which depends on the Engine version the first
round trip reports.

The parsing functions are pure (a :class:`~fleetcfg.host.transport.base.CommandResult`
in, a dataclass out), so the fake and the real transports share them.
The programs are ``facts_files.sh`` and ``facts_unit.sh`` in
:mod:`fleetcfg.host.programs` (:mod:`fleetcfg.host.programs.facts`);
:class:`~tests.fakes.dockerhost.FakeDockerHost` emulates them by their first
line, reading the same named arguments. The facts themselves are in
:mod:`fleetcfg.plan.facts_model`, the decoding in :mod:`fleetcfg.plan.facts_parse`.

``/etc/docker/.fleetcfg/state.json`` is what fleetcfg last wrote on the host
(written by apply, see :mod:`fleetcfg.host.state`)::

    {"format": 1,
     "files": {"/etc/docker/daemon.json": {"sha256": "... (null: fleetcfg removed it)",
                                           "written_at": "2025-01-31T10:00:00.000000Z",
                                           "written_by": "alice@laptop", "plan_id": "...", ...}}}

:func:`parse_state` reads it with :meth:`fleetcfg.host.state.HostState.from_bytes`,
the one parser of that file (apply uses it too).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

from fleetcfg.core.errors import UsageError
from fleetcfg.dockerd.flags import DAEMON_JSON, Flag, config_file_of, exec_start_argv, parse_flags
from fleetcfg.host.programs.facts import FactsEngine, FactsFiles, FactsUnit
from fleetcfg.host.programs.files import READ_CAP, AsUser
from fleetcfg.host.state import ENGINE_RECORD_PATH
from fleetcfg.host.transport.base import CommandResult, Transport
from fleetcfg.host.transport.caps import KIB, MIB, OUTPUT_CAP
from fleetcfg.plan.facts_model import (
    CLIENT_CONFIG,
    STATE_DIR,
    STATE_FILE,
    UNIT,
    VALIDATE_SINCE,
    DaemonInfo,
    Facts,
    FileFacts,
    UnitFacts,
    UserFacts,
)
from fleetcfg.plan.facts_parse import (
    ENVFILES_MARK,
    INFO_TIMEOUT,
    expand_exec_start,
    own_users,
    parse_containers,
    parse_engine,
    parse_env_files,
    parse_environment_file,
    parse_environment_property,
    parse_facts,
    parse_files,
    parse_info,
    parse_properties,
    parse_state,
    parse_systemd_utc,
    parse_unit,
)

__all__ = [
    "CLIENT_CONFIG",
    "DAEMON_JSON",
    "ENVFILES_MARK",
    "INFO_TIMEOUT",
    "STATE_DIR",
    "STATE_FILE",
    "UNIT",
    "VALIDATE_SINCE",
    "DaemonInfo",
    "Facts",
    "FileFacts",
    "Flag",
    "UnitFacts",
    "UserFacts",
    "config_file_of",
    "exec_start_argv",
    "expand_exec_start",
    "parse_engine",
    "parse_env_files",
    "parse_environment_file",
    "parse_environment_property",
    "parse_facts",
    "parse_files",
    "parse_flags",
    "parse_properties",
    "parse_state",
    "parse_systemd_utc",
    "parse_unit",
]

INFO_FORMAT = "{{json .ContainersRunning}} {{json .LiveRestoreEnabled}} {{json .ServerVersion}}"

_USER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*\$?$")


def check_user_name(user: str) -> str:
    if not _USER_RE.match(user):
        raise UsageError(
            f"{user!r} is not a valid user name",
            hint="client_users lists login names such as root or gitlab-runner",
        )
    return user


def files_command(paths: Sequence[str], users: Sequence[str] = ()) -> list[str]:
    """Read ``paths`` (absolute: root's files) and each of ``users``'
    ``~/.docker/config.json``, by whoever runs the program."""
    for path in paths:
        if not path.startswith("/"):
            raise UsageError(f"remote paths must be absolute, got {path!r}")
    return FactsFiles(CLIENT_CONFIG, [*paths, *(f"@{check_user_name(u)}" for u in users)]).argv()


#: what ``facts_files.sh`` prints for one file at most: its content (at most
#: ``READ_CAP``) and its entry, stat and folder lines
FILE_OUTPUT = READ_CAP + 16 * KIB
#: the most ``docker info --format`` (a few values) and ``docker ps -q`` (one
#: short id a line) print
INFO_OUTPUT = 64 * KIB
CONTAINERS_OUTPUT = MIB


def files_output_cap(paths: Sequence[str]) -> int:
    """The most output fleetcfg reads from ``files_command(paths)``."""
    return max(OUTPUT_CAP, len(paths) * FILE_OUTPUT)


def user_files_command(user: str) -> list[str]:
    """Read ``user``'s ``~/.docker/config.json`` as ``user`` (their own
    permissions: a link to a file they cannot read stays unread)."""
    return AsUser(user, files_command([], [user])).argv()


def info_command() -> list[str]:
    return ["timeout", str(INFO_TIMEOUT), "docker", "info", "--format", INFO_FORMAT]


def engine_command(*, save: bool = False) -> list[str]:
    """The Engine version line: from the record apply keeps of the binary it
    last ran ``dockerd --version`` of when that binary is unchanged (plan
    then starts no dockerd: on a real host the most expensive fact by far);
    ``save``: keep that record (apply, under the lock)."""
    return FactsEngine(ENGINE_RECORD_PATH, save).argv()


def fact_commands(
    users: Sequence[str] = (),
    *,
    info: bool = False,
    runs_as: str | None = None,
    save_engine: bool = False,
) -> list[list[str]]:
    """The argv of every fact, in the order :func:`parse_facts` expects
    (``docker info`` last, with ``info``; ``runs_as``: the user the host
    runs them as, when known; ``save_engine``: record the Engine version
    for later plans: apply, under the lock)."""
    built = _fact_commands(tuple(users), info, runs_as, save_engine)
    return [list(argv) for argv in built]


@lru_cache(maxsize=64)
def _fact_commands(
    users: tuple[str, ...], info: bool, runs_as: str | None, save_engine: bool
) -> tuple[tuple[str, ...], ...]:
    # the same for every host with the same users: built once per run
    own, others = own_users(users, runs_as)
    commands = [
        files_command([DAEMON_JSON, STATE_FILE], own),
        engine_command(save=save_engine),
        FactsUnit(UNIT).argv(),
        *(user_files_command(u) for u in others),
    ]
    if info:
        commands.append(info_command())
    return tuple(tuple(argv) for argv in commands)


def gather_facts(transport: Transport, users: Sequence[str] = (), *, info: bool = False) -> Facts:
    """Ask ``transport``'s host for its facts (one round trip; a second one
    only when the unit reads another daemon.json through ``--config-file``).
    ``info``: ask ``docker info`` in the same round trip."""
    users = [check_user_name(u) for u in users]
    runs_as = transport.runs_as
    results = transport.run_many(fact_commands(users, info=info, runs_as=runs_as))
    facts = parse_facts(transport.host, users, results, info=info, runs_as=runs_as)
    return follow_config_file(transport, facts)


def follow_config_file(transport: Transport, facts: Facts) -> Facts:
    """``facts`` with the daemon.json the unit really reads (a second round
    trip only when ExecStart passes ``--config-file``)."""
    if facts.unit is not None and facts.unit.config_file != facts.daemon_json.path:
        path = facts.unit.config_file
        files, _ = parse_files(transport.run(files_command([path])), [path])
        facts = replace(facts, daemon_json=files[path])
    return facts


def with_surface(facts: Facts, result: CommandResult, paths: Sequence[str]) -> Facts:
    """``facts`` with the surface files ``files_command(paths)`` read (added
    to those it has)."""
    files, _ = parse_files(result, list(paths))
    return replace(facts, surface={**facts.surface, **files})


def gather_surface(transport: Transport, facts: Facts, paths: Sequence[str]) -> Facts:
    """``facts`` with the surface files at ``paths`` (certs.d, drop-ins,
    buildkitd.toml), read like daemon.json: at most 1 MiB each, refused when
    they or a folder above them are a symlink, someone else's or writable by
    others (one more round trip; none without paths)."""
    if not paths:
        return facts
    result = transport.run(files_command(paths), max_output=files_output_cap(paths))
    return with_surface(facts, result, paths)


def containers_command() -> list[str]:
    return ["timeout", str(INFO_TIMEOUT), "docker", "ps", "-q"]


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
        info, problem = parse_info(transport.run(info_command(), max_output=INFO_OUTPUT))
        return replace(facts, info=info, info_problem=problem)
    count, problem = parse_containers(
        transport.run(containers_command(), max_output=CONTAINERS_OUTPUT)
    )
    if count is None:
        return replace(facts, info=None, info_problem=problem)
    return replace(facts, info=DaemonInfo(count, live, None, source=source), info_problem=None)
