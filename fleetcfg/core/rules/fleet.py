"""FC030-FC049: fleet rules, what no single file shows (the rendered configs
against each other, the inventory and the company's networks)."""

from __future__ import annotations

from fleetcfg.core.rules.catalogue import INFO, E, W, rule

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
