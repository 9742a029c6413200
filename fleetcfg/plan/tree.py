"""The file tree a host (or a whole group) gets, offline: for image builds and
cloud-init (``fleetcfg render --limit ... -o DIR``, ``fleetcfg cloud-init``).

No host is contacted. Each host is rendered for the Engine version the
inventory gives it, and every file's bytes come from
:func:`fleetcfg.plan.targets.file_target` with no live file: the bytes
``fleetcfg apply`` writes on a host that has no such file yet, so a host
built from the tree plans as ``none``. The host's surface files (certs.d,
the docker.service drop-in, buildkitd.toml: :mod:`fleetcfg.render.surface`)
are in the tree too, with their bytes, modes and apply actions.

:func:`render_tree` renders one host into a :class:`HostTree` (its files with
mode, owner and content; its problems). :func:`combine_trees` checks that
every selected host got the same tree and otherwise explains, key by key,
which hosts differ, with which values and where those come from (the
template line and the inventory line). :func:`build_manifest` describes a
tree without its contents (paths, sha256, modes, owners, the action each file
needs, the Engine versions it was validated for): it never holds a secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleetcfg import __version__
from fleetcfg.core.errors import FleetcfgError
from fleetcfg.core.filedigest import short_digest
from fleetcfg.core.findings import Finding, Severity
from fleetcfg.core.hashing import sha256_hex
from fleetcfg.core.jsondoc import format_loc
from fleetcfg.core.secrets import holds_credentials, mask_text, mask_value
from fleetcfg.core.versions import EngineVersion
from fleetcfg.dockerd.reload import Reload
from fleetcfg.dockerd.validation import check_daemon
from fleetcfg.inventory import Host
from fleetcfg.plan.diff import semantic_diff, show
from fleetcfg.plan.files import CLIENT_MODE, change_reload, daemon_mode
from fleetcfg.plan.model import FileKind
from fleetcfg.plan.notes import LintSettings
from fleetcfg.plan.targets import decode_live, file_target, render_targets
from fleetcfg.render import RenderedConfig, Renderer
from fleetcfg.render.surface import ApplyAction, SurfaceFile

MANIFEST_FORMAT_VERSION = 1
#: the folder of the output that mirrors the host's root file system
ROOTFS = "rootfs"
MANIFEST = "manifest.json"
#: what the files of an image need at its first boot (``action`` is for a
#: host whose dockerd already runs)
FIRST_BOOT = (
    "nothing: files in the image before its first boot are in effect when systemd first "
    "loads docker.service and its drop-ins and dockerd first starts; each file's action is "
    "what a host whose dockerd already runs needs"
)
#: at most this many host names are listed per value in a difference
_SHOWN_HOSTS = 5
#: at most this many differing key paths are explained
_SHOWN_PATHS = 20


@dataclass(frozen=True)
class TreeFile:
    """One file of a host's tree (``content`` holds secrets in clear)."""

    kind: FileKind
    path: str
    content: bytes = field(repr=False)
    mode: int
    owner: str
    group: str
    manage: str
    #: the client user (client config.json only)
    user: str | None = None
    #: what the file holds, decoded (for explaining differences)
    data: Mapping[str, Any] = field(default_factory=dict, repr=False)
    rendered: RenderedConfig | None = field(default=None, repr=False, compare=False)
    #: the surface file (certs.d, drop-in, buildkitd.toml) this file is
    surface: SurfaceFile | None = field(default=None, repr=False, compare=False)

    @property
    def secret(self) -> bool:
        """Its content is never shown (a client key): only its sha256."""
        return self.surface is not None and self.surface.secret

    @property
    def sha256(self) -> str:
        return sha256_hex(self.content)

    @property
    def signature(self) -> tuple[str, str, int, str, str, str]:
        """What must be equal for two hosts to get the same file."""
        return (self.path, self.sha256, self.mode, self.owner, self.group, self.manage)

    def action(self) -> tuple[ApplyAction, list[str]]:
        """What a host running dockerd without this file needs once the file
        is in place, and the keys that need a restart. An image that lands the
        file before dockerd first starts needs nothing."""
        if self.surface is not None:
            return self.surface.action, []
        if self.kind is FileKind.CLIENT:
            return ApplyAction.NONE, []  # the docker CLI reads config.json on every call
        restart = sorted(
            {c.top_key for c in semantic_diff({}, self.data) if change_reload(c) is Reload.RESTART}
        )
        return (ApplyAction.RESTART if restart else ApplyAction.RELOAD), restart


@dataclass(frozen=True)
class HostTree:
    """What one host gets, or why it cannot have it."""

    host: Host
    engine: EngineVersion
    files: tuple[TreeFile, ...] = ()
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    secrets: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def signature(self) -> tuple[tuple[str, str, int, str, str, str], ...]:
        return tuple(sorted(f.signature for f in self.files))


@dataclass(frozen=True)
class Tree:
    """The tree every selected host gets (they all get the same)."""

    hosts: tuple[HostTree, ...]

    @property
    def files(self) -> tuple[TreeFile, ...]:
        return tuple(sorted(self.hosts[0].files, key=lambda f: f.path))

    @property
    def engines(self) -> list[EngineVersion]:
        return sorted({h.engine for h in self.hosts})

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset().union(*(h.secrets for h in self.hosts))

    @property
    def warnings(self) -> list[str]:
        return _grouped((w, h.name) for h in self.hosts for w in h.warnings)


class TreeError(FleetcfgError):
    """The selected hosts cannot be given one validated tree."""

    def __init__(self, message: str, details: Sequence[str]) -> None:
        super().__init__(message)
        self.details = list(details)


# --------------------------------------------------------------------------
# one host


def _finding_text(label: str, finding: Finding) -> str:
    where = ":".join(str(p) for p in (finding.file, finding.line) if p is not None)
    path = f" {finding.path}:" if finding.path else ""
    return f"{where + ': ' if where else ''}{label}: {finding.rule}{path} {finding.message}"


def _tree_file(rendered: RenderedConfig) -> TreeFile:
    content = file_target(rendered, None).content
    if rendered.kind == "daemon":
        data = decode_live(content)[0] or {}
        return TreeFile(
            FileKind.DAEMON,
            rendered.path,
            content,
            daemon_mode(holds_credentials(content.decode(), rendered.secrets)),
            "root",
            "root",
            rendered.manage,
            data=data,
            rendered=rendered,
        )
    user = rendered.user or "root"
    return TreeFile(
        FileKind.CLIENT,
        rendered.path,
        content,
        CLIENT_MODE,
        user,
        user,  # the user's private group, as useradd makes it
        rendered.manage,
        user=user,
        data=decode_live(content)[0] or {},
        rendered=rendered,
    )


def _surface_tree_file(file: SurfaceFile) -> TreeFile:
    """A surface file as the tree holds it: always root's, written whole."""
    return TreeFile(
        FileKind(file.kind),
        file.path,
        file.content,
        file.mode,
        "root",
        "root",
        "full",
        surface=file,
    )


def _sort_findings(
    checked: Iterable[tuple[str, Finding]],
    lint: LintSettings,
    secrets: frozenset[str],
    errors: list[str],
    warnings: list[str],
) -> None:
    """Each finding (as ``lint:`` rates it) into ``errors`` or ``warnings``, masked."""
    for where, raw in checked:
        finding = lint.apply(raw)
        if finding is None or finding.severity is Severity.INFO:
            continue
        text = mask_text(_finding_text(where, finding), secrets)
        (errors if finding.severity is Severity.ERROR else warnings).append(text)


def render_tree(
    renderer: Renderer,
    host: Host,
    *,
    lint: LintSettings | None = None,
    engines: Iterable[EngineVersion] = (),
) -> HostTree:
    """Render ``host``'s files for its inventory Engine version, validated
    for it and for every one of ``engines`` (the inventory's ``lint:``
    settings apply to the findings, as in ``fleetcfg plan``)."""
    lint = lint or LintSettings()
    targets = render_targets(renderer, host, None)
    errors: list[str] = []
    warnings: list[str] = []
    files: list[TreeFile] = []
    secrets = targets.secrets
    entries: list[tuple[str, RenderedConfig | FleetcfgError | None]] = [
        ("daemon.json", targets.daemon),
        *((f"{user}'s config.json", r) for user, r in targets.clients.items()),
    ]
    extra = sorted(set(engines) - {host.engine_version})
    for label, rendered in entries:
        if rendered is None:
            continue
        if isinstance(rendered, FleetcfgError):
            errors.append(mask_text(str(rendered), secrets))
            continue
        file = _tree_file(rendered)
        checked = [(label, f) for f in rendered.findings]
        if file.kind is FileKind.DAEMON:
            for engine in extra:
                findings = check_daemon(dict(file.data), engine).findings
                checked += [(f"{label} for Engine {engine}", f) for f in findings]
        _sort_findings(checked, lint, secrets, errors, warnings)
        files.append(file)
    if isinstance(targets.surface, FleetcfgError):
        errors.append(mask_text(str(targets.surface), secrets))
    elif targets.surface is not None:
        checked = [("registries", f) for f in targets.surface.findings]
        _sort_findings(checked, lint, secrets, errors, warnings)
        files += [_surface_tree_file(f) for f in targets.surface.files]
    return HostTree(
        host=host,
        engine=host.engine_version,
        files=tuple(files),
        errors=tuple(dict.fromkeys(errors)),
        warnings=tuple(dict.fromkeys(warnings)),
        secrets=secrets,
    )


# --------------------------------------------------------------------------
# a group: one tree, or why not


def _names(hosts: Sequence[str]) -> str:
    shown = ", ".join(hosts[:_SHOWN_HOSTS])
    more = len(hosts) - _SHOWN_HOSTS
    return f"{shown} and {more} more" if more > 0 else shown


def _grouped(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """``message [N hosts: a, b]`` lines, one per distinct message."""
    by_text: dict[str, list[str]] = {}
    for text, host in pairs:
        by_text.setdefault(text, []).append(host)
    out = []
    for text, hosts in by_text.items():
        label = f"{len(hosts)} hosts: " if len(hosts) > 1 else ""
        out.append(f"{text} [{label}{_names(hosts)}]")
    return out


def _value_at(data: Mapping[str, Any], loc: tuple[str | int, ...]) -> tuple[bool, Any]:
    value: Any = data
    for part in loc:
        in_map = isinstance(value, Mapping) and part in value
        in_list = isinstance(value, list) and isinstance(part, int) and part < len(value)
        if not (in_map or in_list):
            return False, None
        value = value[part]
    return True, value


def _origin(file: TreeFile, loc: tuple[str | int, ...]) -> str:
    rendered = file.rendered
    if rendered is None:
        return ""
    for n in range(len(loc), 0, -1):
        if _value_at(rendered.data, loc[:n])[0]:
            places = rendered.locate(tuple(loc[:n]))
            return ", ".join(str(p) for p in places)
    return ""


def _attribute_differences(trees: Sequence[HostTree], path: str) -> list[str]:
    out = []
    for attr in ("mode", "owner", "group", "manage"):
        values: dict[str, list[str]] = {}
        for tree in trees:
            file = next(f for f in tree.files if f.path == path)
            value = getattr(file, attr)
            values.setdefault(f"{value:04o}" if attr == "mode" else str(value), []).append(
                tree.name
            )
        if len(values) > 1:
            shown = "; ".join(f"{v} ({_names(h)})" for v, h in values.items())
            out.append(f"{path}: {attr} differs: {shown}")
    return out


def _surface_differences(files: Mapping[str, TreeFile], path: str) -> list[str]:
    """A surface file whose bytes differ: each variant's digest (keyed when
    it holds credentials: never the sha256 of a key or a proxy password),
    its hosts and where its content comes from (never the content)."""
    variants: dict[str, list[str]] = {}
    sources: dict[str, str] = {}
    for name, file in files.items():
        digest = file.surface.digest if file.surface is not None else file.sha256
        variants.setdefault(digest, []).append(name)
        source = file.surface.source if file.surface is not None else None
        if source is not None:
            sources.setdefault(digest, str(source))
    if len(variants) < 2:
        return []
    shown = "; ".join(
        f"sha256 {short_digest(sha)} ({_names(hosts)})"
        + (f" from {sources[sha]}" if sha in sources else "")
        for sha, hosts in variants.items()
    )
    return [f"{path}: content differs, {len(variants)} variants: {shown}"]


def _content_differences(trees: Sequence[HostTree], path: str) -> list[str]:
    files = {t.name: next(f for f in t.files if f.path == path) for t in trees}
    secrets = frozenset().union(*(t.secrets for t in trees))
    reference = files[trees[0].name]
    if reference.surface is not None:
        return [mask_text(line, secrets) for line in _surface_differences(files, path)]
    locs: dict[tuple[str | int, ...], None] = {}
    for file in files.values():
        if file.sha256 != reference.sha256:
            for change in semantic_diff(reference.data, file.data):
                locs.setdefault(change.loc)
    out = []
    for loc in list(locs)[:_SHOWN_PATHS]:
        values: dict[str, list[str]] = {}
        origins: dict[str, list[str]] = {}
        for name, file in files.items():
            present, value = _value_at(file.data, loc)
            shown = show(mask_value(loc, value, secrets)) if present else "(not set)"
            values.setdefault(shown, []).append(name)
            origin = _origin(file, loc)
            if origin:
                origins.setdefault(origin, []).append(name)
        text = "; ".join(f"{v} ({_names(h)})" for v, h in values.items())
        line = f"{path} {format_loc(loc)}: {len(values)} values: {text}"
        if origins:
            line += " — set at " + "; ".join(f"{o} ({_names(h)})" for o, h in origins.items())
        out.append(mask_text(line, secrets))
    if len(locs) > _SHOWN_PATHS:
        out.append(f"{path}: {len(locs) - _SHOWN_PATHS} more key paths differ")
    return out


def tree_differences(trees: Sequence[HostTree]) -> list[str]:
    """Why the hosts of ``trees`` do not all get the same files (empty: they
    do): files only some hosts get, then per file the modes or owners, then
    each differing key path with its values and where each value is set."""
    if len({t.signature for t in trees}) <= 1:
        return []
    paths = sorted({f.path for t in trees for f in t.files})
    out = []
    for path in paths:
        having = [t.name for t in trees if any(f.path == path for f in t.files)]
        if len(having) < len(trees):
            missing = [t.name for t in trees if t.name not in having]
            out.append(
                f"{path}: only {len(having)} of {len(trees)} hosts get it ({_names(having)}); "
                f"not {_names(missing)}"
            )
            continue
        out += _attribute_differences(trees, path)
        out += _content_differences(trees, path)
    return out


def combine_trees(trees: Sequence[HostTree], selection: str) -> Tree:
    """The one tree of ``trees``; :class:`TreeError` when a host has errors,
    no file at all, or the hosts do not render identically."""
    if not trees:
        raise TreeError(f"{selection} selects no host", [])
    errors = _grouped((e, t.name) for t in trees for e in t.errors)
    if errors:
        raise TreeError(
            f"{selection}: validation or render errors; nothing was written "
            "(fix them, then run again)",
            errors,
        )
    if not trees[0].files:
        raise TreeError(
            f"{selection}: the inventory gives {trees[0].name} no daemon_profile, no "
            "client_profile and no registry certificates: there is nothing to render",
            [],
        )
    differences = tree_differences(trees)
    if differences:
        variants = len({t.signature for t in trees})
        raise TreeError(
            f"{selection}: the {len(trees)} hosts do not render identically ({variants} "
            "variants), so no one tree fits them; nothing was written (make the values "
            "below the same for the group, e.g. drop per-host values such as {{ address }}, "
            "or render a smaller --limit)",
            differences,
        )
    return Tree(tuple(trees))


# --------------------------------------------------------------------------
# the manifest


def build_manifest(tree: Tree, *, selection: Sequence[str], repo_sha256: str) -> dict[str, Any]:
    """What the output holds, without a secret: per file its path on the
    host, its place in the output, sha256, size, mode, owner, how fleetcfg
    manages it, the action it needs and the Engine versions it was
    validated for. No timestamp: the same repo gives the same manifest."""
    engines = [str(e) for e in tree.engines]
    files = []
    for file in tree.files:
        action, restart_keys = file.action()
        entry: dict[str, Any] = {
            "path": file.path,
            "source": f"{ROOTFS}{file.path}",
            "kind": file.kind.value,
            "sha256": file.sha256,
            "size": len(file.content),
            "mode": f"{file.mode:04o}",
            "owner": file.owner,
            "group": file.group,
            "manage": file.manage,
            "action": action,
            "restart_keys": restart_keys,
            "validated_for": engines,
        }
        if file.user is not None:
            entry["user"] = file.user
        if file.surface is not None:
            entry["reason"] = file.surface.reason
            entry["secret"] = file.surface.secret
            entry["credentials"] = file.surface.holds_credentials
        if file.rendered is not None:
            entry["profiles"] = [p.name for p in file.rendered.profiles]
        files.append(entry)
    return {
        "format_version": MANIFEST_FORMAT_VERSION,
        "generator": f"fleetcfg {__version__}",
        "repo_sha256": repo_sha256,
        "limit": list(selection),
        "hosts": [h.name for h in tree.hosts],
        "engine_versions": engines,
        "first_boot": FIRST_BOOT,
        "files": files,
    }


def manifest_json(manifest: Mapping[str, Any]) -> str:
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
