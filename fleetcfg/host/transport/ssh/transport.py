"""The transport of one host over SSH: one connection, reused for every
call, each operation one exec round trip (no sftp)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Protocol

import paramiko

from fleetcfg.core.errors import CommandTimeoutError, ConnectionLostError, TransportError
from fleetcfg.host.transport import scripts
from fleetcfg.host.transport.base import CommandResult, FileState
from fleetcfg.host.transport.caps import OUTPUT_CAP, OutputMeter, Overflow, too_large
from fleetcfg.host.transport.ssh.channel import (
    ChannelLost,
    ChannelTimeout,
    Exec,
    Meter,
    run_channel,
)
from fleetcfg.host.transport.targets import ResolvedSshTarget, SshTarget


class Dialer(Protocol):
    """What a transport connects through (:class:`~fleetcfg.host.transport.ssh.connector.SshConnector`)."""

    def resolve(self, target: SshTarget) -> ResolvedSshTarget: ...

    def connect(
        self, resolved: ResolvedSshTarget, *, cancellable: bool = True
    ) -> paramiko.Transport: ...


class SshTransport:
    """A connection to one host over SSH (see the module docstring).

    Usable from one thread at a time. The connection opens on first use (or
    :meth:`connect`) and is reused; after a lost connection the next call
    reconnects.
    """

    def __init__(self, target: SshTarget, *, connector: Dialer) -> None:
        self.host = target.host
        self.target = target
        self._connector = connector
        self._resolved: ResolvedSshTarget | None = None
        self._transport: paramiko.Transport | None = None
        #: connected once: a reconnect (to finish or roll back) is not cancelled
        self._was_open = False

    def __enter__(self) -> SshTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SshTransport({self.host!r})"

    @property
    def resolved(self) -> ResolvedSshTarget:
        """The effective settings (inventory, then ssh_config, then defaults)."""
        if self._resolved is None:
            self._resolved = self._connector.resolve(self.target)
        return self._resolved

    @property
    def _become(self) -> bool:
        return self.resolved.become and self.resolved.endpoint.user != "root"

    @property
    def runs_as(self) -> str | None:
        """root with become, else the login user."""
        return "root" if self.resolved.become else self.resolved.endpoint.user

    def connect(self) -> None:
        """Open the connection now (otherwise the first call does)."""
        self._live()

    def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.close()

    def _live(self) -> paramiko.Transport:
        if self._transport is not None and self._transport.is_active():
            return self._transport
        if self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.close()
            self._transport = None
        self._transport = self._connector.connect(self.resolved, cancellable=not self._was_open)
        self._was_open = True
        return self._transport

    # -- the protocol -------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
        max_output: int | None = None,
    ) -> CommandResult:
        argv = [str(a) for a in argv]
        what = scripts.describe_argv(argv)
        meter = OutputMeter(max_output or OUTPUT_CAP)
        result = self._exec(argv, stdin, timeout, what, meter=meter, culprit=lambda _: what)
        return CommandResult.from_bytes(argv, result.status, result.stdout, result.stderr)

    def run_many(
        self,
        commands: Sequence[Sequence[str]],
        *,
        timeout: float | None = None,
        max_output: int | None = None,
    ) -> list[CommandResult]:
        if not commands:
            return []
        batch = scripts.build_batch(commands)
        what = f"a batch of {len(commands)} commands"
        meter = scripts.batch_meter(batch, max_output or OUTPUT_CAP)
        result = self._exec(
            batch.argv,
            None,
            timeout,
            what,
            meter=meter,
            culprit=lambda index: scripts.describe_argv(batch.commands[index]),
        )
        try:
            return scripts.parse_batch(batch, result.stdout, result.stderr)
        except ValueError as exc:
            detail = result.stderr.decode("utf-8", "replace").strip()[:500]
            raise TransportError(
                f"running {len(commands)} commands in one batch failed ({exc}; "
                f"exit status {result.status}){': ' + detail if detail else ''}",
                host=self.host,
                hint="the host needs a POSIX sh and printf",
            ) from None

    def read_file(self, path: str) -> FileState:
        argv = scripts.read_file_argv(path)
        meter = OutputMeter(scripts.READ_OUTPUT_CAP)
        result = self._exec(
            argv,
            None,
            None,
            f"reading {path}",
            meter=meter,
            culprit=lambda _: f"the read of {path}",
        )
        return scripts.parse_read_file(path, result.status, result.stdout, result.stderr, self.host)

    def write_file(
        self,
        path: str,
        data: bytes,
        *,
        mode: int = 0o644,
        owner: str = "root",
        group: str = "root",
    ) -> None:
        argv, upload = scripts.write_file_command(path, data, mode=mode, owner=owner, group=group)
        try:
            meter = OutputMeter(OUTPUT_CAP)
            result = self._exec(
                argv,
                upload,
                None,
                f"writing {path}",
                meter=meter,
                culprit=lambda _: f"the write of {path}",
            )
        except ConnectionLostError:
            raise ConnectionLostError(
                f"connection lost while writing {path}; the file is either unchanged or "
                "completely replaced, never partly written",
                host=self.host,
                hint="check the host, then run plan again to see its state",
            ) from None
        scripts.check_write_result(path, result.status, result.stderr, self.host)

    # -- exec ---------------------------------------------------------------

    def _exec(
        self,
        argv: Sequence[str],
        stdin: bytes | None,
        timeout: float | None,
        what: str,
        *,
        meter: Meter,
        culprit: Callable[[int], str],
    ) -> Exec:
        """Run ``argv``; ``meter`` caps its output (``culprit``: the command
        of a batch, by index, that sent too much)."""
        timeout = timeout if timeout is not None else self.resolved.command_timeout
        transport = self._live()
        become = self._become
        cmdline = scripts.quote_argv(scripts.with_become(argv, become))
        try:
            result = run_channel(transport, cmdline, stdin, timeout, meter)
        except Overflow as over:
            raise too_large(self.host, culprit(over.index), over.stream, over.cap) from None
        except ChannelTimeout:
            raise CommandTimeoutError(
                f"{what} did not finish within {timeout:g}s",
                host=self.host,
                hint="raise command_timeout for this host if it is just slow",
            ) from None
        except ChannelLost as exc:
            self._drop()
            raise ConnectionLostError(
                f"connection lost during {what}: {exc}",
                host=self.host,
                hint="check the host and run again",
            ) from None
        if become:
            failure = scripts.sudo_failure(
                result.status, result.stderr, user=self.resolved.endpoint.user, host=self.host
            )
            if failure is not None:
                raise failure
        return result

    def _drop(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.close()
