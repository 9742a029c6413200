"""One error hierarchy for fleetcfg.

Every error a user can trigger derives from :class:`FleetcfgError` and carries
where it happened (file, line, column, host, key path) so that the CLI can print
one located line; the CLI picks the exit code from the class
(:func:`fleetcfg.cli.exits.exit_code_for`).
"""

from __future__ import annotations


class FleetcfgError(Exception):
    """Base of every error fleetcfg raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        host: str | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.host = host
        self.key = key
        self.hint = hint

    def location(self) -> str:
        """``file:line:col`` (the parts that are known), or ``""``."""
        if self.file is None:
            return ""
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        out = []
        loc = self.location()
        if loc:
            out.append(f"{loc}: ")
        if self.host:
            out.append(f"host {self.host}: ")
        if self.key:
            out.append(f"{self.key}: ")
        out.append(self.message)
        if self.hint:
            out.append(f" ({self.hint})")
        return "".join(out)


class UsageError(FleetcfgError):
    """The command line itself is wrong (missing file, bad option value)."""


class ConfigSyntaxError(FleetcfgError):
    """A daemon.json / config.json file cannot be decoded at all."""


class InventoryError(FleetcfgError):
    """inventory.yaml is malformed or inconsistent."""


class TemplateError(FleetcfgError):
    """A profile template failed to render (syntax, undefined variable, lookup)."""


class SecretLookupError(TemplateError):
    """An ``env()`` or ``file()`` lookup in a profile could not be resolved."""


class TransportError(FleetcfgError):
    """Talking to a host failed (connect, auth, host key, command, timeout)."""


class ConnectError(TransportError):
    """The host could not be reached."""


class ConnectCancelled(ConnectError):
    """A connection still being opened was cancelled (Ctrl-C, or a halted
    rollout): no command had run over it, so nothing was done on the host."""


class AuthenticationError(TransportError):
    """The host refused every credential we offered."""


class HostKeyError(TransportError):
    """The host key is unknown or does not match known_hosts."""


class UnknownHostKeyError(HostKeyError):
    """The host presented a key that known_hosts does not list (first contact)."""


class ChangedHostKeyError(HostKeyError):
    """The host presented a key that differs from the one known_hosts lists
    (possible man-in-the-middle). Never accepted automatically."""


class ConnectionLostError(TransportError):
    """The connection dropped while a command or transfer was in flight."""


class BecomeError(TransportError):
    """``become`` (sudo) refused to run a command without a password."""


class CommandTimeoutError(TransportError):
    """A remote command did not finish in time."""


class OutputTooLargeError(TransportError):
    """A command on the host sent more output than fleetcfg reads from it
    (every byte a host sends is untrusted): fleetcfg stopped reading and
    stopped the command."""


class RemoteCommandError(TransportError):
    """A remote command exited non-zero where success was required."""

    def __init__(
        self,
        message: str,
        *,
        exit_status: int,
        stdout: str = "",
        stderr: str = "",
        host: str | None = None,
    ) -> None:
        super().__init__(message, host=host)
        self.exit_status = exit_status
        self.stdout = stdout
        self.stderr = stderr


class PlanError(FleetcfgError):
    """A plan cannot be computed, loaded or executed."""


class StalePlanError(PlanError):
    """A saved plan no longer matches what is on the host or what the repo renders."""


class LockError(FleetcfgError):
    """Another fleetcfg run holds the lock on a host."""


class InternalError(FleetcfgError):
    """An unexpected exception (a bug in fleetcfg), wrapped so that it is
    reported against the host it happened on instead of aborting the run."""


class StepFailedError(FleetcfgError):
    """A step of apply or rollback failed on a host (``step`` names it: upload,
    validate, restart, health, ...); the host is reported failed and recovered."""

    def __init__(self, step: str, message: str, *, host: str | None = None) -> None:
        super().__init__(message, host=host)
        self.step = step
