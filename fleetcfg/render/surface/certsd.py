"""certs.d: ``/etc/docker/certs.d/<host[:port]>/ca.crt``, ``client.cert`` and
``client.key`` (0600) per registry, checked before any host is touched.

dockerd reads these files on every pull: a change needs nothing to reload.
The checks: the CA parses as PEM, is a CA (basicConstraints CA:TRUE), is
valid now (a warning within 30 days of its end); the client certificate and
key parse and belong together.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from fleetcfg.core.findings import Finding
from fleetcfg.core.rules import (
    REGISTRY_CA,
    REGISTRY_CA_EXPIRED,
    REGISTRY_CA_EXPIRING,
    REGISTRY_CLIENT_PAIR,
    Rule,
)
from fleetcfg.render.registries import RegistryTarget
from fleetcfg.render.surface.model import SurfaceContext, SurfaceFile, SurfaceOutput

CA_FILE = "ca.crt"
CLIENT_CERT_FILE = "client.cert"
CLIENT_KEY_FILE = "client.key"
#: a CA that ends within this is a warning
EXPIRY_WARNING = timedelta(days=30)
_REASON = "certs.d only: dockerd reads it on every pull"


def _pem_bytes(text: str) -> bytes:
    return (text.strip() + "\n").encode("ascii", errors="replace")


def certs_d_files(ctx: SurfaceContext) -> SurfaceOutput:
    """The certs.d producer: the files of every registry of the host with a
    CA or a client certificate, and the findings about them."""
    files: list[SurfaceFile] = []
    findings: list[Finding] = []
    for target in ctx.registries:
        if target.ca_pem is not None:
            findings += check_ca(target, ctx.now, ctx.host.name)
        if target.client_cert_pem is not None or target.client_key_pem is not None:
            findings += check_client_pair(target, ctx.host.name, stand_in=ctx.lookups.stand_in)
        for name, text, fields in (
            (CA_FILE, target.ca_pem, ("ca_file", "ca")),
            (CLIENT_CERT_FILE, target.client_cert_pem, ("client_cert_file", "client_cert")),
            (CLIENT_KEY_FILE, target.client_key_pem, ("client_key_file", "client_key_env")),
        ):
            if text is not None:
                files.append(_file(target, name, text, fields))
    return SurfaceOutput(files=tuple(files), findings=tuple(findings))


def _file(target: RegistryTarget, name: str, text: str, fields: tuple[str, str]) -> SurfaceFile:
    entry = target.entry
    secret = name == CLIENT_KEY_FILE
    return SurfaceFile.produced(
        "certs.d",
        f"{entry.certs_dir}/{name}",
        text.encode() if secret else _pem_bytes(text),
        secret=secret,
        owned_dir=entry.certs_dir,
        reason=_REASON,
        source=entry.where(fields[0]) if fields[0] in entry.locations else entry.where(fields[1]),
    )


def _finding(rule: Rule, message: str, target: RegistryTarget, field: str, host: str) -> Finding:
    entry = target.entry
    where = entry.where(field) if field in entry.locations else entry.where()
    return Finding(
        rule.id,
        rule.severity,
        f"registry {entry.name!r} ({entry.address}): {message}",
        path=f"registries.{entry.name}.{field}",
        file=where.file if where else None,
        line=where.line if where else None,
        column=where.column if where else None,
        hosts=(host,),
    )


@dataclass(frozen=True, slots=True)
class _Certificate:
    """What the checks read of a certificate."""

    subject: str
    is_ca: bool
    not_before: datetime
    not_after: datetime
    #: its public key (DER SubjectPublicKeyInfo; None: a kind cryptography cannot load)
    public_key: bytes | None


@functools.lru_cache(maxsize=256)
def _load_certificates(text: str) -> tuple[_Certificate, ...]:
    """The certificates of PEM ``text`` (ValueError: not PEM), parsed once
    per content: every host of a group with a registry has the same CA.
    cryptography is imported here, for the fleets that have registries."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    def is_ca(cert: x509.Certificate) -> bool:
        try:
            ext = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        except x509.ExtensionNotFound:
            return False
        return bool(ext.value.ca)

    def public_key(cert: x509.Certificate) -> bytes | None:
        try:
            key = cert.public_key()
        except UnsupportedAlgorithm:
            return None
        return key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    return tuple(
        _Certificate(
            subject=cert.subject.rfc4514_string(),
            is_ca=is_ca(cert),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            public_key=public_key(cert),
        )
        for cert in x509.load_pem_x509_certificates(text.strip().encode("ascii", errors="replace"))
    )


#: sha256 of a client key's PEM -> its public key (DER), or None: not an
#: unencrypted PEM private key (keyed by a digest: the cache keeps no key)
_KEY_PUBLIC: dict[str, bytes | None] = {}


def _key_public(pem: str) -> bytes | None:
    """The public key (DER) of an unencrypted PEM private key, worked out
    once per key; None when it is not one."""
    digest = hashlib.sha256(pem.encode("utf-8", errors="replace")).hexdigest()
    if digest in _KEY_PUBLIC:
        return _KEY_PUBLIC[digest]
    from cryptography.hazmat.primitives import serialization

    public: bytes | None
    try:
        key = serialization.load_pem_private_key(
            pem.encode("ascii", errors="replace"), password=None
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (ValueError, TypeError):
        public = None
    _KEY_PUBLIC[digest] = public
    return public


def check_ca(target: RegistryTarget, now: datetime, host: str) -> list[Finding]:
    """FC070-FC072 for the registry's CA: parses, is a CA, is valid at ``now``."""
    field = "ca_file" if "ca_file" in target.entry.fields else "ca"
    text = target.ca_pem or ""
    try:
        certs = _load_certificates(text)
    except ValueError:
        return [
            _finding(
                REGISTRY_CA,
                "the CA is not a PEM certificate (-----BEGIN CERTIFICATE-----)",
                target,
                field,
                host,
            )
        ]
    out: list[Finding] = []
    for index, cert in enumerate(certs):
        which = "the CA" if len(certs) == 1 else f"certificate {index + 1} of the CA file"
        subject = cert.subject or "(no subject)"
        if not cert.is_ca:
            out.append(
                _finding(
                    REGISTRY_CA,
                    f"{which} ({subject}) is not a CA certificate (no basicConstraints "
                    "CA:TRUE): give the CA that signed the registry's certificate, "
                    "not the registry's own",
                    target,
                    field,
                    host,
                )
            )
        start, end = cert.not_before, cert.not_after
        if now < start:
            out.append(
                _finding(
                    REGISTRY_CA_EXPIRED,
                    f"{which} ({subject}) is not valid before {start:%Y-%m-%d %H:%M} UTC",
                    target,
                    field,
                    host,
                )
            )
        elif now > end:
            out.append(
                _finding(
                    REGISTRY_CA_EXPIRED,
                    f"{which} ({subject}) expired on {end:%Y-%m-%d} UTC",
                    target,
                    field,
                    host,
                )
            )
        elif end - now < EXPIRY_WARNING:
            days = (end - now).days
            out.append(
                _finding(
                    REGISTRY_CA_EXPIRING,
                    f"{which} ({subject}) expires on {end:%Y-%m-%d} UTC, in {days} days",
                    target,
                    field,
                    host,
                )
            )
    return out


def check_client_pair(
    target: RegistryTarget, host: str, *, stand_in: bool = False
) -> list[Finding]:
    """FC073: both of the pair, each parses, the key is the certificate's.
    ``stand_in``: the key is lint's stand-in (never read): only the
    certificate is checked."""
    cert_field = "client_cert_file" if "client_cert_file" in target.entry.fields else "client_cert"
    key_field = "client_key_file" if "client_key_file" in target.entry.fields else "client_key_env"
    if target.client_cert_pem is None:
        return [
            _finding(
                REGISTRY_CLIENT_PAIR,
                "a client key without its client certificate: give client_cert_file too",
                target,
                key_field,
                host,
            )
        ]
    if target.client_key_pem is None:
        return [
            _finding(
                REGISTRY_CLIENT_PAIR,
                "a client certificate without its key: dockerd refuses the registry; "
                "give client_key_file or client_key_env too",
                target,
                cert_field,
                host,
            )
        ]
    try:
        certs = _load_certificates(target.client_cert_pem)
    except ValueError:
        return [
            _finding(
                REGISTRY_CLIENT_PAIR,
                "the client certificate is not a PEM certificate",
                target,
                cert_field,
                host,
            )
        ]
    if stand_in:
        return []
    public = _key_public(target.client_key_pem)
    if public is None:
        return [
            _finding(
                REGISTRY_CLIENT_PAIR,
                "the client key is not an unencrypted PEM private key",
                target,
                key_field,
                host,
            )
        ]
    if certs[0].public_key is None or public != certs[0].public_key:
        return [
            _finding(
                REGISTRY_CLIENT_PAIR,
                "the client key does not match the client certificate",
                target,
                key_field,
                host,
            )
        ]
    return []
