"""Render hosts: walk the profile chain, memoise, merge, validate, locate."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from fleetcfg.core.errors import FleetcfgError, TemplateError, UsageError
from fleetcfg.core.findings import Finding
from fleetcfg.core.secrets import Lookups, SecretRegistry, canary, derived_secrets
from fleetcfg.dockerd.validation import CheckResult, check_client, check_daemon
from fleetcfg.inventory import Host, Inventory
from fleetcfg.render.merge import (
    Merged,
    PlaceholderMismatch,
    can_be_placeholder,
    fill_placeholders,
    has_placeholder,
    merge_chain,
    placeholder,
)
from fleetcfg.render.outputs import EXTENSION_KEY, Output, parse_output, resolve_path, value_at
from fleetcfg.render.profiles import ProfileFile, read_source
from fleetcfg.render.proxy import resolve_proxy, with_daemon_proxies
from fleetcfg.render.registries import daemon_contribution, with_contribution
from fleetcfg.render.result import Kind, RenderedConfig
from fleetcfg.render.templates import Analysis, EngineVersionVar, TemplateSet

#: names bound to functions in every render (never part of a memo key)
_FUNCTIONS = frozenset({"env", "file"})
_UNDEFINED = ("undefined",)
#: entries each cache keeps (hosts whose results are all different share nothing)
CACHE_LIMIT = 4096

_K = TypeVar("_K")
_V = TypeVar("_V")


class _Bounded(dict[_K, _V]):
    """A dict that forgets its oldest entries beyond ``limit``, so that caches
    stay small when every host renders something different."""

    def __init__(self, limit: int = CACHE_LIMIT) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: _K, value: _V) -> None:
        if key not in self and len(self) >= self.limit:
            del self[next(iter(self))]
        super().__setitem__(key, value)


def _freeze(value: Any) -> Any:
    """A hashable form of a variable value that keeps 1, 1.0 and True apart."""
    if isinstance(value, dict):
        return ("d", tuple((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return ("l", tuple(_freeze(v) for v in value))
    return (type(value).__name__, value)


class Renderer:
    """Renders the hosts of one inventory, caching templates, outputs, merges
    and validation results across hosts.

    Use one Renderer per run: it reads each ``env()``/``file()`` once and
    remembers every secret it saw (:attr:`secrets`) so that anything printed
    later can be masked with :meth:`mask`."""

    def __init__(
        self,
        inventory: Inventory,
        *,
        environ: Mapping[str, str] | None = None,
        placeholders: bool = True,
    ) -> None:
        self.inventory = inventory
        self.lookups = Lookups(inventory.root, environ, allowed_env=inventory.secret_env)
        self.secrets = SecretRegistry()
        self.templates = TemplateSet(inventory.profiles_dir, inventory.profiles_display)
        self._use_placeholders = placeholders
        #: find what templates derive from lookup values (off where lookups
        #: are stand-ins, as in lint)
        self.trace_secrets = True
        self._no_placeholders: set[str] = set()
        self._placeholders: dict[str, int] = {}
        self._outputs: _Bounded[Any, Output] = _Bounded()
        self._interned: _Bounded[tuple[str, str, frozenset[str]], Output] = _Bounded()
        # keyed by the outputs' ids: each entry keeps its outputs alive
        self._merged: _Bounded[tuple[int, ...], Merged] = _Bounded()
        self._checks: _Bounded[tuple[str, str, str], CheckResult[Any]] = _Bounded()
        self._frozen: _Bounded[int, tuple[Any, Any]] = _Bounded()

    # -- public ------------------------------------------------------------

    def render(
        self, host: Host | str, kind: Kind = "daemon", user: str | None = None
    ) -> RenderedConfig:
        """Render, merge and validate the ``kind`` profile of ``host`` (for
        ``client``: of ``user``, by default the first of its client users)."""
        if isinstance(host, str):
            host = self.inventory.host(host)
        user = self._user(host, kind, user)
        setting = f"{kind}_profile"
        profile_name = host.daemon_profile if kind == "daemon" else host.client_profile
        if profile_name is None:
            raise TemplateError(
                f"host {host.name} has no {setting}",
                file=host.location.file,
                line=host.location.line,
                host=host.name,
                hint=f"set {setting} in defaults, one of its groups or the host",
            )
        context = self._context(host, kind, user)
        try:
            merged = self._chain(host, profile_name, setting, context, placeholders=True)
            data = self._fill(merged, context)
            if data is None:
                merged = self._chain(host, profile_name, setting, context, placeholders=False)
                data = merged.data
        except FleetcfgError as exc:
            raise self._masked(exc) from None
        self.secrets.update(merged.secrets)
        extra: tuple[Finding, ...] = ()
        secrets = merged.secrets
        if kind == "daemon":
            contribution = daemon_contribution(host, data)
            data = with_contribution(data, contribution)
            extra = contribution.findings
            proxy = resolve_proxy(host, self.lookups)
            data, conflicts = with_daemon_proxies(host, proxy, data)
            extra += conflicts
            if proxy is not None and proxy.to_daemon:
                secrets = secrets | proxy.secrets
                self.secrets.update(proxy.secrets)
        check = self._check(kind, host, data)
        rendered = RenderedConfig(
            host=host,
            kind=kind,
            user=user,
            profiles=tuple(o.profile for o in merged.chain),
            data=data,
            removed_keys=merged.removed,
            manage=host.manage if kind == "daemon" else "merge",
            check=check,
            findings=(),
            secrets=secrets,
            merged=merged,
        )
        if check.findings or extra:
            located = tuple(self._locate(f, rendered) for f in check.findings)
            return replace(rendered, findings=located + extra)
        return rendered

    def render_many(
        self, hosts: Iterable[Host], kind: Kind = "daemon"
    ) -> Iterator[tuple[Host, RenderedConfig | FleetcfgError]]:
        """Render each host; a host's error is yielded in place of its result
        so that one broken host does not hide the others."""
        for host in hosts:
            try:
                yield host, self.render(host, kind)
            except FleetcfgError as exc:
                yield host, exc

    def mask(self, text: str) -> str:
        """``text`` with every secret seen so far, and URL credentials, masked."""
        return self.secrets.mask(text)

    # -- per host ----------------------------------------------------------

    @staticmethod
    def _user(host: Host, kind: Kind, user: str | None) -> str | None:
        if kind == "daemon":
            if user is not None:
                raise UsageError("--user applies to --kind client only", host=host.name)
            return None
        if user is None:
            return host.client_users[0]
        if user not in host.client_users:
            raise UsageError(
                f"{user!r} is not a client user of host {host.name} "
                f"(client_users: {', '.join(host.client_users)})",
                host=host.name,
                hint="add the user to client_users in inventory.yaml",
            )
        return user

    @staticmethod
    def _context(host: Host, kind: Kind, user: str | None) -> dict[str, Any]:
        context = dict(host.vars)
        context.update(
            host=host.name,
            address=host.address,
            groups=host.groups,
            engine_version=EngineVersionVar(host.engine_version),
            kind=kind,
            user=user,
        )
        return context

    def _chain(
        self,
        host: Host,
        name: str,
        setting: str,
        context: dict[str, Any],
        *,
        placeholders: bool,
    ) -> Merged:
        """Render the host's profile and every profile it extends, merged."""
        chain: list[Output] = []
        current: str | None = name
        while current is not None:
            profile = self._profile(current, host, setting, chain)
            if any(o.profile.template == profile.template for o in chain):
                names = " -> ".join([*(o.profile.name for o in chain), profile.name])
                raise self._at_extends(
                    chain[-1],
                    host,
                    f"profiles extend each other in a cycle: {names}",
                    "remove one of the extends",
                )
            output = self._output(profile, host, context, placeholders=placeholders)
            chain.append(output)
            current = output.extends
        key = tuple(id(o) for o in chain)
        merged = self._merged.get(key)
        if merged is None:
            merged = self._merged[key] = merge_chain(tuple(chain))
        return merged

    def _profile(self, name: str, host: Host, setting: str, chain: list[Output]) -> ProfileFile:
        try:
            return self.templates.profile(name)
        except TemplateError as exc:
            if chain:
                raise self._at_extends(
                    chain[-1], host, f"{chain[-1].profile.display} extends {exc.message}", exc.hint
                ) from None
            origin = host.origin((setting,))
            where = origin.location if origin and origin.location else host.location
            raise TemplateError(
                exc.message,
                file=where.file,
                line=where.line,
                column=where.column,
                host=host.name,
                key=setting,
                hint=exc.hint,
            ) from None

    @staticmethod
    def _at_extends(child: Output, host: Host, message: str, hint: str | None) -> TemplateError:
        where = child.template_location((EXTENSION_KEY, "extends"))
        return TemplateError(
            message,
            file=where.file,
            line=where.line,
            host=host.name,
            key=f"{EXTENSION_KEY}.extends",
            hint=hint,
        )

    # -- one profile, memoised ------------------------------------------------

    def _output(
        self, profile: ProfileFile, host: Host, context: dict[str, Any], *, placeholders: bool
    ) -> Output:
        if not profile.templated:
            cached = self._outputs.get(profile.template)
            if cached is None:
                text = read_source(profile, host.name)
                lines = list(range(1, text.count("\n") + 2))
                cached = self._parse(
                    profile, None, text, lines, secrets=frozenset(), host=host, placeholders=False
                )
                self._outputs[profile.template] = cached
            return cached
        analysis = self.templates.analysis(profile, host.name)
        bare: tuple[str, ...] = ()
        if (
            placeholders
            and self._use_placeholders
            and profile.template not in self._no_placeholders
        ):
            bare = tuple(
                sorted(n for n in analysis.passthrough if can_be_placeholder(context.get(n)))
            )
        names = analysis.used if analysis.used is not None else sorted(context)
        key = (
            profile.template,
            tuple(
                (n, self._freeze(context[n]) if n in context else _UNDEFINED)
                for n in names
                if n not in _FUNCTIONS and n not in bare
            ),
            bare,
        )
        cached = self._outputs.get(key)
        if cached is not None:
            return cached
        render_context = dict(context)
        render_context.update({n: self._placeholder(n) for n in bare})
        found: set[str] = set()
        render_context["env"] = self._lookup(self.lookups.env, found)
        render_context["file"] = self._lookup(self.lookups.file, found)
        text, lines = self.templates.render(profile, render_context, host.name, self.mask)
        if found and self.trace_secrets:
            derived = self._derived(profile, render_context, host.name, text)
            found |= derived
            self.secrets.update(derived)
        try:
            output = self._parse(
                profile,
                analysis,
                text,
                lines,
                secrets=frozenset(found),
                host=host,
                placeholders=bool(bare),
            )
        except TemplateError:
            if not bare:
                raise
            # a placeholder landed where text matters (outside a JSON string,
            # in x-fleetcfg): render this template for real from now on
            self._no_placeholders.add(profile.template)
            return self._output(profile, host, context, placeholders=False)
        self._outputs[key] = output
        return output

    def _parse(
        self,
        profile: ProfileFile,
        analysis: Analysis | None,
        text: str,
        lines: list[int],
        *,
        secrets: frozenset[str],
        host: Host,
        placeholders: bool,
    ) -> Output:
        intern_key = (profile.template, text, secrets)
        output = self._interned.get(intern_key)
        if output is None:
            output = parse_output(
                profile,
                analysis,
                text,
                lines,
                secrets=secrets,
                host=host.name,
                placeholders=placeholders,
                mask=self.mask,
            )
            if placeholders and output.extends and has_placeholder(output.extends):
                raise TemplateError("a placeholder in x-fleetcfg")  # rendered for real instead
            self._interned[intern_key] = output
        return output

    def _freeze(self, value: Any) -> Any:
        if not isinstance(value, dict | list):
            return (type(value).__name__, value)
        cached = self._frozen.get(id(value))
        if cached is not None and cached[0] is value:
            return cached[1]
        frozen = _freeze(value)
        self._frozen[id(value)] = (value, frozen)
        return frozen

    def _placeholder(self, name: str) -> str:
        return placeholder(self._placeholders.setdefault(name, len(self._placeholders)))

    def _lookup(self, fn: Callable[..., str], found: set[str]) -> Callable[..., str]:
        def lookup(*args: Any, **kwargs: Any) -> str:
            value = fn(*args, **kwargs)
            found.add(value)
            self.secrets.add(value)
            return value

        return lookup

    def _derived(
        self, profile: ProfileFile, context: dict[str, Any], host: str, text: str
    ) -> set[str]:
        """The parts of ``text`` that depend on a lookup's value, however the
        template transformed it (``|lower``, ``|reverse``, ``|b64encode``...):
        the template is rendered again with every lookup answering a
        :func:`~fleetcfg.core.secrets.canary` of its value, and what differs
        is a secret. A template that fails with other values has every line
        treated as one."""
        other_context = dict(context)
        other_context["env"] = self._canary(self.lookups.env)
        other_context["file"] = self._canary(self.lookups.file)
        try:
            other, _ = self.templates.render(profile, other_context, host, self.mask)
        except FleetcfgError:
            return {line.strip() for line in text.split("\n") if line.strip()}
        return derived_secrets(text, other)

    @staticmethod
    def _canary(fn: Callable[..., str]) -> Callable[..., str]:
        def lookup(*args: Any, **kwargs: Any) -> str:
            return canary(fn(*args, **kwargs))

        return lookup

    def _fill(self, merged: Merged, context: Mapping[str, Any]) -> dict[str, Any] | None:
        """The host's data: placeholders replaced by its values (None when a
        value would not come out the same as rendering it for real)."""
        if not merged.placeholders:
            return merged.data
        values = {
            placeholder(index): str(context[name])
            for name, index in self._placeholders.items()
            if can_be_placeholder(context.get(name))
        }
        try:
            return fill_placeholders(merged, values)
        except PlaceholderMismatch:
            return None

    # -- validation ----------------------------------------------------------

    def _check(self, kind: Kind, host: Host, data: dict[str, Any]) -> CheckResult[Any]:
        engine = host.engine_version
        key = (kind, str(engine), json.dumps(data, sort_keys=True, default=str))
        cached = self._checks.get(key)
        if cached is None:
            cached = check_daemon(data, engine) if kind == "daemon" else check_client(data)
            self._checks[key] = cached
        return cached

    def _locate(self, finding: Finding, rendered: RenderedConfig) -> Finding:
        """Point a finding at the place to fix: the inventory line of the
        variable that supplied the bad value, else the template line."""
        path = finding.loc or resolve_path(rendered.data, finding.path)
        template, variable = rendered.supplier(path, value_at(rendered.data, path))
        message = finding.message
        target = template
        if variable is not None:
            message += f" (rendered by {template})"
            target = variable
        return replace(
            finding,
            message=self.mask(message),
            file=target.file,
            line=target.line,
            column=target.column,
            hosts=(rendered.host.name,),
        )

    def _masked(self, exc: FleetcfgError) -> FleetcfgError:
        exc.message = self.mask(exc.message)
        if exc.hint:
            exc.hint = self.mask(exc.hint)
        exc.args = (exc.message,)
        return exc


def render_host(
    inventory: Inventory, host: Host | str, kind: Kind = "daemon", user: str | None = None
) -> RenderedConfig:
    """Render one host with a one-off :class:`Renderer`."""
    return Renderer(inventory).render(host, kind, user)
