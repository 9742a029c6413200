"""What planning one more host costs the controller does not depend on the
fleet: no regex is compiled per host, the known_hosts file is not scanned per
host (tests/unit/transport/test_known_hosts.py), and a fleet's plan is
written out host by host (test_plan_files.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from fleetcfg.core import secrets
from fleetcfg.inventory import load_inventory
from fleetcfg.plan.fleet import plan_fleet
from fleetcfg.plan.model import Action
from tests.fakes.dockerhost import FakeDockerHost
from tests.unit.inventory.repo import write_repo
from tests.unit.plan.test_plan_files import Connector

HOSTS = 6
INVENTORY = 'defaults:\n  daemon_profile: base\n  engine_version: "26.1"\nhosts:\n' + "".join(
    f"  web-{i:02d}: {{address: 10.0.0.{i + 1}}}\n" for i in range(HOSTS)
)
PROFILE = """
log-driver: json-file
log-opts: {max-size: 50m, max-file: "5"}
registry-mirrors: ["https://mirror.example.com"]
metrics-addr: "{{ address }}:9323"
"""


def test_planning_another_host_compiles_no_regex(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inventory = load_inventory(write_repo(tmp_path, INVENTORY, {"base.yaml.j2": PROFILE}))
    live = {"log-driver": "json-file", "log-opts": {"max-size": "10m"}}
    fakes = {
        name: FakeDockerHost(name, daemon_json=None if i % 3 == 0 else live)
        for i, name in enumerate(inventory.hosts)
    }
    hosts = list(inventory.hosts.values())
    first = plan_fleet(inventory, hosts[:1], connector=Connector(fakes), forks=1)
    assert first.hosts[0].action is Action.RESTART  # warmed up: every code path once

    compiled: list[Any] = []
    real = re._compiler.compile  # type: ignore[attr-defined]

    def counting(pattern: Any, flags: int = 0) -> Any:
        compiled.append(pattern)
        return real(pattern, flags)

    monkeypatch.setattr(re._compiler, "compile", counting)  # type: ignore[attr-defined]
    rest = plan_fleet(inventory, hosts[1:], connector=Connector(fakes), forks=2)
    assert {h.action for h in rest.hosts} == {Action.RESTART}
    assert compiled == []


def test_planning_another_host_works_out_no_secret_forms_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the forms a secret may be printed in (JSON-escaped, URL-encoded,
    # base64...) are the same for every host that masks it
    monkeypatch.setenv("PROXY_PASSWORD", "s3cr3t-proxy-pass")
    inventory_text = INVENTORY.replace("hosts:\n", "secrets: {env: [PROXY_PASSWORD]}\nhosts:\n")
    profile = PROFILE + (
        "proxies: {http-proxy: \"http://svc:{{ env('PROXY_PASSWORD') }}@proxy.example.com:3128\"}\n"
    )
    inventory = load_inventory(write_repo(tmp_path, inventory_text, {"base.yaml.j2": profile}))
    live = {"log-driver": "json-file", "log-opts": {"max-size": "10m"}}
    fakes = {name: FakeDockerHost(name, daemon_json=live) for name in inventory.hosts}
    hosts = list(inventory.hosts.values())
    first = plan_fleet(inventory, hosts[:1], connector=Connector(fakes), forks=1)
    assert first.hosts[0].action is Action.RESTART
    assert "s3cr3t-proxy-pass" not in first.hosts[0].model_dump_json()

    worked_out: list[str] = []
    real = secrets._base64_forms

    def counting(secret: str) -> set[str]:
        worked_out.append(secret)
        return real(secret)

    monkeypatch.setattr(secrets, "_base64_forms", counting)
    rest = plan_fleet(inventory, hosts[1:], connector=Connector(fakes), forks=2)
    assert {h.action for h in rest.hosts} == {Action.RESTART}
    assert all("s3cr3t-proxy-pass" not in h.model_dump_json() for h in rest.hosts)
    assert worked_out == []
