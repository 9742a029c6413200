"""A repo whose host ci-01 reads the corp registry's certificates from the repo
(``certs/corp-ca.pem``, ``certs/client.cert``, ``certs/client.key``): the
inventory text and the files, shared by the tests of what reads them (the
bundle, the repo hash)."""

from __future__ import annotations

from pathlib import Path

from tests.pki import make_ca, make_cert, write_certs

CORP_CA = make_ca("Corp Root CA")
CORP_CLIENT = make_cert("fleet client", ca=False, issuer=CORP_CA)


def corp_registry_inventory(*registry_lines: str, header: str = "", more_hosts: str = "") -> str:
    """inventory.yaml: ``header`` (top-level YAML), then ci-01 (10.0.0.1) with
    the corp registry (its ``ca_file: certs/corp-ca.pem`` and
    ``registry_lines``), then ``more_hosts`` (YAML under ``hosts:``)."""
    lines = "".join(f"        {line}\n" for line in registry_lines)
    return (
        header
        + "defaults:\n"
        + "  daemon_profile: base\n"
        + '  engine_version: "26.1"\n'
        + "hosts:\n"
        + "  ci-01:\n"
        + "    address: 10.0.0.1\n"
        + "    registries:\n"
        + "      corp:\n"
        + "        host: registry.corp.example.com\n"
        + "        ca_file: certs/corp-ca.pem\n"
        + lines
        + more_hosts
    )


def write_corp_certs(root: Path) -> None:
    """``certs/corp-ca.pem`` (:data:`CORP_CA`), ``certs/client.cert`` and
    ``certs/client.key`` (:data:`CORP_CLIENT`) under ``root``."""
    write_certs(root, CORP_CA, CORP_CLIENT)
    (root / "certs/ca.pem").rename(root / "certs/corp-ca.pem")
