"""Decoding what the facts programs print (pure: a
:class:`~fleetcfg.host.transport.base.CommandResult` in, facts out, so the fake
and the real transports share it). See :mod:`fleetcfg.plan.facts` for the
commands."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from fleetcfg.core.filedigest import file_digest
from fleetcfg.core.jsondoc import MAX_DEPTH, too_deep
from fleetcfg.core.numbers import is_digits
from fleetcfg.core.versions import EngineVersion
from fleetcfg.dockerd.flags import exec_start_argv
from fleetcfg.host.programs.files import NO_USER
from fleetcfg.host.state import HostState, StateFileError
from fleetcfg.host.transport.base import CommandResult
from fleetcfg.plan.facts_model import (
    CLIENT_CONFIG,
    DAEMON_JSON,
    STATE_FILE,
    DaemonInfo,
    Facts,
    FileFacts,
    UnitFacts,
    UserFacts,
)

#: seconds ``docker info`` may take (a wedged dockerd must not stall the plan)
INFO_TIMEOUT = 10
ENVFILES_MARK = b"#fleetcfg-envfiles\n"


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0].strip() if lines else ""


def _failure(result: CommandResult, what: str, program: str | None = None) -> str:
    """Why a fact command failed, for messages (``program``: what exit
    status 127 says is missing, when the command is a host program)."""
    if result.exit_status == 127:
        return f"{program or result.argv[0]} is not installed (or not on PATH)"
    detail = _first_line(result.stderr) or _first_line(result.stdout)
    return f"{what} failed (exit status {result.exit_status})" + (f": {detail}" if detail else "")


_STAT_RE = re.compile(r"(\d+) ([0-7]{1,4}) (\S+) (\S+)(?: (\d+))?")
_CHANGED = "a file changed while it was read; run plan again"


def parse_files(
    result: CommandResult, paths: Sequence[str], users: Sequence[str] = ()
) -> tuple[dict[str, FileFacts], dict[str, UserFacts]]:
    """Decode what ``facts_files.sh`` printed for ``paths`` and ``users``:
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
    whys: dict[str, str] = {}
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
        elif kind == "why":
            why, _, path = rest.partition("\t")
            whys[path] = why
        elif kind == "stat":
            fields, _, path = rest.partition("\t")
            m = _STAT_RE.fullmatch(fields)
            if m:
                size, mode, owner, group, mtime = m.groups()
                when = int(mtime) if mtime else None
                stats.append((path, int(size), int(mode, 8), owner, group, when))
        elif kind == "dir":
            mtime, _, path = rest.partition("\t")
            if is_digits(mtime):
                dir_mtimes[path] = int(mtime)
    if sum(stat[1] for stat in stats) != len(content):
        return failed(_CHANGED)
    present: dict[str, FileFacts] = {}
    pos = 0
    for path, size, mode, owner, group, mtime in stats:
        data = content[pos : pos + size]
        pos += size
        if too_deep(data):
            problem = (
                f"{path} nests arrays or objects deeper than {MAX_DEPTH} levels; fleetcfg "
                "does not decode it (is it really a Docker configuration?)"
            )
            present[path] = FileFacts(path, True, mode=mode, owner=owner, problem=problem)
            continue
        present[path] = FileFacts(
            path, True, data, file_digest(data), mode, owner, group, mtime=mtime
        )

    def file(path: str, user: str | None = None) -> FileFacts:
        if path in present:
            return present[path]
        state = entries.get(path)
        why = whys.get(path, "")
        if state == "untrusted":
            return FileFacts(
                path,
                exists=True,
                problem=f"refusing {path}, which only root may control: {why} (make every "
                "folder on its path root's and not writable by others, with no symlink)",
            )
        if state == "toolarge":
            return FileFacts(
                path,
                exists=True,
                problem=f"{path} is {why}: it is not read (is it really a Docker configuration?)",
            )
        if state == "unreadable" and user is not None:
            return FileFacts(
                path,
                exists=True,
                problem=f"{path}: {user} cannot read it (fleetcfg reads and writes a user's "
                "files as that user; a symlink to a file the user may not read stays unread)",
            )
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
            found = replace(found, config=file(f"{home}/{CLIENT_CONFIG}", user))
        people[user] = found
    return files, people


def _user_from(name: str, passwd: str, group: str) -> UserFacts:
    entry = passwd.split(":")
    if len(entry) < 7:
        return UserFacts(name, exists=False, problem=f"unexpected getent passwd output for {name}")

    def number(text: str) -> int | None:
        return int(text) if is_digits(text) else None

    return UserFacts(
        name=name,
        exists=True,
        home=entry[5] or "/",
        uid=number(entry[2]),
        gid=number(entry[3]),
        group=group or entry[3],
    )


def parse_containers(result: CommandResult) -> tuple[int | None, str | None]:
    """``docker ps -q`` -> how many containers run."""
    if result.exit_status == 124:
        return None, f"docker ps did not answer within {INFO_TIMEOUT}s (is dockerd hung?)"
    if not result.ok:
        return None, _failure(result, "docker ps")
    return len([line for line in result.stdout.splitlines() if line.strip()]), None


def parse_engine(result: CommandResult) -> tuple[EngineVersion | None, str | None, str | None]:
    """``engine.sh`` (``dockerd --version`` or its record) -> (version, the
    line printed, problem)."""
    text = _first_line(result.stdout)
    if not result.ok or not text:
        return None, text or None, _failure(result, "dockerd --version", "dockerd")
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


def parse_env_files(raw: bytes) -> tuple[dict[str, str | None], str | None]:
    """The EnvironmentFile= part of ``facts_unit.sh``'s output: path -> content
    (``None`` when it exists but cannot be read or is larger than the cap;
    absent files are left out)."""
    files: dict[str, str | None] = {}
    pos = 0
    header_re = re.compile(rb"(file|unreadable|toolarge|absent) (\d+) ([^\n]*)\n")
    while pos < len(raw):
        m = header_re.match(raw, pos)
        if m is None:
            return files, "unexpected output while reading the unit's EnvironmentFile="
        kind, size, path = m.group(1), int(m.group(2)), m.group(3).decode("utf-8", "replace")
        pos = m.end()
        if kind == b"file":
            files[path] = raw[pos : pos + size].decode("utf-8", "replace")
            pos += size
        elif kind in (b"unreadable", b"toolarge"):
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
    """What ``facts_unit.sh`` printed -> the unit, the problem when it is
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
            main_pid=int(pid_text) if is_digits(pid_text) else None,
            active_since=parse_systemd_utc(one("ActiveEnterTimestamp") or ""),
            started=parse_systemd_utc(one("ExecMainStartTimestamp") or ""),
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
    # the pattern holds exactly ISO 8601's "YYYY-MM-DD HH:MM:SS" (and
    # fromisoformat, unlike strptime, is C all the way)
    moment = datetime.fromisoformat(m.group(1)).replace(tzinfo=UTC)
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


def parse_state(file: FileFacts) -> tuple[HostState, str | None]:
    """fleetcfg's own record of what it last wrote (parsed by
    :meth:`fleetcfg.host.state.HostState.from_bytes`, like apply does)."""
    if not file.known:
        return HostState(), file.problem
    if not file.exists or not file.content:
        return HostState(), None
    try:
        return HostState.from_bytes(file.content), None
    except StateFileError as exc:
        return HostState(), f"{exc}; drift cannot be checked"


def own_users(users: Sequence[str], runs_as: str | None) -> tuple[list[str], list[str]]:
    """``users`` split in (the one the host runs commands as, the others):
    the first program reads that user's config.json itself, with the user's
    own permissions already; each other user's is read by a program of its
    own run as that user (``as_user.sh``)."""
    own = [u for u in users if runs_as is not None and u == runs_as]
    return own, [u for u in users if u not in own]


def parse_facts(
    host: str,
    users: Sequence[str],
    results: Sequence[CommandResult],
    *,
    info: bool = False,
    runs_as: str | None = None,
) -> Facts:
    """Decode the results of :func:`fact_commands` (same order, same ``info``
    and ``runs_as``)."""
    own, others = own_users(users, runs_as)
    expected = 3 + len(others) + (1 if info else 0)
    if len(results) != expected:
        raise ValueError(f"expected {expected} fact results, got {len(results)}")
    files, people = parse_files(results[0], [DAEMON_JSON, STATE_FILE], own)
    for user, found in zip(others, results[3 : 3 + len(others)], strict=True):
        if found.exit_status == NO_USER:
            people[user] = UserFacts(user, exists=False, problem=f"user {user} does not exist")
        else:
            people.update(parse_files(found, [], [user])[1])
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
        users={u: people[u] for u in users},
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
