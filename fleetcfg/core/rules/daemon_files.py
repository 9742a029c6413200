"""FC001-FC029: a single daemon.json or config.json file (the models)."""

from __future__ import annotations

from fleetcfg.core.rules.catalogue import E, W, rule

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
