"""What dockerd's log drivers accept (Linux, Engine 26.1-28.x).

From moby's ``daemon/logger`` packages: each driver's ``ValidateLogOpt`` runs
at daemon start when ``log-opts`` is non-empty and on every container create;
its ``New`` runs at container start. An option a driver does not know stops
dockerd from starting; a bad value breaks every container.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from fleetcfg.core.versions import EngineVersion
from fleetcfg.dockerd.base import v

#: accepted for every driver (mode, buffer, and the dual-logging cache options)
GENERIC_OPTS = frozenset(
    {
        "mode",
        "max-buffer-size",
        "cache-disabled",
        "cache-max-file",
        "cache-max-size",
        "cache-compress",
    }
)
_META = ("labels", "labels-regex", "env", "env-regex")


@dataclass(frozen=True, slots=True)
class LogDriver:
    name: str
    opts: frozenset[str]
    #: options known only from/until some Engine release: name -> (since, until)
    versioned: dict[str, tuple[EngineVersion | None, EngineVersion | None]] = field(
        default_factory=dict
    )
    #: option that must be set for the driver to work at all
    required: tuple[str, ...] = ()
    #: the driver keeps logs on the host's disk (rotation matters)
    local_files: bool = False

    def accepts(self, opt: str, engine: EngineVersion) -> bool:
        if opt in GENERIC_OPTS or opt in self.opts:
            return True
        span = self.versioned.get(opt)
        if span is None:
            return False
        since, until = span
        return (since is None or engine >= since) and (until is None or engine < until)


def _driver(name: str, *opts: str, **kw: object) -> LogDriver:
    return LogDriver(name, frozenset(opts), **kw)  # type: ignore[arg-type]


DRIVERS: dict[str, LogDriver] = {
    d.name: d
    for d in (
        _driver("json-file", "max-file", "max-size", "compress", "tag", *_META, local_files=True),
        _driver("local", "max-file", "max-size", "compress", local_files=True),
        _driver("journald", "tag", *_META),
        _driver(
            "syslog",
            "syslog-address",
            "syslog-facility",
            "syslog-tls-ca-cert",
            "syslog-tls-cert",
            "syslog-tls-key",
            "syslog-tls-skip-verify",
            "tag",
            "syslog-format",
            *_META,
        ),
        _driver(
            "gelf",
            "gelf-address",
            "tag",
            "gelf-compression-level",
            "gelf-compression-type",
            "gelf-tcp-max-reconnect",
            "gelf-tcp-reconnect-delay",
            *_META,
            required=("gelf-address",),
        ),
        _driver(
            "fluentd",
            "fluentd-address",
            "fluentd-async",
            "fluentd-async-reconnect-interval",
            "fluentd-buffer-limit",
            "fluentd-max-retries",
            "fluentd-request-ack",
            "fluentd-retry-wait",
            "fluentd-sub-second-precision",
            "tag",
            *_META,
            versioned={
                "fluentd-async-connect": (None, v("28.0")),
                "fluentd-write-timeout": (v("28.0"), None),
            },
        ),
        _driver(
            "awslogs",
            "awslogs-group",
            "awslogs-stream",
            "awslogs-create-group",
            "awslogs-region",
            "awslogs-endpoint",
            "tag",
            "awslogs-datetime-format",
            "awslogs-multiline-pattern",
            "awslogs-credentials-endpoint",
            "awslogs-force-flush-interval-seconds",
            "awslogs-max-buffered-events",
            "awslogs-format",
            required=("awslogs-group",),
        ),
        _driver(
            "splunk",
            "splunk-url",
            "splunk-token",
            "splunk-source",
            "splunk-sourcetype",
            "splunk-index",
            "splunk-capath",
            "splunk-caname",
            "splunk-insecureskipverify",
            "splunk-format",
            "splunk-verify-connection",
            "splunk-gzip",
            "splunk-gzip-level",
            "splunk-index-acknowledgment",
            "tag",
            *_META,
            required=("splunk-url", "splunk-token"),
        ),
        _driver(
            "gcplogs",
            "gcp-project",
            "gcp-log-cmd",
            "gcp-meta-zone",
            "gcp-meta-name",
            "gcp-meta-id",
            *_META,
        ),
        _driver("none"),
    )
}

#: drivers that were removed (a daemon default naming them is an unknown driver)
REMOVED_DRIVERS = {"logentries": v("25.0")}
WINDOWS_ONLY_DRIVERS = {"etwlogs"}

SYSLOG_FACILITIES = frozenset(
    {
        "kern",
        "user",
        "mail",
        "daemon",
        "auth",
        "syslog",
        "lpr",
        "news",
        "uucp",
        "cron",
        "authpriv",
        "ftp",
        *(f"local{i}" for i in range(8)),
    }
)
SYSLOG_SCHEMES = ("unix", "unixgram", "udp", "tcp", "tcp+tls")
SYSLOG_FORMATS = ("", "rfc3164", "rfc5424", "rfc5424micro")
LOG_MODES = ("", "blocking", "non-blocking")


def close_driver(name: str) -> str | None:
    """The built-in driver ``name`` is probably a typo of (``json`` for
    ``json-file``), else ``None``: a bare name far from every built-in is a
    plugin alias (``docker plugin install grafana/loki-docker-driver --alias loki``)."""
    close = difflib.get_close_matches(name, list(DRIVERS), n=1, cutoff=0.6)
    return close[0] if close else None


def is_plugin_name(name: str) -> bool:
    """Logging plugins are referenced as ``repo/name[:tag]`` (or an alias)."""
    return "/" in name or ":" in name
