"""The rendered target of one host: data, validation, provenance, masking."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fleetcfg.core.findings import Finding
from fleetcfg.core.hashing import canonical_json
from fleetcfg.core.secrets import mask_document
from fleetcfg.core.yamlsource import KeyPath, SourceLocation
from fleetcfg.dockerd.validation import CheckResult
from fleetcfg.inventory import Host, Origin
from fleetcfg.render.merge import Merged
from fleetcfg.render.outputs import resolve_path, value_at
from fleetcfg.render.profiles import ProfileFile

Kind = Literal["daemon", "client"]
Manage = Literal["full", "keys", "merge"]

DAEMON_PATH = "/etc/docker/daemon.json"
#: config.json keys a merge never removes (credentials other tools write)
CLIENT_PROTECTED_KEYS = ("auths", "credsStore", "credHelpers")
#: config.json mappings merged entry by entry with what the host has
_CLIENT_MERGED_MAPS = ("auths", "credHelpers")


def client_config_path(user: str) -> str:
    home = "/root" if user == "root" else f"/home/{user}"
    return f"{home}/.docker/config.json"


@dataclass(frozen=True, eq=False)
class RenderedConfig:
    """The target configuration of one host (its daemon.json, or one user's
    config.json), validated, with the place every key came from."""

    host: Host
    kind: Kind
    #: the client user (``kind == "client"`` only)
    user: str | None
    #: the profile chain, the host's own profile first
    profiles: tuple[ProfileFile, ...]
    #: the merged profile content (``x-fleetcfg`` and nulls removed)
    data: Mapping[str, Any]
    #: top-level keys set to null: removed from the host's file (``manage: keys``)
    removed_keys: tuple[str, ...]
    manage: Manage
    check: CheckResult[Any]
    #: validation findings, located at the place to fix
    findings: tuple[Finding, ...]
    #: every value a lookup returned while rendering (masked in all output)
    secrets: frozenset[str]
    merged: Merged = field(repr=False)

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def config(self) -> Any:
        """The validated model (DaemonConfig / ClientConfig), or None."""
        return self.check.config

    @property
    def ok(self) -> bool:
        return self.check.ok

    @property
    def path(self) -> str:
        """Where the file lives on the host."""
        return DAEMON_PATH if self.kind == "daemon" else client_config_path(self.user or "root")

    def to_json_dict(self) -> dict[str, Any]:
        """The target content (from the validated model when there is one)."""
        if self.check.config is not None:
            return dict(self.check.config.to_json_dict())
        return dict(self.data)

    def canonical_json(self, *, show_secrets: bool = False) -> str:
        """The file as fleetcfg writes it: sorted keys, 2-space indent, a
        trailing newline; secrets masked unless ``show_secrets``."""
        data = self.to_json_dict()
        if not show_secrets:
            data = mask_document(data, self.secrets)
        return canonical_json(data)

    def managed_keys(self) -> frozenset[str]:
        """Top-level keys fleetcfg owns on this host under ``manage: keys``."""
        return frozenset(self.data) | frozenset(self.removed_keys)

    def desired(self, current: Mapping[str, Any] | None) -> dict[str, Any]:
        """What the host's file should contain given what it holds now:
        ``full`` replaces it; ``keys`` replaces only the keys the profile sets
        (and drops those it sets to null), keeping keys other tools wrote; a
        client config.json is merged and never loses ``auths``, ``credsStore``
        or ``credHelpers``."""
        target = self.to_json_dict()
        if self.manage == "full" or current is None:
            return target
        out = dict(current)
        for key in self.removed_keys:
            if not (self.manage == "merge" and key in CLIENT_PROTECTED_KEYS):
                out.pop(key, None)
        for key, value in target.items():
            below = out.get(key)
            merge_map = self.manage == "merge" and key in _CLIENT_MERGED_MAPS
            if merge_map and isinstance(below, Mapping) and isinstance(value, Mapping):
                out[key] = {**below, **value}
            else:
                out[key] = value
        return out

    def locate(self, path: str | KeyPath) -> list[SourceLocation]:
        """Where the value at ``path`` (``"log-opts.max-size"``, or a tuple)
        comes from: the template line first, then the inventory line of each
        variable that line substitutes, in the layer that won."""
        template, variables = self._sources(path)
        return list(dict.fromkeys([template, *(where for _, where in variables)]))

    def supplier(
        self, path: str | KeyPath, value: Any
    ) -> tuple[SourceLocation, SourceLocation | None]:
        """The template line that wrote the value at ``path``, and the
        inventory place of the variable that supplied the offending ``value``
        there: the one whose value is ``value`` (same type: the number ``5``
        is not the string ``"5"``) or a string that is part of it. ``None``
        when no variable did: the template itself made the value wrong (a
        string variable printed unquoted, a literal)."""
        template, variables = self._sources(path)
        best: tuple[int, SourceLocation | None] = (0, None)
        for supplied, where in variables:
            score = supplies(supplied, value)
            if score > best[0]:
                best = (score, where)
        return template, best[1]

    def _sources(
        self, path: str | KeyPath
    ) -> tuple[SourceLocation, list[tuple[Any, SourceLocation]]]:
        keypath = tuple(path) if isinstance(path, tuple) else resolve_path(self.data, path)
        for n in range(len(keypath), -1, -1):
            source = self.merged.provenance.get(keypath[:n])
            if source is not None:
                break
        else:
            leaf = self.merged.chain[0]
            return leaf.template_location(()), []
        output, original = source
        where = output.template_location(original)
        found: list[tuple[Any, SourceLocation]] = []
        if output.analysis is not None and where.line is not None:
            for ref in output.analysis.refs.get(where.line, ()):
                found.extend(self._variables(ref))
        return where, found

    def _variables(self, ref: tuple[str, ...]) -> list[tuple[Any, SourceLocation]]:
        """Each inventory value the template reference ``ref`` reads, with its place."""
        host = self.host
        name = ref[0]
        found: list[tuple[Any, Origin | None]]
        if name in host.vars:
            found = [
                (value_at(host.settings, leaf), origin)
                for leaf, origin in host.origins_under(("vars", *ref))
            ]
        elif name == "address":
            found = [(host.address, host.address_origin)]
        elif name == "host":
            return [(host.name, host.location)]
        elif name == "engine_version":
            found = [(host.setting("engine_version"), host.origin(("engine_version",)))]
        elif name == "user":
            found = [(self.user, host.origin(("client_users",)))]
        else:
            found = []
        return [(v, o.location) for v, o in found if o is not None and o.location is not None]


def supplies(supplied: Any, value: Any) -> int:
    """How surely an inventory value ``supplied`` is the source of the
    offending rendered ``value`` (0: it is not)."""
    if type(supplied) is type(value) and supplied == value:
        return 3
    if isinstance(supplied, list | dict):
        items = supplied.values() if isinstance(supplied, dict) else supplied
        return max((supplies(item, value) for item in items), default=0)
    if isinstance(supplied, str) and isinstance(value, str):
        if len(supplied) >= 4 and supplied in value:
            return 2
        if len(value) >= 4 and value in supplied:
            return 1
    return 0
