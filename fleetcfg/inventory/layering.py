"""Layering: merge defaults, groups (in order) and the host into one settings
tree per host, find ambiguous groups, and build the group graph.

Resolution happens once per distinct set of groups; hosts that share their
groups share the merged tree and its origins.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleetcfg.core.errors import InventoryError
from fleetcfg.core.urlcreds import mask_url_credentials
from fleetcfg.core.yamlsource import KeyPath, YamlDocument, format_path, iter_leaves
from fleetcfg.inventory.host import BUILTIN_LAYER, GroupInfo, Host, Origin
from fleetcfg.inventory.model import SETTING_NAMES, Group, HostEntry, InventoryModel, Settings
from fleetcfg.inventory.problems import InventoryErrors, suggest

#: the implicit group of every host (a reserved name)
ALL_GROUP = "all"


@dataclass
class _Layer:
    """One layer's own settings, flattened, with where they are written."""

    name: str  # "defaults", "group x", "host y"
    tree: dict[str, Any]
    base: KeyPath  # where the settings sit in the YAML document
    leaves: dict[KeyPath, Any] = field(default_factory=dict)
    interior: set[KeyPath] = field(default_factory=set)

    def __post_init__(self) -> None:
        for path, value in iter_leaves(self.tree):
            self.leaves[path] = value
            for n in range(1, len(path)):
                self.interior.add(path[:n])

    def sets(self, path: KeyPath) -> bool:
        return path in self.leaves or path in self.interior

    def scalar_at_or_above(self, path: KeyPath) -> bool:
        """Whether this layer replaces ``path`` wholesale (a non-mapping value
        at the path or above it)."""
        for n in range(1, len(path) + 1):
            value = self.leaves.get(path[:n], _ABSENT)
            if value is not _ABSENT and value != {}:
                return True
        return False


_ABSENT = object()


#: how deep groups may nest: each group holds the set of its ancestors, and a
#: chain of 20,000 groups (1.4 MB of YAML) took 9 GB of memory
MAX_GROUP_DEPTH = 64


def same_value(a: Any, b: Any) -> bool:
    """Equality of YAML/JSON values that keeps ``1``, ``1.0`` and ``True`` apart."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def deep_merge(lower: Mapping[str, Any], upper: Mapping[str, Any]) -> dict[str, Any]:
    """``upper`` over ``lower``: mappings merge key by key, other values replace.
    Neither input is modified; unchanged sub-mappings are shared."""
    out = dict(lower)
    for key, value in upper.items():
        below = out.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            out[key] = deep_merge(below, value)
        else:
            out[key] = value
    return out


def _settings_tree(model: Settings | None) -> dict[str, Any]:
    """The settings a layer sets itself (unset and null ones left out)."""
    if model is None:
        return {}
    tree: dict[str, Any] = {}
    for name in SETTING_NAMES:
        if name not in model.model_fields_set:
            continue
        value = getattr(model, name)
        if value is None:
            continue
        if name in ("ssh", "service", "proxy", "buildkit"):
            value = value.model_dump(exclude_unset=True, exclude_none=True)
            if not value:
                continue
        elif name == "registries":
            # one mapping per registry, merged field by field; null removes it
            value = {
                key: None if entry is None else entry.model_dump(exclude_unset=True)
                for key, entry in value.items()
            }
        tree[name] = value
    return tree


@dataclass
class _Resolution:
    """Settings merged for one set of groups (shared by the hosts in them)."""

    groups: tuple[str, ...]  # layering order
    tree: dict[str, Any]
    origins: dict[KeyPath, Origin]
    #: (path, group a, group b) pairs the inventory leaves ambiguous
    conflicts: list[tuple[KeyPath, str, str]]


@dataclass
class Resolved:
    """What an inventory resolves to."""

    groups: dict[str, GroupInfo] = field(default_factory=dict)
    #: inventory order
    hosts: dict[str, Host] = field(default_factory=dict)
    #: group -> every host of the group and of its child groups
    members: dict[str, frozenset[str]] = field(default_factory=dict)
    #: every problem found (only with ``keep_going``; else they are raised)
    problems: list[InventoryError] = field(default_factory=list)
    #: hosts whose settings the problems leave ambiguous (defined twice, or in
    #: two groups that set a value differently): not to be rendered
    ambiguous: set[str] = field(default_factory=set)


def resolve(model: InventoryModel, doc: YamlDocument, *, keep_going: bool = False) -> Resolved:
    """Build the group graph and every host. Raises :class:`InventoryErrors`
    with every problem found, unless ``keep_going``: then a bad group reference
    or a cycle drops that edge, a duplicate host keeps its first definition,
    and the problems and the hosts they leave ambiguous are returned."""
    resolved = _Resolver(model, doc).run()
    if resolved.problems and not keep_going:
        raise InventoryErrors(resolved.problems)
    return resolved


class _Resolver:
    """Builds groups and hosts of an Inventory, collecting every problem."""

    def __init__(self, model: InventoryModel, doc: YamlDocument) -> None:
        self.doc = doc
        self.model = model
        self.out = Resolved()
        self.problems: list[InventoryError] = []
        self.layers: dict[str, _Layer] = {}
        self._cache: dict[frozenset[str], _Resolution] = {}
        self._ancestors: dict[str, frozenset[str]] = {}

    def problem(self, path: KeyPath, message: str, **kw: Any) -> None:
        loc = self.doc.key_location(path)
        self.problems.append(
            InventoryError(message, file=loc.file, line=loc.line, column=loc.column, **kw)
        )

    def run(self) -> Resolved:
        groups = {name: g or Group() for name, g in self.model.groups.items()}
        self.check_names(groups)
        self.build_groups(groups)
        self.build_hosts(groups)
        self.out.problems = self.problems
        return self.out

    # -- groups ----------------------------------------------------------

    def check_names(self, groups: dict[str, Group]) -> None:
        if ALL_GROUP in groups:
            self.problem(
                ("groups", ALL_GROUP),
                "the group name 'all' is reserved (it means every host)",
                hint="put settings for every host in 'defaults'",
            )
        host_names = set(self.model.hosts)
        for group in groups.values():
            host_names.update(group.hosts)
        for name in groups:
            if name in host_names:
                self.problem(
                    ("groups", name),
                    f"{name!r} is both a group and a host",
                    hint="rename one of them: --limit could not tell them apart",
                )

    def build_groups(self, groups: dict[str, Group]) -> None:
        parents: dict[str, list[str]] = {name: [] for name in groups}
        #: group -> its valid children (a bad reference is reported and dropped)
        children: dict[str, list[str]] = {name: [] for name in groups}
        for name, group in groups.items():
            seen: set[str] = set()
            for index, child in enumerate(group.children):
                path: KeyPath = ("groups", name, "children", index)
                if child not in groups:
                    self.problem(
                        path,
                        f"group {name!r} lists unknown child group {child!r}",
                        hint=suggest(child, groups) or "define it under 'groups'",
                    )
                elif child == name:
                    self.problem(path, f"group {name!r} lists itself as a child")
                elif child in seen:
                    self.problem(path, f"group {name!r} lists child {child!r} twice")
                else:
                    seen.add(child)
                    parents[child].append(name)
                    children[name].append(child)
        order = self.topological_order(groups, children, parents)
        priority: dict[str, int] = {}
        depth: dict[str, int] = {}
        for name in order:
            own = groups[name].priority
            up = parents[name]
            depth[name] = 1 + max((depth[p] for p in up), default=-1)
            if depth[name] >= MAX_GROUP_DEPTH:  # cut: resolved as if it had no parents
                parent = up[0]
                self.problem(
                    ("groups", parent, "children", groups[parent].children.index(name)),
                    f"groups nest more than {MAX_GROUP_DEPTH} levels deep at {name!r}",
                    hint="a group hierarchy needs a few levels: flatten it",
                )
                for p in up:
                    children[p].remove(name)
                up.clear()
                depth[name] = 0
            priority[name] = own if own is not None else max((priority[p] for p in up), default=0)
            self._ancestors[name] = frozenset(up).union(*(self._ancestors[p] for p in up))
        for name, group in groups.items():
            self.out.groups[name] = GroupInfo(
                name=name,
                parents=tuple(parents[name]),
                children=tuple(children[name]),
                hosts=tuple(group.hosts),
                priority=priority[name],
                depth=depth[name],
                location=self.doc.key_location(("groups", name)),
                description=group.description,
            )
            self.layers[name] = _Layer(f"group {name}", _settings_tree(group), ("groups", name))
        members = self.out.members
        for name in reversed(order):  # children before parents
            direct = frozenset(groups[name].hosts)
            members[name] = direct.union(*(members[c] for c in children[name]))

    def topological_order(
        self,
        groups: dict[str, Group],
        children: dict[str, list[str]],
        parents: dict[str, list[str]],
    ) -> list[str]:
        """Groups with parents before children. An edge that closes a cycle is
        reported and dropped (from ``children`` and ``parents``)."""
        state: dict[str, int] = {}  # 1 visiting, 2 done
        order: list[str] = []
        stack: list[str] = []  # the groups being visited, outermost first
        pending: list[Iterator[str]] = []  # no recursion: chains may be long
        for root in groups:
            if state.get(root) is not None:
                continue
            state[root] = 1
            stack.append(root)
            pending.append(iter(list(children[root])))
            while pending:
                name = stack[-1]
                child = next(pending[-1], None)
                if child is None:
                    pending.pop()
                    stack.pop()
                    state[name] = 2
                    order.append(name)
                elif state.get(child) == 1:
                    cycle = [*stack[stack.index(child) :], child]
                    index = groups[name].children.index(child)
                    self.problem(
                        ("groups", name, "children", index),
                        f"groups form a cycle: {' -> '.join(cycle)}",
                        hint="a group cannot be its own ancestor; remove one 'children' entry",
                    )
                    children[name].remove(child)
                    parents[child].remove(name)
                elif state.get(child) is None:
                    state[child] = 1
                    stack.append(child)
                    pending.append(iter(list(children[child])))
        order.reverse()
        return order

    # -- hosts -----------------------------------------------------------

    def host_entries(
        self, groups: dict[str, Group]
    ) -> Iterator[tuple[str, HostEntry | None, KeyPath, str | None]]:
        for group_name, group in groups.items():
            for host_name, entry in group.hosts.items():
                yield host_name, entry, ("groups", group_name, "hosts", host_name), group_name
        for host_name, entry in self.model.hosts.items():
            yield host_name, entry, ("hosts", host_name), None

    def build_hosts(self, groups: dict[str, Group]) -> None:
        definitions: dict[str, tuple[HostEntry, KeyPath]] = {}
        first_seen: dict[str, KeyPath] = {}
        direct: dict[str, list[str]] = {}
        for name, entry, path, group in self.host_entries(groups):
            first_seen.setdefault(name, path)
            direct.setdefault(name, [])
            if group is not None:
                direct[name].append(group)
            if entry is None or not entry.model_fields_set:
                continue
            if name in definitions:
                where = self.doc.key_location(definitions[name][1])
                self.problem(
                    path,
                    f"host {name!r} is defined twice (first at line {where.line})",
                    host=name,
                    hint=f"define it once; other groups list it as '{name}: {{}}'",
                )
                self.out.ambiguous.add(name)
                continue
            definitions[name] = (entry, path)

        addresses: dict[tuple[Any, ...], tuple[str, KeyPath]] = {}
        built: list[tuple[int, str, Host]] = []
        conflicts: dict[tuple[KeyPath, str, str], list[str]] = {}
        defaults = _Layer("defaults", _settings_tree(self.model.defaults), ("defaults",))
        for name, group_names in direct.items():
            entry, path = definitions.get(name, (None, first_seen[name]))
            resolution = self.resolve(frozenset(group_names), defaults)
            layer = _Layer(f"host {name}", _settings_tree(entry), path)
            host = self.make_host(name, entry, path, resolution, layer)
            for conflict in resolution.conflicts:
                if not layer.scalar_at_or_above(conflict[0]):
                    conflicts.setdefault(conflict, []).append(name)
            line = self.doc.key_location(path).line or 0
            built.append((line, name, host))
            target = (
                ("local",)
                if host.connection == "local"
                else (host.address.lower(), host.ssh.get("port", 22))
            )
            if target in addresses:
                other, other_path = addresses[target]
                what = (
                    "this machine (connection: local)"
                    if target == ("local",)
                    else f"{host.address} port {target[-1]}"
                )
                self.problem(
                    path,
                    f"hosts {other!r} ({self.doc.key_location(other_path)}) and {name!r} "
                    f"both point at {what}",
                    host=name,
                    hint="each machine must be in the inventory once",
                )
            else:
                addresses[target] = (name, path)
        for (path, a, b), hosts in conflicts.items():
            self.report_conflict(path, a, b, hosts)
            self.out.ambiguous.update(hosts)
        for _line, name, host in sorted(built, key=lambda item: item[0]):
            self.out.hosts[name] = host

    def make_host(
        self,
        name: str,
        entry: HostEntry | None,
        path: KeyPath,
        resolution: _Resolution,
        layer: _Layer,
    ) -> Host:
        if layer.tree:
            tree = deep_merge(resolution.tree, layer.tree)
            origins = {
                p: (
                    Origin(layer.name, self.doc.key_location((*path, *p)))
                    if p in layer.leaves
                    else resolution.origins[p]
                )
                for p, _ in iter_leaves(tree)
                if p
            }
        else:
            tree, origins = resolution.tree, resolution.origins
        location = self.doc.key_location(path)
        if entry is not None and entry.address is not None:
            address = entry.address
            address_origin = Origin(layer.name, self.doc.key_location((*path, "address")))
        else:
            address = name
            address_origin = Origin(BUILTIN_LAYER + " (the host name)")
        return Host(
            name=name,
            address=address,
            groups=resolution.groups,
            settings=tree,
            origins=origins,
            location=location,
            address_origin=address_origin,
        )

    def resolve(self, direct: frozenset[str], defaults: _Layer) -> _Resolution:
        cached = self._cache.get(direct)
        if cached is not None:
            return cached
        every = set(direct).union(*(self._ancestors[g] for g in direct))
        info = self.out.groups
        ordered = sorted(every, key=lambda g: (info[g].priority, info[g].depth, g))
        layers = [defaults, *(self.layers[g] for g in ordered)]
        tree: dict[str, Any] = {}
        for layer in layers:
            tree = deep_merge(tree, layer.tree)
        origins: dict[KeyPath, Origin] = {}
        for p, _ in iter_leaves(tree):
            if not p:
                continue
            for layer in reversed(layers):
                if p in layer.leaves:
                    origins[p] = Origin(layer.name, self.doc.key_location((*layer.base, *p)))
                    break
        resolution = _Resolution(
            groups=tuple(ordered),
            tree=tree,
            origins=origins,
            conflicts=self.find_conflicts(ordered),
        )
        self._cache[direct] = resolution
        return resolution

    def find_conflicts(self, groups: Sequence[str]) -> list[tuple[KeyPath, str, str]]:
        """Paths where the most specific, highest-priority groups disagree."""
        found: list[tuple[KeyPath, str, str]] = []
        candidates: dict[KeyPath, None] = {}
        for g in groups:
            for p, value in self.layers[g].leaves.items():
                if value != {}:
                    candidates[p] = None
        info = self.out.groups
        for path in candidates:
            setters = [g for g in groups if self.layers[g].sets(path)]
            if len(setters) < 2:
                continue
            maximal = [
                g for g in setters if not any(g in self._ancestors[o] for o in setters if o != g)
            ]
            top = max(info[g].priority for g in maximal)
            winners = [g for g in maximal if info[g].priority == top]
            first = winners[0]
            for other in winners[1:]:
                if not self.agree(first, other, path):
                    found.append((path, first, other))
                    break
        return found

    def agree(self, a: str, b: str, path: KeyPath) -> bool:
        la, lb = self.layers[a], self.layers[b]
        va, vb = la.leaves.get(path, _ABSENT), lb.leaves.get(path, _ABSENT)
        if va is _ABSENT or vb is _ABSENT:
            # one sets a mapping here: fine only if the other's value is {} or also a mapping
            value = vb if va is _ABSENT else va
            return value is _ABSENT or value == {}
        return same_value(va, vb)

    def report_conflict(self, path: KeyPath, a: str, b: str, hosts: list[str]) -> None:
        la, lb = self.layers[a], self.layers[b]
        loc_a = self.doc.key_location((*la.base, *path))
        loc_b = self.doc.key_location((*lb.base, *path))
        shown = ", ".join(hosts[:3]) + (f" and {len(hosts) - 3} more" if len(hosts) > 3 else "")
        value_a = mask_url_credentials(_show(la.leaves.get(path, "{...}")))
        value_b = mask_url_credentials(_show(lb.leaves.get(path, "{...}")))
        self.problems.append(
            InventoryError(
                f"groups {a!r} ({loc_a}) and {b!r} ({loc_b}) set {format_path(path)} "
                f"differently ({value_a} vs {value_b}) and neither is a child of the other; "
                f"hosts in both: {shown}",
                file=loc_a.file,
                line=loc_a.line,
                column=loc_a.column,
                host=hosts[0],
                key=format_path(path),
                hint="give one of the groups a higher 'priority:', or set the value on the host",
            )
        )


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)
