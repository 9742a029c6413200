"""What apply uses to check a saved plan against the host and the repo
today: each host's targets rendered again (for the Engine version the plan
recorded), the exact bytes to write (:func:`fleetcfg.plan.targets.file_target`,
as plan computed them), and the host planned again from fresh facts (a
saved plan is only data about hashes and actions)."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from fleetcfg.core.errors import FleetcfgError, PlanError
from fleetcfg.core.versions import EngineVersion
from fleetcfg.inventory import Inventory
from fleetcfg.plan.decide import plan_from_facts
from fleetcfg.plan.facts import Facts
from fleetcfg.plan.fleet import lint_settings
from fleetcfg.plan.model import FileKind, FilePlan, HostFacts, HostPlan
from fleetcfg.plan.surface import surface_paths
from fleetcfg.plan.targets import Targets, client_users, file_target, known_secrets, render_targets
from fleetcfg.render import RenderedConfig, Renderer


class RenderedTargets:
    """A :data:`fleetcfg.apply.hostrun.TargetResolver` over an inventory (one per
    run; thread-safe; each host is rendered once)."""

    def __init__(self, inventory: Inventory, renderer: Renderer | None = None) -> None:
        self.inventory = inventory
        self.renderer = renderer or Renderer(inventory)
        self._cache: dict[tuple[str, str | None], Targets] = {}
        self._lint = lint_settings(inventory)
        self._lock = threading.Lock()

    def _targets(self, host: HostPlan) -> Targets:
        key = (host.host, host.facts.engine_version)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        inventory_host = self.inventory.host(host.host)
        engine = (
            EngineVersion.parse(host.facts.engine_version) if host.facts.engine_version else None
        )
        targets = render_targets(self.renderer, inventory_host, engine)
        with self._lock:
            self._cache[key] = targets
        return targets

    def users(self, host: str) -> tuple[str, ...]:
        """The client users the inventory gives ``host``."""
        return client_users(self.inventory.host(host))

    def replan(self, saved: HostPlan, facts: Facts) -> HostPlan:
        """``saved``'s host planned again from ``facts`` gathered now: what
        apply trusts for paths, modes, owners and the action (a saved plan
        is only data about hashes and actions)."""
        host = self.inventory.host(saved.host)
        engine = str(facts.engine) if facts.engine is not None else None
        targets = self._targets(
            saved.model_copy(update={"facts": HostFacts(engine_version=engine)})
        )
        planned = plan_from_facts(
            host, facts, targets, secrets=known_secrets(self.renderer), lint=self._lint
        )
        return planned.plan

    def surface_paths(self, saved: HostPlan, facts: Facts) -> list[str]:
        """The surface files apply must read to plan ``saved``'s host again
        from ``facts`` (the rendered ones, and fleetcfg's own that may go)."""
        engine = str(facts.engine) if facts.engine is not None else None
        targets = self._targets(
            saved.model_copy(update={"facts": HostFacts(engine_version=engine)})
        )
        return surface_paths(targets.surface_result, facts)

    def __call__(self, host: HostPlan, file: FilePlan, live: bytes | None) -> bytes | None:
        targets = self._targets(host)
        if file.kind.surface:
            if file.remove:
                return None
            found = targets.surface_file(file.path)
            if found is None:
                raise PlanError(
                    f"the inventory no longer gives {host.host} {file.path}", host=host.host
                )
            return found.content
        rendered: RenderedConfig | FleetcfgError | None
        if file.kind is FileKind.DAEMON:
            rendered = targets.daemon
            what = "daemon_profile"
        else:
            clients: Mapping[str, RenderedConfig | FleetcfgError] = targets.clients
            rendered = clients.get(file.user or "root")
            what = f"client_profile for user {file.user}"
        if rendered is None:
            raise PlanError(f"the inventory no longer gives {host.host} a {what}", host=host.host)
        if isinstance(rendered, FleetcfgError):
            raise rendered
        return file_target(rendered, live).content
