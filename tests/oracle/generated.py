"""Deterministic random daemon.json documents for differential testing.

Each document mixes a few keys, most with values dockerd accepts and some with
values it rejects (wrong types, bad enumerations, unknown keys, flattening traps,
duplicates). Host-dependent keys (TLS files, userns-remap users, cgroup v1-only
cpu-rt options, userland-proxy-path files) are left out, so dockerd's verdict
depends only on the text.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Raw:
    """A JSON token written verbatim (``3.0``, ``1e3``: Python would normalise them)."""

    text: str


Value = object
Pools = dict[str, tuple[tuple[Value, ...], tuple[Value, ...]]]

BOOL_KEYS = (
    "debug", "live-restore", "icc", "iptables", "ip-masq", "ip-forward", "experimental",
    "init", "no-new-privileges", "raw-logs", "selinux-enabled", "cri-containerd",
    "ipv6", "ip6tables", "userland-proxy",
)  # fmt: skip
GOOD_BOOLS: tuple[Value, ...] = (True, False, None)
BAD_BOOLS: tuple[Value, ...] = ("true", 1, 0, "yes", [], {"x": 1})

NONNEG_INT_KEYS = (
    "mtu",
    "max-concurrent-downloads",
    "max-concurrent-uploads",
    "max-download-attempts",
)
INT_KEYS = ("shutdown-timeout", "network-control-plane-mtu", "network-diagnostic-port")
GOOD_INTS: tuple[Value, ...] = (0, 1, 3, 1500, 9000, None)
BAD_INTS: tuple[Value, ...] = ("3", Raw("3.0"), Raw("1e3"), True, Raw("99999999999999999999"), [1])

STRING_KEYS: dict[str, tuple[Value, ...]] = {
    "data-root": ("/var/lib/docker", "/srv/docker", "relative/dir"),
    "exec-root": ("/run/docker",),
    "pidfile": ("/run/docker.pid",),
    "group": ("docker", "999"),
    "containerd": ("/run/containerd/containerd.sock",),
    "containerd-namespace": ("moby", "corp"),
    "swarm-default-advertise-addr": ("eth0", "10.0.0.5"),
    "init-path": ("/usr/libexec/docker/docker-init",),
    "seccomp-profile": ("builtin", "unconfined"),
    "storage-driver": ("overlay2", "vfs", "devicemapper"),
    "log-driver": ("json-file", "local", "journald", "none", "bogus"),
    "default-runtime": ("runc", "io.containerd.runc.v2", "nvidia"),
    "cgroup-parent": ("docker.slice", "/docker"),
    "metrics-addr": ("127.0.0.1:9323", "127.0.0.1"),
    "bridge": ("br0", "none"),
    "bip": ("172.30.0.1/16", "nonsense"),
    "fixed-cidr": ("172.30.0.0/24",),
    "api-cors-header": ("*", ""),
}
BAD_STRINGS: tuple[Value, ...] = (5, True, ["x"], {"x": "y"})

ENUMS: Pools = {
    "log-level": (("debug", "info", "warn", "error", "fatal", "panic", "trace", "WARN", ""),
                  ("warning", "verbose", "notice")),
    "log-format": (("text", "json", ""), ("JSON", "logfmt")),
    "default-ipc-mode": (("private", "shareable", ""), ("host", "Private", "none")),
    "default-cgroupns-mode": (("host", "private", ""), ("none", "Host")),
    "default-shm-size": (("64M", "1g", "128MiB", "0", "64 M", "1.5g"), ("", "-1", "64q", 67108864)),
    "ip": (("10.0.0.1", "::1", "0.0.0.0", ""), ("localhost", "10.0.0.300")),
    "default-gateway": (("10.0.0.1", ""), ("gw", "10.0.0.1/24")),
    "default-gateway-v6": (("fd00::1",), ("fd00::1/64",)),
    "host-gateway-ip": (("172.17.0.1",), ("host.docker.internal",)),
    "fixed-cidr-v6": (("fd00::/64", ""), ("fd00::1", "10.0.0.0/8", "x")),
}  # fmt: skip

LIST_KEYS: Pools = {
    "dns": ((["1.1.1.1"], ["::1", "8.8.8.8"], [""], []), ("8.8.8.8", ["1.1.1.1:53"], ["dns.google"], [1])),
    "dns-search": ((["example.com"], ["."], ["a.b.c."]), ([".x.com"], ["123"], ["-a.com"], "example.com")),
    "dns-opts": ((["ndots:2"], []), ("ndots:2", [True])),
    "storage-opts": ((["overlay2.size=10G"],), ("overlay2.size=10G",)),
    "exec-opts": ((["native.cgroupdriver=systemd"], ["anything"]), ("native.cgroupdriver=systemd",)),
    "authorization-plugins": ((["authz"],), ("authz",)),
    "cdi-spec-dirs": ((["/etc/cdi"], [""]), ("/etc/cdi",)),
    "insecure-registries": ((["reg:5000"], ["10.0.0.0/8"], ["http://reg:5000"]), ("reg:5000", [5])),
    "registry-mirrors": ((["https://m.example.com"], ["m.example.com"]), ("https://m.example.com", [None, 1])),
    "allow-nondistributable-artifacts": ((["reg:5000"],), ("reg:5000",)),
    "labels": ((["a=b"], ["a=b", "a=b"], ["x="]),
               (["nokey"], ["com.docker.x=1"], ["a=1", "a=2"], "a=b", {"env": "prod"})),
    "hosts": ((["unix:///var/run/docker.sock"], ["tcp://127.0.0.1:2375"], ["fd://"], ["127.0.0.1:2376"]),
              (["http://x:1"], ["tcp://1.2.3.4:2375/p"], ["ssh://x"], ["tcp://h:abc"], "fd://")),
    "node-generic-resources": ((["gpu=2"], ["GPU=uuid-1"]), (["gpu"], ["gpu=-1"])),
}  # fmt: skip

OBJECT_KEYS: Pools = {
    "log-opts": (({"max-size": "10m", "max-file": "3"}, {}, {"anything": "goes"}),
                 ({"max-file": 3}, {"compress": True}, ["max-size=10m"], "max-size=10m")),
    "default-network-opts": (({"bridge": {"com.docker.network.driver.mtu": "1400"}}, {}),
                             ({"bridge": {"com.docker.network.driver.mtu": 1400}}, {"k": "v"})),
    "features": (({"buildkit": True}, {"made-up": False}, {}),
                 ({"buildkit": "true"}, {"windows-dns-proxy": True}, [])),
    "default-ulimits": (({"nofile": {"Name": "nofile", "Hard": 1024, "Soft": 1024}},
                         {"x": {"name": "x", "hard": 5, "soft": 9, "extra": 1}}),
                        ({"nofile": "1024:2048"}, {"nofile": {"Hard": "1"}}, [])),
    "runtimes": (({"crun": {"path": "/usr/bin/crun"}}, {"runc": {}},
                  {"kata": {"runtimeType": "io.containerd.kata.v2", "options": {"k": 1}}}),
                 ({"crun": "/usr/bin/crun"}, {"crun": {"runtimeArgs": "--x"}}, {"k": {"options": []}})),
    "default-address-pools": (([{"base": "10.0.0.0/8", "size": 24}], [{"Base": "10.0.0.0", "SIZE": 0}], []),
                              ({"base": "10.0.0.0/8", "size": 24}, [{"size": "24"}], ["10.0.0.0/8"])),
    "builder": (({"gc": {"enabled": True, "defaultKeepStorage": "10GB"}}, {"whatever": 1}),
                ({"gc": {"enabled": "true"}}, [])),
    "proxies": (({"http-proxy": "http://p:3128"}, {}, {"no-proxy": "a,b", "debug": True}),
                ({"ftp-proxy": "x"}, "http://p:3128", None, {"http-proxy": 1}, {"httpProxy": "x"})),
}  # fmt: skip

IGNORED_FLAG_NAMES = (
    "registry-mirror", "insecure-registry", "label", "log-opt", "dns-opt", "storage-opt",
    "exec-opt", "host", "add-runtime", "default-ulimit", "http-proxy", "https-proxy",
    "no-proxy", "containerd-plugins-namespace", "deprecated-key-path", "restart", "help",
)  # fmt: skip
IGNORED_VALUES: tuple[Value, ...] = ("x", 5, True, ["a=b"], None, {})

UNKNOWN_KEYS = (
    "foo", "Debug", "graph", "cluster-store", "oom-score-adjust", "registry-mirors",
    "host-gateway-ips", "bip6", "default-init", "containerd-plugin-namespace", "cluster-store-opts",
)  # fmt: skip
UNKNOWN_VALUES: tuple[Value, ...] = (
    "x", 1, None, [], {}, {"debug": True}, {"bar": 1}, {"tlsverify": True}, {"mtu": -1},
)  # fmt: skip
CONFLICT_KEYS: tuple[tuple[str, Value], ...] = (
    ("config-file", "/etc/docker/daemon.json"),
    ("validate", True),
)


def _dump(value: Value) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, list):
        return "[" + ", ".join(_dump(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_dump(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _member(rng: random.Random, bad: float) -> tuple[str, Value]:
    kind = rng.choices(
        [
            "bool",
            "nonneg",
            "int",
            "string",
            "enum",
            "list",
            "object",
            "ignored",
            "unknown",
            "conflict",
        ],
        weights=[14, 6, 4, 12, 12, 16, 18, 8, 8, 1],
    )[0]
    wrong = rng.random() < bad
    if kind == "bool":
        return rng.choice(BOOL_KEYS), rng.choice(BAD_BOOLS if wrong else GOOD_BOOLS)
    if kind == "nonneg":
        return rng.choice(NONNEG_INT_KEYS), rng.choice((*BAD_INTS, -1) if wrong else GOOD_INTS)
    if kind == "int":
        return rng.choice(INT_KEYS), rng.choice((*BAD_INTS, -1) if wrong else GOOD_INTS)
    if kind == "string":
        key = rng.choice(sorted(STRING_KEYS))
        return key, rng.choice(BAD_STRINGS if wrong else STRING_KEYS[key])
    if kind == "enum":
        key = rng.choice(sorted(ENUMS))
        good, bad_values = ENUMS[key]
        return key, rng.choice(bad_values if wrong else good)
    if kind == "list":
        key = rng.choice(sorted(LIST_KEYS))
        good, bad_values = LIST_KEYS[key]
        return key, rng.choice(bad_values if wrong else good)
    if kind == "object":
        key = rng.choice(sorted(OBJECT_KEYS))
        good, bad_values = OBJECT_KEYS[key]
        return key, rng.choice(bad_values if wrong else good)
    if kind == "ignored":
        return rng.choice(IGNORED_FLAG_NAMES), rng.choice(IGNORED_VALUES)
    if kind == "unknown":
        return rng.choice(UNKNOWN_KEYS), rng.choice(UNKNOWN_VALUES)
    return rng.choice(CONFLICT_KEYS)


def generate_documents(count: int, *, seed: int = 2615, bad: float = 0.25) -> list[bytes]:
    """``count`` daemon.json files (bytes), the same ones for the same seed."""
    rng = random.Random(seed)
    docs = []
    for _ in range(count):
        members = [_member(rng, bad) for _ in range(rng.randint(1, 5))]
        if rng.random() < 0.08 and members:
            key, _value = members[0]
            members.append(_member(rng, bad) if rng.random() < 0.5 else (key, members[0][1]))
            members.append((key, rng.choice((True, "x", 1, None))))
        body = ",\n  ".join(f"{json.dumps(k)}: {_dump(v)}" for k, v in members)
        text = "{\n  " + body + "\n}\n"
        raw = text.encode()
        if rng.random() < 0.05:
            raw = b"\xef\xbb\xbf" + raw
        docs.append(raw)
    return docs
