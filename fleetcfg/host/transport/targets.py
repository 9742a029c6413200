"""Connection settings for one host, and how they resolve against ssh_config.

:class:`SshTarget` is what the inventory says about a host (``None`` means "not
set"). :func:`resolve_ssh_target` turns it into concrete endpoints with the
precedence Ansible users expect: explicit inventory settings win over
``~/.ssh/config``, which wins over built-in defaults. ssh_config is consulted
through a lookup callable (the SSH transport plugs in paramiko's parser), so
this module stays pure and testable.
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from fleetcfg.core.errors import UsageError
from fleetcfg.core.numbers import is_digits

#: seconds for TCP connect + SSH banner + key exchange + authentication
DEFAULT_CONNECT_TIMEOUT = 10.0
#: seconds one remote command may run (``systemctl restart docker`` with many
#: containers can take a while; a hung command must not stall a run forever)
DEFAULT_COMMAND_TIMEOUT = 120.0
DEFAULT_SSH_PORT = 22
#: OpenSSH's default identity files, tried when none are configured
DEFAULT_IDENTITY_NAMES = ("id_ed25519", "id_ecdsa", "id_rsa")
DEFAULT_GLOBAL_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")
#: ProxyJump chains deeper than this are almost certainly a loop in ssh_config
MAX_JUMP_DEPTH = 8

#: ``lookup(name)`` returns ssh_config options for ``name`` with lowercase keys;
#: values are strings, except ``identityfile`` (a list of strings)
SshConfigLookup = Callable[[str], Mapping[str, object]]


def _no_ssh_config(name: str) -> Mapping[str, object]:
    return {}


@dataclass(frozen=True, slots=True)
class SshTarget:
    """What the inventory says about reaching one host over SSH.

    ``None`` means "not set here": the value then comes from ssh_config, then
    from the defaults. ``ssh_config_file=None`` means ``~/.ssh/config`` if it
    exists; ``"none"`` disables ssh_config (like ``ssh -F none``).
    """

    #: the inventory name; used in every message about this host
    host: str
    #: where to connect (OpenSSH's HostName); defaults to ``host``
    address: str | None = None
    port: int | None = None
    user: str | None = None
    identity_files: tuple[str, ...] | None = None
    known_hosts_file: str | None = None
    #: jump hosts, first hop first, each ``[user@]host[:port]``; ``()`` forces
    #: a direct connection even if ssh_config has a ProxyJump
    proxy_jump: tuple[str, ...] | None = None
    #: run commands and file operations through ``sudo -n`` (non-root users)
    become: bool = False
    connect_timeout: float | None = None
    command_timeout: float | None = None
    #: record unknown host keys (never changed ones), like
    #: ``StrictHostKeyChecking=accept-new``
    accept_new_host_keys: bool | None = None
    ssh_config_file: str | None = None
    #: offer ssh-agent keys; ``None``: when ``SSH_AUTH_SOCK`` is set
    use_agent: bool | None = None

    def __post_init__(self) -> None:
        if not self.host:
            raise UsageError("an SSH target needs a host name")
        if self.port is not None and not 0 < self.port < 65536:
            raise UsageError(f"port {self.port} is out of range (1-65535)", host=self.host)
        for name in ("connect_timeout", "command_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise UsageError(f"{name} must be positive, got {value}", host=self.host)


@dataclass(frozen=True, slots=True)
class LocalTarget:
    """``connection: local``: the control machine itself."""

    host: str = "localhost"
    become: bool = False
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT


@dataclass(frozen=True, slots=True)
class JumpSpec:
    """One ``ProxyJump`` hop as written: ``[user@]host[:port]`` or
    ``ssh://[user@]host[:port]``; IPv6 addresses in brackets."""

    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, spec: str, *, owner: str | None = None) -> JumpSpec:
        text = spec.strip()
        if text.startswith("ssh://"):
            text = text[len("ssh://") :].rstrip("/")
        user: str | None = None
        if "@" in text:
            user, _, text = text.rpartition("@")
            if not user:
                user = None
        port: int | None = None
        m = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", text)
        if m:
            text = m.group(1)
            port = int(m.group(2)) if m.group(2) else None
        elif text.count(":") == 1:
            text, _, port_text = text.partition(":")
            if not is_digits(port_text):
                raise UsageError(
                    f"bad proxy_jump hop {spec!r}: the port must be a number",
                    host=owner,
                    hint="write hops as [user@]host[:port]",
                )
            port = int(port_text)
        if not text or any(c.isspace() for c in text):
            raise UsageError(
                f"bad proxy_jump hop {spec!r}",
                host=owner,
                hint="write hops as [user@]host[:port]",
            )
        if port is not None and not 0 < port < 65536:
            raise UsageError(f"bad proxy_jump hop {spec!r}: port out of range", host=owner)
        return cls(host=text, user=user, port=port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        out = f"{self.user}@{host}" if self.user else host
        return f"{out}:{self.port}" if self.port else out


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One SSH server to authenticate to (the target or a jump host), fully
    resolved. Hashable: jump connections are shared by endpoint chain."""

    #: how messages name it: the inventory name or the hop as written
    label: str
    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...]
    #: ``True`` when no identity file was configured: try ``~/.ssh/id_*``
    use_default_keys: bool
    use_agent: bool
    #: user known_hosts files; the first one records accepted keys
    known_hosts_files: tuple[str, ...]
    global_known_hosts_files: tuple[str, ...]
    host_key_alias: str | None = None
    proxy_command: str | None = None
    hash_known_hosts: bool = False
    #: the first of ``known_hosts_files`` is OpenSSH's default
    #: ``~/.ssh/known_hosts`` (however it was named): the only known_hosts
    #: file fleetcfg creates to record a key
    known_hosts_default: bool = False

    @property
    def known_hosts_name(self) -> str:
        """The name known_hosts lists this server under (``[host]:port`` when
        the port is not 22), as OpenSSH does."""
        name = self.host_key_alias or self.hostname
        return name if self.port == DEFAULT_SSH_PORT else f"[{name}]:{self.port}"

    def describe(self) -> str:
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"{self.user}@{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ResolvedSshTarget:
    host: str
    endpoint: Endpoint
    #: jump hosts, first hop first
    jumps: tuple[Endpoint, ...]
    become: bool
    connect_timeout: float
    command_timeout: float
    accept_new_host_keys: bool


def default_ssh_config_path(home: Path | None = None) -> Path:
    return (home or Path.home()) / ".ssh" / "config"


def _opt_str(options: Mapping[str, object], key: str) -> str | None:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, list):
        return str(value[0]) if value else None
    text = str(value).strip()
    return text or None


def _opt_list(options: Mapping[str, object], key: str) -> list[str]:
    value = options.get(key)
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


#: ``$HOME`` and ``${HOME}`` at the start of a path
_HOME_VARIABLE = re.compile(r"^\$(?:HOME|\{HOME\})(?=/|$)")


def _expand(path: str, home: Path) -> str:
    """``path`` with ``~`` and ``$HOME`` expanded. No other environment
    variable is: a repo under review names these paths (inventory.yaml, an
    ssh_config of the repo), and messages print them, so ``$AWS_SECRET_KEY``
    in a path would print the secret of the machine plan runs on."""
    if path == "~" or path.startswith("~/"):
        return str(home / path[2:]) if path != "~" else str(home)
    return _HOME_VARIABLE.sub(lambda _: str(home), path)


def _port(value: str | None, where: str, owner: str) -> int | None:
    if value is None:
        return None
    try:
        port = int(value)
    except ValueError:
        raise UsageError(f"{where}: Port {value!r} is not a number", host=owner) from None
    if not 0 < port < 65536:
        raise UsageError(f"{where}: Port {port} is out of range", host=owner)
    return port


def _yes(value: str | None) -> bool:
    return value is not None and value.lower() in ("yes", "true", "on")


@dataclass(frozen=True, slots=True)
class _Context:
    lookup: SshConfigLookup
    home: Path
    local_user: str
    agent_available: bool
    explicit_known_hosts: str | None
    explicit_identity_files: tuple[str, ...] | None
    explicit_use_agent: bool | None
    owner: str


def _endpoint(
    ctx: _Context,
    label: str,
    lookup_name: str,
    *,
    options: Mapping[str, object],
    address: str | None,
    port: int | None,
    user: str | None,
    identity_files: tuple[str, ...] | None,
) -> Endpoint:
    where = f"ssh_config for {lookup_name!r}"
    hostname = address or _opt_str(options, "hostname") or lookup_name
    resolved_port = port or _port(_opt_str(options, "port"), where, ctx.owner) or DEFAULT_SSH_PORT
    resolved_user = user or _opt_str(options, "user") or ctx.local_user
    if identity_files is None:
        configured = _opt_list(options, "identityfile")
        identity_files = tuple(configured) if configured else None
    files = tuple(_expand(p, ctx.home) for p in identity_files or ())
    identities_only = _yes(_opt_str(options, "identitiesonly"))
    agent_setting = _opt_str(options, "identityagent")
    if ctx.explicit_use_agent is not None:
        use_agent = ctx.explicit_use_agent
    else:
        use_agent = (
            ctx.agent_available and not identities_only and (agent_setting or "").lower() != "none"
        )
    known: tuple[str, ...]
    if ctx.explicit_known_hosts is not None:
        known = (_expand(ctx.explicit_known_hosts, ctx.home),)
    else:
        configured_known = (_opt_str(options, "userknownhostsfile") or "").split()
        known = tuple(_expand(p, ctx.home) for p in configured_known) or (
            str(ctx.home / ".ssh" / "known_hosts"),
            str(ctx.home / ".ssh" / "known_hosts2"),
        )
    global_known = (
        tuple(
            _expand(p, ctx.home) for p in (_opt_str(options, "globalknownhostsfile") or "").split()
        )
        or DEFAULT_GLOBAL_KNOWN_HOSTS
    )
    proxy_command = _opt_str(options, "proxycommand")
    if proxy_command is not None and proxy_command.lower() == "none":
        proxy_command = None
    return Endpoint(
        label=label,
        hostname=hostname,
        port=resolved_port,
        user=resolved_user,
        identity_files=files,
        use_default_keys=not files,
        use_agent=use_agent,
        known_hosts_files=tuple(p for p in known if p.lower() != "none") or ("/dev/null",),
        global_known_hosts_files=tuple(p for p in global_known if p.lower() != "none"),
        host_key_alias=_opt_str(options, "hostkeyalias"),
        proxy_command=proxy_command,
        hash_known_hosts=_yes(_opt_str(options, "hashknownhosts")),
        known_hosts_default=bool(known) and known[0] == str(ctx.home / ".ssh" / "known_hosts"),
    )


def _proxy_jump_specs(options: Mapping[str, object]) -> tuple[str, ...]:
    value = _opt_str(options, "proxyjump")
    if value is None or value.lower() == "none":
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _resolve_jumps(
    ctx: _Context, specs: tuple[str, ...], depth: int, seen: frozenset[str]
) -> tuple[Endpoint, ...]:
    """Resolve hops first-to-last. Like OpenSSH, the first hop's own
    ProxyJump from ssh_config (if any) is prepended, recursively."""
    if not specs:
        return ()
    if depth > MAX_JUMP_DEPTH:
        raise UsageError(
            f"ProxyJump chain is deeper than {MAX_JUMP_DEPTH} hops",
            host=ctx.owner,
            hint="check ssh_config for a ProxyJump loop",
        )
    hops: list[Endpoint] = []
    prefix: tuple[Endpoint, ...] = ()
    for index, spec_text in enumerate(specs):
        spec = JumpSpec.parse(spec_text, owner=ctx.owner)
        options = ctx.lookup(spec.host)
        endpoint = _endpoint(
            ctx,
            f"jump host {spec_text}",
            spec.host,
            options=options,
            address=None,
            port=spec.port,
            user=spec.user,
            identity_files=None
            if _opt_list(options, "identityfile")
            else (ctx.explicit_identity_files),
        )
        if index == 0:
            own = _proxy_jump_specs(options)
            key = f"{endpoint.hostname}:{endpoint.port}"
            if own:
                if key in seen:
                    raise UsageError(
                        f"ProxyJump loop through {spec_text!r}",
                        host=ctx.owner,
                        hint="check ProxyJump in ssh_config",
                    )
                prefix = _resolve_jumps(ctx, own, depth + 1, seen | {key})
        hops.append(endpoint)
    return prefix + tuple(hops)


def resolve_ssh_target(
    target: SshTarget,
    lookup: SshConfigLookup | None = None,
    *,
    home: Path | None = None,
    local_user: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ResolvedSshTarget:
    """Apply ssh_config and defaults to ``target``.

    ssh_config is looked up by the explicit address when there is one, else by
    the inventory name (what ``ssh ADDRESS`` would do). Explicit settings win.
    """
    env = os.environ if environ is None else environ
    lookup = lookup or _no_ssh_config
    ctx = _Context(
        lookup=lookup,
        home=home or Path(env.get("HOME") or Path.home()),
        local_user=local_user or getpass.getuser(),
        agent_available=bool(env.get("SSH_AUTH_SOCK")),
        explicit_known_hosts=target.known_hosts_file,
        explicit_identity_files=target.identity_files or None,
        explicit_use_agent=target.use_agent,
        owner=target.host,
    )
    lookup_name = target.address or target.host
    options = lookup(lookup_name)
    endpoint = _endpoint(
        ctx,
        target.host,
        lookup_name,
        options=options,
        address=target.address,
        port=target.port,
        user=target.user,
        identity_files=target.identity_files or None,
    )
    specs = target.proxy_jump if target.proxy_jump is not None else _proxy_jump_specs(options)
    jumps = _resolve_jumps(ctx, specs, 1, frozenset({f"{endpoint.hostname}:{endpoint.port}"}))
    if jumps and endpoint.proxy_command is not None:
        # ProxyJump wins over ProxyCommand: the inventory's proxy_jump (or a
        # ProxyJump in ssh_config) is the more specific setting
        endpoint = replace(endpoint, proxy_command=None)
    connect_timeout = target.connect_timeout
    if connect_timeout is None:
        configured = _opt_str(options, "connecttimeout")
        connect_timeout = (
            float(configured) if configured and is_digits(configured) else DEFAULT_CONNECT_TIMEOUT
        )
    accept_new = target.accept_new_host_keys
    if accept_new is None:
        # "no" would disable checking altogether in OpenSSH; fleetcfg never
        # accepts a changed key, so it is treated like accept-new
        strict = (_opt_str(options, "stricthostkeychecking") or "").lower()
        accept_new = strict in ("accept-new", "no", "off")
    return ResolvedSshTarget(
        host=target.host,
        endpoint=endpoint,
        jumps=jumps,
        become=target.become,
        connect_timeout=connect_timeout,
        command_timeout=target.command_timeout or DEFAULT_COMMAND_TIMEOUT,
        accept_new_host_keys=accept_new,
    )
