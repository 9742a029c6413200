"""dockerd's own words from its log (``journalctl -u docker -o cat``): why a
start failed, and whether a reload was refused.

dockerd logs in logrus's text format (``time="..." level=error msg="..."
error="..."``) and, when it cannot start at all, prints the bare error
(``unable to configure the Docker daemon with file ...``, ``failed to start
daemon: ...``). systemd adds its own lines (``Failed with result
'exit-code'``), which say nothing about the cause and are only used when
dockerd said nothing.
"""

from __future__ import annotations

import re

RELOAD_MARKER = "Got signal to reload configuration"
RELOAD_DONE = "Reloaded configuration"
_START_MARKERS = ("Starting up", "Starting docker", "Starting Docker")
_FIELD_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')
_BARE_ERRORS = (
    "unable to configure the docker daemon",
    "failed to start daemon",
    "error starting daemon",
    "failed to load listeners",
    "failed to create",
)
_SYSTEMD_NOISE = re.compile(
    r"(Main process exited|Failed with result|Failed to start|Start request repeated|"
    r"Scheduled restart job|Job for docker|Deactivated successfully|Consumed .* CPU)"
)
MAX_MESSAGES = 3


def _fields(line: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, raw in _FIELD_RE.findall(line):
        quoted = raw.startswith('"') and raw.endswith('"') and len(raw) >= 2
        out[key] = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\") if quoted else raw
    return out


def message_of(line: str) -> str | None:
    """The error a log line reports, or None when it is not an error."""
    text = line.strip()
    if not text:
        return None
    fields = _fields(text) if "level=" in text else {}
    if fields:
        if fields.get("level") not in ("error", "fatal", "panic"):
            return None
        msg = fields.get("msg", text)
        error = fields.get("error") or fields.get("err")
        return f"{msg}: {error}" if error and error not in msg else msg
    lowered = text.lower()
    if any(lowered.startswith(prefix) for prefix in _BARE_ERRORS):
        return text
    return None


def _after_last(lines: list[str], markers: tuple[str, ...]) -> list[str] | None:
    for index in range(len(lines) - 1, -1, -1):
        if any(marker in lines[index] for marker in markers):
            return lines[index + 1 :]
    return None


def _dedupe(messages: list[str]) -> list[str]:
    return list(dict.fromkeys(messages))[-MAX_MESSAGES:]


def start_error(log: str) -> str | None:
    """Why the last start of dockerd failed, in dockerd's words (None when
    the log does not say)."""
    lines = log.splitlines()
    recent = _after_last(lines, _START_MARKERS)
    if recent is None:
        recent = lines
    messages = [m for m in (message_of(line) for line in recent) if m]
    if messages:
        return "; ".join(_dedupe(messages))
    systemd = [line.strip() for line in recent if _SYSTEMD_NOISE.search(line)]
    return "; ".join(_dedupe(systemd)) or None


def reload_outcome(log: str) -> tuple[str, str | None]:
    """What the log says about the last reload: ``("unseen", None)`` (no
    reload in the log), ``("pending", None)`` (dockerd got the signal and has
    not finished), ``("ok", None)`` or ``("error", dockerd's message)``.
    dockerd handles SIGHUP asynchronously, so callers poll until it is not
    pending."""
    recent = _after_last(log.splitlines(), (RELOAD_MARKER,))
    if recent is None:
        return "unseen", None
    messages = [m for m in (message_of(line) for line in recent) if m]
    if messages:
        return "error", "; ".join(_dedupe(messages))
    if any(RELOAD_DONE in line for line in recent):
        return "ok", None
    return "pending", None
