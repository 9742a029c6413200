"""`fleetcfg plan` against real sshd hosts (tests/fleet): facts over SSH,
diffs, reload or restart, errors per host, saved plans, no secret leaks.

Never skipped: the fleet fixture fails with a clear message when sshd or the
dockerd cache is missing (scripts/test installs them)."""

from __future__ import annotations

import json
import os
import pwd
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import app
from fleetcfg.host.transport.ssh import SshConnector
from fleetcfg.inventory import load_inventory
from fleetcfg.plan.fleet import load_plan, plan_fleet, plan_host
from fleetcfg.plan.model import Action, Plan
from fleetcfg.render import Renderer
from tests.fleet import Fleet, FleetHost
from tests.fleet.repo import write_repo_of

pytestmark = pytest.mark.e2e

DAEMON_JSON = "/etc/docker/daemon.json"
SECRET = "e2e-Pr0xy-s3cret"

BASE_PROFILE = """
registry-mirrors: ["{{ mirror | default('https://mirror.corp.example.com') }}"]
log-driver: json-file
log-opts:
  max-size: "{{ log_max_size | default('50m') }}"
  max-file: "5"
"""

runner = CliRunner()


def write_repo(
    root: Path,
    fleet: Fleet,
    hosts: Sequence[FleetHost],
    *,
    host_extra: dict[str, str] | None = None,
    profiles: dict[str, str] | None = None,
    defaults: str = "",
) -> Path:
    """inventory.yaml for ``hosts`` of the fleet and profiles/."""
    return write_repo_of(
        root,
        fleet,
        hosts,
        profiles={"base.yaml.j2": BASE_PROFILE} | (profiles or {}),
        defaults=defaults,
        host_extra=host_extra,
    )


def plan_repo(inventory_path: Path, *, environ: dict[str, str] | None = None) -> Plan:
    inventory = load_inventory(inventory_path)
    with SshConnector() as connector:
        return plan_fleet(
            inventory,
            list(inventory.hosts.values()),
            connector=connector,
            renderer=Renderer(inventory, environ=environ or {}),
        )


def cli(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["plan", *args], env=env or {})
    return result.exit_code, result.stdout, result.stderr


# -- the scenarios of issue #4 ------------------------------------------------------


def test_a_host_without_daemon_json_gets_a_new_file(fleet: Fleet, tmp_path: Path) -> None:
    host = fleet.hosts[0]
    assert not host.exists(DAEMON_JSON)
    plan = plan_repo(write_repo(tmp_path, fleet, [host]))
    web = plan.host(host.name)
    assert web.action is Action.RESTART
    daemon = web.files[0]
    assert (daemon.path, daemon.live_sha256) == (DAEMON_JSON, None)
    assert [c.display for c in daemon.changes] == [
        '+ log-driver: "json-file"',
        '+ log-opts: {"max-file": "5", "max-size": "50m"}',
        '+ registry-mirrors: ["https://mirror.corp.example.com"]',
    ]
    assert daemon.text_diff.startswith(f"--- {DAEMON_JSON} (live)\n+++ {DAEMON_JSON} (target)\n")
    # the fleet's hosts run two containers and live-restore is off
    assert web.warnings == [
        "restart kills 2 running containers: live-restore is off on the running daemon "
        "(containers with a restart policy start again)"
    ]
    assert web.facts.engine_version == "26.1.5"
    assert web.facts.exec_start == ["-H", "fd://", "--containerd=/run/containerd/containerd.sock"]
    assert (web.facts.active, web.facts.running_containers, web.facts.live_restore) == (
        True,
        2,
        False,
    )


def test_a_mirror_change_is_a_reload(fleet: Fleet, tmp_path: Path) -> None:
    host = fleet.hosts[0]
    host.write_file(
        DAEMON_JSON,
        json.dumps(
            {
                "registry-mirrors": ["https://old-mirror.corp.example.com"],
                "log-driver": "json-file",
                "log-opts": {"max-size": "50m", "max-file": "5"},
            },
            indent=4,
        ),
    )
    web = plan_repo(write_repo(tmp_path, fleet, [host])).host(host.name)
    assert web.action is Action.RELOAD
    assert [c.display for c in web.files[0].changes] == [
        '~ registry-mirrors: ["https://old-mirror.corp.example.com"] -> '
        '["https://mirror.corp.example.com"]'
    ]
    assert web.warnings == []


def test_a_log_opts_change_is_a_restart(fleet: Fleet, tmp_path: Path) -> None:
    host = fleet.hosts[0]
    host.write_file(
        DAEMON_JSON,
        json.dumps(
            {
                "registry-mirrors": ["https://mirror.corp.example.com"],
                "log-driver": "json-file",
                "log-opts": {"max-size": "10m", "max-file": "5"},
            }
        ),
    )
    web = plan_repo(write_repo(tmp_path, fleet, [host])).host(host.name)
    assert web.action is Action.RESTART
    assert web.changes == ["log-opts.max-size"]
    assert web.reasons == [
        "restart: dockerd applies log-opts only when it starts (a reload ignores it)"
    ]


def test_manage_keys_keeps_a_foreign_key_and_shows_it(fleet: Fleet, tmp_path: Path) -> None:
    host = fleet.hosts[0]
    live = {
        "registry-mirrors": ["https://mirror.corp.example.com"],
        "log-driver": "json-file",
        "log-opts": {"max-size": "50m", "max-file": "5"},
        "runtimes": {"nvidia": {"path": "nvidia-container-runtime"}},
    }
    host.write_file(DAEMON_JSON, json.dumps(live))
    repo = write_repo(
        tmp_path, fleet, [host], host_extra={host.name: "manage: keys, vars: {log_max_size: 20m}"}
    )
    web = plan_repo(repo).host(host.name)
    daemon = web.files[0]
    assert daemon.kept_keys == ["runtimes"]
    assert [c.display for c in daemon.changes] == [
        '~ log-opts.max-size: "50m" -> "20m"',
        '= runtimes: {"nvidia": {"path": "nvidia-container-runtime"}} '
        "(not managed by fleetcfg, kept)",
    ]
    assert web.changes == ["log-opts.max-size"]
    assert web.action is Action.RESTART


def test_hosts_in_the_target_with_fd_in_execstart_is_an_error(fleet: Fleet, tmp_path: Path) -> None:
    host = fleet.hosts[0]
    repo = write_repo(
        tmp_path,
        fleet,
        [host],
        profiles={"base.yaml.j2": 'hosts: ["unix:///var/run/docker.sock"]\n'},
    )
    web = plan_repo(repo).host(host.name)
    assert web.action is Action.ERROR
    assert web.errors == [
        f'{DAEMON_JSON} sets "hosts" but docker.service already passes -H fd:// (ExecStart in '
        "/lib/systemd/system/docker.service): dockerd refuses to start (the following "
        "directives are specified both as a flag and in the configuration file: hosts). "
        'Remove "hosts" from the profile, or drop the flag from the unit with a systemd drop-in'
    ]


def test_a_drop_in_execstart_without_h_lets_hosts_through(fleet: Fleet, tmp_path: Path) -> None:
    host = fleet.hosts[0]
    host.set_exec_start(["--containerd=/run/containerd/containerd.sock"])
    repo = write_repo(
        tmp_path,
        fleet,
        [host],
        profiles={"base.yaml.j2": 'hosts: ["unix:///var/run/docker.sock"]\n'},
    )
    web = plan_repo(repo).host(host.name)
    assert web.errors == []
    assert web.facts.exec_start == ["--containerd=/run/containerd/containerd.sock"]


def test_an_engine_too_old_for_proxies_is_an_error_on_that_host(
    fleet: Fleet, tmp_path: Path
) -> None:
    old, current = fleet.hosts[0], fleet.hosts[1]
    old.set_engine_version("20.10.24")
    profile = (
        BASE_PROFILE
        + "proxies:\n  http-proxy: \"http://svc:{{ env('PROXY_PASSWORD') }}@proxy.corp:3128\"\n"
    )
    repo = write_repo(tmp_path, fleet, [old, current], profiles={"base.yaml.j2": profile})
    plan = plan_repo(repo, environ={"PROXY_PASSWORD": SECRET})
    legacy = plan.host(old.name)
    assert legacy.action is Action.ERROR
    assert legacy.facts.engine_version == "20.10.24"
    assert legacy.errors == [
        f'{tmp_path}/profiles/base.yaml.j2:6: FC006 proxies: "proxies" was added in Engine 23.0; Engine '
        "20.10 does not know it and refuses to start. Upgrade these hosts or drop the key for them"
    ]
    assert plan.host(current.name).action is Action.RESTART
    assert SECRET not in plan.model_dump_json()


def test_an_unreachable_host_is_reported_and_the_rest_planned(fleet: Fleet, tmp_path: Path) -> None:
    down, up = fleet.hosts[0], fleet.hosts[1]
    down.fault_unreachable()
    plan = plan_repo(write_repo(tmp_path, fleet, [down, up]))
    lost = plan.host(down.name)
    assert (lost.action, lost.unreachable) == (Action.ERROR, True)
    assert lost.errors == [
        f"connection refused by {down.address}:22 (is sshd running and listening on port 22?)"
    ]
    assert plan.host(up.name).action is Action.RESTART
    assert plan.summary.line() == "0 to reload, 1 to restart, 0 unchanged, 1 unreachable"


def test_an_unknown_host_key_is_an_error_until_accepted(fleet: Fleet, tmp_path: Path) -> None:
    host = fleet.hosts[0]
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    repo = write_repo(
        tmp_path / "repo", fleet, [host], host_extra={host.name: f"ssh: {{known_hosts: {empty}}}"}
    )
    code, out, _ = cli(["-i", str(repo)])
    assert code == 1
    assert f"# {host.name} ({host.address}): error\n" in out
    assert f"error: the host key of {host.address} is not known" in out
    assert "--accept-new-host-keys" in out
    assert empty.read_text() == ""
    code, out, _ = cli(["-i", str(repo), "--accept-new-host-keys"])
    assert code == 0, out
    assert host.address in empty.read_text()
    assert f"# {host.name} ({host.address}): restart" in out


def test_a_repo_cannot_make_accept_new_write_to_a_file_of_this_machine(
    fleet: Fleet, tmp_path: Path
) -> None:
    # the attack: a pull request points known_hosts at a file of the machine
    # plan runs on (here a shell rc file), and plan runs with
    # --accept-new-host-keys: the host's key line used to be appended to it.
    # And an environment variable in the path used to be expanded and printed.
    host = fleet.hosts[0]
    victim = tmp_path / "bashrc"
    victim.write_text("export PATH=$PATH:/opt/bin\n")
    named = {host.name: f"ssh: {{known_hosts: {victim}}}"}
    repo = write_repo(tmp_path / "repo", fleet, [host], host_extra=named)
    code, out, _ = cli(["-i", str(repo), "--accept-new-host-keys"])
    assert code == 1
    assert f"cannot use known_hosts file {victim}: it is not a known_hosts file" in out
    assert victim.read_text() == "export PATH=$PATH:/opt/bin\n"
    leak = {host.name: "ssh: {known_hosts: /tmp/kh-$FLEET_CI_TOKEN}"}
    repo = write_repo(tmp_path / "repo2", fleet, [host], host_extra=leak)
    code, out, err = cli(
        ["-i", str(repo), "--format", "json"], env={"FLEET_CI_TOKEN": "tok-5ec4et"}
    )
    assert code == 1 and "/tmp/kh-$FLEET_CI_TOKEN" in out
    assert "tok-5ec4et" not in out + err


# -- saved plans, secrets, exit codes -------------------------------------------------


def test_a_saved_plan_round_trips_without_secrets(fleet: Fleet, tmp_path: Path) -> None:
    a, b = fleet.hosts[0], fleet.hosts[1]
    a.write_file(
        DAEMON_JSON, json.dumps({"proxies": {"http-proxy": "http://svc:0ld-pw-77@p:3128"}})
    )
    profile = (
        BASE_PROFILE
        + "proxies:\n  http-proxy: \"http://svc:{{ env('PROXY_PASSWORD') }}@proxy.corp:3128\"\n"
    )
    repo = write_repo(tmp_path / "repo", fleet, [a, b], profiles={"base.yaml.j2": profile})
    saved = tmp_path / "plan.json"
    code, out, err = cli(["-i", str(repo), "-o", str(saved)], env={"PROXY_PASSWORD": SECRET})
    assert code == 0, out + err
    plan = load_plan(saved)
    assert [h.host for h in plan.hosts] == [a.name, b.name]
    first = plan.host(a.name)
    assert first.files[0].live_sha256 is not None
    assert first.files[0].target_sha256 is not None
    assert first.action is Action.RESTART and first.facts.engine_version == "26.1.5"
    assert load_plan(saved) == plan
    for text in (saved.read_text(), out, err):
        assert SECRET not in text
        assert "0ld-pw-77" not in text
    assert "http://svc:***@proxy.corp:3128" in saved.read_text()


def test_detailed_exitcode_says_changes_none_or_errors(fleet: Fleet, tmp_path: Path) -> None:
    host = fleet.hosts[0]
    repo = write_repo(tmp_path, fleet, [host])
    assert cli(["-i", str(repo), "--detailed-exitcode"])[0] == 2
    inventory = load_inventory(repo)
    with SshConnector() as connector:
        transport = connector.open(inventory.host(host.name).target())  # type: ignore[arg-type]
        planned = plan_host(inventory, inventory.host(host.name), transport)
        transport.close()
    # what apply would write, written by hand: nothing left to change
    host.write_file(DAEMON_JSON, planned.contents[DAEMON_JSON])
    assert cli(["-i", str(repo), "--detailed-exitcode"])[0] == 0
    host.fault_unreachable()
    assert cli(["-i", str(repo), "--detailed-exitcode"])[0] == 1


def test_json_output_names_every_host(fleet: Fleet, tmp_path: Path) -> None:
    repo = write_repo(tmp_path, fleet, fleet.hosts)
    code, out, _ = cli(["-i", str(repo), "--format", "json"])
    assert code == 0
    data = json.loads(out)
    assert [h["host"] for h in data["hosts"]] == [h.name for h in fleet.hosts]
    assert {h["action"] for h in data["hosts"]} == {"restart"}
    assert data["hosts"][0]["changes"] == ["log-driver", "log-opts", "registry-mirrors"]
    assert data["summary"]["restart"] == len(fleet.hosts)


# -- how the facts are gathered -----------------------------------------------------


def test_facts_take_one_session_per_host(fleet: Fleet, tmp_path: Path) -> None:
    host = fleet.hosts[0]
    host.write_file(
        DAEMON_JSON,
        json.dumps(
            {
                "registry-mirrors": ["https://old.corp.example.com"],
                "log-driver": "json-file",
                "log-opts": {"max-size": "50m", "max-file": "5"},
            }
        ),
    )
    before = len(host.commands())
    assert plan_repo(write_repo(tmp_path, fleet, [host])).host(host.name).action is Action.RELOAD
    assert len(host.commands()) == before + 1


def test_a_restart_counts_containers_in_one_more_session(fleet: Fleet, tmp_path: Path) -> None:
    host = fleet.hosts[0]
    # a daemon.json written after dockerd started: only the daemon knows its live-restore
    host.write_file(DAEMON_JSON, '{"live-restore": true}', loaded=False)
    before = len(host.commands())
    plan = plan_repo(write_repo(tmp_path, fleet, [host]))
    web = plan.host(host.name)
    assert web.action is Action.RESTART
    added = host.commands()[before:]
    assert len(added) == 2
    assert "docker info" in added[1].command
    # the fleet's daemon never loaded that file: live-restore is off, as docker info says
    assert web.facts.live_restore is False
    assert any(w.startswith("restart kills 2 running containers") for w in web.warnings)


def test_a_daemon_running_its_file_is_not_asked_for_live_restore(
    fleet: Fleet, tmp_path: Path
) -> None:
    host = fleet.hosts[0]
    written = host.write_file(DAEMON_JSON, '{"live-restore": true}')
    past = time.time() - 60
    os.utime(written, (past, past))  # written well before the restart below
    assert host.ssh("systemctl restart docker").returncode == 0
    before = len(host.commands())
    web = plan_repo(write_repo(tmp_path, fleet, [host])).host(host.name)
    added = [c.command for c in host.commands()[before:] if "systemctl restart" not in c.command]
    assert len(added) == 2 and "docker ps -q" in added[1] and "docker info" not in added[1]
    assert web.action is Action.RESTART
    assert (web.facts.live_restore, web.facts.running_containers) == (True, 2)
    # live-restore is on in the daemon but the target turns it off
    assert web.warnings == [
        "restart kills 2 running containers: the target turns live-restore off (containers "
        "with a restart policy start again)"
    ]


def test_a_become_user_plans_through_sudo_and_reads_client_configs(
    fleet: Fleet, tmp_path: Path
) -> None:
    host = fleet.hosts[0]
    deploy = pwd.getpwnam("deploy")  # a user's config is theirs: fleetcfg reads it as them
    host.write_file(
        "/home/deploy/.docker/config.json",
        '{"detachKeys": "ctrl-p,q"}',
        mode=0o600,
        uid=deploy.pw_uid,
        gid=deploy.pw_gid,
    )
    os.chown(host.path("/home/deploy/.docker"), deploy.pw_uid, deploy.pw_gid)
    repo = write_repo(
        tmp_path,
        fleet,
        [host],
        host_extra={host.name: "ssh: {user: deploy, become: true}, client_users: [deploy]"},
        defaults="client_profile: client\n",
        profiles={"client.json.j2": '{"detachKeys": "ctrl-e,e"}\n'},
    )
    web = plan_repo(repo).host(host.name)
    assert web.errors == []
    client = next(f for f in web.files if f.user == "deploy")
    assert client.path == "/home/deploy/.docker/config.json"
    assert [c.display for c in client.changes] == ['~ detachKeys: "ctrl-p,q" -> "ctrl-e,e"']
    assert web.facts.running_containers == 2  # docker info ran as root through sudo


def test_a_user_whose_sudo_needs_a_password_is_an_error(fleet: Fleet, tmp_path: Path) -> None:
    host = fleet.hosts[0]
    repo = write_repo(
        tmp_path, fleet, [host], host_extra={host.name: "ssh: {user: nopriv, become: true}"}
    )
    web = plan_repo(repo).host(host.name)
    assert web.action is Action.ERROR and not web.unreachable
    assert web.errors[0].startswith("sudo requires a password for user nopriv")


def test_a_failed_unit_needs_a_start(fleet: Fleet, tmp_path: Path) -> None:
    host = fleet.hosts[0]
    host.set_unit_state("failed")
    web = plan_repo(write_repo(tmp_path, fleet, [host])).host(host.name)
    assert web.action is Action.RESTART
    assert web.reasons[0] == (
        "restart: docker.service is failed (dockerd is not running), so it needs a start"
    )
    assert web.facts.running_containers is None


LOKI_PROFILE = """
log-driver: loki
log-opts:
  loki-url: "https://loki.example.com/loki/api/v1/push"
"""


def test_a_logging_plugin_missing_or_disabled_on_a_host_is_a_host_error_before_apply(
    fleet: Fleet, tmp_path: Path
) -> None:
    has_it, lacks_it, disabled = fleet.hosts
    has_it.install_plugin("loki:latest")
    lacks_it.install_plugin("grafana/loki-docker-driver:latest")  # not under the alias
    disabled.install_plugin("loki:latest", enabled=False)
    path = write_repo(tmp_path, fleet, fleet.hosts, profiles={"base.yaml.j2": LOKI_PROFILE})
    plan = plan_repo(path)
    by_host = {h.host: h for h in plan.hosts}
    assert by_host[has_it.name].action is Action.RESTART, by_host[has_it.name]
    assert by_host[has_it.name].errors == []
    [missing] = by_host[lacks_it.name].errors
    assert by_host[lacks_it.name].action is Action.ERROR
    assert 'log-driver "loki" is a logging plugin that is not installed on this host' in missing
    assert "docker plugin install grafana/loki-docker-driver --alias loki" in missing
    [off] = by_host[disabled.name].errors
    assert "installed but disabled" in off and "docker plugin enable loki:latest" in off
    # apply leaves the hosts without the plugin alone
    result = runner.invoke(app, ["apply", "-i", str(path), "--yes"], env={"NO_COLOR": "1"})
    assert result.exit_code == 1, result.stdout + result.stderr
    assert has_it.exists(DAEMON_JSON)
    assert not lacks_it.exists(DAEMON_JSON) and not disabled.exists(DAEMON_JSON)


def applied(tmp_path: Path, fleet: Fleet, host: FleetHost) -> Path:
    """The inventory of ``host``, applied (the host has apply's Engine record)."""
    path = write_repo(tmp_path, fleet, [host])
    result = runner.invoke(app, ["apply", "-i", str(path), "--yes"], env={"NO_COLOR": "1"})
    assert result.exit_code == 0, result.stdout + result.stderr
    assert host.exists("/etc/docker/.fleetcfg/engine")
    return path


def test_a_plan_after_apply_reads_the_engine_version_without_starting_dockerd(
    fleet: Fleet, tmp_path: Path
) -> None:
    host = fleet.hosts[0]
    path = applied(tmp_path, fleet, host)
    runs = len(host.events("version"))

    assert plan_repo(path).host(host.name).facts.engine_version == "26.1.5"
    assert len(host.events("version")) == runs  # from apply's record

    host.set_engine_version("28.5.2")  # a new binary: the record no longer holds
    assert plan_repo(path).host(host.name).facts.engine_version == "28.5.2"
    assert len(host.events("version")) == runs + 1


def test_a_record_a_host_user_could_have_written_is_not_believed(
    fleet: Fleet, tmp_path: Path
) -> None:
    host = fleet.hosts[0]
    path = applied(tmp_path, fleet, host)
    record = host.read_file("/etc/docker/.fleetcfg/engine")
    identity = record.splitlines()[0]
    forged = f"{identity}\nDocker version 20.10.24+dfsg1, build 297e128\n"
    host.write_file("/etc/docker/.fleetcfg/engine", forged, mode=0o666)

    assert plan_repo(path).host(host.name).facts.engine_version == "26.1.5"
    host.write_file("/etc/docker/.fleetcfg/engine", forged, mode=0o600, uid=1000, gid=1000)
    assert plan_repo(path).host(host.name).facts.engine_version == "26.1.5"
    host.write_file("/etc/docker/.fleetcfg/engine", forged, mode=0o600)  # root's: believed
    assert plan_repo(path).host(host.name).facts.engine_version == "20.10.24"
