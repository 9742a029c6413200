"""What the SSH modules share: the exceptions paramiko raises for a failed
connection, how they read in a message, and deadlines."""

from __future__ import annotations

import time

import paramiko

#: what paramiko (and the socket under it) raises when a connection fails
SSH_ERRORS = (paramiko.SSHException, EOFError, OSError)


def remaining(deadline: float) -> float:
    """Seconds left until ``deadline`` (``time.monotonic``), at least 10 ms."""
    return max(deadline - time.monotonic(), 0.01)


def reason(exc: BaseException) -> str:
    """``exc`` as the end of a sentence: "connection refused", ..."""
    if isinstance(exc, EOFError):
        return "the server closed the connection"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    return text or type(exc).__name__
