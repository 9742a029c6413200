"""``converge-status.json``: what the last ``fleetcfg converge`` on a host did,
written by converge after every run (next to the metrics, from the same
values) and read back by ``fleetcfg status``, on the host itself or over SSH.

Whoever controls a host controls this file, so :func:`parse_record` treats
it as hostile: a size cap (the reader reads at most :data:`RECORD_CAP`
bytes), strict JSON (no NaN, bounded nesting), every field type-checked, and
every string shortened to a bound. Escaping control characters is the
printer's job (:func:`fleetcfg.core.terminal.escape_controls`).

Also here: the systemd time spans of the timer (``30min``, ``1h 30min``),
from which ``fleetcfg status`` derives when a host stopped reporting.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from fleetcfg.core.atomicfile import write_atomic
from fleetcfg.core.errors import FleetcfgError
from fleetcfg.core.terminal import clip
from fleetcfg.host.pull import PullPaths

#: the version of converge-status.json's layout
RECORD_FORMAT = 1
#: the most fleetcfg status reads of converge-status.json and of the disable file
RECORD_CAP = 64 * 1024
#: the most it reads of the timer unit
TIMER_CAP = 16 * 1024


class RecordError(FleetcfgError):
    """A host's converge-status.json cannot be used (per host, never fatal)."""


@dataclass(frozen=True)
class ConvergeRecord:
    """The last converge run on a host."""

    #: the inventory name converge ran as
    host: str
    #: when it ran and when a run last succeeded (seconds since the epoch)
    last_run: float
    last_success: float | None
    exit_code: int
    #: what it said (one line)
    message: str
    #: the revision of the configuration the host has (git commit, or sha256:...)
    revision: str | None
    files_drifted: int
    restart_pending: bool
    #: where the Prometheus metrics went
    metrics_file: str | None = None


def record_text(record: ConvergeRecord) -> str:
    return json.dumps({"format": RECORD_FORMAT, **asdict(record)}, indent=2, sort_keys=True) + "\n"


def write_record(paths: PullPaths, record: ConvergeRecord) -> None:
    """Write converge-status.json atomically (readable by root only, like
    the rest of the state folder)."""
    paths.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(paths.status_file, record_text(record), 0o600)


# -- reading what a host sent --------------------------------------------------------


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def load_json_object(data: bytes, what: str) -> dict[str, Any]:
    """A JSON object from a host's bytes, or :class:`RecordError` saying why not."""
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise RecordError(f"{what} is not UTF-8 text") from None
    except RecursionError:
        raise RecordError(f"{what} is nested too deeply") from None
    except ValueError as exc:
        raise RecordError(f"{what} is not valid JSON: {clip(str(exc), 120)}") from None
    if not isinstance(value, dict):
        raise RecordError(f"{what} does not hold a JSON object")
    return value


def _number(data: dict[str, Any], key: str, what: str, *, optional: bool = False) -> float | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RecordError(f"{what}: {key} is not a number")
    return float(value)


def _text(data: dict[str, Any], key: str, what: str, *, optional: bool = False) -> str | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise RecordError(f"{what}: {key} is not a string")
    return clip(value)


def parse_record(data: bytes, what: str) -> ConvergeRecord:
    """The record in ``data`` (a host's converge-status.json, named ``what``
    in errors)."""
    doc = load_json_object(data, what)
    if doc.get("format") != RECORD_FORMAT:
        raise RecordError(
            f"{what}: format {clip(repr(doc.get('format')), 40)} is not {RECORD_FORMAT}, the "
            "one this fleetcfg reads (run the same fleetcfg version on the hosts and here)"
        )
    exit_code = _number(doc, "exit_code", what)
    drifted = _number(doc, "files_drifted", what)
    assert exit_code is not None and drifted is not None
    if not exit_code.is_integer() or not drifted.is_integer() or drifted < 0:
        raise RecordError(f"{what}: exit_code and files_drifted must be whole numbers")
    pending = doc.get("restart_pending")
    if not isinstance(pending, bool):
        raise RecordError(f"{what}: restart_pending is not true or false")
    last_run = _number(doc, "last_run", what)
    assert last_run is not None
    return ConvergeRecord(
        host=_text(doc, "host", what) or "",
        last_run=last_run,
        last_success=_number(doc, "last_success", what, optional=True),
        exit_code=int(exit_code),
        message=_text(doc, "message", what) or "",
        revision=_text(doc, "revision", what, optional=True),
        files_drifted=int(drifted),
        restart_pending=pending,
        metrics_file=_text(doc, "metrics_file", what, optional=True),
    )


# -- systemd time spans -------------------------------------------------------------

_SPAN_UNITS = {
    "us": 1e-6,
    "usec": 1e-6,
    "ms": 1e-3,
    "msec": 1e-3,
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
    "M": 2629800,
    "month": 2629800,
    "months": 2629800,
    "y": 31557600,
    "year": 31557600,
    "years": 31557600,
}
_SPAN_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)")


def parse_timespan(text: str) -> float:
    """Seconds in a systemd time span (``30min``, ``1h 30min``, ``90``: a
    bare number is seconds), as systemd.time(7) spells them. ValueError
    when it is not one."""
    rest, total = text.strip(), 0.0
    if not rest or len(rest) > 100:
        raise ValueError(f"{clip(text, 40)!r} is not a time span (like 30min or 1h 30min)")
    while rest:
        m = _SPAN_PART.match(rest)
        if m is None or (m.group(2) not in _SPAN_UNITS and m.group(2) != ""):
            raise ValueError(f"{clip(text, 40)!r} is not a time span (like 30min or 1h 30min)")
        total += float(m.group(1)) * (_SPAN_UNITS[m.group(2)] if m.group(2) else 1)
        rest = rest[m.end() :].lstrip()
    return total


def timer_period(text: str) -> float | None:
    """The longest time between two runs of a timer unit written by
    ``converge --install-timer`` (``OnUnitActiveSec`` + ``RandomizedDelaySec``),
    or None when the unit has no ``OnUnitActiveSec`` fleetcfg can read."""
    values: dict[str, str] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section == "Timer" and "=" in line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    try:
        interval = parse_timespan(values["OnUnitActiveSec"])
        delay = parse_timespan(values.get("RandomizedDelaySec", "0"))
    except (KeyError, ValueError):
        return None
    return interval + delay if interval > 0 else None
