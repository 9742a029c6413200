"""A host's ``registries:`` (inventory.yaml) as registries fleetcfg renders:
the certs.d folder name, the PEM texts, and what daemon.json and
buildkitd.toml say about each.

Two steps: :func:`registry_entries` reads only the inventory (the renderer
uses it for daemon.json's ``registry-mirrors`` and ``insecure-registries``),
:func:`resolve_registries` also reads the certificates (repo files, confined
to the repo like ``file()``) and the client key (a secret).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleetcfg.core.errors import SecretLookupError
from fleetcfg.core.findings import Finding
from fleetcfg.core.numbers import is_digits
from fleetcfg.core.rules import (
    CERTS_D_FILE_NAMES,
    CERTS_D_FOLDER,
    REGISTRY_DEFINITION,
    REGISTRY_INSECURE_WITH_CA,
)
from fleetcfg.core.secrets import Lookups
from fleetcfg.core.yamlsource import SourceLocation
from fleetcfg.inventory import Host

CERTS_D = "/etc/docker/certs.d"
#: the registry that daemon.json's registry-mirrors mirror
DOCKER_HUB = "docker.io"
#: the most fleetcfg reads of one certificate file of the repo
PEM_FILE_CAP = 1024 * 1024


@dataclass(frozen=True)
class RegistryEntry:
    """One registry as the inventory gives it (nothing read yet)."""

    name: str
    host: str
    port: int | None
    mirror_of: str | None
    insecure: bool
    #: the fields the layers set (``ca``, ``ca_file``, ...), with their values
    fields: Mapping[str, Any]
    #: where each field is written (the layer that won); ``""``: the entry
    locations: Mapping[str, SourceLocation]

    @property
    def address(self) -> str:
        """``host[:port]``: the certs.d folder name, the insecure-registries
        entry and the mirror host buildkitd.toml takes."""
        host = f"[{self.host}]" if _is_ipv6(self.host) else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def has_ca(self) -> bool:
        return bool(self.fields.get("ca") or self.fields.get("ca_file"))

    @property
    def mirror_url(self) -> str:
        """The URL daemon.json's registry-mirrors takes (https unless insecure)."""
        scheme = "http" if self.insecure and not self.has_ca else "https"
        return f"{scheme}://{self.address}"

    @property
    def certs_dir(self) -> str:
        return f"{CERTS_D}/{self.address}"

    def where(self, field: str = "") -> SourceLocation | None:
        """The inventory place of ``field`` (or of the entry)."""
        return self.locations.get(field) or self.locations.get("")


@dataclass(frozen=True)
class RegistryTarget:
    """A registry with its certificates read: what certs.d gets."""

    entry: RegistryEntry
    ca_pem: str | None = None
    client_cert_pem: str | None = None
    #: a secret: never displayed
    client_key_pem: str | None = None

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def address(self) -> str:
        return self.entry.address


def _is_ipv6(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address)
    except ValueError:
        return False


def _locations(host: Host, name: str) -> dict[str, SourceLocation]:
    found: dict[str, SourceLocation] = {}
    for path, origin in host.origins_under(("registries", name)):
        if origin.location is None:
            continue
        field = str(path[2]) if len(path) > 2 else ""
        found.setdefault(field, origin.location)
        found.setdefault("", origin.location)
    return found


def registry_entries(host: Host) -> tuple[RegistryEntry, ...]:
    """The host's registries after layering (removed ones left out), in
    name order."""
    raw = host.settings.get("registries")
    if not isinstance(raw, Mapping):
        return ()
    out: list[RegistryEntry] = []
    for name in sorted(raw):
        fields = raw[name]
        if fields is None:
            continue
        fields = {k: v for k, v in fields.items() if v is not None}
        out.append(
            RegistryEntry(
                name=name,
                host=str(fields.get("host") or name),
                port=fields.get("port"),
                mirror_of=fields.get("mirror_of"),
                insecure=bool(fields.get("insecure", False)),
                fields=fields,
                locations=_locations(host, name),
            )
        )
    return tuple(out)


def _finding(rule: Any, message: str, where: SourceLocation | None, host: str) -> Finding:
    return Finding(
        rule.id,
        rule.severity,
        message,
        path="registries",
        file=where.file if where else None,
        line=where.line if where else None,
        column=where.column if where else None,
        hosts=(host,),
    )


@dataclass(frozen=True)
class DaemonContribution:
    """What the registries add to daemon.json, and what they find wrong with
    the profile's own entries."""

    mirrors: tuple[str, ...]
    insecure: tuple[str, ...]
    findings: tuple[Finding, ...]


def daemon_contribution(host: Host, profile_data: Mapping[str, Any]) -> DaemonContribution:
    """The ``registry-mirrors`` (``mirror_of: docker.io``) and
    ``insecure-registries`` (``insecure: true``) entries of the host's
    registries that the profile's data does not already have, and a finding
    for each registry with a CA that is insecure (in the inventory or in the
    profile's ``insecure-registries``): use the CA, drop insecure."""
    entries = registry_entries(host)
    have_mirrors = _strings(profile_data.get("registry-mirrors"))
    have_insecure = _strings(profile_data.get("insecure-registries"))
    mirrors: list[str] = []
    insecure: list[str] = []
    findings: list[Finding] = []
    for entry in entries:
        if entry.mirror_of == DOCKER_HUB:
            url = entry.mirror_url
            if url.rstrip("/") not in {m.rstrip("/") for m in have_mirrors} | set(mirrors):
                mirrors.append(url)
        if entry.insecure and entry.address not in have_insecure | set(insecure):
            insecure.append(entry.address)
        if entry.has_ca and (entry.insecure or entry.address in have_insecure):
            where = "insecure: true" if entry.insecure else "the profile's insecure-registries"
            findings.append(
                _finding(
                    REGISTRY_INSECURE_WITH_CA,
                    f"registry {entry.name!r} ({entry.address}) has a CA and is insecure "
                    f"({where}): use the CA, drop insecure",
                    entry.where("insecure" if entry.insecure else "ca_file") or entry.where("ca"),
                    host.name,
                )
            )
    findings += _port_mismatches(entries, [*have_mirrors, *have_insecure], host.name)
    return DaemonContribution(tuple(mirrors), tuple(insecure), tuple(findings))


def _address_of(reference: str) -> tuple[str, int | None] | None:
    """``(host, port)`` of a registry-mirrors URL or insecure-registries entry."""
    text = reference.split("://", 1)[-1].split("/", 1)[0].lower()
    host, sep, port = text.rpartition(":")
    if sep and is_digits(port) and not host.endswith(":"):
        return host, int(port)
    return text, None


def _port_mismatches(
    entries: Sequence[RegistryEntry], references: Sequence[str], host: str
) -> list[Finding]:
    """FC074: the profile names a registry at another port than the entry
    with its CA: dockerd reads certs.d/<host:port> of the address it pulls
    from, so the CA would sit in a folder it never reads."""
    out: list[Finding] = []
    for reference in references:
        found = _address_of(reference)
        if found is None:
            continue
        name, port = found
        for entry in entries:
            if entry.host.lower() != name or entry.port == port or not entry.has_ca:
                continue
            want = f"{entry.host}:{port}" if port is not None else entry.host
            out.append(
                _finding(
                    CERTS_D_FOLDER,
                    f"the profile uses {reference} but registry {entry.name!r} is "
                    f"{entry.address}: dockerd reads certs.d/{want}/ for it, and fleetcfg "
                    f"writes the CA to certs.d/{entry.address}/"
                    + (f"; set port: {port}" if port is not None else "; drop its port"),
                    entry.where("port") or entry.where(),
                    host,
                )
            )
    return out


def _strings(value: Any) -> set[str]:
    if isinstance(value, list):
        return {v for v in value if isinstance(v, str)}
    return set()


def with_contribution(data: dict[str, Any], extra: DaemonContribution) -> dict[str, Any]:
    """``data`` with the registries' entries appended to its lists (``data``
    itself when they add nothing)."""
    if not extra.mirrors and not extra.insecure:
        return data
    out = dict(data)
    for key, items in (
        ("registry-mirrors", extra.mirrors),
        ("insecure-registries", extra.insecure),
    ):
        if items:
            below = out.get(key)
            out[key] = [*(below if isinstance(below, list) else []), *items]
    return out


# --------------------------------------------------------------------------
# reading the certificates


def _read_repo_pem(lookups: Lookups, name: str) -> str:
    """A certificate file of the repo (never outside it, at most 1 MiB)."""
    path = lookups.file_path(name)
    try:
        with path.open("rb") as fh:
            data = fh.read(PEM_FILE_CAP + 1)
    except FileNotFoundError:
        raise SecretLookupError(f"{name} not found (looked for {path})") from None
    except OSError as exc:
        raise SecretLookupError(f"cannot read {name}: {exc.strerror}") from None
    if len(data) > PEM_FILE_CAP:
        raise SecretLookupError(f"{name} is larger than 1 MiB: not a certificate")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise SecretLookupError(f"{name} is not PEM text (non-ASCII bytes)") from None


@dataclass(frozen=True)
class ResolvedRegistries:
    targets: tuple[RegistryTarget, ...]
    findings: tuple[Finding, ...]
    secrets: frozenset[str]


def resolve_registries(host: Host, lookups: Lookups) -> ResolvedRegistries:
    """The host's registries with their certificates read. A problem (a file
    outside the repo or missing, a field given twice, two registries at the
    same address) is a finding at the inventory line; that registry is left
    out."""
    targets: list[RegistryTarget] = []
    findings: list[Finding] = []
    secrets: set[str] = set()
    seen: dict[str, str] = {}
    for entry in registry_entries(host):
        problems: list[tuple[str, str]] = []
        if entry.address in seen:
            problems.append(
                (
                    "host",
                    f"registries {seen[entry.address]!r} and {entry.name!r} are both "
                    f"{entry.address}: give each registry one entry",
                )
            )
        seen.setdefault(entry.address, entry.name)
        values: dict[str, str | None] = {}
        for inline, from_file in (("ca", "ca_file"), ("client_cert", "client_cert_file")):
            text, problem = _pem_field(entry, lookups, inline, from_file)
            values[inline] = text
            if problem:
                problems.append(problem)
        key, problem = _client_key(entry, lookups)
        if problem:
            problems.append(problem)
        if key is not None:
            secrets.add(key)
        for field, message in problems:
            findings.append(
                _finding(
                    REGISTRY_DEFINITION,
                    f"registry {entry.name!r}: {message}",
                    entry.where(field),
                    host.name,
                )
            )
        findings += _file_name_findings(entry, host.name)
        if problems:
            continue
        targets.append(
            RegistryTarget(
                entry=entry,
                ca_pem=values["ca"],
                client_cert_pem=values["client_cert"],
                client_key_pem=key,
            )
        )
    return ResolvedRegistries(tuple(targets), tuple(findings), frozenset(secrets))


#: the suffixes certs.d gives each role (dockerd: *.crt CAs, *.cert client
#: certificates, *.key their keys)
_ROLE_SUFFIXES = {"ca_file": ".crt", "client_cert_file": ".cert", "client_key_file": ".key"}


def _file_name_findings(entry: RegistryEntry, host: str) -> list[Finding]:
    """FC075: a file named with another role's certs.d suffix (a client
    certificate saved as .crt, a CA as .cert): the roles are likely swapped.
    fleetcfg writes ca.crt, client.cert and client.key whatever the names."""
    out: list[Finding] = []
    for field, suffix in _ROLE_SUFFIXES.items():
        name = entry.fields.get(field)
        if not isinstance(name, str):
            continue
        for other_field, other in _ROLE_SUFFIXES.items():
            if other != suffix and name.endswith(other):
                role = other_field.removesuffix("_file").replace("_", " ")
                out.append(
                    _finding(
                        CERTS_D_FILE_NAMES,
                        f"registry {entry.name!r}: {field} {name} is named like a "
                        f"{role} ({other}: certs.d reads *.crt as CAs, *.cert as client "
                        "certificates with their *.key): are the files swapped?",
                        entry.where(field),
                        host,
                    )
                )
    return out


def _pem_field(
    entry: RegistryEntry, lookups: Lookups, inline: str, from_file: str
) -> tuple[str | None, tuple[str, str] | None]:
    text = entry.fields.get(inline)
    name = entry.fields.get(from_file)
    if text is not None and name is not None:
        return None, (from_file, f"give {inline} or {from_file}, not both")
    if name is None:
        return (str(text) if text is not None else None), None
    try:
        return _read_repo_pem(lookups, str(name)), None
    except SecretLookupError as exc:
        return None, (from_file, f"{from_file}: {exc.message}")


def _client_key(
    entry: RegistryEntry, lookups: Lookups
) -> tuple[str | None, tuple[str, str] | None]:
    name = entry.fields.get("client_key_file")
    env = entry.fields.get("client_key_env")
    if name is not None and env is not None:
        return None, ("client_key_env", "give client_key_file or client_key_env, not both")
    try:
        if name is not None:
            return lookups.file(str(name)) + "\n", None
        if env is not None:
            return lookups.env(str(env)).rstrip("\n") + "\n", None
    except SecretLookupError as exc:
        field = "client_key_file" if name is not None else "client_key_env"
        return None, (field, f"{field}: {exc.message}")
    return None, None


def mirror_hosts(registries: Sequence[RegistryTarget | RegistryEntry], of: str) -> list[str]:
    """The addresses (``host[:port]``, no scheme: what buildkitd.toml's
    ``mirrors`` take) of the registries that mirror ``of``."""
    out: list[str] = []
    for item in registries:
        entry = item.entry if isinstance(item, RegistryTarget) else item
        if entry.mirror_of == of and entry.address not in out:
            out.append(entry.address)
    return out
