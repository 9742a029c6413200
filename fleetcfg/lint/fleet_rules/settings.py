"""Daemon setting rules: log rotation, live-restore, metrics address, and
``hosts`` against systemd's ``-H fd://``."""

from __future__ import annotations

from collections.abc import Iterator

from fleetcfg.core.rules import (
    HOSTS_SYSTEMD,
    LIVE_RESTORE,
    LOG_ROTATION,
    METRICS_EXPOSED,
    METRICS_OTHER_HOST,
)
from fleetcfg.lint.fleet_rules.base import (
    Fleet,
    Hit,
    Target,
    daemon_rule,
    ip_or_none,
)


@daemon_rule("log-driver", "log-opts")
def log_rotation(t: Target, fleet: Fleet) -> Iterator[Hit]:
    """FC036: json-file logs without max-size."""
    driver = t.data.get("log-driver")
    if driver not in (None, "", "json-file"):
        return
    opts = t.data.get("log-opts")
    if isinstance(opts, dict) and opts.get("max-size") not in (None, ""):
        return
    which = "the json-file log driver" if driver else "the default log driver (json-file)"
    message = (
        f'{which} keeps every container\'s log in one file forever without "max-size" in '
        "log-opts: one chatty container fills the disk and stops every container. Set "
        'log-opts max-size and max-file (e.g. "50m" and "5"), or use the local driver'
    )
    if isinstance(opts, dict) and "log-opts" in t.data:
        yield Hit(LOG_ROTATION, message, ("log-opts",))
    elif driver:
        yield Hit(LOG_ROTATION, message, ("log-driver",))
    else:
        yield Hit(LOG_ROTATION, message, ("log-opts",), absent=True)


@daemon_rule("live-restore")
def live_restore(t: Target, fleet: Fleet) -> Iterator[Hit]:
    """FC037: live-restore off."""
    value = t.data.get("live-restore")
    if value is True or (value is not None and not isinstance(value, bool)):
        return
    if value is False:
        message = '"live-restore" is false: every dockerd restart stops all containers'
        yield Hit(LIVE_RESTORE, message + ". Set it to true", ("live-restore",))
    else:
        message = (
            '"live-restore" is not set (default false): every dockerd restart stops all containers'
        )
        yield Hit(
            LIVE_RESTORE, message + '. Add "live-restore": true', ("live-restore",), absent=True
        )


def _listen_host(addr: str) -> str | None:
    if addr.startswith("["):
        end = addr.find("]")
        return addr[1:end] if end > 0 else None
    if ":" not in addr:
        return None
    return addr.rpartition(":")[0]


@daemon_rule(per_host=True)
def metrics_address(t: Target, fleet: Fleet) -> Iterator[Hit]:
    """FC038 (every interface) and FC041 (another host's address)."""
    addr = t.data.get("metrics-addr")
    if not isinstance(addr, str) or not addr:
        return
    host = _listen_host(addr.strip())
    if host is None:
        return
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - that is what the rule looks for
        yield Hit(
            METRICS_EXPOSED,
            f'metrics-addr "{addr}" serves the engine\'s metrics, without authentication, on '
            "every interface of the host. Bind it to the host's internal address "
            '("{{ address }}:9323") or 127.0.0.1',
            ("metrics-addr",),
            value=addr,
        )
        return
    ip = ip_or_none(host)
    if ip is None or ip.is_loopback or ip == ip_or_none(t.address):
        return
    others = [name for name in fleet.owners.get(ip, ()) if name != t.host]
    if others:
        yield Hit(
            METRICS_OTHER_HOST,
            f'metrics-addr "{addr}" is the address of inventory host {others[0]}: dockerd '
            "cannot listen on an address the host does not have and refuses to start. "
            'Use "{{ address }}:PORT" in the profile',
            ("metrics-addr",),
            value=host,
        )


@daemon_rule("hosts")
def hosts_key(t: Target, fleet: Fleet) -> Iterator[Hit]:
    """FC039: hosts in daemon.json."""
    if t.data.get("hosts") is not None:
        yield Hit(
            HOSTS_SYSTEMD,
            '"hosts" in daemon.json conflicts with the -H fd:// that systemd\'s docker.service '
            'passes: dockerd refuses to start ("specified both as a flag and in the '
            'configuration file: hosts"). Remove it, or drop -H from the unit with a '
            "systemd drop-in and disable FC039",
            ("hosts",),
        )
