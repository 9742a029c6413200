"""The plan of one host: targets, diffs, actions, warnings and errors
(facts from a FakeDockerHost, targets from a repo under tmp_path)."""

from __future__ import annotations

import json
from pathlib import Path

from fleetcfg.core.errors import ConnectError, UnknownHostKeyError
from fleetcfg.core.hashing import sha256_hex
from fleetcfg.host.transport.base import CommandResult
from fleetcfg.inventory import load_inventory
from fleetcfg.plan.decide import PlannedHost, failed_host, stale_reasons
from fleetcfg.plan.facts import STATE_FILE
from fleetcfg.plan.model import Action, HostPlan
from tests.fakes.dockerhost import FakeDockerHost
from tests.unit.inventory.repo import write_repo
from tests.unit.plan.helpers import INVENTORY, plan_change, plan_with

MIRRORS = {"registry-mirrors": ["https://mirror.example.com"]}
SECRET = "pa55-w0rd-xyz"

PROXY_PROFILE = """
registry-mirrors: ["https://mirror.example.com"]
proxies:
  http-proxy: "http://svc:{{ env('PROXY_PASSWORD') }}@proxy.corp:3128"
  https-proxy: "http://svc:{{ env('PROXY_PASSWORD') }}@proxy.corp:3128"
"""


# -- files and diffs -----------------------------------------------------------------


def test_a_host_without_daemon_json_gets_a_new_file(tmp_path: Path) -> None:
    planned = plan_change(tmp_path, None, {"log-driver": "local"})
    f = planned.plan.files[0]
    assert (f.live_sha256, f.path) == (None, "/etc/docker/daemon.json")
    assert [c.display for c in f.changes] == ['+ log-driver: "local"']
    assert planned.contents[f.path] == b'{\n  "log-driver": "local"\n}\n'
    assert f.target_sha256 == sha256_hex(planned.contents[f.path])
    assert f.text_diff.startswith("--- /etc/docker/daemon.json (live)\n")


def test_semantically_equal_files_are_not_rewritten(tmp_path: Path) -> None:
    host = FakeDockerHost(
        "web-01", daemon_json='{"registry-mirrors":["https://mirror.example.com"]}'
    )
    planned = plan_with(tmp_path, host, profiles={"base.json": json.dumps(MIRRORS)})
    assert planned.plan.action is Action.NONE
    f = planned.plan.files[0]
    assert (f.target_sha256, f.changes, f.text_diff) == (None, [], "")
    assert planned.contents == {}


def test_key_order_and_white_space_never_show_as_a_change(tmp_path: Path) -> None:
    live = '{ "log-opts": {"max-file": "3", "max-size": "10m"},\n\n"log-driver": "json-file" }'
    host = FakeDockerHost("web-01", daemon_json=live)
    target = {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}}
    planned = plan_with(tmp_path, host, profiles={"base.json": json.dumps(target)})
    assert planned.plan.action is Action.NONE


def test_a_mirror_change_is_a_reload_with_a_semantic_then_text_diff(tmp_path: Path) -> None:
    planned = plan_change(tmp_path, {"registry-mirrors": ["https://old.example.com"]}, MIRRORS)
    plan = planned.plan
    assert plan.action is Action.RELOAD
    assert plan.changes == ["registry-mirrors"]
    assert plan.files[0].changes[0].display == (
        '~ registry-mirrors: ["https://old.example.com"] -> ["https://mirror.example.com"]'
    )
    assert '-    "https://old.example.com"' in plan.files[0].text_diff
    assert '+    "https://mirror.example.com"' in plan.files[0].text_diff
    assert plan.reasons == [
        "reload: dockerd applies every change on `systemctl reload docker` (SIGHUP)"
    ]


def test_a_log_opts_change_is_a_restart(tmp_path: Path) -> None:
    planned = plan_change(
        tmp_path,
        {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}},
        {"log-driver": "json-file", "log-opts": {"max-size": "50m", "max-file": "5"}},
    )
    assert planned.plan.action is Action.RESTART
    assert planned.plan.changes == ["log-opts.max-file", "log-opts.max-size"]
    assert planned.plan.reasons == [
        "restart: dockerd applies log-opts only when it starts (a reload ignores it)"
    ]


# -- manage: keys ----------------------------------------------------------------------

KEYS_INVENTORY = """
defaults:
  daemon_profile: base
  engine_version: "26.1"
hosts:
  gpu-01: {address: 10.0.0.5, manage: keys}
"""


def test_manage_keys_keeps_foreign_keys_and_shows_them_as_kept(tmp_path: Path) -> None:
    runtimes = {"nvidia": {"path": "nvidia-container-runtime"}}
    host = FakeDockerHost(
        "gpu-01",
        daemon_json={"registry-mirrors": ["https://old.example.com"], "runtimes": runtimes},
    )
    planned = plan_with(
        tmp_path,
        host,
        inventory=KEYS_INVENTORY,
        profiles={"base.json": json.dumps(MIRRORS)},
        name="gpu-01",
    )
    f = planned.plan.files[0]
    assert planned.plan.action is Action.RELOAD
    assert f.kept_keys == ["runtimes"]
    kept = [c for c in f.changes if c.kind == "kept"]
    assert [c.display for c in kept] == [
        '= runtimes: {"nvidia": {"path": "nvidia-container-runtime"}} (not managed by fleetcfg, kept)'
    ]
    assert planned.plan.changes == ["registry-mirrors"]
    assert json.loads(planned.contents[f.path]) == {**MIRRORS, "runtimes": runtimes}


def test_manage_full_removes_foreign_keys(tmp_path: Path) -> None:
    planned = plan_change(
        tmp_path, {**MIRRORS, "runtimes": {"nvidia": {"path": "nvidia-container-runtime"}}}, MIRRORS
    )
    assert [c.display[:11] for c in planned.plan.files[0].changes] == ["- runtimes:"]
    assert planned.plan.action is Action.RESTART


def test_a_kept_key_that_breaks_dockerd_is_an_error(tmp_path: Path) -> None:
    host = FakeDockerHost("gpu-01", daemon_json={"debug": True, "bogus-key": 1})
    planned = plan_with(
        tmp_path,
        host,
        inventory=KEYS_INVENTORY,
        profiles={"base.json": json.dumps(MIRRORS)},
        name="gpu-01",
    )
    assert planned.plan.action is Action.ERROR
    assert any("a key fleetcfg keeps" in e and "bogus-key" in e for e in planned.plan.errors)


# -- the live file ------------------------------------------------------------------------


def test_a_live_file_that_does_not_parse_is_replaced_with_a_warning(tmp_path: Path) -> None:
    host = FakeDockerHost("web-01", daemon_json='{"debug": true,}')
    planned = plan_with(tmp_path, host, profiles={"base.json": json.dumps(MIRRORS)})
    plan = planned.plan
    assert plan.action is Action.RESTART
    assert any("does not parse" in w and "replaces it" in w for w in plan.warnings)
    assert any("what dockerd runs now is unknown" in r for r in plan.reasons)
    assert '-{"debug": true,}' in plan.files[0].text_diff


def test_drift_since_the_last_apply_is_a_warning_naming_the_file(tmp_path: Path) -> None:
    host = FakeDockerHost("web-01", daemon_json={"debug": True})
    host.add_file(
        STATE_FILE,
        json.dumps(
            {
                "format": 1,
                "files": {
                    "/etc/docker/daemon.json": {
                        "sha256": "0" * 64,
                        "written_at": "2025-01-31T10:00:00.000000Z",
                        "written_by": "alice@ctl",
                    }
                },
            }
        ),
    )
    planned = plan_with(tmp_path, host, profiles={"base.json": json.dumps(MIRRORS)})
    drift = [w for w in planned.plan.warnings if w.startswith("drift:")]
    assert drift == [
        "drift: /etc/docker/daemon.json was changed outside fleetcfg since fleetcfg last wrote "
        "it at 2025-01-31T10:00:00.000000Z by alice@ctl (sha256 now "
        f"{sha256_hex(host.content('/etc/docker/daemon.json') or b'')[:12]}, fleetcfg wrote "
        "000000000000)"
    ]


def test_no_drift_when_the_file_is_what_fleetcfg_wrote(tmp_path: Path) -> None:
    host = FakeDockerHost("web-01", daemon_json=MIRRORS)
    live = host.content("/etc/docker/daemon.json") or b""
    host.add_file(
        STATE_FILE, json.dumps({"files": {"/etc/docker/daemon.json": {"sha256": sha256_hex(live)}}})
    )
    planned = plan_with(tmp_path, host, profiles={"base.json": json.dumps(MIRRORS)})
    assert planned.plan.warnings == []


# -- the unit and the daemon ------------------------------------------------------------------


def test_hosts_in_the_target_while_execstart_passes_h_is_an_error(tmp_path: Path) -> None:
    planned = plan_change(tmp_path, {}, {"hosts": ["unix:///var/run/docker.sock"]})
    plan = planned.plan
    assert plan.action is Action.ERROR
    assert len(plan.errors) == 1
    assert 'sets "hosts" but docker.service already passes -H fd://' in plan.errors[0]
    assert "specified both as a flag and in the configuration file" in plan.errors[0]
    assert planned.contents == {}


def test_a_flag_from_docker_opts_conflicts_too(tmp_path: Path) -> None:
    host = FakeDockerHost("web-01", daemon_json={})
    host.environment_files = ["/etc/default/docker"]
    host.add_file("/etc/default/docker", 'DOCKER_OPTS="--dns 8.8.8.8"\n')
    planned = plan_with(tmp_path, host, profiles={"base.json": json.dumps({"dns": ["1.1.1.1"]})})
    assert planned.plan.action is Action.ERROR
    assert planned.plan.errors == [
        '/etc/docker/daemon.json sets "dns" but docker.service already passes --dns 8.8.8.8 '
        "(ExecStart in /lib/systemd/system/docker.service, through $DOCKER_OPTS from "
        "/etc/default/docker): dockerd refuses to start (the following directives are "
        'specified both as a flag and in the configuration file: dns). Remove "dns" from '
        "the profile, or drop the flag from the unit with a systemd drop-in"
    ]


def test_a_proxy_flag_conflicts_with_the_key_inside_proxies(tmp_path: Path) -> None:
    host = FakeDockerHost(
        "web-01",
        daemon_json={},
        exec_start=["/usr/bin/dockerd", "--http-proxy=http://p:3128"],
    )
    target = {"proxies": {"http-proxy": "http://q:3128"}}
    planned = plan_with(tmp_path, host, profiles={"base.json": json.dumps(target)})
    assert planned.plan.action is Action.ERROR
    assert 'sets "proxies.http-proxy"' in planned.plan.errors[0]


def test_keys_the_hosts_engine_does_not_know_are_errors(tmp_path: Path) -> None:
    host = FakeDockerHost("web-01", engine="20.10.24", daemon_json={})
    planned = plan_with(
        tmp_path,
        host,
        profiles={"base.json": json.dumps({"proxies": {"http-proxy": "http://p:3128"}})},
    )
    plan = planned.plan
    assert plan.action is Action.ERROR
    assert any('"proxies" was added in Engine 23.0; Engine 20.10' in e for e in plan.errors)
    assert plan.facts.engine_version == "20.10.24"
    # the inventory assumed 26.1: the plan says so
    assert any("engine_version 26.1" in w and "runs 20.10.24" in w for w in plan.warnings)


def test_templates_see_the_engine_the_host_runs(tmp_path: Path) -> None:
    profile = '{% if engine_version >= "25.0" %}log-format: json{% else %}debug: true{% endif %}\n'
    old = plan_with(
        tmp_path / "a",
        FakeDockerHost("web-01", engine="24.0.9", daemon_json={}),
        profiles={"base.yaml.j2": profile},
    )
    new = plan_with(
        tmp_path / "b",
        FakeDockerHost("web-01", engine="26.1.5", daemon_json={}),
        profiles={"base.yaml.j2": profile},
    )
    assert old.plan.changes == ["debug"]
    assert new.plan.changes == ["log-format"]


def test_a_stopped_unit_needs_a_start_even_for_reloadable_changes(tmp_path: Path) -> None:
    planned = plan_change(
        tmp_path, {"registry-mirrors": ["https://old.example.com"]}, MIRRORS, unit_state="failed"
    )
    assert planned.plan.action is Action.RESTART
    assert planned.plan.reasons[0].startswith("restart: docker.service is failed")
    assert planned.plan.facts.active is False


def test_an_unchanged_host_with_a_failed_unit_is_flagged(tmp_path: Path) -> None:
    planned = plan_change(tmp_path, MIRRORS, MIRRORS, unit_state="failed")
    assert planned.plan.action is Action.NONE
    assert planned.plan.warnings == [
        "docker.service is failed: dockerd is not running (nothing in the plan changes that)"
    ]


def test_a_restart_with_live_restore_off_warns_about_running_containers(tmp_path: Path) -> None:
    planned = plan_change(tmp_path, {"log-level": "info"}, {"log-level": "debug"}, containers=3)
    assert planned.plan.warnings == [
        "restart kills 3 running containers: live-restore is off on the running daemon "
        "(containers with a restart policy start again)"
    ]
    assert planned.plan.facts.running_containers == 3


def test_no_container_warning_when_live_restore_stays_on(tmp_path: Path) -> None:
    planned = plan_change(
        tmp_path,
        {"log-level": "info", "live-restore": True},
        {"log-level": "debug", "live-restore": True},
        containers=3,
    )
    assert planned.plan.action is Action.RESTART
    assert planned.plan.warnings == []


def test_turning_live_restore_off_with_a_restart_warns(tmp_path: Path) -> None:
    planned = plan_change(
        tmp_path,
        {"log-level": "info", "live-restore": True},
        {"log-level": "debug", "live-restore": False},
    )
    assert any("the target turns live-restore off" in w for w in planned.plan.warnings)


def test_a_reload_never_warns_about_containers(tmp_path: Path) -> None:
    planned = plan_change(tmp_path, {"debug": False}, {"debug": True}, containers=5)
    assert planned.plan.action is Action.RELOAD
    assert planned.plan.warnings == []


def _not_found(argv: tuple[str, ...], stdin: bytes | None, fake: object) -> CommandResult:
    return CommandResult(argv, 127, "", f"sh: 1: {argv[0]}: not found\n")


def test_a_host_without_dockerd_is_an_error(tmp_path: Path) -> None:
    host = FakeDockerHost("web-01")
    host.on(["dockerd"], _not_found, prefix=True)
    planned = plan_with(tmp_path, host, profiles={"base.json": json.dumps(MIRRORS)})
    assert planned.plan.action is Action.ERROR
    assert planned.plan.errors[0].startswith(
        "cannot tell which Docker Engine the host runs (dockerd is not installed"
    )


# -- client config.json -------------------------------------------------------------------

CLIENT_INVENTORY = """
defaults:
  daemon_profile: base
  client_profile: client
  engine_version: "26.1"
hosts:
  dev-01: {address: 10.0.0.9, client_users: [root, alice]}
"""


def plan_alice(tmp_path: Path, config: dict[str, object], *, mode: int) -> PlannedHost:
    """The plan of dev-01, where alice's config.json is ``config`` (``mode``)
    and the client profile sets detachKeys."""
    host = FakeDockerHost("dev-01", daemon_json=MIRRORS)
    host.add_user("alice", home="/srv/alice", group="staff")
    host.add_file(
        "/srv/alice/.docker/config.json",
        json.dumps(config),
        mode=mode,
        owner="alice",
        group="staff",
    )
    return plan_with(
        tmp_path,
        host,
        inventory=CLIENT_INVENTORY,
        profiles={"base.json": json.dumps(MIRRORS), "client.json": '{"detachKeys": "ctrl-e,e"}'},
        name="dev-01",
    )


def test_client_changes_alone_are_written_without_reload_or_restart(tmp_path: Path) -> None:
    auths = {"reg.example.com": {"auth": "c2VjcmV0OnNlY3JldA=="}}
    planned = plan_alice(tmp_path, {"auths": auths}, mode=0o600)
    plan = planned.plan
    assert plan.action is Action.WRITE
    alice = next(f for f in plan.files if f.user == "alice")
    assert (alice.path, alice.mode, alice.owner, alice.group) == (
        "/srv/alice/.docker/config.json",
        0o600,
        "alice",
        "staff",
    )
    assert [c.display for c in alice.changes] == [
        '+ detachKeys: "ctrl-e,e"',
        '= auths: {"reg.example.com": "***"} (not managed by fleetcfg, kept)',
    ]
    assert "c2VjcmV0" not in plan.model_dump_json()
    assert json.loads(planned.contents[alice.path])["auths"] == auths
    root = next(f for f in plan.files if f.user == "root")
    assert (root.live_sha256, root.parent_exists) == (None, False)


def test_credentials_under_any_spelling_the_docker_cli_reads_are_never_printed(
    tmp_path: Path,
) -> None:
    # the docker CLI decodes config.json with Go's encoding/json, which matches
    # keys case-insensitively: "Auths" and "httpHeaders" are its credentials too
    live = {
        "Auths": {"reg.example.com": {"auth": "c2VjcmV0OnNlY3JldA=="}},
        "httpHeaders": {"Authorization": "Bearer tok-3f9a7c"},
    }
    planned = plan_alice(tmp_path, live, mode=0o644)
    plan = planned.plan
    alice = next(f for f in plan.files if f.user == "alice")
    assert [c.display for c in alice.changes] == [
        '+ detachKeys: "ctrl-e,e"',
        '= Auths: {"reg.example.com": "***"} (not managed by fleetcfg, kept)',
        '= httpHeaders: {"Authorization": "***"} (not managed by fleetcfg, kept)',
    ]
    printed = plan.model_dump_json()
    assert "c2VjcmV0" not in printed and "tok-3f9a7c" not in printed
    # digests a password could be guessed from are keyed, and the mode is warned of
    digests = [alice.live_sha256 or "", alice.target_sha256 or ""]
    assert [d[:12] for d in digests] == ["hmac-sha256:"] * 2
    assert (
        "/srv/alice/.docker/config.json (alice) is mode 0644 and holds credentials other "
        "users can read; fleetcfg writes it 0600 when it next changes"
    ) in plan.warnings
    assert json.loads(planned.contents[alice.path])["Auths"] == live["Auths"]


def test_a_client_user_missing_on_the_host_is_an_error(tmp_path: Path) -> None:
    planned = plan_with(
        tmp_path,
        FakeDockerHost("dev-01", daemon_json=MIRRORS),
        inventory=CLIENT_INVENTORY,
        profiles={"base.json": json.dumps(MIRRORS), "client.json": "{}"},
        name="dev-01",
    )
    assert planned.plan.action is Action.ERROR
    assert planned.plan.errors == [
        "client user alice does not exist on the host (user alice does not exist): create the "
        "user, or remove it from client_users"
    ]


# -- secrets -----------------------------------------------------------------------------------


def test_secrets_never_reach_the_plan_but_do_reach_the_bytes_to_write(tmp_path: Path) -> None:
    host = FakeDockerHost(
        "web-01",
        daemon_json={"proxies": {"http-proxy": "http://svc:old-secret-1@proxy.corp:3128"}},
    )
    planned = plan_with(
        tmp_path,
        host,
        profiles={"base.yaml.j2": PROXY_PROFILE},
        environ={"PROXY_PASSWORD": SECRET},
    )
    dumped = planned.plan.model_dump_json()
    assert SECRET not in dumped and "old-secret-1" not in dumped
    assert "http://svc:***@proxy.corp:3128" in dumped
    assert SECRET.encode() in planned.contents["/etc/docker/daemon.json"]


# -- failures and stale plans ---------------------------------------------------------------


def _host(tmp_path: Path, name: str = "web-01") -> object:
    inv = load_inventory(write_repo(tmp_path, INVENTORY, {"base.json": "{}"}))
    return inv.host(name)


def test_an_unreachable_host_is_an_error_counted_apart(tmp_path: Path) -> None:
    host = _host(tmp_path)
    plan = failed_host(
        host,  # type: ignore[arg-type]
        ConnectError("connection refused by 10.0.0.1:22", host="web-01"),
        unreachable=True,
    )
    assert (plan.action, plan.unreachable) == (Action.ERROR, True)
    assert plan.errors == ["connection refused by 10.0.0.1:22"]


def test_an_unknown_host_key_is_an_error_that_says_what_to_do(tmp_path: Path) -> None:
    host = _host(tmp_path)
    error = UnknownHostKeyError(
        "the host key of 10.0.0.1 is not known",
        host="web-01",
        hint="rerun with --accept-new-host-keys",
    )
    plan = failed_host(host, error, unreachable=False)  # type: ignore[arg-type]
    assert not plan.unreachable
    assert plan.errors == [
        "the host key of 10.0.0.1 is not known (rerun with --accept-new-host-keys)"
    ]


def test_stale_reasons_name_what_changed(tmp_path: Path) -> None:
    before = plan_change(tmp_path / "a", {"debug": False}, {"debug": True}).plan
    edited = plan_change(tmp_path / "b", {"debug": False, "labels": ["a=b"]}, {"debug": True}).plan
    retargeted = plan_change(tmp_path / "c", {"debug": False}, {"debug": True, "mtu": 1400}).plan
    assert stale_reasons(before, edited) == [
        f"/etc/docker/daemon.json changed on the host since the plan (sha256 "
        f"{before.files[0].live_sha256[:12]} -> {edited.files[0].live_sha256[:12]})"  # type: ignore[index]
    ]
    [reason] = stale_reasons(before, retargeted)
    assert reason.startswith("the target of /etc/docker/daemon.json changed since the plan")
    assert stale_reasons(before, before) == []


def test_a_fresh_plan_of_an_unchanged_host_is_not_stale(tmp_path: Path) -> None:
    one = plan_change(tmp_path / "a", {"debug": False}, {"debug": True}).plan
    two = plan_change(tmp_path / "b", {"debug": False}, {"debug": True}).plan
    assert stale_reasons(one, two) == []
    assert isinstance(one, HostPlan)
