"""Reload or restart, key by key, as dockerd really behaves on SIGHUP
(reference §5): a change is reloadable when dockerd applies the key on
reload; a removal only when dockerd resets the key when it is absent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fleetcfg.plan.model import Action
from tests.unit.plan.helpers import plan_change

BASE: dict[str, Any] = {"log-driver": "json-file"}

#: key, value before, value after: dockerd applies each on SIGHUP
RELOADABLE = [
    ("debug", False, True),
    ("labels", ["a=1"], ["a=2"]),
    ("live-restore", False, True),
    ("max-concurrent-downloads", 3, 10),
    ("max-concurrent-uploads", 5, 10),
    ("max-download-attempts", 5, 8),
    ("shutdown-timeout", 15, 30),
    ("features", {"buildkit": True}, {"buildkit": False}),
    ("insecure-registries", ["reg.local:5000"], ["reg.local:5001"]),
    ("registry-mirrors", ["https://a.example.com"], ["https://b.example.com"]),
    ("network-diagnostic-port", 0, 7946),
    ("default-runtime", "runc", "crun"),
    ("runtimes", {"crun": {"path": "/usr/bin/crun"}}, {"crun": {"path": "/usr/local/bin/crun"}}),
    ("default-shm-size", "64M", "128M"),
    ("default-ipc-mode", "private", "shareable"),
    ("default-cgroupns-mode", "private", "host"),
]

#: key, value before, value after: dockerd applies each only at start
RESTART_ONLY = [
    ("log-level", "info", "debug"),
    ("log-driver", "json-file", "local"),
    ("log-opts", {"max-size": "10m"}, {"max-size": "50m"}),
    ("data-root", "/var/lib/docker", "/srv/docker"),
    ("bip", "172.17.0.1/16", "172.26.0.1/16"),
    ("dns", ["1.1.1.1"], ["8.8.8.8"]),
    ("mtu", 1500, 1400),
    ("storage-driver", "overlay2", "vfs"),
    (
        "default-address-pools",
        [{"base": "10.10.0.0/16", "size": 24}],
        [{"base": "10.20.0.0/16", "size": 24}],
    ),
    ("proxies", {"http-proxy": "http://proxy-a:3128"}, {"http-proxy": "http://proxy-b:3128"}),
    ("userland-proxy", True, False),
]

#: keys dockerd keeps at their running value when they are absent on reload
KEPT_WHEN_ABSENT = [
    ("debug", True),
    ("labels", ["a=1"]),
    ("live-restore", True),
    ("shutdown-timeout", 30),
    ("insecure-registries", ["reg.local:5000"]),
    ("registry-mirrors", ["https://a.example.com"]),
    ("default-shm-size", "128M"),
    ("runtimes", {"crun": {"path": "/usr/bin/crun"}}),
]

#: keys dockerd resets to their default when they are absent on reload
RESET_WHEN_ABSENT = [
    ("max-concurrent-downloads", 10, "3"),
    ("max-concurrent-uploads", 10, "5"),
    ("max-download-attempts", 8, "5"),
    ("features", {"buildkit": False}, "an empty map"),
    ("authorization-plugins", ["authz-broker"], "no authorization plugins"),
    ("network-diagnostic-port", 7946, "diagnostic server stops"),
]


def _extra(key: str) -> dict[str, Any]:
    # default-runtime must name a runtime that exists
    return {"runtimes": {"crun": {"path": "/usr/bin/crun"}}} if key == "default-runtime" else {}


@pytest.mark.parametrize(("key", "old", "new"), RELOADABLE, ids=[r[0] for r in RELOADABLE])
def test_a_change_of_a_reloadable_key_is_a_reload(
    tmp_path: Path, key: str, old: Any, new: Any
) -> None:
    extra = _extra(key)
    planned = plan_change(tmp_path, {**BASE, **extra, key: old}, {**BASE, **extra, key: new})
    assert planned.plan.errors == []
    assert planned.plan.action is Action.RELOAD, planned.plan.reasons


@pytest.mark.parametrize(("key", "old", "new"), RELOADABLE, ids=[r[0] for r in RELOADABLE])
def test_adding_a_reloadable_key_is_a_reload(tmp_path: Path, key: str, old: Any, new: Any) -> None:
    extra = _extra(key)
    planned = plan_change(tmp_path, {**BASE, **extra}, {**BASE, **extra, key: new})
    assert planned.plan.action is Action.RELOAD, planned.plan.reasons + planned.plan.errors


@pytest.mark.parametrize(("key", "old", "new"), RESTART_ONLY, ids=[r[0] for r in RESTART_ONLY])
def test_a_change_of_a_start_only_key_is_a_restart(
    tmp_path: Path, key: str, old: Any, new: Any
) -> None:
    planned = plan_change(tmp_path, {**BASE, key: old}, {**BASE, key: new})
    assert planned.plan.errors == []
    assert planned.plan.action is Action.RESTART
    assert planned.plan.reasons == [
        f"restart: dockerd applies {key} only when it starts (a reload ignores it)"
    ]


@pytest.mark.parametrize(("key", "value"), KEPT_WHEN_ABSENT, ids=[r[0] for r in KEPT_WHEN_ABSENT])
def test_removing_a_key_dockerd_keeps_on_reload_is_a_restart(
    tmp_path: Path, key: str, value: Any
) -> None:
    planned = plan_change(tmp_path, {**BASE, key: value}, BASE)
    assert planned.plan.action is Action.RESTART
    assert (
        f"restart: {key} is removed: on reload dockerd keeps the running value, only a restart drops it"
        in planned.plan.reasons
    )


@pytest.mark.parametrize(
    ("key", "value", "default"), RESET_WHEN_ABSENT, ids=[r[0] for r in RESET_WHEN_ABSENT]
)
def test_removing_a_key_dockerd_resets_is_a_reload_that_notes_the_default(
    tmp_path: Path, key: str, value: Any, default: str
) -> None:
    planned = plan_change(tmp_path, {**BASE, key: value}, BASE)
    assert planned.plan.action is Action.RELOAD
    notes = [r for r in planned.plan.reasons if r.startswith(f"{key} is removed")]
    assert len(notes) == 1 and default in notes[0]


def test_emptying_default_runtime_is_a_restart(tmp_path: Path) -> None:
    planned = plan_change(
        tmp_path, {**BASE, "default-runtime": "runc"}, {**BASE, "default-runtime": ""}
    )
    assert planned.plan.action is Action.RESTART


def test_one_start_only_key_among_reloadable_ones_makes_a_restart(tmp_path: Path) -> None:
    planned = plan_change(
        tmp_path,
        {**BASE, "debug": False, "log-level": "info"},
        {**BASE, "debug": True, "log-level": "debug"},
    )
    assert planned.plan.action is Action.RESTART
    assert planned.plan.reasons == [
        "restart: dockerd applies log-level only when it starts (a reload ignores it)"
    ]


def test_every_key_change_carries_its_reload_behaviour(tmp_path: Path) -> None:
    planned = plan_change(
        tmp_path,
        {**BASE, "debug": False, "max-concurrent-downloads": 3},
        {**BASE, "debug": True, "max-concurrent-downloads": 6, "log-level": "warn"},
    )
    reloads = {c.path: c.reload for c in planned.plan.files[0].changes}
    assert reloads == {
        "debug": "if-present",
        "max-concurrent-downloads": "always",
        "log-level": "restart",
    }


def test_a_new_daemon_json_with_only_reloadable_keys_is_a_reload(tmp_path: Path) -> None:
    planned = plan_change(tmp_path, None, {"registry-mirrors": ["https://m.example.com"]})
    assert planned.plan.action is Action.RELOAD


def test_a_new_daemon_json_with_a_start_only_key_is_a_restart(tmp_path: Path) -> None:
    planned = plan_change(tmp_path, None, {"registry-mirrors": ["https://m.example.com"], **BASE})
    assert planned.plan.action is Action.RESTART


def test_a_key_dockerd_ignores_needs_neither(tmp_path: Path) -> None:
    # the flag spelling passes dockerd's key check and is never applied
    planned = plan_change(tmp_path, BASE, {**BASE, "registry-mirror": "https://m.example.com"})
    assert planned.plan.action is Action.RELOAD
    assert planned.plan.files[0].changes[0].reload == "no-effect"
