"""Planning one host of a small repo under tmp_path against a FakeDockerHost."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fleetcfg.inventory import load_inventory
from fleetcfg.plan.decide import PlannedHost
from fleetcfg.plan.fleet import plan_host
from fleetcfg.render import Renderer
from tests.fakes.dockerhost import FakeDockerHost
from tests.unit.inventory.repo import write_repo

INVENTORY = """
secrets: {env: [PROXY_PASSWORD]}
defaults:
  daemon_profile: base
  engine_version: "26.1"
hosts:
  web-01: {address: 10.0.0.1}
"""


def plan_with(
    tmp_path: Path,
    host: FakeDockerHost,
    *,
    inventory: str = INVENTORY,
    profiles: Mapping[str, str] | None = None,
    name: str = "web-01",
    environ: Mapping[str, str] | None = None,
) -> PlannedHost:
    """Plan host ``name`` of the repo against ``host``."""
    path = write_repo(tmp_path, inventory, dict(profiles or {}))
    inv = load_inventory(path)
    renderer = Renderer(inv, environ=dict(environ or {}))
    return plan_host(inv, inv.host(name), host, renderer=renderer)


def plan_change(
    tmp_path: Path,
    live: Mapping[str, Any] | None,
    target: Mapping[str, Any],
    **host_settings: Any,
) -> PlannedHost:
    """Plan a host whose daemon.json is ``live`` (None: absent) towards the
    profile ``target`` (a plain JSON profile)."""
    host = FakeDockerHost("web-01", daemon_json=None if live is None else dict(live))
    for key, value in host_settings.items():
        setattr(host, key, value)
    return plan_with(tmp_path, host, profiles={"base.json": json.dumps(target)})
