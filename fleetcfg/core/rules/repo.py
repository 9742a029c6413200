"""FC050-FC069: the repo itself (inventory.yaml, profiles). FC050-FC051 stop
inventory.yaml from loading: then no host is rendered. FC052-FC055 leave out
only the hosts they make ambiguous. Lint settings never apply to FC050-FC055."""

from __future__ import annotations

from fleetcfg.core.rules.catalogue import E, rule

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
