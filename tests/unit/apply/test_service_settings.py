"""The inventory's ``service`` setting: how apply drives dockerd per group."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcfg.host.service import DEFAULT_SERVICE, ServiceCommands
from fleetcfg.inventory import InventoryErrors
from tests.unit.apply.helpers import setup
from tests.unit.inventory.repo import load_repo

INVENTORY = """\
defaults:
  service:
    health_timeout: 2m
groups:
  alpine:
    service:
      reload: rc-service docker reload
      restart: [rc-service, docker, restart]
      reset_failed: ""
      status: rc-service docker status
      logs: tail -n 50 /var/log/docker.log
      health: "/usr/local/bin/pull-check --registry 'mirror.corp:5000'"
    hosts:
      edge-01: {}
  special:
    hosts:
      edge-01: {service: {health_timeout: 30}}
hosts:
  web-01: {}
"""


def test_systemd_is_the_default() -> None:
    assert DEFAULT_SERVICE.restart == ("systemctl", "restart", "docker")
    assert DEFAULT_SERVICE.systemd and DEFAULT_SERVICE.health == ()
    assert DEFAULT_SERVICE.health_timeout == 60


def test_groups_override_the_service_commands_key_by_key(tmp_path: Path) -> None:
    inventory = load_repo(tmp_path, INVENTORY)
    edge = inventory.host("edge-01").service
    assert edge == ServiceCommands(
        reload=("rc-service", "docker", "reload"),
        restart=("rc-service", "docker", "restart"),
        reset_failed=(),
        status=("rc-service", "docker", "status"),
        logs=("tail", "-n", "50", "/var/log/docker.log"),
        health=("/usr/local/bin/pull-check", "--registry", "mirror.corp:5000"),
        health_timeout=30.0,
    )
    assert not edge.systemd
    web = inventory.host("web-01").service
    assert web == ServiceCommands(health_timeout=120.0)


def test_explain_shows_where_a_service_command_comes_from(tmp_path: Path) -> None:
    inventory = load_repo(tmp_path, INVENTORY)
    rows = {name: origin.layer for name, _, origin in inventory.host("edge-01").explain()}
    assert rows["service.reload"] == "group alpine"
    assert rows["service.health_timeout"] == "host edge-01"


@pytest.mark.parametrize(
    ("value", "message"),
    [("restart: ''", "needs a command"), ('reload: "a \'b"', "cannot split"), ("restrat: x", "")],
)
def test_bad_service_settings_are_located(tmp_path: Path, value: str, message: str) -> None:
    text = f"defaults:\n  service:\n    {value}\nhosts:\n  web-01: {{}}\n"
    with pytest.raises(InventoryErrors) as caught:
        load_repo(tmp_path, text)
    problem = caught.value.problems[0]
    assert problem.line == 3
    assert message in str(problem)


def test_apply_uses_the_groups_commands(tmp_path: Path) -> None:
    s = setup(tmp_path)
    host = s.hosts["web-01"]
    host.on(
        ["rc-service", "docker", "restart"],
        lambda argv, stdin, fake: host.run(["systemctl", "restart", "docker"]),
    )
    host.reply(["rc-service", "docker", "status"], " * status: started\n")
    s.services["web-01"] = ServiceCommands(
        restart=("rc-service", "docker", "restart"),
        reset_failed=(),
        status=("rc-service", "docker", "status"),
        logs=(),
    )
    report = s.apply(s.plan())
    assert report.exit_code == 0, report.results[0].reason
    assert ("rc-service", "docker", "restart") in host.argvs
    assert ("systemctl", "reset-failed", "docker") not in host.argvs
