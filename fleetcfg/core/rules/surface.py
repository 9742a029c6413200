"""FC080-FC089: the proxy (daemon.json proxies or docker.service's drop-in) and
BuildKit's buildkitd.toml, from inventory.yaml's proxy: and buildkit:."""

from __future__ import annotations

from fleetcfg.core.rules.catalogue import E, W, rule

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
DROPIN_CREDENTIAL = rule(
    "FC089",
    "dropin-credential",
    W,
    "a hand-written drop-in line holds a credential every user of the host can read",
    """systemd shows every user of a host what a unit's drop-ins set
    (systemctl show docker -p Environment, ExecStart=, ...: its D-Bus
    properties), whatever the drop-in file's mode. fleetcfg puts the proxy
    password it renders from proxy.password_env in an environment file only
    root reads (EnvironmentFile=); a URL with a password or a secret written
    in proxy.dropin_lines stays in the drop-in. Put the proxy in proxy.http
    and proxy.https with password_env, or name a root-only file with
    EnvironmentFile= in dropin_lines.""",
)
