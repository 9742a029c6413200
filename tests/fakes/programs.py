"""How :class:`~tests.fakes.dockerhost.FakeDockerHost` runs apply's host
programs (:mod:`fleetcfg.host.programs.apply`), recognised by their first
line, reading the named arguments the programs declare.

Each emulation follows the sh program step by step on the fake's files, with
the fake's faults (``disk_full``) and its command handlers (the validate and
service commands), and prints the same markers and exit statuses. The real
programs are tested against real files in ``tests/unit/apply`` and on the
e2e fleet.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from fleetcfg.core.hashing import sha256_hex
from fleetcfg.host.programs.apply import BEAT, INSTALL, LOCK, UNLOCK
from fleetcfg.host.programs.base import Script
from fleetcfg.host.transport.base import CommandResult
from tests.fakes.transport import chain_commands

if TYPE_CHECKING:
    from tests.fakes.transport import FakeTransport

#: the programs emulated here
NAMES = (LOCK, INSTALL, UNLOCK, BEAT)
_NO_SPACE = "No space left on device"


def _result(status: int, stdout: str = "", stderr: str = "") -> CommandResult:
    return CommandResult.from_bytes((), status, stdout.encode(), stderr.encode())


def run_program(
    fake: FakeTransport,
    program: Script,
    args: Mapping[str, str],
    stdin: bytes | None,
    rest: Sequence[str] = (),
) -> CommandResult:
    if program.name == LOCK:
        return _lock(fake, args)
    if program.name == UNLOCK:
        return _unlock(fake, args, rest)
    if program.name == BEAT:
        return _beat(fake, args)
    return _install(fake, args, stdin or b"")


def _beat(fake: FakeTransport, args: Mapping[str, str]) -> CommandResult:
    """The command under the lock's heartbeat: the busy file names the
    program while the command runs."""
    fake.add_file(args["busy"], "4242 1\n", mode=0o600)
    try:
        return _run(fake, args["command"])
    finally:
        fake.files.pop(args["busy"], None)


def _unlock(fake: FakeTransport, args: Mapping[str, str], pruned: Sequence[str]) -> CommandResult:
    entry = fake.file(args["owner"])
    if entry is None or args["token"].encode() not in entry.content:
        return _result(3)
    if args["state"]:
        if fake.disk_full:
            return _result(4, "", f"sh: 1: printf: write error: {_NO_SPACE}\n")
        fake.add_file(args["state_path"], args["state"], mode=0o600)
    for path in [*pruned, args["owner"]]:
        fake.files.pop(path, None)
    fake.dirs.discard(args["lock"])
    return _result(0)


def _lock(fake: FakeTransport, args: Mapping[str, str]) -> CommandResult:
    state, backups, lock, owner, info = (
        args["state"],
        args["backups"],
        args["lock"],
        args["owner"],
        args["info"],
    )
    fake.add_dir(state)
    fake.add_dir(backups)
    if fake.exists(lock):
        entry = fake.file(owner)
        return _result(3, entry.content.decode() if entry else "")
    fake.add_dir(lock)
    if fake.disk_full:
        fake.dirs.discard(lock)
        return _result(4, "", f"sh: 1: printf: write error: {_NO_SPACE}\n")
    fake.add_file(owner, info + "\n", mode=0o644)
    return _result(0)


def _run(fake: FakeTransport, command: str, stage: str | None = None) -> CommandResult:
    """Run a command of the program; it is recorded like any other command
    (in the round trip of the program)."""
    from tests.fakes.transport import RecordedCommand

    if stage is not None:
        command = command.replace('"$stage"', shlex.quote(stage))
    argv = tuple(shlex.split(command))
    fake.commands.append(RecordedCommand(argv, 0, fake.round_trips))
    return fake._dispatch(argv, None, fake.command_timeout)


def _install(fake: FakeTransport, args: Mapping[str, str], stdin: bytes) -> CommandResult:
    # stdin: a line with the sha256, then the content (never an argument)
    line, newline, content = stdin.partition(b"\n")
    if not newline or not re.fullmatch(rb"[0-9a-f]+", line):
        return _result(12, "", "fleetcfg: no sha256 line on stdin\n")
    target, mode, owner, group = args["target"], args["mode"], args["owner"], args["group"]
    backup, validate, state = args["backup"], args["validate"], args["state"]
    pre, action, finish = args["pre"], args["action"], args["finish"]
    status, info, health, want = args["status"], args["info"], args["health"], args["want"]
    cap = int(args["cap"])
    out: list[str] = []

    def done(status: int, stderr: str = "") -> CommandResult:
        return _result(status, "".join(line + "\n" for line in out), stderr)

    directory = posixpath.dirname(target) or "/"
    if not fake.is_dir(directory) and args.get("dir_mode"):
        fake.add_dir(directory)  # with its parents
        fake.dir_meta[directory] = (int(args["dir_mode"], 8), "root", "root")
    if not fake.is_dir(directory) and fake.is_dir(posixpath.dirname(directory) or "/"):
        # the program creates a missing folder (one level), as the file's user
        fake.add_dir(directory)
        who = (owner, group) if args["user"] else ("root", "root")
        fake.dir_meta[directory] = (0o700, *who)
    if not fake.is_dir(directory):
        return done(
            10,
            f"mktemp: failed to create file via template '{directory}/."
            f"{posixpath.basename(target)}.fleetcfg-XXXXXX': No such file or directory\n",
        )
    stage = f"{directory}/.{posixpath.basename(target)}.fleetcfg-{len(fake.commands):06d}"
    out.append(f"fleetcfg-stage {stage}")
    if fake.disk_full:
        return done(11, f"cat: write error: {_NO_SPACE}\n")
    if len(content) != int(args["size"]):
        return done(12, f"fleetcfg: received {len(content)} of {args['size']} bytes\n")
    if sha256_hex(content) != line.decode():
        return done(12, "fleetcfg: checksum mismatch\n")
    fake.add_file(stage, content, mode=int(mode, 8), owner=owner, group=group)
    out.append("fleetcfg-step upload")
    if validate:
        verdict = _run(fake, validate, stage)
        if len(verdict.stdout + verdict.stderr) > cap:
            fake.files.pop(stage, None)
            return done(21, f"fleetcfg: the validation printed more than {cap} bytes\n")
        if not verdict.ok:
            fake.files.pop(stage, None)
            return done(20, verdict.stdout + verdict.stderr)
        out.append("fleetcfg-step validate")
    entry = fake.file(target)
    if backup and entry is not None:
        copied = _run(fake, shlex.join(["cat", "--", target]))
        if not copied.ok:
            fake.files.pop(stage, None)
            return done(30, copied.stderr)
        if len(copied.stdout_bytes) > int(args["backup_cap"]):
            fake.files.pop(stage, None)
            return done(30, f"fleetcfg: {target} has more than {args['backup_cap']} bytes\n")
        fake.add_file(backup, copied.stdout_bytes, mode=0o600)
        out.append("fleetcfg-step backup")
    if args["pending"]:
        if fake.disk_full:
            fake.files.pop(stage, None)
            return done(45, f"sh: 1: printf: write error: {_NO_SPACE}\n")
        fake.add_file(args["state_path"], args["pending"], mode=0o600)
        out.append("fleetcfg-step pending")
    fake.files[target] = fake.files.pop(stage)
    out.append("fleetcfg-step replace")
    if state:
        if fake.disk_full:
            return done(50, f"sh: 1: printf: write error: {_NO_SPACE}\n")
        fake.add_file(args["state_path"], state, mode=0o600)
        out.append("fleetcfg-step state")
    if pre:
        _run(fake, pre)
    if action:
        result = _run(fake, action)
        if not result.ok:
            return done(60, result.stderr)
        out.append("fleetcfg-step action")
    if status:
        checked = [_run(fake, status), _run(fake, info)]
        if len(checked[1].stdout) > cap:
            return done(71, f"fleetcfg: the health check's docker info printed more than {cap}\n")
        codes = [r.exit_status for r in checked]
        codes.append(_run(fake, health).exit_status if health else 0)
        running = checked[1].stdout.strip()
        out.append(f"fleetcfg-check {codes[0]} {codes[1]} {codes[2]} {running}")
        if any(codes):
            return done(70)
        if want and (not running.isdigit() or int(running) < int(want)):
            return done(70)
        out.append("fleetcfg-step health")
    if finish:
        for argv in chain_commands(finish):
            if not _run(fake, shlex.join(argv)).ok:
                return done(80)
        out.append("fleetcfg-step unlock")
    return done(0)
