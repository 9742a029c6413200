"""The rule catalogue: stable ids, default severities and explanations.

Ids are stable forever (a rule that is retired keeps its id reserved):

* FC001-FC029: a single daemon.json / config.json file (the models)
* FC030-FC049: fleet rules that no single file shows (lint of the repo)
* FC050-FC069: the repo itself (inventory.yaml, profiles)
* FC070-FC079: registries: certs.d files and what daemon.json says about them
* FC080-FC089: the proxy drop-in and buildkitd.toml (inventory proxy:, buildkit:)

Why more than 500 lines: it is a catalogue, mostly data (each rule's summary
and the explanation ``--explain`` prints); the code is a few lookups.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from fleetcfg.core.findings import Severity


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    name: str
    severity: Severity
    summary: str
    explanation: str


_RULES: list[Rule] = []


def rule(id: str, name: str, severity: Severity, summary: str, explanation: str) -> Rule:
    r = Rule(id, name, severity, summary, " ".join(explanation.split()))
    _RULES.append(r)
    return r


E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO

JSON_SYNTAX = rule(
    "FC001",
    "json-syntax",
    E,
    "the file is not a JSON object dockerd can decode",
    """dockerd decodes daemon.json with Go's encoding/json: no comments, no trailing
    commas, no single quotes, valid UTF-8 (a BOM is accepted), and the top level must
    be an object. An empty file is valid from Engine 23.0. A file dockerd cannot
    decode stops it from starting.""",
)
UNKNOWN_KEY = rule(
    "FC002",
    "unknown-key",
    E,
    "a key dockerd does not know",
    """dockerd refuses to start when daemon.json has a key that matches no
    configuration option ("the following directives don't match any configuration
    option"). Top-level keys are case-sensitive. Fix the spelling (the message
    suggests the nearest key) or remove the key.""",
)
WRONG_TYPE = rule(
    "FC003",
    "wrong-type",
    E,
    "a value of the wrong JSON type",
    """dockerd decodes values strictly: "true" is not a boolean, 3 is not a string,
    log-opts values must be strings, default-shm-size is a string, lists must be
    arrays. A type mismatch stops dockerd from starting.""",
)
INVALID_VALUE = rule(
    "FC004",
    "invalid-value",
    E,
    "a value dockerd rejects when it loads the file",
    """Enumerations (log-level has no "warning"), ranges (mtu >= 0, ports <= 65535),
    sizes, labels and listen addresses are checked when dockerd loads daemon.json
    (dockerd --validate catches these). The daemon does not start.""",
)
IGNORED_KEY = rule(
    "FC005",
    "ignored-key",
    W,
    "a key dockerd accepts but ignores",
    """Some keys pass dockerd's check but are never applied: the flag spelling of a
    list key (registry-mirror instead of registry-mirrors), containerd-plugins-namespace,
    http-proxy at the top level instead of inside "proxies", or an unknown key whose
    value is an object. The setting has no effect; use the key dockerd reads.""",
)
ENGINE_VERSION = rule(
    "FC006",
    "engine-version",
    E,
    "a key the target Engine version does not know",
    """Keys appear and disappear between Engine releases (proxies from 23.0,
    log-format from 25.0, host-gateway-ips from 28.0; graph and cluster-store are
    gone from 24.0). An Engine that does not know a key refuses to start. Upgrade
    the Engine or drop the key for these hosts.""",
)
DEPRECATED = rule(
    "FC007",
    "deprecated",
    W,
    "a deprecated setting that still works",
    """The setting works on the target Engine but is deprecated and removed or
    ignored in a later release. Move to its replacement before upgrading.""",
)
CONFLICT = rule(
    "FC008",
    "conflicting-options",
    E,
    "options that dockerd refuses together",
    """Some options exclude each other: bridge with bip or bip6, icc=false with
    iptables=false, host-gateway-ip with host-gateway-ips. dockerd --validate lets
    some of these through, but the daemon refuses to start.""",
)
RUNTIMES = rule(
    "FC009",
    "runtimes",
    E,
    "an OCI runtime definition dockerd refuses",
    """Each runtime needs exactly one of path or runtimeType; runtimeArgs go only
    with path and options only with runtimeType; the name runc is reserved; and
    default-runtime must name a defined runtime or a containerd shim. dockerd
    checks these only when it starts (or on reload), not with --validate.""",
)
ADDRESS_POOLS = rule(
    "FC010",
    "address-pools",
    E,
    "a default address pool dockerd cannot use",
    """Each default-address-pools entry needs a base CIDR in canonical form and a
    size (the prefix length of each network carved from it) that is at least the
    base's prefix length and not 0. dockerd --validate accepts a bad size; the
    daemon then fails to start ("could not construct local address space").""",
)
ULIMITS = rule(
    "FC011",
    "ulimits",
    E,
    "a default ulimit that breaks every container",
    """default-ulimits entries need a known Name (nofile, nproc, core, ...) and
    Soft <= Hard. dockerd does not check them when it loads the file; every
    container create then fails.""",
)
LOGGING = rule(
    "FC012",
    "logging",
    E,
    "a log driver or log option that breaks containers",
    """log-driver must be a built-in driver (json-file, local, journald, syslog,
    gelf, fluentd, awslogs, splunk, gcplogs, none) or a logging plugin; log-opts
    must be options that driver knows, with valid values (max-size a positive
    size, max-file >= 1, compress only with rotation). An unknown driver or option
    stops dockerd at start when log-opts is set, and otherwise breaks every
    container create.""",
)
NO_EFFECT = rule(
    "FC013",
    "no-effect",
    W,
    "a setting that does nothing",
    """The setting is accepted but has no effect in this combination, e.g.
    max-file without max-size (json-file never rotates), or log-opts with the none
    driver. Either complete the setting or remove it.""",
)
REGISTRY = rule(
    "FC014",
    "registry",
    E,
    "an invalid registry mirror or insecure registry",
    """registry-mirrors must be http:// or https:// URLs without credentials, query
    or fragment; a path is accepted (dockerd then requests <path>/v2/ on the
    mirror: an info). Mirrors only ever apply to Docker Hub. insecure-registries
    entries are host[:port] or a CIDR, without a scheme and without a leading or
    trailing hyphen. dockerd refuses to start with an invalid entry.""",
)
ADDRESS = rule(
    "FC015",
    "address",
    E,
    "an invalid IP address, CIDR or listen address",
    """IP addresses (dns, ip, default-gateway), CIDRs (bip, fixed-cidr,
    fixed-cidr-v6), listen addresses (hosts, metrics-addr) and ports must parse the
    way dockerd parses them, or the daemon does not start.""",
)
STORAGE = rule(
    "FC016",
    "storage",
    E,
    "an unknown or removed storage driver",
    """storage-driver must be a driver the target Engine has: overlay2,
    fuse-overlayfs, btrfs, zfs or vfs (aufs and overlay were removed in 24.0,
    devicemapper in 25.0). With an unknown driver dockerd does not start.""",
)
DUPLICATE_KEY = rule(
    "FC017",
    "duplicate-key",
    W,
    "a key written twice",
    """JSON allows a key twice and dockerd silently uses the last value. The first
    one is dead text that misleads reviewers; remove it.""",
)
CLIENT = rule(
    "FC018",
    "client-config",
    E,
    "an invalid docker CLI config.json setting",
    """The docker CLI reads ~/.docker/config.json leniently, but some values break
    commands: aliases other than builder, malformed proxies or credential helper
    names, auth entries that are not base64 of user:password.""",
)
CLIENT_UNKNOWN_KEY = rule(
    "FC019",
    "client-unknown-key",
    W,
    "a config.json key the docker CLI ignores",
    """The docker CLI ignores keys it does not know (it keeps them when it rewrites
    the file). A misspelt key silently does nothing.""",
)
PROXY = rule(
    "FC020",
    "proxy",
    E,
    "an invalid proxy setting",
    """Proxy URLs must parse as URLs with a scheme and host. dockerd passes them to
    Go's proxy handling; a malformed value breaks every pull.""",
)
TCP_WITHOUT_TLS = rule(
    "FC021",
    "tcp-without-tls",
    W,
    '"hosts" opens a TCP socket without TLS',
    """A tcp:// address in "hosts" (or host:port without a scheme, which means tcp)
    without "tlsverify" and client certificates serves the Docker API, which is
    root on the host, to anyone who can reach the port (loopback addresses are
    left alone: only local users reach them). dockerd 26-28 still starts:
    it warns, waits about 15 seconds, then serves. Listen on unix:// or fd://
    only (reach remote engines with ssh://), or set "tlsverify": true with
    "tlscacert", "tlscert" and "tlskey".""",
)


# ---------------------------------------------------------------------------
# FC030-FC049: fleet rules (what no single file shows: the rendered configs
# against each other, the inventory and the company's networks)

RESERVED_OVERLAP = rule(
    "FC030",
    "reserved-overlap",
    E,
    "a Docker address range overlaps networks.reserved",
    """default-address-pools, bip, fixed-cidr (and their IPv6 forms) must stay clear
    of the ranges listed under networks.reserved in inventory.yaml (offices, VPN,
    data centres, cloud VPCs). When a Docker network is created in such a range,
    the host routes those addresses into a local bridge: the host and its
    containers can no longer reach the real machines there, and an SSH session
    from the VPN may drop. Without default-address-pools dockerd carves networks
    from its built-in pools (172.17.0.0 to 172.31.255.255 and 192.168.0.0/16),
    which collide with many corporate ranges: set default-address-pools
    explicitly.""",
)
RANGE_OVERLAP = rule(
    "FC031",
    "range-overlap",
    W,
    "Docker address ranges of one host overlap each other",
    """Two default-address-pools entries, or a pool and the default bridge (bip,
    fixed-cidr), cover the same addresses. dockerd skips subnets that are already
    in use, so the overlap is wasted space at best, and it hides which range a
    network really came from when someone reviews routes or plans capacity. Give
    each pool and the bridge their own range.""",
)
COVERS_INVENTORY = rule(
    "FC032",
    "covers-inventory-hosts",
    E,
    "a Docker address range contains the address of inventory hosts",
    """A default-address-pools entry, bip or fixed-cidr contains the address of
    hosts in inventory.yaml. Once dockerd creates a network there, traffic to
    those hosts goes into a local bridge: containers (and the host) cannot reach
    them, and a pool covering the host's own subnet can cut the host off the
    network. Move the range out of the fleet's addresses.""",
)
NO_PROXY = rule(
    "FC033",
    "no-proxy",
    W,
    "the proxy would carry traffic that must go direct",
    """When daemon.json sets proxies, dockerd sends every registry request through
    them except what no-proxy matches (Go's rules: "corp.example.com" matches the
    domain and its subdomains, ".corp.example.com" only subdomains, a CIDR only
    IP addresses written as such, "host:port" only that port). Registry mirrors,
    insecure registries and the domains listed in networks.internal_domains must
    be matched, or pulls go to a proxy that usually cannot reach internal hosts:
    dockerd then silently skips the mirror and pulls from Docker Hub, and pulls
    from internal registries fail. For ~/.docker/config.json, proxies are handed
    to containers, whose no-proxy must cover the internal domains.""",
)
HTTP_MIRROR = rule(
    "FC034",
    "http-mirror-not-insecure",
    W,
    "an http:// registry mirror that is not in insecure-registries",
    """The classic pull path talks plain HTTP to an http:// mirror, but BuildKit
    builds and the containerd image store use HTTPS for every registry not listed
    in insecure-registries ("server gave HTTP response to HTTPS client"), so
    they bypass the mirror or fail. List the mirror's host:port in
    insecure-registries too, or serve the mirror over HTTPS.""",
)
MIRROR_SCOPE = rule(
    "FC035",
    "mirror-scope",
    INFO,
    "registry mirrors only apply to Docker Hub",
    """dockerd uses registry-mirrors for Docker Hub images only (docker.io/...).
    A mirror that caches another registry (ghcr.io, quay.io, registry.k8s.io,
    ...) is never used for that registry's images: pull them by the cache's own
    name instead (cache.corp.example.com/quay/...), or configure the cache as
    the registry itself.""",
)
LOG_ROTATION = rule(
    "FC036",
    "log-rotation",
    W,
    "container logs grow without limit",
    """The json-file log driver (dockerd's default) keeps each container's log in
    one file forever unless log-opts sets max-size: one chatty container fills
    /var/lib/docker and stops every container on the host. Set max-size and
    max-file (e.g. 50m and 5, with compress), or use the local driver, which
    rotates by default (20 MB x 5).""",
)
LIVE_RESTORE = rule(
    "FC037",
    "live-restore",
    W,
    "live-restore is off: restarting dockerd stops every container",
    """Without "live-restore": true, every dockerd restart (an upgrade, or a
    daemon.json change that cannot be reloaded) stops all containers on the
    host. With it, containers keep running while the daemon restarts. It is
    applied on reload, so turning it on needs no restart. (Swarm managers cannot
    use it: disable this rule for them.)""",
)
METRICS_EXPOSED = rule(
    "FC038",
    "metrics-exposed",
    W,
    "metrics-addr listens on every interface",
    """metrics-addr on 0.0.0.0, [::] or an empty host serves the engine's
    Prometheus metrics, without authentication, on every interface of the host,
    public ones included. Bind it to the host's internal address or to
    127.0.0.1 behind a scraper.""",
)
HOSTS_SYSTEMD = rule(
    "FC039",
    "hosts-with-systemd",
    E,
    '"hosts" in daemon.json conflicts with systemd\'s -H fd://',
    """The docker.service unit of the Docker and distribution packages starts
    dockerd with -H fd://. dockerd refuses to start when an option is given both
    as a flag and in daemon.json ("the following directives are specified both
    as a flag and in the configuration file: hosts"). Remove "hosts" from
    daemon.json, or remove -H from the unit with a systemd drop-in on every host
    and then disable this rule.""",
)
CREDENTIALS = rule(
    "FC040",
    "credentials-in-repo",
    E,
    "credentials written in clear in the repo",
    """A proxy password (http://user:password@proxy), a registry auth or token, or
    an inventory variable named like a password holds a literal value: anyone
    who can read the repo has it, and it stays in the git history. Read secrets
    when rendering instead: env("PROXY_PASSWORD") or file("secrets/proxy") in
    the profile (fleetcfg masks them in every output), and rotate the exposed
    credential.""",
)
METRICS_OTHER_HOST = rule(
    "FC041",
    "metrics-addr-other-host",
    E,
    "metrics-addr is the address of another inventory host",
    """metrics-addr binds to an IP address that inventory.yaml gives to a
    different host, typically a hard-coded address in a shared profile. dockerd
    cannot listen on an address the host does not have and refuses to start
    ("error starting metrics server ... cannot assign requested address"). Use
    {{ address }} in the profile, or 127.0.0.1.""",
)

# ---------------------------------------------------------------------------
# FC050-FC069: the repo itself (inventory.yaml, profiles). FC050-FC051 stop
# inventory.yaml from loading: then no host is rendered. FC052-FC055 leave out
# only the hosts they make ambiguous. Lint settings never apply to FC050-FC055.

YAML_SYNTAX = rule(
    "FC050",
    "yaml-syntax",
    E,
    "inventory.yaml is not valid YAML",
    """inventory.yaml must be one YAML 1.2 document of plain values: indentation
    with spaces, no duplicate keys (YAML keeps only one, silently), no custom
    tags, UTF-8. Because lint reads repos under review, the file is also
    bounded: nesting at most 64 levels deep, at most 10,000 alias uses (*name),
    and aliases may add at most 200,000 values when expanded (an "alias bomb"
    would otherwise take gigabytes). Until it parses, nothing else can be
    checked.""",
)
INVENTORY_SCHEMA = rule(
    "FC051",
    "inventory-schema",
    E,
    "inventory.yaml does not match the inventory format",
    """A key is unknown or misspelt, or a value has the wrong type or form
    (engine_version unquoted, a CIDR with host bits, a variable name with a
    hyphen). `fleetcfg schema --kind inventory` prints the JSON Schema for
    editors.""",
)
DUPLICATE_HOST = rule(
    "FC052",
    "duplicate-host",
    E,
    "a host is defined twice",
    """A host is defined (given an address or settings) in one place; other
    groups list it with an empty entry (`web-01: {}`) to make it a member. Two
    definitions would leave it unclear which settings win.""",
)
DUPLICATE_ADDRESS = rule(
    "FC053",
    "duplicate-address",
    E,
    "two hosts point at the same machine",
    """Two inventory hosts have the same address and SSH port (or are both
    connection: local). fleetcfg would manage the same daemon.json twice, with
    possibly different settings, and the last writer wins. Keep one entry and
    make it a member of every group it belongs to.""",
)
INVENTORY_STRUCTURE = rule(
    "FC054",
    "inventory-structure",
    E,
    "the groups of inventory.yaml do not form a valid hierarchy",
    """children must name defined groups, without cycles and without listing a
    group twice; "all" is reserved; a name cannot be both a group and a host.""",
)
GROUP_CONFLICT = rule(
    "FC055",
    "group-conflict",
    E,
    "two groups of a host set a value differently",
    """A host in two groups that are not parent and child of each other gets
    different values for the same setting or variable, and nothing says which
    wins. Give one group a higher priority:, or set the value on the host.""",
)
TEMPLATE = rule(
    "FC056",
    "template-error",
    E,
    "a profile does not render for a host",
    """A Jinja syntax error, an undefined variable (profiles use StrictUndefined),
    a failed expression, or a rendered text that is not valid YAML/JSON. The
    finding names the template line and the hosts; plan and apply stop for
    them.""",
)
PROFILE = rule(
    "FC057",
    "profile",
    E,
    "a profile cannot be found or extends itself",
    """daemon_profile, client_profile or x-fleetcfg.extends names a profile that
    does not exist in profiles/ (or exists twice, e.g. base.yaml.j2 and
    base.json.j2), or the extends chain loops.""",
)
SECRET_LOOKUP = rule(
    "FC058",
    "secret-lookup",
    E,
    "an env() or file() lookup is malformed or not allowed",
    """env() needs an environment variable name that inventory.yaml declares
    (secrets: {env: [PROXY_PASSWORD]}); file() a path relative to the repo that
    stays inside it once symlinks are followed. Anything else would let a
    profile under review read the variables or files of the machine that runs
    fleetcfg (a CI runner, the control machine), so render, plan and apply
    refuse it too. Lint never reads a secret: every env() and file() renders as
    a stand-in value, so CI needs no secrets and the rest of the config is
    still checked.""",
)

SSH_CONFIG_COMMAND = rule(
    "FC059",
    "ssh-config-command",
    E,
    "an ssh_config file in the repo runs commands",
    """ssh_config_file names an ssh_config file inside the repo that has a
    ProxyCommand, LocalCommand, KnownHostsCommand or Match exec: ssh (and
    paramiko, for Match exec) runs those commands on the machine that runs
    fleetcfg, which holds the fleet's SSH keys. A pull request must not be able
    to run code there, so plan, apply and rollback refuse such a file unless
    the operator passes --trust-repo-ssh-config. Lint only reads the file, never
    evaluates it. Put such settings in the operator's own ~/.ssh/config, or use
    ssh.proxy_jump, which runs nothing locally.""",
)

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


# ---------------------------------------------------------------------------
# FC080-FC089: the proxy (daemon.json proxies or docker.service's drop-in) and
# BuildKit's buildkitd.toml, from inventory.yaml's proxy: and buildkit:.

DROPIN_PERCENT = rule(
    "FC080",
    "dropin-percent",
    E,
    "a drop-in line holds a % that systemd reads as a specifier",
    """systemd expands specifiers in unit files (%h is the home folder, %n the
    unit name); a literal % is written %%. A URL-encoded proxy password
    (p%40ss) holds %4, which is no specifier: systemd ignores the whole
    Environment= line and dockerd runs without its proxy; a known specifier is
    replaced silently. fleetcfg escapes the values it renders from proxy:
    itself; this finding is about proxy.dropin_lines written by hand. Write %%
    for each literal %.""",
)
DROPIN_QUOTING = rule(
    "FC081",
    "dropin-quoting",
    E,
    "a drop-in Environment= line systemd cannot split into NAME=value words",
    """Environment= takes NAME=value words separated by white space, each
    optionally quoted ("NAME=a b"). A quote that is not closed, or a value with
    a space that is not quoted (the rest is a word that is no assignment),
    makes systemd ignore the line with only a log message. Quote each
    assignment whole: Environment="NO_PROXY=localhost,.corp.example.com".""",
)
DROPIN_EXEC_START = rule(
    "FC082",
    "dropin-exec-start",
    E,
    "a drop-in ExecStart= passes a flag that daemon.json also sets",
    """A drop-in that sets ExecStart= replaces docker.service's command line.
    dockerd refuses a setting given both as a flag and in daemon.json (the
    classic: -H fd:// in ExecStart= and "hosts" in daemon.json): "the
    following directives are specified both as a flag and in the configuration
    file", and it does not start. Keep the setting in one place: drop the flag
    from ExecStart= or the key from the profile.""",
)
PROXY_PROFILE_CONFLICT = rule(
    "FC083",
    "proxy-profile-conflict",
    E,
    "proxy: and the profile's own proxies disagree",
    """When inventory.yaml's proxy: goes to daemon.json (where: daemon, both,
    or auto on Engine 23.0 and later), fleetcfg writes daemon.json's proxies
    from it. A profile that sets proxies itself must then set the same values
    (or leave proxies out): two sources for one setting would leave it unclear
    which one the host gets, so the host is refused. Keep the proxy in
    proxy: (it also feeds the drop-in for older engines).""",
)
PROXY_PLACEMENT = rule(
    "FC084",
    "proxy-placement",
    E,
    "proxy: goes to daemon.json on an Engine that has no proxies key",
    """daemon.json's proxies exists from Engine 23.0; older dockerd refuses the
    key and does not start. Hosts on older engines take the proxy from
    docker.service's drop-in: use where: auto (the default: daemon.json from
    23.0, the drop-in below) or where: dropin. The check uses the engine the
    host reports in plan, engine_version in lint.""",
)
BUILDKIT_TOML = rule(
    "FC085",
    "buildkit-toml",
    E,
    "buildkit.settings is not a buildkitd.toml BuildKit knows",
    """buildkit.settings is merged over the tables fleetcfg renders
    ([registry."docker.io"] mirrors from daemon.json's registry-mirrors, http
    and insecure for insecure registries, ca for registry CAs) and written as
    /etc/buildkit/buildkitd.toml. It must be TOML data (no null values) with
    the keys buildkitd has (debug, root, [grpc], [worker.oci],
    [worker.containerd], [registry."host"] mirrors/http/insecure/ca/keypair,
    [dns], [history], [frontend."dockerfile.v0"], ...): buildkitd ignores keys
    it does not know, so a misspelt key is a setting silently lost.""",
)
BUILDKIT_MIRROR_URL = rule(
    "FC086",
    "buildkit-mirror-url",
    E,
    "a BuildKit registry mirror written as a URL",
    """buildkitd.toml's [registry."docker.io"] mirrors take host names with an
    optional port (mirror.corp.example.com:5000), not the URLs daemon.json's
    registry-mirrors uses; BuildKit cannot resolve "https://..." as a host and
    pulls from Docker Hub instead. Write the host name; for a plain HTTP
    mirror, set http = true in the mirror's own [registry."host:port"]
    table.""",
)
PROXY_PASSWORD_LITERAL = rule(
    "FC087",
    "proxy-password-literal",
    W,
    "a proxy URL in inventory.yaml holds a password",
    """A password written in proxy.http or proxy.https is in the repo, in
    every clone and in CI logs of the review. Put the user in the URL
    (http://user@proxy:3128) and the password in an environment variable
    named by proxy.password_env (declared in secrets.env); fleetcfg inserts it
    (URL-encoded) when it renders, masks it in every output and writes the
    files that hold it with mode 0600.""",
)
BUILDKIT_BUILDER = rule(
    "FC088",
    "buildkit-builder",
    E,
    "buildkit: names both a builder and a buildkitd service",
    """buildkitd.toml is applied either by recreating a docker buildx builder
    (builder: NAME, driver docker-container, with --buildkitd-config) or by
    restarting a standalone buildkitd unit (service: NAME), not both. Set one
    of them; with neither, the builder is called fleetcfg.""",
)


def all_rules() -> list[Rule]:
    return sorted(_RULES, key=lambda r: r.id)


def get_rule(rule: str) -> Rule:
    """The rule with id ``rule`` (``FC037``, any case) or name ``rule``
    (``live-restore``); :class:`KeyError` otherwise."""
    wanted = rule.strip()
    for r in _RULES:
        if r.id == wanted.upper() or r.name == wanted.lower():
            return r
    raise KeyError(rule)


def suggest_rule(rule: str) -> str | None:
    """ "did you mean ..." for a rule name or id that is not one."""
    names = difflib.get_close_matches(rule.strip().lower(), [r.name for r in _RULES], n=3)
    return f"did you mean {', '.join(names)}?" if names else None
