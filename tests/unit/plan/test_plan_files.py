"""Saved plans (-o plan.json), the repo hash, and planning a fleet."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from fleetcfg.core.errors import PlanError, UsageError
from fleetcfg.host.transport.targets import SshTarget
from fleetcfg.inventory import load_inventory
from fleetcfg.plan.fleet import load_plan, plan_fleet, save_plan
from fleetcfg.plan.model import Action, HostPlan, Plan
from fleetcfg.plan.repohash import repo_sha256
from tests.fakes.dockerhost import FakeDockerHost
from tests.unit.inventory.repo import write_repo

INVENTORY = """
defaults:
  daemon_profile: base
  engine_version: "26.1"
hosts:
  web-01: {address: 10.0.0.1}
  web-02: {address: 10.0.0.2}
"""


class Connector:
    def __init__(self, hosts: dict[str, FakeDockerHost]) -> None:
        self.hosts = hosts

    def open(self, target: SshTarget) -> FakeDockerHost:
        return self.hosts[target.host]


def _plan() -> Plan:
    return Plan(
        fleetcfg_version="0.1.0",
        inventory="inventory.yaml",
        repo_sha256="ab" * 32,
        hosts=[HostPlan(host="web-01", action=Action.NONE)],
    )


def test_a_saved_plan_loads_back_equal(tmp_path: Path) -> None:
    plan = _plan()
    save_plan(plan, tmp_path / "plan.json")
    assert load_plan(tmp_path / "plan.json") == plan
    assert not [p for p in tmp_path.iterdir() if p.name != "plan.json"]  # no temp file left


def test_a_saved_plan_is_the_plan_model_as_indented_json(tmp_path: Path) -> None:
    """Written host by host, it is still exactly the model's JSON."""
    plan = _plan().model_copy(
        update={
            "shard": "2/3",
            "hosts": [
                HostPlan(host=f"web-{i:02d}", action=Action.RELOAD, reasons=["é ✓"])
                for i in range(3)
            ],
        }
    )
    save_plan(plan, tmp_path / "plan.json")
    text = (tmp_path / "plan.json").read_text()
    assert json.loads(text) == json.loads(plan.model_dump_json())
    assert text.startswith('{\n  "format_version": 1,\n') and text.endswith("\n  ]\n}\n")
    assert load_plan(tmp_path / "plan.json") == plan


def test_a_saved_plan_without_hosts_loads_back(tmp_path: Path) -> None:
    plan = _plan().model_copy(update={"hosts": []})
    save_plan(plan, tmp_path / "plan.json")
    assert load_plan(tmp_path / "plan.json") == plan


def test_a_plan_of_another_format_is_refused(tmp_path: Path) -> None:
    data = json.loads(_plan().model_dump_json())
    data["format_version"] = 99
    (tmp_path / "plan.json").write_text(json.dumps(data))
    with pytest.raises(PlanError, match=r"plan format 99 .* reads format 1"):
        load_plan(tmp_path / "plan.json")


def test_a_file_that_is_not_a_plan_says_where(tmp_path: Path) -> None:
    (tmp_path / "plan.json").write_text('{\n  "format_version": 1,\n  oops\n}')
    with pytest.raises(PlanError) as info:
        load_plan(tmp_path / "plan.json")
    assert info.value.line == 3
    (tmp_path / "other.json").write_text('{"hosts": []}')
    with pytest.raises(PlanError, match="no format_version"):
        load_plan(tmp_path / "other.json")


def test_a_missing_plan_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="plan file not found"):
        load_plan(tmp_path / "missing.json")


def test_the_repo_hash_changes_with_any_profile(tmp_path: Path) -> None:
    path = write_repo(tmp_path, INVENTORY, {"base.json": "{}"})
    before = repo_sha256(load_inventory(path))
    (tmp_path / "profiles" / "base.json").write_text('{"debug": true}')
    after = repo_sha256(load_inventory(path))
    assert before != after
    assert repo_sha256(load_inventory(path)) == after


def test_plan_fleet_plans_every_host_in_inventory_order(tmp_path: Path) -> None:
    inv = load_inventory(write_repo(tmp_path, INVENTORY, {"base.json": '{"debug": true}'}))
    hosts = {
        "web-01": FakeDockerHost("web-01", daemon_json={"debug": True}),
        "web-02": FakeDockerHost("web-02", daemon_json={}),
    }
    done: list[str] = []
    plan = plan_fleet(
        inv,
        list(inv.hosts.values()),
        connector=Connector(hosts),
        forks=2,
        on_host_done=lambda h: done.append(h.host),
    )
    assert [h.host for h in plan.hosts] == ["web-01", "web-02"]
    assert [h.action for h in plan.hosts] == [Action.NONE, Action.RELOAD]
    assert sorted(done) == ["web-01", "web-02"]
    assert all(h.closed for h in hosts.values())
    assert all(h.round_trips == 1 for h in hosts.values())


def test_an_interrupted_run_reports_the_hosts_it_did_not_plan(tmp_path: Path) -> None:
    inv = load_inventory(write_repo(tmp_path, INVENTORY, {"base.json": "{}"}))
    cancel = threading.Event()
    cancel.set()
    plan = plan_fleet(inv, list(inv.hosts.values()), connector=Connector({}), cancel=cancel)
    assert [h.errors for h in plan.hosts] == [["not planned: the run was interrupted"]] * 2
    assert plan.summary.error == 2
