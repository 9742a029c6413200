"""``fleetcfg lint`` of a repo: inventory.yaml, profiles/ and every host.

What it checks, in order:

1. inventory.yaml loads (YAML syntax, the inventory format): FC050-FC051.
   If it does not, that is all lint can say (exit 1). Problems in its hosts
   and groups (duplicate hosts and addresses, group conflicts, bad group
   references: FC052-FC055) are reported and lint goes on, leaving out only
   the hosts whose settings they make ambiguous.
2. Every host's daemon profile and every client user's profile render
   (FC056-FC058) and validate for the host's ``engine_version`` (FC001-FC020,
   located at the template line, or at the inventory line of the variable that
   supplied the value). Every host's surface files (certs.d from
   ``registries:``, :mod:`fleetcfg.render.surface`) render and their
   certificates are checked (FC070-FC077, at the inventory line; the client
   key is a stand-in, never read).
3. Fleet rules on each rendered document against the whole inventory
   (FC030-FC041, :mod:`fleetcfg.lint.fleet_rules`), and repo rules on the
   files themselves (literal secrets in inventory variables, syntax errors in
   profiles no host uses).
4. Findings are merged across hosts (one per rule, place and message, with
   the hosts it applies to), then ``lint: {disable, severity}`` of
   inventory.yaml is applied.

Lint executes nothing and reads nothing outside the repo: the registries'
certificates are read from the repo (confined like ``file()``), every ``env()``
and ``file()`` (and a registry's client key) renders as a stand-in (:mod:`fleetcfg.lint.lookups`), ssh_config
files are only scanned for commands (FC059), never evaluated, and no host is
contacted. Hosts are rendered one at a time
and only their findings are kept, so memory grows with the number of distinct
findings, not with the fleet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetcfg.core.errors import FleetcfgError
from fleetcfg.core.findings import Finding, has_errors
from fleetcfg.core.rules import CREDENTIALS
from fleetcfg.core.yamlsource import KeyPath, SourceLocation, format_path
from fleetcfg.inventory import Host, Inventory
from fleetcfg.lint.dedupe import FindingSet, apply_settings
from fleetcfg.lint.fleet_rules import Fleet, Hit, RuleRunner, Target
from fleetcfg.lint.loading import load_for_lint
from fleetcfg.lint.lookups import StandInLookups
from fleetcfg.lint.repo_rules import (
    error_finding,
    literal_secret_vars,
    ssh_config_commands_in_repo,
    unused_profile_errors,
)
from fleetcfg.render import RenderedConfig, Renderer
from fleetcfg.render.outputs import value_at
from fleetcfg.render.result import supplies
from fleetcfg.render.surface import render_surface


@dataclass
class RepoReport:
    """The result of linting a repo."""

    #: merged, configured (disabled rules dropped, severities re-graded), sorted
    findings: list[Finding]
    #: the inventory as named on the command line (``inventory.yaml``)
    inventory: str
    #: the folder of inventory.yaml (the repo root)
    root: Path
    #: hosts in the inventory (0 when it did not load)
    hosts: int = 0
    #: rendered documents (daemon.json per host, config.json per client user)
    documents: int = 0
    #: lookups that were not available and rendered as a stand-in
    stand_ins: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not has_errors(self.findings)


def lint_repo(inventory_path: str | Path = "inventory.yaml") -> RepoReport:
    """Lint the repo of ``inventory_path`` (a file, or the folder holding
    inventory.yaml). Raises :class:`~fleetcfg.core.errors.UsageError` when there is
    no inventory; everything wrong inside the repo is a finding."""
    inventory, problems = load_for_lint(inventory_path)
    if inventory is None:
        given = Path(inventory_path)
        display = problems[0].file if problems and problems[0].file else str(given)
        root = given if given.is_dir() else given.parent
        return RepoReport(sorted(problems, key=Finding.sort_key), display, root)
    return _RepoLint(inventory).run(problems)


class _RepoLint:
    """One lint run over a loaded inventory."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.renderer = Renderer(inventory, environ={})
        self.lookups = StandInLookups(inventory.root, inventory.secret_env)
        self.renderer.lookups = self.lookups
        self.renderer.trace_secrets = False
        self.rules = RuleRunner(Fleet.from_inventory(inventory))
        self.found = FindingSet()
        self.used_templates: set[str] = set()
        #: files that hosts failed to render in (their errors are reported)
        self.failed_files: set[str] = set()
        self.credential_places: set[SourceLocation] = set()
        self.documents = 0
        self._doc_paths: dict[tuple[int, int], KeyPath] | None = None

    def run(self, problems: list[Finding]) -> RepoReport:
        """``problems``: the findings about the inventory's hosts and groups
        (never disabled: they are not lint settings but a broken inventory)."""
        inventory = self.inventory
        hosts = list(inventory.hosts.values())
        renderable = [h for h in hosts if h.name not in inventory.ambiguous]
        daemons: dict[str, RenderedConfig] = {}
        for host, result in self.renderer.render_many(
            [h for h in renderable if h.daemon_profile is not None], "daemon"
        ):
            self.collect(host, result)
            if isinstance(result, RenderedConfig):
                daemons[host.name] = result
        for host in renderable:
            surface = render_surface(self.renderer, host, daemons.get(host.name))
            self.found.extend(surface.findings)
        for host in renderable:
            if host.client_profile is None:
                continue
            for user in host.client_users:
                try:
                    rendered: RenderedConfig | FleetcfgError = self.renderer.render(
                        host, "client", user
                    )
                except FleetcfgError as exc:
                    rendered = exc
                self.collect(host, rendered)
        self.found.extend(literal_secret_vars(inventory, self.credential_places))
        for finding, host_name in ssh_config_commands_in_repo(inventory):
            self.found.add(finding, (host_name,))
        self.found.extend(
            unused_profile_errors(
                inventory, self.renderer.templates, self.used_templates, self.failed_files
            )
        )
        settings = inventory.lint
        findings = apply_settings(self.found.findings(), settings.disable, settings.severity)
        findings = sorted([*problems, *findings], key=Finding.sort_key)
        return RepoReport(
            findings,
            inventory.display,
            inventory.root,
            hosts=len(hosts),
            documents=self.documents,
            stand_ins=sorted(self.lookups.missing),
        )

    def collect(self, host: Host, result: RenderedConfig | FleetcfgError) -> None:
        if isinstance(result, FleetcfgError):
            self.found.add(error_finding(result, host.name))
            if result.file is not None:
                self.failed_files.add(result.file)
            return
        self.documents += 1
        for profile in result.profiles:
            self.used_templates.add(profile.template)
        self.found.extend(result.findings)
        target = Target(host.name, host.address, result.data, result.secrets)
        hits = self.rules.daemon(target) if result.kind == "daemon" else self.rules.client(target)
        for hit in hits:
            finding = self.locate(result, hit)
            if hit.rule is CREDENTIALS and finding.file is not None:
                self.credential_places.add(
                    SourceLocation(finding.file, finding.line, finding.column)
                )
            self.found.add(finding, (host.name,))

    # -- where to fix it ---------------------------------------------------

    def locate(self, rendered: RenderedConfig, hit: Hit) -> Finding:
        """The finding for ``hit``, at the place a person edits: the inventory
        line of the variable that supplied the value, else the template line;
        for a missing key, the profile the host's profile chain starts from."""
        message = self.renderer.mask(hit.message)
        path = format_path(hit.path)
        if hit.absent or value_at(rendered.data, hit.path) is None:
            root = rendered.profiles[-1]
            return Finding(hit.rule.id, hit.rule.severity, message, path, root.display, 1, None)
        value = hit.value if hit.value is not None else value_at(rendered.data, hit.path)
        template, chosen = rendered.supplier(hit.path, value)
        where = template
        if chosen is not None:
            where = self.refine(chosen, hit.value)
            message += f" (rendered by {template})"
        return Finding(
            hit.rule.id, hit.rule.severity, message, path, where.file, where.line, where.column
        )

    def refine(self, where: SourceLocation, value: str | None) -> SourceLocation:
        """Inside the inventory variable at ``where``, the list item or key
        whose value is ``value`` (``address_pools[1].base``), if there is one."""
        doc = self.inventory.doc
        if value is None or where.file != doc.file:
            return where
        if self._doc_paths is None:
            self._doc_paths = {pos: path for path, pos in doc.keys.items()}
        path = self._doc_paths.get((where.line or 0, where.column or 0))
        if path is None:
            return where
        best: tuple[int, KeyPath] = (0, path)
        for sub, leaf in _leaf_paths(value_at(doc.data, path), path):
            score = supplies(leaf, value)
            if score > best[0]:
                best = (score, sub)
        return doc.key_location(best[1]) if best[0] else where


def _leaf_paths(value: Any, path: KeyPath) -> Iterable[tuple[KeyPath, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaf_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaf_paths(item, (*path, index))
    else:
        yield path, value
