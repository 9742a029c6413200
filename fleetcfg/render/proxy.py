"""The ``proxy:`` of a host: where it goes, daemon.json's ``proxies`` and the
systemd drop-in, with the findings about them (FC080-FC084, FC087, FC089).

Where it goes (``proxy.where``):

``auto`` (default)
    daemon.json ``proxies`` on Engine 23.0 and later (a reload does not apply
    it: dockerd reads proxies when it starts, so a change restarts it), the
    drop-in ``/etc/systemd/system/docker.service.d/http-proxy.conf`` below.
``daemon``
    daemon.json only (an older Engine is refused: FC084).
``dropin``
    the drop-in only, on any Engine (``systemctl daemon-reload`` + restart).
``both``
    both (dockerd 23.0+ prefers daemon.json's values).

One ``no_proxy`` list feeds both places (``no-proxy`` and ``NO_PROXY``, comma
joined). The password (``password_env``) is read when rendering, inserted
URL-encoded into the URLs' userinfo and registered as a secret: masked in
every output, and the files holding it are written 0600. A drop-in whose URLs
hold a password names an environment file (``EnvironmentFile=``, 0600) that
holds the variables, rather than ``Environment=`` lines: systemd shows those
to every user of the host (``systemctl show docker``), not what an
environment file holds.

A profile that sets ``proxies`` itself while ``proxy:`` goes to daemon.json
must set the same values: anything else is FC083 and the host is refused
(fleetcfg's values are what the plan shows, never a silent winner).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import quote

from fleetcfg.core.errors import FleetcfgError, SecretLookupError
from fleetcfg.core.findings import Finding
from fleetcfg.core.rules import (
    DROPIN_CREDENTIAL,
    DROPIN_EXEC_START,
    DROPIN_PERCENT,
    DROPIN_QUOTING,
    PROXY_PASSWORD_LITERAL,
    PROXY_PLACEMENT,
    PROXY_PROFILE_CONFLICT,
    Rule,
)
from fleetcfg.core.secrets import Lookups, holds_credentials
from fleetcfg.core.versions import EngineVersion
from fleetcfg.core.yamlsource import KeyPath, SourceLocation, format_path
from fleetcfg.dockerd.dropin import (
    ENV_FILE_PATH,
    check_dropin_lines,
    escape_specifiers,
    render_dropin,
    render_env_file,
)
from fleetcfg.inventory import Host

#: the first Engine with daemon.json ``proxies``
DAEMON_PROXIES_SINCE = EngineVersion(23, 0)

_RULES: Mapping[str, Rule] = {
    "percent": DROPIN_PERCENT,
    "quoting": DROPIN_QUOTING,
    "exec-start": DROPIN_EXEC_START,
}


@dataclass(frozen=True)
class HostProxy:
    """A host's proxy, resolved: values, where they go, what is secret."""

    http: str | None
    https: str | None
    no_proxy: tuple[str, ...]
    #: daemon.json gets ``proxies``
    to_daemon: bool
    #: the drop-in is written
    to_dropin: bool
    extra_lines: tuple[str, ...]
    secrets: frozenset[str]
    findings: tuple[Finding, ...]

    def _named(self, http: str, https: str, no_proxy: str) -> dict[str, str]:
        values = (self.http, self.https, ",".join(self.no_proxy))
        return {
            name: value
            for name, value in zip((http, https, no_proxy), values, strict=True)
            if value
        }

    def daemon_proxies(self) -> dict[str, str]:
        """daemon.json's ``proxies``."""
        return self._named("http-proxy", "https-proxy", "no-proxy")

    def environment(self) -> dict[str, str]:
        """The drop-in's variables (dockerd reads the upper-case names)."""
        return self._named("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")

    @cached_property
    def urls_hold_credentials(self) -> bool:
        """Whether a proxy URL carries a password (then the drop-in's
        variables go to :data:`ENV_FILE_PATH`, written 0600, which systemd
        does not show to the host's users)."""
        return any(holds_credentials(u, self.secrets) for u in (self.http, self.https) if u)

    def dropin_text(self) -> str:
        if self.urls_hold_credentials:
            return render_dropin({}, self.extra_lines, env_file=ENV_FILE_PATH)
        return render_dropin(self.environment(), self.extra_lines)

    def env_file_text(self) -> str | None:
        """The drop-in's environment file (None: the URLs hold no password,
        the drop-in has the variables itself)."""
        return render_env_file(self.environment()) if self.urls_hold_credentials else None

    @property
    def dropin_holds_credentials(self) -> bool:
        """Whether the drop-in itself carries credentials (a hand-written
        ``dropin_lines`` line with a URL with a password, or a secret): it is
        then written 0600."""
        return holds_credentials(self.dropin_text(), self.secrets)


def setting_location(host: Host, setting: KeyPath) -> SourceLocation:
    """The inventory line that set ``setting`` (or the first value below it)
    for ``host``; the host's own line when no layer did."""
    origin = host.origin(setting)
    if origin is None:
        below = host.origins_under(setting)
        origin = below[0][1] if below else None
    return origin.location if origin is not None and origin.location else host.location


def finding_at(
    host: Host, rule: Rule, message: str, setting: KeyPath, *, path: str | None = None
) -> Finding:
    """A finding at the inventory line that set ``setting`` for ``host``."""
    where = setting_location(host, setting)
    return Finding(
        rule.id,
        rule.severity,
        message,
        path=path if path is not None else format_path(setting),
        file=where.file,
        line=where.line,
        column=where.column,
        hosts=(host.name,),
        loc=tuple(setting),
    )


def _with_password(url: str | None, password: str | None) -> str | None:
    if url is None or password is None:
        return url
    scheme, _, rest = url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    encoded = quote(password, safe="")
    user = userinfo.partition(":")[0] if at else ""
    credentials = f"{user}:{encoded}" if user else encoded
    return f"{scheme}://{credentials}@{hostpart}"


def _password(host: Host, name: str, lookups: Lookups) -> str:
    try:
        return lookups.env(name)
    except SecretLookupError as exc:
        origin = host.origin(("proxy", "password_env"))
        where = origin.location if origin is not None else None
        raise SecretLookupError(
            f"proxy.password_env: {exc.message}",
            file=where.file if where else host.location.file,
            line=where.line if where else host.location.line,
            host=host.name,
            key="proxy.password_env",
            hint=exc.hint or f"declare {name} in secrets.env and export it",
        ) from None


def _literal_password_findings(host: Host, settings: Mapping[str, Any]) -> list[Finding]:
    found: list[Finding] = []
    for field in ("http", "https"):
        url = settings.get(field)
        if isinstance(url, str) and ":" in url.partition("://")[2].rpartition("@")[0]:
            found.append(
                finding_at(
                    host,
                    PROXY_PASSWORD_LITERAL,
                    f"proxy.{field} holds a password written in inventory.yaml: put it in an "
                    "environment variable named by proxy.password_env (declared in secrets.env)",
                    ("proxy", field),
                )
            )
    return found


def resolve_proxy(host: Host, lookups: Lookups) -> HostProxy | None:
    """``host``'s proxy (None: it has no ``proxy:`` with a URL, or ``enabled:
    false``). Raises
    :class:`~fleetcfg.core.errors.SecretLookupError` when ``password_env`` is
    not declared or not set."""
    settings = host.settings.get("proxy")
    if not isinstance(settings, Mapping) or not (settings.get("http") or settings.get("https")):
        return None
    if settings.get("enabled") is False:
        return None
    findings = _literal_password_findings(host, settings)
    secrets: set[str] = set()
    password: str | None = None
    name = settings.get("password_env")
    if isinstance(name, str):
        password = _password(host, name, lookups)
        encoded = quote(password, "")
        secrets |= {password, encoded, escape_specifiers(password), escape_specifiers(encoded)}
    where = settings.get("where") or "auto"
    new_engine = host.engine_version >= DAEMON_PROXIES_SINCE
    to_daemon = where in ("daemon", "both") or (where == "auto" and new_engine)
    to_dropin = where in ("dropin", "both") or (where == "auto" and not new_engine)
    if to_daemon and not new_engine:
        findings.append(
            finding_at(
                host,
                PROXY_PLACEMENT,
                f"proxy.where is {where} but host {host.name} runs Engine "
                f"{host.engine_version}: daemon.json has proxies from "
                f"{DAEMON_PROXIES_SINCE}; use where: auto or dropin",
                ("proxy", "where"),
            )
        )
        to_daemon = False
    return HostProxy(
        http=_with_password(settings.get("http"), password),
        https=_with_password(settings.get("https"), password),
        no_proxy=tuple(settings.get("no_proxy") or ()),
        to_daemon=to_daemon,
        to_dropin=to_dropin,
        extra_lines=tuple(settings.get("dropin_lines") or ()),
        secrets=frozenset(s for s in secrets if s),
        findings=tuple(findings),
    )


def with_daemon_proxies(
    host: Host, proxy: HostProxy | None, data: Mapping[str, Any]
) -> tuple[dict[str, Any], tuple[Finding, ...]]:
    """The profile's daemon.json ``data`` with ``proxies`` from ``proxy:``
    when it goes there; FC083 when the profile sets other proxies itself
    (the profile's value is then left as it is, and the host is refused)."""
    out = dict(data)
    if proxy is None or not proxy.to_daemon:
        return out, ()
    wanted = proxy.daemon_proxies()
    own = data.get("proxies")
    if own is None or own == wanted:
        out["proxies"] = wanted
        return out, ()
    finding = finding_at(
        host,
        PROXY_PROFILE_CONFLICT,
        "the profile sets daemon.json proxies and inventory.yaml's proxy: goes to daemon.json "
        "with other values: keep the proxy in one place (proxy: feeds the drop-in too)",
        ("proxy",),
        path="proxies",
    )
    return out, (finding,)


def dropin_findings(
    host: Host, proxy: HostProxy, daemon: Mapping[str, Any] | None
) -> tuple[Finding, ...]:
    """FC080-FC082 and FC089 about the hand-written ``dropin_lines`` for a
    host whose daemon.json will hold ``daemon``."""
    problems = check_dropin_lines(proxy.extra_lines, daemon or {})
    found = [
        finding_at(
            host,
            _RULES[p.kind],
            f"proxy.dropin_lines[{p.index}]: {p.message}",
            ("proxy", "dropin_lines"),
            path=f"proxy.dropin_lines[{p.index}]",
        )
        for p in problems
    ]
    found += [
        finding_at(
            host,
            DROPIN_CREDENTIAL,
            f"proxy.dropin_lines[{index}] holds a credential: systemd shows what a drop-in sets "
            "to every user of the host (systemctl show docker); give the proxy's password "
            "with proxy.password_env, which fleetcfg writes to a root-only environment file",
            ("proxy", "dropin_lines"),
            path=f"proxy.dropin_lines[{index}]",
        )
        for index, line in enumerate(proxy.extra_lines)
        if holds_credentials(line, proxy.secrets)
    ]
    return tuple(found)


def proxy_or_error(host: Host, lookups: Lookups) -> HostProxy | FleetcfgError | None:
    """:func:`resolve_proxy`, its error in place of the result."""
    try:
        return resolve_proxy(host, lookups)
    except FleetcfgError as exc:
        return exc
