"""dockerd's flags and reload semantics: one table each (dockerd/flags.py,
dockerd/reload.py), consistent with the daemon.json model."""

from __future__ import annotations

import pytest

from fleetcfg.dockerd.daemon import key_metadata
from fleetcfg.dockerd.flags import (
    FLAG_KEYS,
    IGNORED_FLAGS,
    conflicting_keys,
    exec_start_argv,
    parse_flags,
)
from fleetcfg.dockerd.keys import PROXY_KEYS
from fleetcfg.dockerd.reload import RELOADABLE, Reload, key_reload, reset_note, restart_reason


def test_every_reloadable_key_is_a_daemon_json_key() -> None:
    assert set(RELOADABLE) <= set(key_metadata())


def test_every_flag_spelling_stands_for_a_daemon_json_key() -> None:
    keys = set(key_metadata()) | {"cluster-store-opts"}  # removed in 24.0, still a key
    for flag, key in FLAG_KEYS.items():
        top, _, inner = key.partition(".")
        assert (top == "proxies" and inner in PROXY_KEYS) or key in keys, flag


def test_flag_spellings_dockerd_ignores_in_the_file_have_no_effect_on_reload() -> None:
    for flag in IGNORED_FLAGS:
        assert key_reload(flag) is Reload.NO_EFFECT


@pytest.mark.parametrize(
    ("flag", "keys"),
    [
        ("label", ("labels",)),  # list options conflict by their plural name
        ("log-level", ("log-level",)),
        ("http-proxy", ("proxies.http-proxy",)),
        ("host-gateway-ip", ("host-gateway-ip", "host-gateway-ips")),
        ("add-runtime", ()),  # dockerd merges runtimes from both
        ("config-file", ()),  # the file itself
    ],
)
def test_a_flag_conflicts_with_the_keys_it_fills(flag: str, keys: tuple[str, ...]) -> None:
    assert conflicting_keys(flag) == keys


def test_one_exec_start_parser_feeds_the_flag_parser() -> None:
    shown = "{ path=/usr/bin/dockerd ; argv[]=/usr/bin/dockerd -H fd:// -D --label=a ; flags= }"
    flags = parse_flags(exec_start_argv(shown)[1:])
    assert [(f.name, f.value) for f in flags] == [
        ("host", "fd://"),
        ("debug", None),
        ("label", "a"),
    ]


def test_restart_reasons_follow_the_reload_table() -> None:
    assert restart_reason("data-root", removed=False, emptied=False) == (
        "data-root: dockerd applies it only when it starts"
    )
    assert restart_reason("debug", removed=False, emptied=False) is None
    assert restart_reason("debug", removed=True, emptied=False) is not None
    assert restart_reason("default-runtime", removed=False, emptied=True) is not None
    assert restart_reason("labels", removed=False, emptied=True) is None
    assert restart_reason("features", removed=True, emptied=False) is None
    assert reset_note("max-concurrent-downloads") == (
        "max-concurrent-downloads is removed: on reload dockerd resets it to 3"
    )
    assert reset_note("debug") is None
