"""Local transport (``connection: local``): the control machine itself.

Same semantics as the SSH transport: commands are argv lists (no shell),
``become`` runs them through ``sudo -n`` when fleetcfg is not root, a command
that outlives its timeout is killed and raises
:class:`~fleetcfg.core.errors.CommandTimeoutError`, one whose stdout or
stderr passes its cap is killed and raises
:class:`~fleetcfg.core.errors.OutputTooLargeError`, and files are written
atomically (temp file in the same directory, fchmod, fchown, fsync, rename,
directory fsync). With ``become`` as a non-root user, file operations run the
same sh programs the SSH transport uses, through sudo.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import os
import pwd
import selectors
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from fleetcfg.core.errors import CommandTimeoutError, TransportError
from fleetcfg.core.hashing import sha256_hex
from fleetcfg.core.numbers import is_digits
from fleetcfg.host.transport import scripts
from fleetcfg.host.transport.base import CommandResult, FileState
from fleetcfg.host.transport.caps import OUTPUT_CAP, OutputMeter, Overflow, too_large
from fleetcfg.host.transport.targets import LocalTarget

#: after SIGTERM, how long a timed-out command (or sudo) gets before SIGKILL
_KILL_GRACE = 2.0
_CHUNK = 65536


class LocalTransport:
    """Runs commands and file operations on this machine."""

    def __init__(self, target: LocalTarget | None = None) -> None:
        target = target or LocalTarget()
        self.host = target.host
        self.target = target
        self._root = os.geteuid() == 0
        self._become = target.become and not self._root

    def __repr__(self) -> str:
        return f"LocalTransport({self.host!r})"

    @property
    def runs_as(self) -> str | None:
        """root (as root, or with become), else this process's user."""
        if self._root or self._become:
            return "root"
        try:
            return pwd.getpwuid(os.geteuid()).pw_name
        except KeyError:  # a uid without a passwd entry (some containers)
            return None

    def __enter__(self) -> LocalTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release; present for the protocol."""

    # -- commands -----------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
        max_output: int | None = None,
    ) -> CommandResult:
        argv = [str(a) for a in argv]
        scripts.quote_argv(argv)  # rejects an empty command
        full = scripts.with_become(argv, self._become)
        limit = timeout if timeout is not None else self.target.command_timeout
        what = scripts.describe_argv(argv)
        status, out, err = self._spawn(full, stdin, limit, what, max_output or OUTPUT_CAP)
        return CommandResult.from_bytes(argv, status, out, err)

    def run_many(
        self,
        commands: Sequence[Sequence[str]],
        *,
        timeout: float | None = None,
        max_output: int | None = None,
    ) -> list[CommandResult]:
        limit = timeout if timeout is not None else self.target.command_timeout
        deadline = time.monotonic() + limit
        results = []
        for argv in commands:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CommandTimeoutError(
                    f"a batch of {len(commands)} commands did not finish within {limit:g}s",
                    host=self.host,
                )
            results.append(self.run(argv, timeout=remaining, max_output=max_output))
        return results

    def _spawn(
        self,
        argv: Sequence[str],
        stdin: bytes | None,
        timeout: float,
        what: str,
        cap: int = OUTPUT_CAP,
    ) -> tuple[int, bytes, bytes]:
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                env={**os.environ, "LC_ALL": "C"},
            )
        except FileNotFoundError:
            return 127, b"", f"fleetcfg: {argv[0]}: command not found\n".encode()
        except PermissionError:
            return 126, b"", f"fleetcfg: {argv[0]}: permission denied\n".encode()
        try:
            out, err = _communicate(proc, stdin, time.monotonic() + timeout, OutputMeter(cap))
        except Overflow as over:
            _kill_group(proc)
            raise too_large(self.host, what, over.stream, over.cap) from None
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise CommandTimeoutError(
                f"{what} did not finish within {timeout:g}s",
                host=self.host,
                hint="raise command_timeout for this host if it is just slow",
            ) from None
        except BaseException:
            _kill_group(proc)
            raise
        if self._become:
            failure = scripts.sudo_failure(
                proc.returncode, err, user=_current_user(), host=self.host
            )
            if failure is not None:
                raise failure
        return proc.returncode, out, err

    # -- files --------------------------------------------------------------

    def read_file(self, path: str) -> FileState:
        if self._become:
            argv = scripts.read_file_argv(path)
            status, out, err = self._spawn(
                scripts.with_become(argv, True),
                None,
                self.target.command_timeout,
                f"the read of {path}",
                scripts.READ_OUTPUT_CAP,
            )
            return scripts.parse_read_file(path, status, out, err, self.host)
        scripts.read_file_argv(path)  # same path rules as remote hosts
        target = Path(path)
        try:
            st = target.stat()
            if target.is_dir():
                raise TransportError(f"cannot read {path}: it is a directory", host=self.host)
            content = target.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return FileState.absent(path)
        except PermissionError:
            raise TransportError(
                f"cannot read {path}: permission denied",
                host=self.host,
                hint="use become (sudo) or run fleetcfg as root",
            ) from None
        except OSError as exc:
            raise TransportError(f"cannot read {path}: {exc.strerror}", host=self.host) from None
        return FileState(
            path=path,
            exists=True,
            content=content,
            mode=st.st_mode & 0o7777,
            owner=_user_name(st.st_uid),
            group=_group_name(st.st_gid),
            sha256=sha256_hex(content),
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
        if self._become:
            argv, upload = scripts.write_file_command(
                path, data, mode=mode, owner=owner, group=group
            )
            status, _, err = self._spawn(
                scripts.with_become(argv, True), upload, self.target.command_timeout, path
            )
            scripts.check_write_result(path, status, err, self.host)
            return
        self._write_native(path, data, mode=mode, owner=owner, group=group)

    def _write_native(self, path: str, data: bytes, *, mode: int, owner: str, group: str) -> None:
        target = Path(path)
        uid, gid = self._ids(path, owner, group)
        directory = target.parent
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.fleetcfg-", dir=directory)
        except OSError as exc:
            raise self._write_error(path, "cannot create a temporary file", exc) from None
        try:
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fchmod(handle.fileno(), mode)
                    st = os.fstat(handle.fileno())
                    if (st.st_uid, st.st_gid) != (uid, gid):
                        os.fchown(handle.fileno(), uid, gid)
                    os.fsync(handle.fileno())
                Path(tmp).replace(target)
            except OSError as exc:
                raise self._write_error(path, "the write failed", exc) from None
        except BaseException:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
            raise
        with contextlib.suppress(OSError):
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def _ids(self, path: str, owner: str, group: str) -> tuple[int, int]:
        try:
            uid = int(owner) if is_digits(owner) else pwd.getpwnam(owner).pw_uid
            gid = int(group) if is_digits(group) else grp.getgrnam(group).gr_gid
        except KeyError:
            raise TransportError(
                f"cannot write {path}: no user {owner!r} or group {group!r} on this machine",
                host=self.host,
            ) from None
        return uid, gid

    def _write_error(self, path: str, stage: str, exc: OSError) -> TransportError:
        unchanged = "the file was not changed"
        if exc.errno == errno.ENOSPC:
            return TransportError(
                f"cannot write {path}: no space left on device in {Path(path).parent} "
                f"({unchanged})",
                host=self.host,
                hint="free some space and run again",
            )
        hint = None
        if exc.errno in (errno.EACCES, errno.EPERM):
            hint = "use become (sudo) or run fleetcfg as root"
        return TransportError(
            f"cannot write {path}: {stage}: {exc.strerror} ({unchanged})",
            host=self.host,
            hint=hint,
        )


def _communicate(
    proc: subprocess.Popen[bytes], stdin: bytes | None, deadline: float, meter: OutputMeter
) -> tuple[bytes, bytes]:
    """``proc.communicate`` that shows ``meter`` the output as it arrives
    (its :class:`~fleetcfg.host.transport.caps.Overflow` stops reading) and
    raises ``subprocess.TimeoutExpired`` at ``deadline``."""
    out, err = bytearray(), bytearray()
    pending = memoryview(stdin or b"")
    with selectors.DefaultSelector() as selector:
        if proc.stdin is not None:
            if pending:
                os.set_blocking(proc.stdin.fileno(), False)
                selector.register(proc.stdin, selectors.EVENT_WRITE)
            else:
                proc.stdin.close()
        for pipe, buffer in ((proc.stdout, out), (proc.stderr, err)):
            if pipe is not None:
                selector.register(pipe, selectors.EVENT_READ, buffer)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(proc.args, 0)
            for key, _ in selector.select(left):
                if key.data is None:  # stdin has room
                    try:
                        pending = pending[os.write(key.fd, pending[:_CHUNK]) :]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:  # it exited without reading all its input
                        pending = pending[:0]
                    if not pending:
                        selector.unregister(key.fileobj)
                        assert proc.stdin is not None
                        proc.stdin.close()
                    continue
                data = os.read(key.fd, _CHUNK)
                if not data:
                    selector.unregister(key.fileobj)
                    continue
                key.data.extend(data)
                meter(out, err)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    proc.wait(timeout=max(deadline - time.monotonic(), 0.0))
    return bytes(out), bytes(err)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the command's process group (sudo relays it), then SIGKILL.
    Waits for the process itself, not for its pipes (a grandchild in another
    session could keep them open forever)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=_KILL_GRACE)
            break
        except subprocess.TimeoutExpired:
            continue
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _current_user() -> str:
    return _user_name(os.geteuid())
