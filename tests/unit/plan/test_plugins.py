"""A daemon.json whose log-driver is a logging plugin: plan asks the running
daemon (`docker plugin ls`) and refuses a host that does not have it enabled,
before anything is applied."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcfg.host.transport.base import CommandResult
from fleetcfg.plan.model import Action
from fleetcfg.plan.plugins import (
    install_command,
    parse_plugins,
    plugin_driver,
    plugin_name,
    plugins_command,
)
from tests.unit.plan.helpers import plan_change

LOKI = {"log-driver": "loki", "log-opts": {"loki-url": "https://loki.example.com/push"}}


def test_a_host_with_the_plugin_enabled_plans_normally(tmp_path: Path) -> None:
    planned = plan_change(tmp_path, None, LOKI, plugins={"loki:latest": True})
    assert planned.plan.action is not Action.ERROR
    assert planned.plan.errors == []
    assert planned.facts.plugins == {"loki:latest": True}


def test_a_missing_plugin_is_a_host_error_naming_it_and_how_to_install_it(
    tmp_path: Path,
) -> None:
    planned = plan_change(tmp_path, None, LOKI, plugins={"other:latest": True})
    assert planned.plan.action is Action.ERROR
    [error] = planned.plan.errors
    assert 'log-driver "loki" is a logging plugin that is not installed on this host' in error
    assert "docker plugin install grafana/loki-docker-driver --alias loki" in error
    assert planned.contents == {}  # nothing to apply


def test_a_disabled_plugin_is_a_host_error_saying_how_to_enable_it(tmp_path: Path) -> None:
    planned = plan_change(tmp_path, None, LOKI, plugins={"loki:latest": False})
    assert planned.plan.action is Action.ERROR
    [error] = planned.plan.errors
    assert "installed but disabled" in error and "docker plugin enable loki:latest" in error


def test_a_plugin_by_its_full_name_is_found_with_the_default_tag(tmp_path: Path) -> None:
    target = {"log-driver": "grafana/loki-docker-driver"}
    ok = plan_change(tmp_path, None, target, plugins={"grafana/loki-docker-driver:latest": True})
    assert ok.plan.errors == []
    missing = plan_change(tmp_path / "2", None, target, plugins={})
    [error] = missing.plan.errors
    assert "docker plugin install grafana/loki-docker-driver" in error


def test_a_stopped_daemon_cannot_be_asked_a_warning_says_so(tmp_path: Path) -> None:
    planned = plan_change(tmp_path, None, LOKI, unit_state="inactive")
    assert planned.plan.action is not Action.ERROR
    assert any(
        "could not be checked (dockerd is not running to ask)" in w and "--alias loki" in w
        for w in planned.plan.warnings
    )


def test_built_in_drivers_and_unchanged_files_never_ask_for_plugins(tmp_path: Path) -> None:
    builtin = plan_change(tmp_path, None, {"log-driver": "journald"}, plugins={})
    assert builtin.facts.plugins is None and builtin.plan.errors == []
    unchanged = plan_change(tmp_path / "2", LOKI, LOKI, plugins={})
    assert unchanged.plan.action is Action.NONE
    assert unchanged.facts.plugins is None and unchanged.plan.errors == []


@pytest.mark.parametrize(
    ("driver", "name"),
    [
        ("loki", "loki:latest"),
        ("loki:2.9", "loki:2.9"),
        ("grafana/loki-docker-driver", "grafana/loki-docker-driver:latest"),
        ("docker.io/grafana/loki-docker-driver:3.0", "grafana/loki-docker-driver:3.0"),
        ("registry:5000/team/log:1", "registry:5000/team/log:1"),
    ],
)
def test_plugin_names_are_compared_as_docker_plugin_ls_prints_them(driver: str, name: str) -> None:
    assert plugin_name(driver) == name


def test_only_drivers_that_are_not_built_in_are_plugins() -> None:
    assert plugin_driver({"log-driver": "loki"}) == "loki"
    assert plugin_driver({"log-driver": "json-file"}) is None
    assert plugin_driver({"log-driver": "logentries"}) is None  # removed, lint's error
    assert plugin_driver({}) is None
    assert install_command("myplug") == "docker plugin install REPO/NAME --alias myplug"


def test_docker_plugin_ls_output_and_failures_are_parsed() -> None:
    argv = plugins_command()
    ok = CommandResult.from_bytes(argv, 0, b"loki:latest true\nold:1 false\n", b"")
    assert parse_plugins(ok) == ({"loki:latest": True, "old:1": False}, None)
    down = CommandResult.from_bytes(argv, 1, b"", b"Cannot connect to the Docker daemon\n")
    assert parse_plugins(down) == (
        None,
        "docker plugin ls failed: Cannot connect to the Docker daemon",
    )
    hung = CommandResult.from_bytes(argv, 124, b"", b"")
    assert parse_plugins(hung)[1] == "docker plugin ls did not answer within 10s"
