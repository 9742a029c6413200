"""A small repo under tmp_path, FakeDockerHosts, and apply/rollback wired to them.

Plans are made by the real planner (``plan_host`` against the fakes), so these
tests exercise exactly what ``fleetcfg apply`` executes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fleetcfg import __version__
from fleetcfg.apply.journal import Journal
from fleetcfg.apply.report import ApplyReport
from fleetcfg.apply.rollout import (
    ApplyEvent,
    ApplyOptions,
    RollbackTarget,
    RunEnv,
    apply_plan,
    rollback_hosts,
)
from fleetcfg.host.service import DEFAULT_SERVICE, ServiceCommands
from fleetcfg.host.state import BACKUP_DIR, LOCK_DIR, STATE_PATH, HostState
from fleetcfg.inventory import Inventory, load_inventory
from fleetcfg.inventory.model import Rollout
from fleetcfg.plan.fleet import plan_host
from fleetcfg.plan.model import Plan
from fleetcfg.plan.replan import RenderedTargets
from fleetcfg.render import Renderer
from fleetcfg.render.surface import builder_commands
from tests.fakes.dockerhost import DAEMON_JSON, FakeDockerHost
from tests.unit.inventory.repo import write_repo

OLD = {"log-driver": "json-file", "log-opts": {"max-file": "3", "max-size": "10m"}}
#: a change dockerd applies on reload
RELOADABLE = {**OLD, "debug": True}
#: a change that needs a restart
RESTARTING = {**OLD, "log-level": "warn"}


def canonical(data: Mapping[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def inventory_text(hosts: Iterable[str], *, extra: str = "", groups: str = "") -> str:
    lines = ["secrets: {env: [PROXY_PASSWORD]}", "defaults:", "  daemon_profile: base"]
    lines.append('  engine_version: "26.1"')
    lines += ["rollout:", "  batch_size: 2", "  canary: 1", "  max_failures: 0"]
    if groups:
        lines.append(groups)
    else:
        lines.append("hosts:")
        lines += [f"  {name}: {{address: 10.0.0.{i + 1}}}" for i, name in enumerate(hosts)]
    return "\n".join(lines) + "\n" + extra


class FakeClock:
    """Monotonic clock and sleep that never wait."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []
        self.wall = datetime(2024, 5, 7, 10, 15, tzinfo=UTC)

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds

    def now(self) -> datetime:
        self.t += 0.001
        return self.wall + timedelta(seconds=self.t - 1000.0)


@dataclass
class Setup:
    """A repo and one FakeDockerHost per inventory host."""

    tmp_path: Path
    inventory: Inventory
    hosts: dict[str, FakeDockerHost]
    clock: FakeClock = field(default_factory=FakeClock)
    events: list[ApplyEvent] = field(default_factory=list)
    journal: Journal = field(default_factory=Journal)
    services: dict[str, ServiceCommands] = field(default_factory=dict)
    connects: list[str] = field(default_factory=list)

    def plan(self, names: Iterable[str] | None = None) -> Plan:
        renderer = Renderer(self.inventory, environ={})
        chosen = list(names) if names is not None else list(self.hosts)
        planned = [
            plan_host(self.inventory, self.inventory.host(n), self.hosts[n], renderer=renderer)
            for n in chosen
        ]
        return Plan(
            fleetcfg_version=__version__,
            inventory=str(self.inventory.path),
            hosts=[p.plan for p in planned],
        )

    def connect(self, name: str) -> FakeDockerHost:
        self.connects.append(name)
        return self.hosts[name]

    def options(self, **rollout: Any) -> ApplyOptions:
        base = self.inventory.rollout.model_dump()
        base.update(rollout)
        return ApplyOptions(rollout=Rollout.model_validate(base), forks=4, poll_interval=0.5)

    def apply(self, plan: Plan, *, options: ApplyOptions | None = None, **kw: Any) -> ApplyReport:
        return apply_plan(
            plan,
            self.env(**kw),
            targets=RenderedTargets(self.inventory, Renderer(self.inventory, environ={})),
            options=options or self.options(),
            group_order=list(self.inventory.groups),
        )

    def rollback(self, names: Iterable[str], **kw: Any) -> ApplyReport:
        return rollback_hosts(
            [RollbackTarget(n, builder=builder_commands(self.inventory.host(n))) for n in names],
            self.env(),
            options=kw.pop("options", None) or self.options(),
            **kw,
        )

    def env(self, **kw: Any) -> RunEnv:
        """The fakes and the fake clock as a run's environment (``kw``
        overrides: ``cancel``, ``on_event``, ...)."""
        kw.setdefault("on_event", self.events.append)
        return RunEnv(
            connect=self.connect,
            service_for=lambda name: self.services.get(name, DEFAULT_SERVICE),
            journal=self.journal,
            clock=self.clock.clock,
            sleep=self.clock.sleep,
            now=self.clock.now,
            user="tester",
            control_host="ctl",
            **kw,
        )

    def set_profile(self, data: Mapping[str, Any]) -> None:
        (self.tmp_path / "profiles" / "base.json").write_text(json.dumps(data))
        self.inventory = load_inventory(self.tmp_path / "inventory.yaml")


def setup(
    tmp_path: Path,
    names: Iterable[str] = ("web-01",),
    *,
    target: Mapping[str, Any] = RESTARTING,
    live: Mapping[str, Any] | None = OLD,
    inventory: str | None = None,
    profiles: Mapping[str, str] | None = None,
    **host_kw: Any,
) -> Setup:
    names = list(names)
    files = {"base.json": json.dumps(target)}
    files.update(profiles or {})
    path = write_repo(tmp_path, inventory or inventory_text(names), files)
    hosts = {
        n: FakeDockerHost(n, daemon_json=None if live is None else dict(live), **host_kw)
        for n in names
    }
    return Setup(tmp_path, load_inventory(path), hosts)


def daemon_json(host: FakeDockerHost) -> Any:
    content = host.content(DAEMON_JSON)
    return None if content is None else json.loads(content)


def state_of(host: FakeDockerHost) -> HostState:
    return HostState.from_bytes(host.content(STATE_PATH))


def backups_of(host: FakeDockerHost) -> list[str]:
    return [p for p in sorted(host.files) if p.startswith(BACKUP_DIR + "/")]


def locked(host: FakeDockerHost) -> bool:
    return host.is_dir(LOCK_DIR)


def leftovers(host: FakeDockerHost) -> list[str]:
    """Temporary files fleetcfg left next to its targets."""
    return [p for p in host.files if ".fleetcfg-" in p.rsplit("/", 1)[-1]]


def refuses_the_old_file(content: bytes, path: str) -> str | None:
    """A validator by which the daemon no longer starts on the pre-apply
    daemon.json (the one without ``log-level``): rollback's restore fails."""
    if path == DAEMON_JSON and b"log-level" not in content:
        return "failed to start daemon: the old file no longer works"
    return None
