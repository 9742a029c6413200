"""Golden cases, facts in and plan out: each folder under golden/ is a repo
(inventory.yaml, profiles/), the host it plans against (host.json: the
FakeDockerHost's daemon.json, engine, unit, users and files) and the text
``fleetcfg plan`` prints for it (expected.txt).

Regenerate after an intended change with ``FLEETCFG_UPDATE_GOLDEN=1 pytest
tests/unit/plan/test_golden.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from fleetcfg.cli.plan_view import plan_lines
from fleetcfg.inventory import load_inventory
from fleetcfg.plan.fleet import plan_host
from fleetcfg.plan.model import Plan
from fleetcfg.render import Renderer
from tests.fakes.dockerhost import FakeDockerHost

GOLDEN = Path(__file__).with_name("golden")
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "host.json").is_file())


def fake_host(spec: dict[str, Any]) -> FakeDockerHost:
    kwargs: dict[str, Any] = {"daemon_json": spec.get("daemon_json")}
    for key in ("engine", "unit_state", "exec_start"):
        if key in spec:
            kwargs[key] = spec[key]
    host = FakeDockerHost(spec["host"], **kwargs)
    host.containers = spec.get("containers", host.containers)
    host.environment_files = list(spec.get("environment_files", []))
    for user, info in spec.get("users", {}).items():
        host.add_user(user, home=info.get("home"), group=info.get("group"))
    for path, content in spec.get("files", {}).items():
        if isinstance(content, str):
            host.add_file(path, content)
        else:
            host.add_file(
                path,
                content["content"],
                mode=content.get("mode", 0o644),
                owner=content.get("owner", "root"),
                group=content.get("group", "root"),
            )
    return host


def render_case(case: Path) -> str:
    spec = json.loads((case / "host.json").read_text())
    inventory = load_inventory("inventory.yaml")
    renderer = Renderer(inventory, environ=spec.get("environ", {}))
    planned = plan_host(inventory, inventory.host(spec["host"]), fake_host(spec), renderer=renderer)
    plan = Plan(fleetcfg_version="test", inventory="inventory.yaml", hosts=[planned.plan])
    for secret in spec.get("environ", {}).values():
        assert secret not in plan.model_dump_json()
    return "".join(text + "\n" for text, _ in plan_lines(plan))


@pytest.mark.parametrize("name", CASES)
def test_golden_plan(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    case = GOLDEN / name
    monkeypatch.chdir(case)
    text = render_case(case)
    expected = case / "expected.txt"
    if os.environ.get("FLEETCFG_UPDATE_GOLDEN"):
        expected.write_text(text)
    assert expected.is_file(), f"{expected} is missing: run with FLEETCFG_UPDATE_GOLDEN=1"
    assert text == expected.read_text()
