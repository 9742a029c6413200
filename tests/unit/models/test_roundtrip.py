"""Canonical rendering: parse(render(c)) == c for every valid config."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetcfg.core.hashing import canonical_json
from fleetcfg.core.versions import EngineVersion
from fleetcfg.dockerd.validation import check_daemon, parse_client, parse_daemon

V28 = EngineVersion(28, 5)

words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
hosts = st.builds(lambda a, b: f"{a}.{b}.example", words, words)
ipv4 = st.ip_addresses(v=4).map(str)
sizes = st.builds(
    lambda n, u: f"{n}{u}",
    st.integers(1, 999),
    st.sampled_from(["k", "m", "g", "M", "MiB", "GB", ""]),
)
cidrs = st.builds(lambda a, p: f"10.{a}.0.0/{p}", st.integers(0, 255), st.integers(16, 20))

VALUES = {
    "debug": st.booleans(),
    "live-restore": st.booleans(),
    "userland-proxy": st.just(False),
    "icc": st.booleans(),
    "ipv6": st.just(False),
    "log-level": st.sampled_from(["debug", "info", "WARN", "error", "fatal", "panic", "trace"]),
    "log-format": st.sampled_from(["text", "json"]),
    "mtu": st.one_of(st.just(0), st.integers(68, 9000)),
    "max-concurrent-downloads": st.integers(0, 50),
    "shutdown-timeout": st.integers(-1, 600),
    "data-root": st.just("/var/lib/docker"),
    "storage-driver": st.sampled_from(["overlay2", "btrfs", "zfs", "vfs", "fuse-overlayfs"]),
    "default-shm-size": sizes,
    "dns": st.lists(ipv4, max_size=3),
    "dns-search": st.lists(hosts, max_size=2),
    "labels": st.lists(
        st.builds(lambda k, v: f"{k}={v}", words, words),
        max_size=3,
        unique_by=lambda s: s.split("=")[0],
    ),
    "registry-mirrors": st.lists(st.builds(lambda h: f"https://{h}", hosts), max_size=2),
    "insecure-registries": st.lists(st.one_of(hosts, cidrs), max_size=2),
    "metrics-addr": st.builds(lambda ip, p: f"{ip}:{p}", ipv4, st.integers(1, 65535)),
    "log-opts": st.fixed_dictionaries(
        {
            "max-size": sizes,
            "max-file": st.integers(2, 9).map(str),
            "compress": st.sampled_from(["true", "false"]),
        }
    ),
    "features": st.dictionaries(
        st.sampled_from(["buildkit", "containerd-snapshotter", "cdi"]), st.booleans()
    ),
    "default-address-pools": st.lists(
        st.builds(lambda b, s: {"base": b, "size": s}, cidrs, st.integers(24, 28)), max_size=3
    ),
    "default-ulimits": st.dictionaries(
        st.sampled_from(["nofile", "nproc", "core"]),
        st.integers(0, 2**20).map(lambda n: {"Hard": n, "Soft": n}),
    ),
    "runtimes": st.dictionaries(
        words.filter(lambda w: w != "runc"),
        st.builds(lambda p: {"path": f"/usr/bin/{p}"}, words),
        max_size=2,
    ),
    "proxies": st.fixed_dictionaries(
        {
            "http-proxy": st.builds(lambda h: f"http://{h}:3128", hosts),
            "no-proxy": st.just("localhost,127.0.0.0/8"),
        }
    ),
    "builder": st.just({"gc": {"enabled": True, "defaultKeepStorage": "10GB"}}),
}


@st.composite
def daemon_configs(draw):
    keys = draw(st.lists(st.sampled_from(sorted(VALUES)), unique=True, max_size=12))
    data = {k: draw(VALUES[k]) for k in keys}
    for name, ul in (data.get("default-ulimits") or {}).items():
        ul["Name"] = name
    return data


@settings(max_examples=200, deadline=None)
@given(daemon_configs())
def test_parse_of_render_is_the_same_config(data):
    result = check_daemon(data, V28)
    assert result.ok, result.findings
    config = result.config
    text = canonical_json(config.to_json_dict())
    assert parse_daemon(json.loads(text), V28) == config


@settings(max_examples=100, deadline=None)
@given(daemon_configs())
def test_rendering_is_canonical_and_stable(data):
    config = parse_daemon(data, V28)
    text = canonical_json(config.to_json_dict())
    assert (text.endswith("}\n") and "\n  " in text) or text == "{}\n"
    assert canonical_json(parse_daemon(json.loads(text), V28).to_json_dict()) == text
    assert list(json.loads(text)) == sorted(json.loads(text))


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(
        hosts,
        st.builds(lambda u: {"auth": u}, st.sampled_from(["dTpw", "Ym9iOnNlY3JldA=="])),
        max_size=3,
    )
)
def test_client_config_round_trips_auths_unchanged(auths):
    data = {
        "auths": auths,
        "credsStore": "pass",
        "proxies": {"default": {"httpProxy": "http://p:3128"}},
    }
    config = parse_client(data)
    text = canonical_json(config.to_json_dict())
    assert json.loads(text)["auths"] == auths
    assert parse_client(json.loads(text)) == config
