"""FC070-FC079: registries: the certs.d files and what daemon.json says about
them."""

from __future__ import annotations

from fleetcfg.core.rules.catalogue import E, W, rule

REGISTRY_CA = rule(
    "FC070",
    "registry-ca",
    E,
    "a registry CA is not a PEM CA certificate",
    """dockerd reads every *.crt file of /etc/docker/certs.d/<host[:port]>/ as a
    CA that may sign the registry's certificate. A file that does not parse as
    PEM, or a certificate that is not a CA (basicConstraints CA:TRUE: the
    registry's own server certificate is the classic mistake) makes every pull
    fail with "x509: certificate signed by unknown authority". Give the
    certificate of the CA that signed the registry's certificate.""",
)
REGISTRY_CA_EXPIRED = rule(
    "FC071",
    "registry-ca-expired",
    E,
    "a registry CA has expired (or is not valid yet)",
    """A CA certificate outside its validity period verifies nothing: pulls
    from the registry fail with an x509 error. Renew the CA, or install the new
    one next to it before the old one expires.""",
)
REGISTRY_CA_EXPIRING = rule(
    "FC072",
    "registry-ca-expiring",
    W,
    "a registry CA expires within 30 days",
    """Pulls from the registry start failing the moment the CA expires. Add the
    renewed CA now (a registry may list several: certs.d reads every *.crt).""",
)
REGISTRY_CLIENT_PAIR = rule(
    "FC073",
    "registry-client-pair",
    E,
    "a registry's client certificate and key do not belong together",
    """For mutual TLS dockerd loads client.cert with client.key (same base
    name) from the registry's certs.d folder. A certificate without its key, a
    key without its certificate, a key that does not match the certificate or
    a certificate or key that does not parse makes dockerd refuse the registry
    ("missing key ... for client certificate"). Give client_cert(_file) and
    client_key_file (or client_key_env) together, from the same pair.""",
)
CERTS_D_FOLDER = rule(
    "FC074",
    "certs-d-folder",
    W,
    "a certs.d folder is named for another address than the registry's",
    """dockerd looks for /etc/docker/certs.d/<host[:port]>/ with exactly the
    address in the image reference: registry.corp.example.com:5000/app reads
    certs.d/registry.corp.example.com:5000, never
    certs.d/registry.corp.example.com (the port left out is the classic
    mistake), and /etc/docker/cert.d is never read. fleetcfg names the folders
    it writes from the registry's host and port; this finding points at a
    folder on the host (or a port in the inventory) that does not match.""",
)
CERTS_D_FILE_NAMES = rule(
    "FC075",
    "certs-d-file-names",
    W,
    "a certs.d file name makes dockerd read it as something else",
    """In certs.d, *.crt files are CAs, *.cert files are client certificates and
    need a *.key of the same base name, *.key files are client keys. A client
    certificate saved as client.crt is read as a CA (and mutual TLS fails); a
    ca.cert is read as a client certificate without its key (dockerd refuses
    the registry). fleetcfg writes ca.crt, client.cert and client.key.""",
)
REGISTRY_INSECURE_WITH_CA = rule(
    "FC076",
    "registry-insecure-with-ca",
    W,
    "a registry has a CA and is also in insecure-registries",
    """insecure-registries turns certificate verification off (and allows plain
    HTTP) for the registry, so the CA in certs.d protects nothing. Use the CA,
    drop insecure: remove the registry from the profile's insecure-registries
    and its insecure: true in inventory.yaml.""",
)
REGISTRY_DEFINITION = rule(
    "FC077",
    "registry-definition",
    E,
    "a registry entry cannot be rendered",
    """A registries entry must name a host (default: the entry's name), give
    each certificate once (ca or ca_file, client_cert or client_cert_file,
    client_key_file or client_key_env), read files of the repo only, and not
    share its host and port with another entry of the same host.""",
)
