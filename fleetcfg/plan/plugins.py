"""Logging plugins on a host. A ``log-driver`` that is not built in names a
plugin, usually by the alias it was installed under (``loki``:
``docker plugin install grafana/loki-docker-driver --alias loki``). dockerd
looks it up when it starts (with ``log-opts``: a missing plugin stops it) and
at every container start, so a host about to get such a daemon.json must
have the plugin installed and enabled first.

:func:`fleetcfg.plan.fleet.plan_host` asks a running daemon which plugins it
has (:func:`gather_plugins`: ``docker plugin ls``, one more exec, only for a
host whose new daemon.json names a plugin); :func:`check_logging_plugin`
(called by the pure planner) makes a missing or disabled plugin a host error,
and says how to install or enable it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from fleetcfg.dockerd import logdrivers as ld
from fleetcfg.host.transport.base import CommandResult, Transport
from fleetcfg.plan.facts_model import Facts
from fleetcfg.plan.notes import HostNotes

#: seconds ``docker plugin ls`` may take (a hung daemon must not hang plan)
PLUGINS_TIMEOUT = 10
#: one line per plugin: its name (``loki:latest``) and ``true``/``false``
PLUGINS_FORMAT = "{{.Name}} {{.Enabled}}"
#: the repository of well-known logging plugins, by the alias their docs use
KNOWN_PLUGINS = {"loki": "grafana/loki-docker-driver"}


def plugin_driver(config: Mapping[str, Any]) -> str | None:
    """The ``log-driver`` of a daemon.json when it names a plugin (not a
    built-in driver of any Engine release)."""
    driver = config.get("log-driver")
    if not isinstance(driver, str) or not driver:
        return None
    if driver in ld.DRIVERS or driver in ld.REMOVED_DRIVERS or driver in ld.WINDOWS_ONLY_DRIVERS:
        return None
    return driver


def plugin_driver_of(content: bytes | None) -> str | None:
    """:func:`plugin_driver` of the bytes of a daemon.json (None when they do
    not parse: the planner reports that)."""
    if content is None:
        return None
    try:
        data = json.loads(content)
    except ValueError:
        return None
    return plugin_driver(data) if isinstance(data, dict) else None


def plugin_name(driver: str) -> str:
    """How ``docker plugin ls`` names the plugin ``driver`` refers to: the
    familiar name with the default tag, as dockerd's lookup compares them
    (``loki`` -> ``loki:latest``, ``docker.io/grafana/x`` -> ``grafana/x:latest``)."""
    name = driver.removeprefix("docker.io/").removeprefix("library/")
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name


def install_command(driver: str) -> str:
    """How to install the plugin ``driver`` names."""
    if "/" in driver:
        return f"docker plugin install {driver}"
    alias = driver.split(":", 1)[0]
    repo = KNOWN_PLUGINS.get(alias, "REPO/NAME")
    return f"docker plugin install {repo} --alias {driver}"


#: the most ``docker plugin ls --format`` (one name a line) prints
PLUGINS_OUTPUT = 1024 * 1024


def plugins_command() -> list[str]:
    return [
        "timeout",
        str(PLUGINS_TIMEOUT),
        "docker",
        "plugin",
        "ls",
        "--format",
        PLUGINS_FORMAT,
    ]


def parse_plugins(result: CommandResult) -> tuple[dict[str, bool] | None, str | None]:
    """``docker plugin ls --format PLUGINS_FORMAT`` -> name -> enabled."""
    if result.exit_status == 124:
        return None, f"docker plugin ls did not answer within {PLUGINS_TIMEOUT}s"
    if not result.ok:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        why = lines[0] if lines else f"exit status {result.exit_status}"
        return None, f"docker plugin ls failed: {why}"
    plugins: dict[str, bool] = {}
    for line in result.stdout.splitlines():
        name, _, enabled = line.strip().rpartition(" ")
        if name:
            plugins[name] = enabled == "true"
    return plugins, None


def gather_plugins(transport: Transport, facts: Facts, *, running: bool) -> Facts:
    """``facts`` with the plugins of the running daemon (one exec)."""
    if not running:
        return replace(facts, plugins_problem="dockerd is not running to ask")
    plugins, problem = parse_plugins(transport.run(plugins_command(), max_output=PLUGINS_OUTPUT))
    return replace(facts, plugins=plugins, plugins_problem=problem)


def check_logging_plugin(config: Mapping[str, Any], facts: Facts, h: HostNotes) -> None:
    """A host error when the new daemon.json ``config`` names a logging
    plugin the host does not have enabled; a warning when that could not be
    checked; nothing when the plugins were not asked for."""
    driver = plugin_driver(config)
    if driver is None:
        return
    name = plugin_name(driver)
    if facts.plugins is None:
        if facts.plugins_problem is not None:
            h.warn(
                f'log-driver "{driver}" is a logging plugin and whether this host has it '
                f"could not be checked ({facts.plugins_problem}): it must be installed and "
                f"enabled before dockerd starts with this file ({install_command(driver)})"
            )
        return
    enabled = facts.plugins.get(name)
    if enabled is None:
        h.fail(
            f'log-driver "{driver}" is a logging plugin that is not installed on this host '
            f"(docker plugin ls has no {name}): dockerd would not find it (with log-opts it "
            f"refuses to start, else every container fails); install it first: "
            f"{install_command(driver)}"
        )
    elif not enabled:
        h.fail(
            f'log-driver "{driver}" is a logging plugin that is installed but disabled on '
            f"this host ({name}): dockerd would not find it; enable it first: "
            f"docker plugin enable {name}"
        )
