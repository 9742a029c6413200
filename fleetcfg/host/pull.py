"""What ``fleetcfg converge`` keeps on the host it runs on: the local lock,
the disable file, the record of the last applied revision, the Prometheus
textfile metrics and the systemd units that run it on a timer.

Everything here is local file work (converge runs on the host itself); paths
hang off one :class:`PullPaths` so that tests point them at a temporary folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetcfg.core.atomicfile import write_atomic
from fleetcfg.core.errors import FleetcfgError, LockError
from fleetcfg.core.terminal import clip
from fleetcfg.host.state import STATE_DIR

#: Debian's prometheus-node-exporter reads *.prom files here
DEFAULT_TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
METRICS_FILE = "fleetcfg.prom"
SYSTEMD_DIR = "/etc/systemd/system"
UNIT_NAME = "fleetcfg-converge"


class ConvergeLockedError(LockError):
    """Another ``fleetcfg converge`` runs on this host."""


@dataclass(frozen=True)
class PullPaths:
    state_dir: Path = Path(STATE_DIR)
    textfile_dir: Path = Path(DEFAULT_TEXTFILE_DIR)

    @property
    def lock_file(self) -> Path:
        return self.state_dir / "converge.lock"

    @property
    def disable_file(self) -> Path:
        return self.state_dir / "converge-disabled.json"

    @property
    def last_file(self) -> Path:
        return self.state_dir / "converge-last.json"

    @property
    def seen_file(self) -> Path:
        return self.state_dir / "converge-seen.json"

    @property
    def status_file(self) -> Path:
        """What the last run did (:mod:`fleetcfg.host.pull_record`)."""
        return self.state_dir / "converge-status.json"

    @property
    def metrics_file(self) -> Path:
        return self.textfile_dir / METRICS_FILE


def _state_dir(paths: PullPaths) -> Path:
    """The state folder, created private (0700) like apply creates it."""
    paths.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return paths.state_dir


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# -- the local lock -----------------------------------------------------------------


@contextlib.contextmanager
def converge_lock(paths: PullPaths) -> Iterator[None]:
    """Hold the host's converge lock (``flock``; released when the process
    ends, even on a crash). A second converge exits 4 at once."""
    _state_dir(paths)
    fd = os.open(paths.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise ConvergeLockedError(
                f"another fleetcfg converge runs on this host (pid {holder}, lock "
                f"{paths.lock_file}); this run did nothing"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


# -- the disable file ----------------------------------------------------------------


@dataclass(frozen=True)
class Disabled:
    reason: str
    by: str
    at: str

    def describe(self) -> str:
        return f"disabled by {self.by} at {self.at}: {self.reason}"


def disable(paths: PullPaths, reason: str, *, by: str, at: str) -> Disabled:
    if not reason.strip():
        raise FleetcfgError("--disable needs a reason (who reads it later needs to know why)")
    record = Disabled(reason=reason.strip(), by=by, at=at)
    _state_dir(paths)
    write_atomic(
        paths.disable_file,
        json.dumps({"reason": record.reason, "by": by, "at": at}, indent=2) + "\n",
        0o644,
    )
    return record


def enable(paths: PullPaths) -> Disabled | None:
    """Remove the disable file; returns what it said (None: not disabled)."""
    found = read_disabled(paths)
    paths.disable_file.unlink(missing_ok=True)
    return found


def read_disabled(paths: PullPaths) -> Disabled | None:
    try:
        data = paths.disable_file.read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        data = b""
    return disabled_from(data)


def disabled_from(data: bytes) -> Disabled:
    """What a disable file says. Its presence is what disables converge, so
    a file that does not parse still means disabled. The bytes may come from
    another host (``fleetcfg status``): every field is a string of bounded
    length."""
    try:
        doc = json.loads(data.decode("utf-8", "replace"), parse_constant=float)
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        doc = {"reason": "(the disable file does not hold a JSON object)"}

    def text(key: str, default: str) -> str:
        value = doc.get(key)
        return clip(value if isinstance(value, str) and value.strip() else default)

    return Disabled(
        reason=text("reason", "(no reason recorded)"),
        by=text("by", "unknown"),
        at=text("at", "unknown"),
    )


# -- the last applied revision ------------------------------------------------------


@dataclass(frozen=True)
class Revision:
    """A repo revision: the git commit and its commit time (seconds)."""

    commit: str
    time: int

    @property
    def short(self) -> str:
        return self.commit[:12]


def read_last(paths: PullPaths) -> dict[str, Any]:
    return _read_json(paths.last_file) or {}


def record_last(paths: PullPaths, data: Mapping[str, Any]) -> None:
    _state_dir(paths)
    write_atomic(paths.last_file, json.dumps(dict(data), indent=2, sort_keys=True) + "\n", 0o600)


def last_revision(last: Mapping[str, Any]) -> Revision | None:
    commit, when = last.get("revision"), last.get("revision_time")
    if isinstance(commit, str) and isinstance(when, int):
        return Revision(commit, when)
    return None


def older_revision(new: Revision, last: Revision | None) -> str | None:
    """Why ``new`` must not be applied after ``last`` (None: it may)."""
    if last is None or new.commit == last.commit or new.time >= last.time:
        return None
    return (
        f"revision {new.short} (committed at {new.time}) is older than {last.short} "
        f"(committed at {last.time}), the last one this host applied: refusing to go back "
        "(update the checkout; to roll back, commit a revert)"
    )


#: how many revisions converge-seen.json remembers (the newest ones)
SEEN_KEPT = 32


def first_seen(paths: PullPaths, revision: str, now: float) -> float:
    """When this host first saw ``revision`` (recorded now if it never did)."""
    seen = _read_json(paths.seen_file) or {}
    when = seen.get(revision)
    if isinstance(when, int | float) and not isinstance(when, bool):
        return float(when)
    kept = sorted(
        ((k, v) for k, v in seen.items() if isinstance(v, int | float)), key=lambda kv: kv[1]
    )[-(SEEN_KEPT - 1) :]
    _state_dir(paths)
    write_atomic(
        paths.seen_file,
        json.dumps(dict(kept) | {revision: now}, indent=2, sort_keys=True) + "\n",
        0o600,
    )
    return now


# -- metrics --------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvergeMetrics:
    last_run: float
    last_success: float | None
    exit_code: int
    revision: str
    files_drifted: int
    restart_pending: bool
    disabled: bool
    extra_labels: Mapping[str, str] = field(default_factory=dict)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def metrics_text(m: ConvergeMetrics) -> str:
    """The Prometheus text exposition format (node-exporter's textfile
    collector)."""
    rows: list[tuple[str, str, str, float]] = [
        ("last_run_timestamp_seconds", "when converge last ran", "", m.last_run),
        (
            "last_success_timestamp_seconds",
            "when converge last succeeded (0: never)",
            "",
            m.last_success or 0.0,
        ),
        (
            "exit_code",
            "the exit code of the last run (0 nothing, 2 changed, 1 failed, 4 disabled or locked)",
            "",
            m.exit_code,
        ),
        (
            "revision_info",
            "the repo revision of the last applied configuration",
            f'{{revision="{_label(m.revision)}"}}',
            1,
        ),
        (
            "files_drifted",
            "files changed outside fleetcfg since it last wrote them",
            "",
            m.files_drifted,
        ),
        (
            "restart_pending",
            "1 when a change waits for a dockerd restart",
            "",
            int(m.restart_pending),
        ),
        ("disabled", "1 when converge is disabled on this host", "", int(m.disabled)),
    ]
    out = []
    for name, help_text, labels, value in rows:
        metric = f"fleetcfg_converge_{name}"
        out += [
            f"# HELP {metric} {help_text}",
            f"# TYPE {metric} gauge",
            f"{metric}{labels} {_number(value)}",
        ]
    return "\n".join(out) + "\n"


def write_metrics(paths: PullPaths, metrics: ConvergeMetrics) -> Path:
    write_atomic(paths.metrics_file, metrics_text(metrics), 0o644)
    return paths.metrics_file


# -- systemd units ---------------------------------------------------------------------


def timer_units(
    argv: Sequence[str], *, interval: str = "30min", randomized_delay: str = "15min"
) -> dict[str, str]:
    """``fleetcfg-converge.service`` (oneshot; 2 and 4 are not failures) and
    ``fleetcfg-converge.timer`` (every ``interval`` after boot, each host at
    its own stable offset within ``randomized_delay``)."""
    command = shlex.join(argv)
    service = f"""\
# Written by fleetcfg converge --install-timer.
[Unit]
Description=fleetcfg converge: apply this host's Docker daemon configuration
Wants=network-online.target
After=network-online.target docker.service

[Service]
Type=oneshot
ExecStart={command}
# 2: changed, 4: disabled or another run holds the lock
SuccessExitStatus=2 4
"""
    timer = f"""\
# Written by fleetcfg converge --install-timer.
[Unit]
Description=Run fleetcfg converge every {interval}

[Timer]
OnBootSec=5min
OnUnitActiveSec={interval}
RandomizedDelaySec={randomized_delay}
# the same offset on every run of this host (a stable spread over the fleet)
FixedRandomDelay=true

[Install]
WantedBy=timers.target
"""
    return {f"{UNIT_NAME}.service": service, f"{UNIT_NAME}.timer": timer}


def install_units(units: Mapping[str, str], systemd_dir: Path) -> list[Path]:
    written = []
    for name, text in units.items():
        path = systemd_dir / name
        write_atomic(path, text, 0o644)
        written.append(path)
    return written
