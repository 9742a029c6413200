"""dockerd's command line: what fleetcfg knows about its flags, in one place.

* the flag names (:data:`BOOL_FLAGS`, :data:`SHORT_FLAGS`, the flag names
  that have no daemon.json field (:data:`IGNORED_FLAGS`) and the flags dockerd
  sets on its own command line (:data:`SELF_CONFLICTING`));
* the one table of flag <-> daemon.json key (:data:`FLAG_KEYS`): list and map
  options are looked up by their option's plural name, by dockerd's key check
  and by its flag/file conflict check alike (:func:`conflicting_keys`);
* the one ExecStart parser (:func:`exec_start_argv`, from ``systemctl show``)
  and the one flag parser (:func:`parse_flags`, pflag syntax);
* the ``dockerd --validate`` command that checks a candidate daemon.json
  together with the unit's flags.

dockerd refuses a setting given both as a flag and in daemon.json (the classic
``-H fd://`` in ExecStart and ``"hosts"`` in the file), so a file is only
proven valid when it is validated with the flags the unit starts dockerd
with. Flags that cannot be repeated are dropped: ``--config-file`` (the
candidate file takes its place), unexpanded ``$VARIABLES`` (from an
EnvironmentFile that only systemd expands) and the binary itself.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fleetcfg.core.versions import EngineVersion
from fleetcfg.dockerd.base import v

# --------------------------------------------------------------------------
# flag names

#: dockerd's boolean flags: they take no value on the command line, and dockerd
#: applies them even from inside a flattened object
BOOL_FLAGS = frozenset(
    {
        "debug",
        "icc",
        "iptables",
        "ip6tables",
        "ip-forward",
        "ip-forward-no-drop",
        "ip-masq",
        "ipv6",
        "live-restore",
        "userland-proxy",
        "selinux-enabled",
        "experimental",
        "init",
        "no-new-privileges",
        "raw-logs",
        "rootless",
        "cri-containerd",
        "tls",
        "tlsverify",
        "allow-direct-routing",
        "restart",
        "validate",
        "version",
        "help",
    }
)

#: single-letter dockerd flags -> long names
SHORT_FLAGS = {
    "H": "host",
    "D": "debug",
    "l": "log-level",
    "G": "group",
    "b": "bridge",
    "s": "storage-driver",
    "p": "pidfile",
    "g": "graph",
    "e": "exec-driver",
}

_ALWAYS: tuple[EngineVersion | None, EngineVersion | None] = (None, None)


#: Long flag names (and option names) that pass dockerd's key check without
#: being a daemon.json field: (first release that has it, first that does not).
#: The flag spellings of list/map options are the common trap.
IGNORED_FLAGS: dict[str, tuple[EngineVersion | None, EngineVersion | None]] = {
    "add-runtime": _ALWAYS,
    "authorization-plugin": _ALWAYS,
    "cdi-spec-dir": (v("25.0"), None),
    "containerd-plugins-namespace": _ALWAYS,
    "default-address-pool": _ALWAYS,
    "default-network-opt": (v("24.0"), None),
    "default-ulimit": _ALWAYS,
    "deprecated-key-path": _ALWAYS,
    "dns-opt": _ALWAYS,
    "exec-opt": _ALWAYS,
    "feature": (v("27.3"), None),
    "help": _ALWAYS,
    "host": _ALWAYS,
    "http-proxy": (v("23.0"), None),
    "https-proxy": (v("23.0"), None),
    "insecure-registry": _ALWAYS,
    "label": _ALWAYS,
    "log-opt": _ALWAYS,
    "no-proxy": (v("23.0"), None),
    "node-generic-resource": _ALWAYS,
    "registry-mirror": _ALWAYS,
    "restart": _ALWAYS,
    "storage-opt": _ALWAYS,
    "version": _ALWAYS,
    "cluster-store-opt": (None, v("24.0")),
}

#: flags that conflict with themselves: dockerd passes them on its own
#: command line, so a file value is a fatal "specified both as a flag and in
#: the configuration file" (always so for ``dockerd --validate --config-file``)
SELF_CONFLICTING = {"config-file": None, "validate": v("23.0")}

# --------------------------------------------------------------------------
# flag <-> daemon.json key

#: dockerd flags whose daemon.json key has another name: list and map options
#: are known by their option's plural name (``--label`` fills ``labels``);
#: proxy flags fill the keys inside ``proxies``. Any other flag's key is its
#: own name.
FLAG_KEYS: Mapping[str, str] = {
    "add-runtime": "runtimes",
    "authorization-plugin": "authorization-plugins",
    "cdi-spec-dir": "cdi-spec-dirs",
    "cluster-store-opt": "cluster-store-opts",
    "default-address-pool": "default-address-pools",
    "default-network-opt": "default-network-opts",
    "default-ulimit": "default-ulimits",
    "dns-opt": "dns-opts",
    "exec-opt": "exec-opts",
    "feature": "features",
    "host": "hosts",
    "http-proxy": "proxies.http-proxy",
    "https-proxy": "proxies.https-proxy",
    "no-proxy": "proxies.no-proxy",
    "insecure-registry": "insecure-registries",
    "label": "labels",
    "log-opt": "log-opts",
    "node-generic-resource": "node-generic-resources",
    "registry-mirror": "registry-mirrors",
    "storage-opt": "storage-opts",
}
#: keys a flag fills besides its own (``--host-gateway-ip`` also fills the list)
_ALSO_FILLS: Mapping[str, tuple[str, ...]] = {"host-gateway-ip": ("host-gateway-ips",)}
#: keys dockerd merges with their flag instead of refusing both (its skipDuplicates)
MERGED_KEYS = frozenset({"runtimes"})
#: flags that are no setting: the file itself, and commands
NOT_SETTINGS = frozenset({"config-file", "validate", "version", "help"})


def flag_key(flag: str) -> str | None:
    """The daemon.json key a flag spelling stands for, when it differs from
    the flag's name (None: the same name)."""
    return FLAG_KEYS.get(flag)


def conflicting_keys(flag: str) -> tuple[str, ...]:
    """The daemon.json keys (``proxies.http-proxy`` for keys inside
    ``proxies``) dockerd refuses to find in the file when ``flag`` is on its
    command line."""
    if flag in NOT_SETTINGS:
        return ()
    keys = (FLAG_KEYS.get(flag, flag), *_ALSO_FILLS.get(flag, ()))
    return tuple(k for k in keys if k not in MERGED_KEYS)


# --------------------------------------------------------------------------
# parsing

#: the argv of one ``ExecStart={ path=... ; argv[]=... ; ignore_errors=... }``
_ARGV_RE = re.compile(r"argv\[\]=(.*?)(?: ; (?:ignore_errors|flags)=|\s*\}\s*$|$)")


def exec_start_argv(value: str) -> tuple[str, ...]:
    """The argv of one ``ExecStart=`` value of ``systemctl show``. systemd
    joins the arguments with spaces (newer releases quote those that need
    it)."""
    m = _ARGV_RE.search(value)
    text = m.group(1) if m else value.strip().strip("{}").strip()
    return _split_words(text) if text else ()


@functools.lru_cache(maxsize=256)
def _split_words(text: str) -> tuple[str, ...]:
    """``text`` split as sh would (a fleet's hosts share a few command lines:
    split once each)."""
    try:
        return tuple(shlex.split(text))
    except ValueError:
        return tuple(text.split())


@dataclass(frozen=True, slots=True)
class Flag:
    """One flag on dockerd's command line, as written."""

    name: str  # the long name
    written: str  # e.g. "-H fd://" or "--debug"
    value: str | None = None


def parse_flags(args: Sequence[str]) -> list[Flag]:
    """dockerd's flags (pflag syntax: ``--name=value``, ``--name value``,
    ``-H value``, ``-Hvalue``, ``-D``)."""
    flags: list[Flag] = []
    items = list(args)
    i = 0
    while i < len(items):
        arg = items[i]
        i += 1
        if arg == "--":
            break
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            if eq:
                flags.append(Flag(name, arg, value))
            elif name in BOOL_FLAGS:
                flags.append(Flag(name, arg))
            elif i < len(items) and not items[i].startswith("-"):
                flags.append(Flag(name, f"{arg} {items[i]}", items[i]))
                i += 1
            else:
                flags.append(Flag(name, arg))
        elif arg.startswith("-") and len(arg) > 1:
            letters = arg[1:]
            j = 0
            while j < len(letters):
                letter = letters[j]
                name = SHORT_FLAGS.get(letter, letter)
                rest = letters[j + 1 :]
                if name in BOOL_FLAGS:
                    flags.append(Flag(name, f"-{letter}"))
                    j += 1
                    continue
                if rest.startswith("="):
                    rest = rest[1:]
                if rest:
                    flags.append(Flag(name, f"-{letter}{rest}", rest))
                elif i < len(items):
                    flags.append(Flag(name, f"-{letter} {items[i]}", items[i]))
                    i += 1
                else:
                    flags.append(Flag(name, f"-{letter}"))
                break
    return flags


#: the daemon.json dockerd reads without --config-file
DAEMON_JSON = "/etc/docker/daemon.json"


def config_file_of(args: Sequence[str], default: str = DAEMON_JSON) -> str:
    """The ``--config-file`` on dockerd's command line, else ``default``."""
    path = default
    for flag in parse_flags(args):
        if flag.name == "config-file" and flag.value:
            path = flag.value
    return path


# --------------------------------------------------------------------------
# dockerd --validate


@dataclass(frozen=True, slots=True)
class ValidateFlags:
    """The unit's flags to repeat for ``--validate``, and what was left out."""

    flags: tuple[str, ...]
    dropped: tuple[str, ...]


def validate_flags(exec_start: Sequence[str]) -> ValidateFlags:
    """The flags of ``exec_start`` (with or without the binary first) that
    ``dockerd --validate`` must see."""
    args = list(exec_start)
    if args and not args[0].startswith("-") and args[0].rsplit("/", 1)[-1].startswith("dockerd"):
        args = args[1:]
    kept: list[str] = []
    dropped: list[str] = []
    skip_value = False
    for arg in args:
        if skip_value:
            skip_value = False
            dropped.append(arg)
        elif arg == "--config-file":
            skip_value = True
            dropped.append(arg)
        elif arg.startswith("--config-file=") or arg in ("--validate", "-v", "--version"):
            dropped.append(arg)
        elif "$" in arg:
            dropped.append(arg)
            if kept and kept[-1].startswith("-") and "=" not in kept[-1]:
                dropped.insert(len(dropped) - 1, kept.pop())
        else:
            kept.append(arg)
    return ValidateFlags(tuple(kept), tuple(dropped))


def validate_argv(config_file: str, flags: Sequence[str]) -> list[str]:
    """``dockerd --validate --config-file FILE FLAGS...``"""
    return ["dockerd", "--validate", "--config-file", config_file, *flags]
