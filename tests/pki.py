"""Test certificates made on the fly: a CA, certificates it signs, keys."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_cert(
    common_name: str,
    *,
    ca: bool,
    issuer: Issued | None = None,
    days: float = 3650,
    not_before: datetime | None = None,
    basic_constraints: bool = True,
    san: tuple[str, ...] = (),
) -> Issued:
    """A certificate for ``common_name``, self-signed unless ``issuer`` is
    given; ``ca`` sets basicConstraints CA:TRUE (``basic_constraints=False``:
    no such extension at all)."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer.cert.subject if issuer else _name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
    )
    if basic_constraints:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=None), critical=True
        )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if san:
        names: list[x509.GeneralName] = []
        for item in san:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(item)))
            except ValueError:
                names.append(x509.DNSName(item))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


#: a registries: section (at the top level of a settings layer) with a CA and
#: a client pair read from certs/ (see :func:`write_certs`); its folder
REGISTRY_YAML = """\
registries:
  corp:
    host: registry.corp.example.com
    port: 5000
    ca_file: certs/ca.pem
    client_cert_file: certs/client.cert
    client_key_file: certs/client.key
"""
REGISTRY_FOLDER = "/etc/docker/certs.d/registry.corp.example.com:5000"


def write_certs(root: Path, ca: Issued, client: Issued) -> None:
    """certs/ca.pem, certs/client.cert and certs/client.key under ``root``
    (those that are not there yet)."""
    certs = root / "certs"
    certs.mkdir(exist_ok=True)
    for name, text in (
        ("ca.pem", ca.cert_pem),
        ("client.cert", client.cert_pem),
        ("client.key", client.key_pem),
    ):
        if not (certs / name).exists():
            (certs / name).write_text(text)


def make_ca(common_name: str = "fleetcfg test CA", **kw: object) -> Issued:
    return make_cert(common_name, ca=True, **kw)  # type: ignore[arg-type]
