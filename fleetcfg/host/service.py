"""How apply drives the Docker daemon on one host: the commands to reload,
restart and check it, resolved from the inventory's ``service`` setting.

The defaults suit systemd (``systemctl reload docker`` and so on); a group of
hosts without systemd overrides them in ``inventory.yaml``::

    groups:
      alpine:
        service:
          reload: rc-service docker reload
          restart: rc-service docker restart
          reset_failed: ""
          status: rc-service docker status
          logs: tail -n 50 /var/log/docker.log
          health: /usr/local/bin/check-registry-pull
          health_timeout: 2m
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_HEALTH_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class ServiceCommands:
    """The argv of each service operation. An empty tuple means "no such
    step" (``reset_failed``, ``logs``, ``health`` only)."""

    reload: tuple[str, ...] = ("systemctl", "reload", "docker")
    restart: tuple[str, ...] = ("systemctl", "restart", "docker")
    reset_failed: tuple[str, ...] = ("systemctl", "reset-failed", "docker")
    status: tuple[str, ...] = ("systemctl", "is-active", "docker")
    logs: tuple[str, ...] = ("journalctl", "-u", "docker", "-n", "50", "--no-pager", "-o", "cat")
    health: tuple[str, ...] = ()
    health_timeout: float = DEFAULT_HEALTH_TIMEOUT

    @property
    def systemd(self) -> bool:
        """Whether the daemon is a systemd unit (its ExecStart can be read)."""
        return bool(self.status) and self.status[0] == "systemctl"

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> ServiceCommands:
        """Resolve the inventory's merged ``service`` mapping (unset keys keep
        the defaults)."""
        if not settings:
            return DEFAULT_SERVICE
        base = DEFAULT_SERVICE
        values: dict[str, Any] = {}
        for name in ("reload", "restart", "reset_failed", "status", "logs", "health"):
            if settings.get(name) is not None:
                values[name] = tuple(str(a) for a in settings[name])
        timeout = settings.get("health_timeout")
        if timeout is not None:
            values["health_timeout"] = float(timeout)
        if not values:
            return base
        return cls(**{**_fields(base), **values})


def _fields(commands: ServiceCommands) -> dict[str, Any]:
    return {name: getattr(commands, name) for name in ServiceCommands.__slots__}


DEFAULT_SERVICE = ServiceCommands()
