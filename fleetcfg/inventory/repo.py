"""The loaded inventory: groups, resolved hosts, and ``--limit`` selection."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from pathlib import Path

from fleetcfg.core.errors import InventoryError, UsageError
from fleetcfg.core.yamlsource import KeyPath, SourceLocation, YamlDocument
from fleetcfg.inventory.host import GroupInfo, Host
from fleetcfg.inventory.layering import ALL_GROUP, resolve
from fleetcfg.inventory.model import InventoryModel, Lint, Networks, Rollout
from fleetcfg.inventory.problems import suggest

PROFILES_DIR = "profiles"


class Inventory:
    """A loaded, validated inventory.yaml with every host resolved."""

    def __init__(
        self,
        path: Path,
        display: str,
        model: InventoryModel,
        doc: YamlDocument,
        *,
        keep_going: bool = False,
    ) -> None:
        self.path = path
        self.display = display
        self.model = model
        self.doc = doc
        self.root = path.parent
        self.profiles_dir = self.root / PROFILES_DIR
        parent = str(Path(display).parent)
        self.profiles_display = PROFILES_DIR if parent in ("", ".") else f"{parent}/{PROFILES_DIR}"
        resolved = resolve(model, doc, keep_going=keep_going)
        #: with ``keep_going``: what is wrong with the hosts and groups (else raised)
        self.problems: list[InventoryError] = resolved.problems
        #: with ``keep_going``: hosts whose settings those problems leave ambiguous
        self.ambiguous = frozenset(resolved.ambiguous)
        self.groups: dict[str, GroupInfo] = resolved.groups
        #: every host, in the order the inventory lists them
        self.hosts: dict[str, Host] = resolved.hosts
        #: group -> every host of the group and of its child groups
        self.members: dict[str, frozenset[str]] = resolved.members

    # -- lookups ---------------------------------------------------------

    @property
    def rollout(self) -> Rollout:
        return self.model.rollout

    @property
    def networks(self) -> Networks:
        return self.model.networks

    @property
    def secret_env(self) -> frozenset[str]:
        """The environment variables profiles may read (``secrets: {env: [...]}``)."""
        return frozenset(self.model.secrets.env)

    @property
    def lint(self) -> Lint:
        return self.model.lint

    def location(self, path: KeyPath) -> SourceLocation:
        """Where ``path`` (``("groups", "ci", "vars")``) is written."""
        return self.doc.key_location(path)

    def host(self, name: str) -> Host:
        """The host called ``name``; a usage error (with suggestions) otherwise."""
        found = self.hosts.get(name)
        if found is None and name in self.groups:
            count = len(self.group_hosts(name))
            raise UsageError(
                f"{name!r} is a group ({count} host{'' if count == 1 else 's'}), not a host "
                f"in {self.display}",
                hint=f"fleetcfg hosts --limit {name} lists its hosts",
            )
        if found is None:
            raise UsageError(
                f"unknown host {name!r} in {self.display}",
                hint=suggest(name, self.hosts) or "fleetcfg hosts lists the inventory's hosts",
            )
        return found

    def group_hosts(self, name: str) -> frozenset[str]:
        """Every host of group ``name`` and of its child groups."""
        if name == ALL_GROUP:
            return frozenset(self.hosts)
        return self.members[name]

    def select(self, patterns: Iterable[str] | None) -> list[Host]:
        """Hosts matching ``--limit`` patterns, in inventory order (all hosts
        when there are no patterns)."""
        tokens = [t.strip() for p in patterns or () for t in p.split(",") if t.strip()]
        union: set[str] | None = None
        intersections: list[set[str]] = []
        exclusions: set[str] = set()
        for token in tokens:
            if token.startswith("!"):
                exclusions |= self._match(token[1:], token)
            elif token.startswith("&"):
                intersections.append(self._match(token[1:], token))
            else:
                union = (union or set()) | self._match(token, token)
        chosen = set(self.hosts) if union is None else union
        for other in intersections:
            chosen &= other
        chosen -= exclusions
        return [h for name, h in self.hosts.items() if name in chosen]

    def _match(self, name: str, token: str) -> set[str]:
        if not name:
            raise UsageError(f"empty host pattern in --limit {token!r}")
        if name in (ALL_GROUP, "*"):
            return set(self.hosts)
        if any(c in name for c in "*?["):
            hosts = {h for h in self.hosts if fnmatch.fnmatchcase(h, name)}
            for group in self.groups:
                if fnmatch.fnmatchcase(group, name):
                    hosts |= self.members[group]
            if not hosts and not any(fnmatch.fnmatchcase(g, name) for g in self.groups):
                raise UsageError(
                    f"--limit pattern {name!r} matches no host or group in {self.display}"
                )
            return hosts
        if name in self.hosts:
            return {name}
        if name in self.groups:
            return set(self.members[name])
        raise UsageError(
            f"--limit: {name!r} is neither a host nor a group in {self.display}",
            hint=suggest(name, [*self.hosts, *self.groups])
            or "use host names, group names or globs such as 'ci-*'",
        )

    def __repr__(self) -> str:
        return f"Inventory({self.display!r}, {len(self.hosts)} hosts, {len(self.groups)} groups)"
