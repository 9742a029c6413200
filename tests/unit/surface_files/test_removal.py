"""Removal of the proxy drop-in and buildkitd.toml against FakeDockerHosts
(issue 14): a file fleetcfg created whose source left the inventory is
removed with the action its removal needs; a file that existed before
fleetcfg first wrote it is left in place and the plan says so; a proxy that
moves to daemon.json takes the drop-in away in the same apply; a failed
restart puts a removed drop-in back."""

from __future__ import annotations

import json
from pathlib import Path

from fleetcfg.apply.report import HostStatus
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.dockerd.buildkitd import BUILDKITD_PATH
from fleetcfg.dockerd.dropin import DROPIN_PATH, ENV_FILE_PATH
from fleetcfg.host.state import CREATED, STATE_PATH, HostState
from fleetcfg.plan.model import Action, FileKind, HostPlan
from fleetcfg.render.surface.buildkitd import removal
from tests.unit.apply.helpers import OLD, Setup, daemon_json, setup, state_of

PROXY = '  proxy: {http: "http://proxy.corp:3128", no_proxy: [localhost], where: WHERE}\n'
BUILDKIT = "  buildkit: {builder: ci}\n"
THEIRS = b'[Service]\nEnvironment="HTTP_PROXY=http://old-proxy:8080"\n'


def _inventory(*, proxy: str | None = "dropin", buildkit: bool = False) -> str:
    lines = ["defaults:", "  daemon_profile: base", '  engine_version: "20.10"']
    text = "\n".join(lines) + "\n"
    if proxy is not None:
        text += PROXY.replace("WHERE", proxy)
    if buildkit:
        text += BUILDKIT
    return text + "hosts:\n  web-01: {address: 10.0.0.1}\n"


def _setup(tmp_path: Path, **kw: object) -> Setup:
    return setup(tmp_path, target=OLD, inventory=_inventory(**kw), engine="20.10.24")  # type: ignore[arg-type]


def _edit(s: Setup, **kw: object) -> None:
    (s.tmp_path / "inventory.yaml").write_text(_inventory(**kw))  # type: ignore[arg-type]
    s.set_profile(OLD)


def _applied(s: Setup) -> HostPlan:
    """Apply the current plan (it must pass) and return it."""
    plan = s.plan()
    report = s.apply(plan)
    assert report.exit_code == ExitCode.OK, report.results[0].reason
    return plan.hosts[0]


def test_a_drop_in_fleetcfg_created_is_removed_with_daemon_reload_and_restart(
    tmp_path: Path,
) -> None:
    s = _setup(tmp_path)
    _applied(s)
    fake = s.hosts["web-01"]
    assert state_of(fake).files[DROPIN_PATH].extra[CREATED] is True
    before = (fake.daemon_reloads, fake.restarts)
    _edit(s, proxy=None)
    host = s.plan().hosts[0]
    assert host.action is Action.RESTART and host.daemon_reload, host.errors
    (dropin,) = [f for f in host.files if f.changed]
    assert dropin.remove and dropin.kind is FileKind.DROPIN
    assert dropin.effect == "daemon-reload+restart"
    assert "daemon-reload + restart: the proxy drop-in was removed" in host.reasons
    assert "the host's proxy no longer goes to the drop-in" in dropin.changes[0].display
    _applied(s)
    assert not fake.exists(DROPIN_PATH)
    assert (fake.daemon_reloads, fake.restarts) == (before[0] + 1, before[1] + 1)
    assert daemon_json(fake) == OLD
    assert state_of(fake).files[DROPIN_PATH].sha256 is None
    assert s.plan().hosts[0].action is Action.NONE


def test_a_drop_in_that_existed_before_fleetcfg_is_left_in_place_and_the_plan_says_so(
    tmp_path: Path,
) -> None:
    s = _setup(tmp_path)
    fake = s.hosts["web-01"]
    fake.add_dir("/etc/systemd/system/docker.service.d")
    fake.add_file(DROPIN_PATH, THEIRS)
    _applied(s)
    assert state_of(fake).files[DROPIN_PATH].extra[CREATED] is False
    written = fake.content(DROPIN_PATH)
    _applied(s)  # a later write of the file keeps it not fleetcfg's
    assert state_of(fake).files[DROPIN_PATH].extra[CREATED] is False
    _edit(s, proxy=None)
    host = s.plan().hosts[0]
    assert host.action is Action.NONE, host.errors
    assert not [f for f in host.files if f.changed]
    (warning,) = [w for w in host.warnings if DROPIN_PATH in w]
    assert "no longer managed by fleetcfg" in warning and "left in place" in warning
    assert "existed before fleetcfg first wrote it" in warning
    assert "systemd still gives dockerd its proxy" in warning
    assert "fleetcfg rollback --list" in warning
    s.apply(s.plan())
    assert fake.content(DROPIN_PATH) == written
    fake.add_file(DROPIN_PATH, THEIRS)  # edited by hand: no longer fleetcfg's bytes
    assert not [w for w in s.plan().hosts[0].warnings if DROPIN_PATH in w]


def _rewrite_state(s: Setup, path: str, **extra: object) -> None:
    """state.json as an older fleetcfg wrote it: no ``created`` in the record."""
    fake = s.hosts["web-01"]
    data = json.loads(fake.content(STATE_PATH) or b"{}")
    record = data["files"][path]
    record.pop(CREATED, None)
    record.update(extra)
    fake.add_file(STATE_PATH, json.dumps(data).encode(), mode=0o600)


def test_an_older_state_json_tells_from_the_oldest_backup_whether_fleetcfg_created_it(
    tmp_path: Path,
) -> None:
    s = _setup(tmp_path)
    _applied(s)
    _rewrite_state(s, DROPIN_PATH)
    assert HostState.from_bytes(s.hosts["web-01"].content(STATE_PATH)).files[DROPIN_PATH].created
    _edit(s, proxy=None)
    assert [f.path for f in s.plan().hosts[0].files if f.remove] == [DROPIN_PATH]
    # the oldest backup pruned (or one that was a file): not fleetcfg's, left alone
    _rewrite_state(s, DROPIN_PATH, backups=[])
    host = s.plan().hosts[0]
    assert host.action is Action.NONE and not [f for f in host.files if f.remove]
    assert any("left in place" in w for w in host.warnings)


def test_a_proxy_that_moves_to_daemon_json_removes_the_drop_in_in_the_same_apply(
    tmp_path: Path,
) -> None:
    s = _setup(tmp_path, proxy="auto")
    fake = s.hosts["web-01"]
    _applied(s)
    assert fake.exists(DROPIN_PATH)
    fake.engine_text = "26.1.5"  # the engine was upgraded past 23.0
    fake.engine = fake.engine.parse("26.1.5")
    before = (fake.daemon_reloads, fake.restarts)
    host = s.plan().hosts[0]
    assert host.action is Action.RESTART and host.daemon_reload, host.errors
    changed = {f.path: f for f in host.files if f.changed}
    assert set(changed) == {"/etc/docker/daemon.json", DROPIN_PATH}
    assert changed[DROPIN_PATH].remove
    assert any("proxies" in c.display for c in changed["/etc/docker/daemon.json"].changes)
    assert "daemon-reload + restart: the proxy drop-in was removed" in host.reasons
    _applied(s)
    assert not fake.exists(DROPIN_PATH)
    assert daemon_json(fake)["proxies"]["http-proxy"] == "http://proxy.corp:3128"
    assert (fake.daemon_reloads, fake.restarts) == (before[0] + 1, before[1] + 1)  # one action
    assert s.plan().hosts[0].action is Action.NONE


def test_a_failed_restart_puts_the_removed_drop_in_back(tmp_path: Path) -> None:
    s = _setup(tmp_path)
    fake = s.hosts["web-01"]
    _applied(s)
    written = fake.content(DROPIN_PATH)
    mode = fake.file(DROPIN_PATH).mode  # type: ignore[union-attr]
    _edit(s, proxy=None)
    fake.fail_restarts = 1
    result = s.apply(s.plan()).results[0]
    assert result.status is HostStatus.FAILED
    assert result.rolled_back and result.recovered, result.reason
    assert fake.content(DROPIN_PATH) == written
    assert fake.file(DROPIN_PATH).mode == mode  # type: ignore[union-attr]
    assert fake.unit_state == "active"
    record = state_of(fake).files[DROPIN_PATH]
    assert record.sha256 is not None and record.created
    assert [f.path for f in s.plan().hosts[0].files if f.remove] == [DROPIN_PATH]


def test_a_removed_buildkit_removes_buildkitd_toml_and_recreates_the_builder_without_it(
    tmp_path: Path,
) -> None:
    s = _setup(tmp_path, proxy=None, buildkit=True)
    plan = s.plan()
    assert plan.hosts[0].recreate_builder, plan.hosts[0].errors
    fake = s.hosts["web-01"]
    fake.add_dir("/etc/buildkit")
    # the file was written by fleetcfg's plan (apply's builder run is the e2e test's)
    _applied_without_builder(s)
    record = state_of(fake).files[BUILDKITD_PATH]
    assert record.extra["builder"] == "ci"
    _edit(s, proxy=None, buildkit=False)
    host = s.plan().hosts[0]
    assert host.action is Action.WRITE and host.recreate_builder, host.errors
    assert [f.path for f in host.files if f.remove] == [BUILDKITD_PATH]
    assert "builder recreation: buildkitd.toml was removed (builder ci recreated without it)" in (
        host.reasons
    )
    assert host.builder_commands[-1] == [
        "docker",
        "buildx",
        "create",
        "--name",
        "ci",
        "--driver",
        "docker-container",
    ]
    report = s.apply(s.plan())
    assert report.exit_code == ExitCode.OK, report.results[0].reason
    steps = {r.step: r.detail for r in report.results[0].steps}
    assert "dockerd is not touched" in steps["service"] and "certs.d" not in steps["service"]
    assert not fake.exists(BUILDKITD_PATH)
    creates = [a for a in fake.argvs if a[:3] == ("docker", "buildx", "create")]
    assert creates[-1] == tuple(host.builder_commands[-1])
    assert fake.restarts == 0 and fake.reloads == 0


def _applied_without_builder(s: Setup) -> None:
    """Apply, with the fake answering the builder's commands."""
    fake = s.hosts["web-01"]
    fake.reply(["docker", "buildx"], prefix=True)
    fake.reply(["if", "docker", "buildx", "inspect"], prefix=True)  # sh -c's line, split
    _applied(s)


def test_a_builder_name_from_the_host_is_used_only_when_it_is_a_plain_name() -> None:
    assert removal({"builder": "ci"})[1][-1][-3:] == ("ci", "--driver", "docker-container")
    assert removal({"service": "buildkit.service"})[1] == (
        ("systemctl", "restart", "buildkit.service"),
    )
    what, commands = removal({"builder": "ci; rm -rf /"})
    assert commands == () and "recreated by hand" in what


def test_a_drop_in_line_with_a_credential_is_written_0600(tmp_path: Path) -> None:
    lines = "  proxy: {http: 'http://proxy.corp:3128', where: dropin,"
    lines += " dropin_lines: ['Environment=\"FTP_PROXY=http://u:s3cret@ftp.corp:21\"']}\n"
    inventory = _inventory(proxy=None).replace("hosts:\n", lines + "hosts:\n")
    s = setup(tmp_path, target=OLD, inventory=inventory)
    host = s.plan().hosts[0]
    (dropin,) = [f for f in host.files if f.kind is FileKind.DROPIN]
    assert (dropin.mode, dropin.credentials) == (0o600, True)
    assert "s3cret" not in json.dumps(host.model_dump(mode="json"))
    _applied(s)
    assert s.hosts["web-01"].file(DROPIN_PATH).mode == 0o600  # type: ignore[union-attr]


def test_rollback_writes_the_drop_ins_files_0600_whatever_they_hold(tmp_path: Path) -> None:
    lines = "  proxy: {http: 'http://u:s3cret@proxy.corp:3128', where: dropin}\n"
    inventory = _inventory(proxy=None).replace("hosts:\n", lines + "hosts:\n")
    s = setup(tmp_path, target=OLD, inventory=inventory)
    _applied(s)
    fake = s.hosts["web-01"]
    first = fake.content(DROPIN_PATH)
    first_env = fake.content(ENV_FILE_PATH)
    (s.tmp_path / "inventory.yaml").write_text(inventory.replace("proxy.corp", "proxy2.corp"))
    s.set_profile(OLD)
    _applied(s)
    assert first is not None and b"s3cret" not in first  # systemd shows Environment= to all
    assert b"proxy2.corp" in (fake.content(ENV_FILE_PATH) or b"")
    report = s.rollback(["web-01"])
    assert report.exit_code == ExitCode.OK, report.results[0].reason
    assert fake.content(DROPIN_PATH) == first
    assert fake.content(ENV_FILE_PATH) == first_env and b"s3cret" in (first_env or b"")
    assert fake.file(ENV_FILE_PATH).mode == 0o600  # type: ignore[union-attr]


def test_fleetcfg_rollback_after_a_removal_puts_the_drop_in_back(tmp_path: Path) -> None:
    s = _setup(tmp_path)
    _applied(s)
    fake = s.hosts["web-01"]
    written = fake.content(DROPIN_PATH)
    _edit(s, proxy=None)
    _applied(s)
    assert not fake.exists(DROPIN_PATH)
    report = s.rollback(["web-01"])
    assert report.exit_code == ExitCode.OK, report.results[0].reason
    assert fake.content(DROPIN_PATH) == written
    assert fake.file(DROPIN_PATH).mode == 0o600  # type: ignore[union-attr]
    assert state_of(fake).files[DROPIN_PATH].created
