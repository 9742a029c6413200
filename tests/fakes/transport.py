"""In-memory transport for unit tests of facts, planner and executor.

:class:`FakeTransport` keeps a small filesystem (content, mode, owner, group),
records every call, emulates the handful of commands the core uses (``cat``,
``cp [-p]``, ``mv [-f]``, ``rm [-f] [-r]``, ``mkdir [-p] [-m MODE]``, ``rmdir``,
``chown USER[:GROUP]``, ``chmod OCTAL``, ``find DIR -maxdepth 1 -name GLOB
-type f -delete``, ``test -e/-f/-d``, ``sha256sum``,
``sync``, ``true``, ``false``) and hands
everything else to programmable handlers::

    fake = FakeTransport("web1")
    fake.add_file("/etc/docker/daemon.json", b"{}\\n")
    fake.reply(["systemctl", "is-active", "docker"], stdout="active\\n")
    fake.on(["systemctl", "restart"], restart_handler, prefix=True)
    fake.lose_connection_after(2)   # the 3rd call raises ConnectionLostError

Faults: ``unreachable`` (every call raises ConnectError), a connection that
drops after K more calls, ``disk_full`` (writes fail, nothing changes), and
slow commands (``duration=``; simulated on ``fake.clock``, no sleeping).
``sh -c`` is deliberately not emulated: the core runs argv lists.
"""

from __future__ import annotations

import fnmatch
import posixpath
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from fleetcfg.core.errors import (
    CommandTimeoutError,
    ConnectError,
    ConnectionLostError,
    RemoteCommandError,
    UsageError,
)
from fleetcfg.core.hashing import sha256_hex
from fleetcfg.host.transport.base import CommandResult, FileState
from fleetcfg.host.transport.caps import OUTPUT_CAP, OutputMeter, Overflow, too_large

#: ``handler(argv, stdin, fake)`` returns what the command did (its ``argv``
#: field is replaced by the real argv, so ``CommandResult((), 0, "out")`` is fine)
Handler = Callable[[tuple[str, ...], bytes | None, "FakeTransport"], CommandResult]


#: the fake's wall clock is this plus its simulated ``clock`` (epoch seconds)
FAKE_EPOCH = 1_700_000_000.0


class FakeUnhandledCommandError(AssertionError):
    """A strict fake was asked to run a command nobody registered a handler for.
    (An AssertionError, so that code under test cannot swallow it as a
    FleetcfgError.)"""


@dataclass
class FakeFile:
    content: bytes
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"
    #: modification time (epoch seconds) when a test sets one; None: "just
    #: now" (every write and copy makes a new FakeFile; mv keeps it, as mv
    #: keeps the mtime)
    mtime: float | None = None

    @property
    def sha256(self) -> str:
        return sha256_hex(self.content)


@dataclass(frozen=True, slots=True)
class RecordedCommand:
    argv: tuple[str, ...]
    #: bytes given on stdin (0 when none)
    stdin_size: int
    #: which round trip (1-based) it was part of; run_many shares one
    round_trip: int


@dataclass(frozen=True, slots=True)
class RecordedWrite:
    path: str
    data: bytes
    mode: int
    owner: str
    group: str


@dataclass(frozen=True, slots=True)
class FakeCall:
    """One protocol call: ``kind`` is run, run_many, read_file or write_file."""

    kind: str
    detail: tuple[str, ...]
    stdin_size: int = 0


@dataclass
class _Rule:
    argv: tuple[str, ...]
    prefix: bool
    handler: Handler | None
    duration: float

    def matches(self, argv: tuple[str, ...]) -> bool:
        if self.prefix:
            return argv[: len(self.argv)] == self.argv
        return argv == self.argv


@dataclass
class _Loss:
    remaining: int
    completes: bool


def _result(status: int = 0, stdout: str | bytes = "", stderr: str = "") -> CommandResult:
    raw = stdout if isinstance(stdout, bytes) else stdout.encode()
    return CommandResult.from_bytes((), status, raw, stderr.encode())


def reply(stdout: str | bytes = "", *, stderr: str = "", exit_status: int = 0) -> Handler:
    """A handler that always answers the same."""

    def handler(argv: tuple[str, ...], stdin: bytes | None, fake: FakeTransport) -> CommandResult:
        return _result(exit_status, stdout, stderr)

    return handler


@dataclass
class FakeTransport:
    """See the module docstring. All state is public for assertions."""

    host: str = "fake"
    #: the user commands run as (None: unknown, as for a transport that cannot tell)
    runs_as: str | None = None
    #: a strict fake raises FakeUnhandledCommandError for unknown commands;
    #: otherwise they exit 127 like a missing binary
    strict: bool = True
    become: bool = False
    command_timeout: float = 120.0
    files: dict[str, FakeFile] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=lambda: {"/"})
    #: mode, owner and group of directories that were given one (mkdir -m, chown, chmod)
    dir_meta: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    commands: list[RecordedCommand] = field(default_factory=list)
    writes: list[RecordedWrite] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    history: list[FakeCall] = field(default_factory=list)
    round_trips: int = 0
    #: simulated seconds spent in slow commands
    clock: float = 0.0
    unreachable: bool = False
    disk_full: bool = False
    closed: bool = False
    _rules: list[_Rule] = field(default_factory=list, init=False, repr=False)
    _loss: _Loss | None = field(default=None, init=False, repr=False)
    _down: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.files = {_norm(path): entry for path, entry in self.files.items()}
        for path in list(self.files):
            self.add_dir(posixpath.dirname(path))

    def now(self) -> float:
        """The fake's wall clock (epoch seconds)."""
        return FAKE_EPOCH + self.clock

    # -- filesystem ---------------------------------------------------------

    def add_file(
        self,
        path: str,
        content: bytes | str,
        *,
        mode: int = 0o644,
        owner: str = "root",
        group: str = "root",
    ) -> None:
        """Create or replace a file (parent directories are created)."""
        path = _norm(path)
        data = content.encode() if isinstance(content, str) else content
        self.add_dir(posixpath.dirname(path))
        self.files[path] = FakeFile(data, mode, owner, group)

    def add_dir(self, path: str) -> None:
        path = _norm(path)
        while path not in self.dirs:
            self.dirs.add(path)
            path = posixpath.dirname(path)

    def file(self, path: str) -> FakeFile | None:
        return self.files.get(_norm(path))

    def content(self, path: str) -> bytes | None:
        entry = self.files.get(_norm(path))
        return entry.content if entry else None

    def exists(self, path: str) -> bool:
        path = _norm(path)
        return path in self.files or path in self.dirs

    def is_dir(self, path: str) -> bool:
        return _norm(path) in self.dirs

    def listdir(self, path: str) -> list[str]:
        """Names directly inside directory ``path``."""
        path = _norm(path)
        names = {
            posixpath.basename(p)
            for p in [*self.files, *self.dirs]
            if p != path and posixpath.dirname(p) == path
        }
        return sorted(names)

    # -- handlers and faults ------------------------------------------------

    def on(
        self,
        argv: Sequence[str],
        handler: Handler | None = None,
        *,
        prefix: bool = False,
        duration: float = 0.0,
    ) -> None:
        """Handle ``argv`` (exactly, or every command starting with it when
        ``prefix``) with ``handler``; the most specific rule wins, and a later
        rule beats an earlier one of the same length. Rules also override the
        built-in commands. ``duration`` simulates a slow command: it advances
        ``clock`` and times out when longer than the call's timeout.
        ``handler=None`` keeps the built-in behaviour (to only add a duration)."""
        if not argv:
            raise UsageError("a fake handler needs a command")
        self._rules.append(_Rule(tuple(argv), prefix, handler, duration))

    def reply(
        self,
        argv: Sequence[str],
        stdout: str | bytes = "",
        *,
        stderr: str = "",
        exit_status: int = 0,
        prefix: bool = False,
    ) -> None:
        """Answer ``argv`` always the same way."""
        self.on(argv, reply(stdout, stderr=stderr, exit_status=exit_status), prefix=prefix)

    def slow(self, argv: Sequence[str], seconds: float, *, prefix: bool = False) -> None:
        """Make ``argv`` take ``seconds`` (simulated), keeping what it does."""
        existing = self._rule_for(tuple(argv))
        self.on(argv, existing.handler if existing else None, prefix=prefix, duration=seconds)

    def lose_connection_after(self, calls: int, *, completes: bool = False) -> None:
        """The next ``calls`` calls work; the one after raises
        ConnectionLostError, and later calls raise ConnectError until
        :meth:`restore_connection`. With ``completes`` the interrupted call's
        effect happens before the loss (a restart that ran, a write that
        landed), as it may on a real host."""
        self._loss = _Loss(calls, completes)

    def restore_connection(self) -> None:
        self._loss = None
        self._down = False
        self.unreachable = False

    # -- inspection ---------------------------------------------------------

    @property
    def argvs(self) -> list[tuple[str, ...]]:
        """Every command run (``run`` and each ``run_many`` item), in order."""
        return [c.argv for c in self.commands]

    def ran(self, argv: Sequence[str], *, prefix: bool = False) -> bool:
        wanted = tuple(argv)
        return any((a[: len(wanted)] == wanted) if prefix else a == wanted for a in self.argvs)

    # -- the protocol -------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
        max_output: int | None = None,
    ) -> CommandResult:
        argv = tuple(str(a) for a in argv)
        if not argv:
            raise UsageError("cannot run an empty command")
        self.history.append(FakeCall("run", argv, len(stdin or b"")))
        lost = self._begin_call()
        self.commands.append(RecordedCommand(argv, len(stdin or b""), self.round_trips))
        limit = timeout if timeout is not None else self.command_timeout
        if lost and not lost.completes:
            raise self._lost(f"`{' '.join(argv)}`")
        result = self._capped(argv, self._dispatch(argv, stdin, limit), max_output)
        if lost:
            raise self._lost(f"`{' '.join(argv)}`")
        return result

    def run_many(
        self,
        commands: Sequence[Sequence[str]],
        *,
        timeout: float | None = None,
        max_output: int | None = None,
    ) -> list[CommandResult]:
        argvs = [tuple(str(a) for a in argv) for argv in commands]
        if not argvs:
            return []
        self.history.append(FakeCall("run_many", tuple(" ".join(a) for a in argvs)))
        lost = self._begin_call()
        limit = timeout if timeout is not None else self.command_timeout
        start = self.clock
        results = []
        for argv in argvs:
            self.commands.append(RecordedCommand(argv, 0, self.round_trips))
            remaining = limit - (self.clock - start)
            what = f"a batch of {len(argvs)} commands"
            results.append(
                self._capped(argv, self._dispatch(argv, None, remaining, what=what), max_output)
            )
        if lost:
            raise self._lost(f"a batch of {len(argvs)} commands")
        return results

    def read_file(self, path: str) -> FileState:
        self.history.append(FakeCall("read_file", (path,)))
        lost = self._begin_call()
        self.reads.append(path)
        if lost:
            raise self._lost(f"reading {path}")
        if self.is_dir(path):
            raise RemoteCommandError(
                f"cannot read {path}: fleetcfg: {path} is a directory",
                exit_status=4,
                host=self.host,
            )
        entry = self.file(path)
        if entry is None:
            return FileState.absent(path)
        return FileState.present(
            path, entry.content, mode=entry.mode, owner=entry.owner, group=entry.group
        )

    def write_file(
        self,
        path: str,
        data: bytes,
        *,
        mode: int = 0o644,
        owner: str = "root",
        group: str = "root",
    ) -> None:
        self.history.append(FakeCall("write_file", (path,), len(data)))
        lost = self._begin_call()
        if lost and not lost.completes:
            raise self._lost(f"writing {path}", write=True)
        parent = posixpath.dirname(_norm(path))
        if parent not in self.dirs:
            raise RemoteCommandError(
                f"cannot write {path}: cannot create a temporary file in the target's "
                f"directory: mktemp: failed to create file via template "
                f"'{parent}/.{posixpath.basename(path)}.fleetcfg-XXXXXX': "
                "No such file or directory (the file was not changed)",
                exit_status=10,
                host=self.host,
            )
        if self.disk_full:
            error = RemoteCommandError(
                f"cannot write {path}: no space left on device in {parent} "
                "(the file was not changed)",
                exit_status=11,
                stderr="cat: write error: No space left on device",
                host=self.host,
            )
            error.hint = "free some space on the host and run again"
            raise error
        self.files[_norm(path)] = FakeFile(bytes(data), mode, owner, group)
        self.writes.append(RecordedWrite(path, bytes(data), mode, owner, group))
        if lost:
            raise self._lost(f"writing {path}", write=True)

    def close(self) -> None:
        self.closed = True

    # -- internals ----------------------------------------------------------

    def _capped(
        self, argv: tuple[str, ...], result: CommandResult, max_output: int | None
    ) -> CommandResult:
        """``result``, or the real transports' error when its output passes the cap."""
        try:
            OutputMeter(max_output or OUTPUT_CAP)(result.stdout_bytes, result.stderr.encode())
        except Overflow as over:
            what = shlex.join(argv)
            raise too_large(self.host, f"`{what}`", over.stream, over.cap) from None
        return result

    def _begin_call(self) -> _Loss | None:
        """Count a round trip; returns the loss when this call is the one
        that loses the connection."""
        if self.unreachable or self._down:
            raise ConnectError(
                f"cannot connect to {self.host}: connection refused (fake host unreachable)",
                host=self.host,
                hint="is the host up and reachable from here?",
            )
        self.round_trips += 1
        loss = self._loss
        if loss is None:
            return None
        if loss.remaining > 0:
            loss.remaining -= 1
            return None
        self._loss = None
        self._down = True
        return loss

    def _lost(self, what: str, *, write: bool = False) -> ConnectionLostError:
        if write:
            return ConnectionLostError(
                f"connection lost during {what}; the file is either unchanged or "
                "completely replaced, never partly written",
                host=self.host,
            )
        return ConnectionLostError(f"connection lost during {what}", host=self.host)

    def _rule_for(self, argv: tuple[str, ...]) -> _Rule | None:
        best: _Rule | None = None
        best_score = (-1, -1)
        for index, rule in enumerate(self._rules):
            if rule.matches(argv):
                score = (len(rule.argv) + (0 if rule.prefix else 1000), index)
                if score > best_score:
                    best, best_score = rule, score
        return best

    def _dispatch(
        self, argv: tuple[str, ...], stdin: bytes | None, timeout: float, what: str | None = None
    ) -> CommandResult:
        rule = self._rule_for(argv)
        if rule is not None and rule.duration:
            if rule.duration > timeout:
                self.clock += timeout
                raise CommandTimeoutError(
                    f"{what or '`' + ' '.join(argv) + '`'} did not finish within {timeout:g}s",
                    host=self.host,
                    hint="raise command_timeout for this host if it is just slow",
                )
            self.clock += rule.duration
        if rule is not None and rule.handler is not None:
            return replace(rule.handler(argv, stdin, self), argv=argv)
        builtin = _BUILTINS.get(argv[0])
        if builtin is not None:
            return replace(builtin(self, argv[1:], stdin), argv=argv)
        if self.strict:
            raise FakeUnhandledCommandError(
                f"FakeTransport({self.host!r}) has no handler for {list(argv)}; register one "
                f"with fake.on({list(argv)}, handler) or fake.reply(...)"
            )
        return CommandResult(argv, 127, "", f"sh: 1: {argv[0]}: not found\n")


# --------------------------------------------------------------------------
# built-in commands


def _norm(path: str) -> str:
    normalized = posixpath.normpath(path if path.startswith("/") else "/" + path)
    return "/" + normalized.lstrip("/")


def _split_flags(args: Sequence[str]) -> tuple[set[str], list[str]]:
    flags: set[str] = set()
    operands: list[str] = []
    only_operands = False
    for arg in args:
        if only_operands or not arg.startswith("-") or arg == "-":
            operands.append(arg)
        elif arg == "--":
            only_operands = True
        elif arg.startswith("--"):
            flags.add(arg)
        else:
            flags.update(arg[1:])
    return flags, operands


def _fail(message: str, status: int = 1) -> CommandResult:
    return _result(status, "", message + "\n")


def _cat(fake: FakeTransport, args: Sequence[str], stdin: bytes | None) -> CommandResult:
    _, paths = _split_flags(args)
    if not paths:
        return _result(0, stdin or b"")
    out = bytearray()
    errors = []
    for path in paths:
        if fake.is_dir(path):
            errors.append(f"cat: {path}: Is a directory")
        elif (entry := fake.file(path)) is None:
            errors.append(f"cat: {path}: No such file or directory")
        else:
            out += entry.content
    return _result(1 if errors else 0, bytes(out), "".join(e + "\n" for e in errors))


def _into_dir(fake: FakeTransport, src: str, dst: str) -> str:
    return posixpath.join(_norm(dst), posixpath.basename(_norm(src))) if fake.is_dir(dst) else dst


def _cp(fake: FakeTransport, args: Sequence[str], stdin: bytes | None) -> CommandResult:
    flags, operands = _split_flags(args)
    if len(operands) != 2:
        return _fail("cp: fake supports exactly one source and one destination")
    src, dst = operands
    entry = fake.file(src)
    if entry is None:
        what = "-r not specified; omitting directory" if fake.is_dir(src) else None
        return _fail(
            f"cp: {what} '{src}'" if what else f"cp: cannot stat '{src}': No such file or directory"
        )
    dst = _into_dir(fake, src, dst)
    if posixpath.dirname(_norm(dst)) not in fake.dirs:
        return _fail(f"cp: cannot create regular file '{dst}': No such file or directory")
    if fake.disk_full:
        return _fail(f"cp: error writing '{dst}': No space left on device")
    existing = fake.file(dst)
    if "p" in flags or "--preserve" in flags:
        copy = FakeFile(entry.content, entry.mode, entry.owner, entry.group)
    elif existing is not None:
        copy = FakeFile(entry.content, existing.mode, existing.owner, existing.group)
    else:
        copy = FakeFile(entry.content, entry.mode & 0o755, "root", "root")
    fake.files[_norm(dst)] = copy
    return _result()


def _mv(fake: FakeTransport, args: Sequence[str], stdin: bytes | None) -> CommandResult:
    _, operands = _split_flags(args)
    if len(operands) != 2:
        return _fail("mv: fake supports exactly one source and one destination")
    src, dst = _norm(operands[0]), operands[1]
    if not fake.exists(src):
        return _fail(f"mv: cannot stat '{operands[0]}': No such file or directory")
    dst = _norm(_into_dir(fake, src, dst))
    if posixpath.dirname(dst) not in fake.dirs:
        return _fail(f"mv: cannot move '{operands[0]}' to '{dst}': No such file or directory")
    if src in fake.files:
        fake.files[dst] = fake.files.pop(src)
        return _result()
    # a directory: move the subtree
    moved_files = {p: f for p, f in fake.files.items() if p.startswith(src + "/")}
    moved_dirs = {d for d in fake.dirs if d == src or d.startswith(src + "/")}
    for p in moved_files:
        del fake.files[p]
    fake.dirs -= moved_dirs
    for p, f in moved_files.items():
        fake.files[dst + p[len(src) :]] = f
    fake.dirs |= {dst + d[len(src) :] for d in moved_dirs}
    return _result()


def _rm(fake: FakeTransport, args: Sequence[str], stdin: bytes | None) -> CommandResult:
    flags, operands = _split_flags(args)
    force = "f" in flags or "--force" in flags
    recursive = bool({"r", "R", "--recursive"} & flags)
    errors = []
    for operand in operands:
        path = _norm(operand)
        if path in fake.files:
            del fake.files[path]
        elif path in fake.dirs:
            if not recursive:
                errors.append(f"rm: cannot remove '{operand}': Is a directory")
                continue
            for p in [p for p in fake.files if p.startswith(path + "/")]:
                del fake.files[p]
            fake.dirs -= {d for d in fake.dirs if d == path or d.startswith(path + "/")}
            fake.dirs.add("/")
        elif not force:
            errors.append(f"rm: cannot remove '{operand}': No such file or directory")
    return _result(1 if errors else 0, "", "".join(e + "\n" for e in errors))


def _mkdir(fake: FakeTransport, args: Sequence[str], stdin: bytes | None) -> CommandResult:
    parents = False
    operands: list[str] = []
    rest = list(args)
    mode: int | None = None
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            operands += rest
            break
        if arg in {"-m", "--mode"} and rest:
            mode = int(rest.pop(0), 8)
        elif arg.startswith(("-m", "--mode=")):
            mode = int(arg[2:] if arg.startswith("-m") else arg.split("=", 1)[1], 8)
        elif arg in ("-p", "--parents"):
            parents = True
        elif arg.startswith("-") and len(arg) > 1:
            parents = parents or "p" in arg
        else:
            operands.append(arg)
    errors = []
    for operand in operands:
        path = _norm(operand)
        if path in fake.files or (path in fake.dirs and not parents):
            errors.append(f"mkdir: cannot create directory '{operand}': File exists")
        elif parents:
            fake.add_dir(path)
        elif posixpath.dirname(path) not in fake.dirs:
            errors.append(f"mkdir: cannot create directory '{operand}': No such file or directory")
        else:
            fake.dirs.add(path)
            if mode is not None:
                fake.dir_meta[path] = (mode, "root", "root")
    return _result(1 if errors else 0, "", "".join(e + "\n" for e in errors))


def _chown(fake: FakeTransport, args: Sequence[str], stdin: bytes | None) -> CommandResult:
    _, operands = _split_flags(args)
    if len(operands) < 2:
        return _fail("chown: missing operand")
    spec, paths = operands[0], operands[1:]
    owner, _, group = spec.partition(":")
    errors = []
    for operand in paths:
        path = _norm(operand)
        entry = fake.files.get(path)
        if entry is not None:
            entry.owner = owner or entry.owner
            entry.group = group or entry.group
        elif path in fake.dirs:
            mode, old_owner, old_group = fake.dir_meta.get(path, (0o755, "root", "root"))
            fake.dir_meta[path] = (mode, owner or old_owner, group or old_group)
        else:
            errors.append(f"chown: cannot access '{operand}': No such file or directory")
    return _result(1 if errors else 0, "", "".join(e + "\n" for e in errors))


def _chmod(fake: FakeTransport, args: Sequence[str], stdin: bytes | None) -> CommandResult:
    _, operands = _split_flags(args)
    if len(operands) < 2 or not all(c in "01234567" for c in operands[0]):
        return _fail("chmod: fake supports an octal mode and paths only")
    mode, paths = int(operands[0], 8), operands[1:]
    errors = []
    for operand in paths:
        path = _norm(operand)
        entry = fake.files.get(path)
        if entry is not None:
            entry.mode = mode
        elif path in fake.dirs:
            _, owner, group = fake.dir_meta.get(path, (0o755, "root", "root"))
            fake.dir_meta[path] = (mode, owner, group)
        else:
            errors.append(f"chmod: cannot access '{operand}': No such file or directory")
    return _result(1 if errors else 0, "", "".join(e + "\n" for e in errors))


def _rmdir(fake: FakeTransport, args: Sequence[str], stdin: bytes | None) -> CommandResult:
    _, operands = _split_flags(args)
    errors = []
    for operand in operands:
        path = _norm(operand)
        if path not in fake.dirs:
            reason = "Not a directory" if path in fake.files else "No such file or directory"
            errors.append(f"rmdir: failed to remove '{operand}': {reason}")
        elif fake.listdir(path):
            errors.append(f"rmdir: failed to remove '{operand}': Directory not empty")
        elif path != "/":
            fake.dirs.discard(path)
    return _result(1 if errors else 0, "", "".join(e + "\n" for e in errors))


def _test(fake: FakeTransport, args: Sequence[str], stdin: bytes | None) -> CommandResult:
    if len(args) != 2 or args[0] not in ("-e", "-f", "-d"):
        return _fail("test: fake supports only -e, -f and -d with one path", 2)
    check = {"-e": fake.exists, "-f": lambda p: fake.file(p) is not None, "-d": fake.is_dir}
    return _result(0 if check[args[0]](args[1]) else 1)


def _sha256sum(fake: FakeTransport, args: Sequence[str], stdin: bytes | None) -> CommandResult:
    _, paths = _split_flags(args)
    if not paths:
        return _result(0, f"{sha256_hex(stdin or b'')}  -\n")
    lines = []
    errors = []
    for path in paths:
        entry = fake.file(path)
        if entry is None:
            errors.append(f"sha256sum: {path}: No such file or directory")
        else:
            lines.append(f"{entry.sha256}  {path}\n")
    return _result(1 if errors else 0, "".join(lines), "".join(e + "\n" for e in errors))


def _true(fake: FakeTransport, args: Sequence[str], stdin: bytes | None) -> CommandResult:
    return _result()


def _false(fake: FakeTransport, args: Sequence[str], stdin: bytes | None) -> CommandResult:
    return _result(1)


def _find(fake: FakeTransport, args: Sequence[str], stdin: bytes | None) -> CommandResult:
    """``find DIR -maxdepth 1 -name GLOB -type f -delete`` (only that form)."""
    rest = list(args)
    if len(rest) != 8 or rest[1:3] != ["-maxdepth", "1"] or rest[3] != "-name":
        return _fail("find: fake supports only DIR -maxdepth 1 -name GLOB -type f -delete")
    if rest[5:] != ["-type", "f", "-delete"]:
        return _fail("find: fake supports only DIR -maxdepth 1 -name GLOB -type f -delete")
    folder, pattern = _norm(rest[0]), rest[4]
    if folder not in fake.dirs:
        return _fail(f"find: '{rest[0]}': No such file or directory")
    for path in [p for p in fake.files if posixpath.dirname(p) == folder]:
        if fnmatch.fnmatchcase(posixpath.basename(path), pattern):
            del fake.files[path]
    return _result()


def _touch(fake: FakeTransport, args: Sequence[str], stdin: bytes | None) -> CommandResult:
    """``touch -c -- PATH...``: a new mtime for files that exist."""
    flags, paths = _split_flags(args)
    for path in paths:
        entry = fake.file(path)
        if entry is not None:
            entry.mtime = fake.now()
        elif "-c" not in flags and not fake.is_dir(path):
            fake.add_file(path, b"")
    return _result()


def _stat(fake: FakeTransport, args: Sequence[str], stdin: bytes | None) -> CommandResult:
    """``stat -c %Y -- PATH...`` (only that form): mtimes."""
    rest = list(args)
    if rest[:2] != ["-c", "%Y"]:
        return _fail("stat: fake supports only -c %Y")
    lines, errors = [], []
    for path in [p for p in rest[2:] if p != "--"]:
        entry = fake.file(path)
        if entry is not None:
            lines.append(f"{int(entry.mtime if entry.mtime is not None else fake.now())}\n")
        elif fake.is_dir(path):
            lines.append(f"{int(fake.now())}\n")
        else:
            errors.append(f"stat: cannot statx '{path}': No such file or directory\n")
    return _result(1 if errors else 0, "".join(lines), "".join(errors))


def _grep(fake: FakeTransport, args: Sequence[str], stdin: bytes | None) -> CommandResult:
    """``grep -qF -- PATTERN FILE`` (only that form)."""
    rest = [a for a in args if a != "--"]
    if len(rest) != 3 or rest[0] != "-qF":
        return _fail("grep: fake supports only -qF -- PATTERN FILE", 2)
    entry = fake.file(rest[2])
    if entry is None:
        return _fail(f"grep: {rest[2]}: No such file or directory", 2)
    return _result(0 if rest[1].encode() in entry.content else 1)


def chain_commands(line: str) -> list[tuple[str, ...]]:
    """The commands of ``A && B && C`` (quoted argvs joined with ``&&``)."""
    commands: list[tuple[str, ...]] = []
    current: list[str] = []
    lexer = shlex.shlex(line, posix=True, punctuation_chars="&")
    lexer.whitespace_split = True
    for token in lexer:
        if token == "&&":
            commands.append(tuple(current))
            current = []
        else:
            current.append(token)
    if current:
        commands.append(tuple(current))
    return commands


def run_chain(fake: FakeTransport, line: str) -> CommandResult:
    """``sh -c "A && B && C"`` of quoted commands: each only after the one
    before succeeded; the status of the last one run."""
    result = _result()
    for argv in chain_commands(line):
        result = fake._dispatch(argv, None, fake.command_timeout)
        if not result.ok:
            return result
    return result


_Builtin = Callable[[FakeTransport, Sequence[str], bytes | None], CommandResult]

_BUILTINS: Mapping[str, _Builtin] = {
    "cat": _cat,
    "cp": _cp,
    "mv": _mv,
    "rm": _rm,
    "mkdir": _mkdir,
    "rmdir": _rmdir,
    "chown": _chown,
    "find": _find,
    "chmod": _chmod,
    "test": _test,
    "sha256sum": _sha256sum,
    "sync": _true,
    "touch": _touch,
    "stat": _stat,
    "grep": _grep,
    "true": _true,
    "false": _false,
}
