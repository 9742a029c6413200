"""certs.d end to end against FakeDockerHosts: plan shows the files and the
one combined action, apply writes them with their folder and modes, touches
nothing else, removes what a removed registry left, and rolls every file of
the host back together."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from fleetcfg.apply.report import HostStatus
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.plan.model import Action, FileKind
from fleetcfg.render import surface
from fleetcfg.render.surface import ApplyAction, SurfaceContext, SurfaceFile, SurfaceOutput
from tests.pki import REGISTRY_FOLDER, REGISTRY_YAML, make_ca, make_cert, write_certs
from tests.unit.apply.helpers import OLD, RESTARTING, Setup, daemon_json, setup, state_of

CA = make_ca("Corp Root CA")
CLIENT = make_cert("web-01", ca=False, issuer=CA)
FOLDER = REGISTRY_FOLDER
REGISTRY = textwrap.indent(REGISTRY_YAML, "  ")


def _setup(tmp_path: Path, *, target: dict[str, object] = OLD) -> Setup:
    inventory = "\n".join(
        [
            "defaults:",
            "  daemon_profile: base",
            '  engine_version: "26.1"',
            REGISTRY.strip("\n"),
            "hosts:",
            "  web-01: {address: 10.0.0.1}",
        ]
    )
    s = setup(tmp_path, target=target, inventory=inventory + "\n")
    write_certs(tmp_path, CA, CLIENT)
    return s


def _drop_registry(s: Setup) -> None:
    path = s.tmp_path / "inventory.yaml"
    path.write_text(path.read_text().replace(REGISTRY.strip("\n") + "\n", ""))
    s.set_profile(OLD)


def test_a_new_ca_is_planned_as_write_only_with_nothing_to_reload(tmp_path: Path) -> None:
    s = _setup(tmp_path)
    host = s.plan().hosts[0]
    assert host.action is Action.WRITE, host.errors
    assert host.reasons == ["nothing to reload: certs.d only: dockerd reads it on every pull"]
    surface = [f for f in host.files if f.kind is FileKind.CERTS_D]
    assert [(f.path, f.mode, f.credentials) for f in surface] == [
        (f"{FOLDER}/ca.crt", 0o644, False),
        (f"{FOLDER}/client.cert", 0o644, False),
        (f"{FOLDER}/client.key", 0o600, True),
    ]
    assert all(f.effect == "none" and f.changed for f in surface)
    assert host.created_dirs == [FOLDER]
    key = surface[2]
    assert key.text_diff == ""
    plan_json = json.dumps(host.model_dump(mode="json"))
    assert CLIENT.key_pem.splitlines()[1] not in plan_json
    assert "BEGIN CERTIFICATE" in surface[0].text_diff


def test_a_live_file_that_holds_a_private_key_is_never_shown(tmp_path: Path) -> None:
    # a host's client.cert with the key appended (a combined PEM, which the
    # daemon reads too): the plan replaces it, and its diff showed the key
    s = _setup(tmp_path)
    old = make_cert("old web-01", ca=False, issuer=CA)
    s.hosts["web-01"].add_dir(FOLDER)
    s.hosts["web-01"].add_file(f"{FOLDER}/client.cert", (old.cert_pem + old.key_pem).encode())
    host = s.plan().hosts[0]
    cert = next(f for f in host.files if f.path == f"{FOLDER}/client.cert")
    assert cert.changed and cert.text_diff == ""
    assert [c.display for c in cert.changes] == [
        f"~ {FOLDER}/client.cert: the live file holds a private key, not shown "
        f"({len(CLIENT.cert_pem)} bytes, mode 0644)"
    ]
    plan_json = json.dumps(host.model_dump(mode="json"))
    for line in old.key_pem.splitlines()[1:-1]:
        assert line not in plan_json


def test_apply_writes_certs_d_with_its_folder_and_modes_and_restarts_nothing(
    tmp_path: Path,
) -> None:
    s = _setup(tmp_path)
    report = s.apply(s.plan())
    result = report.results[0]
    assert report.exit_code == ExitCode.OK, result.reason
    fake = s.hosts["web-01"]
    assert fake.content(f"{FOLDER}/ca.crt") == CA.cert_pem.encode()
    assert fake.file(f"{FOLDER}/ca.crt").mode == 0o644  # type: ignore[union-attr]
    assert fake.file(f"{FOLDER}/client.key").mode == 0o600  # type: ignore[union-attr]
    assert fake.content(f"{FOLDER}/client.key") == CLIENT.key_pem.encode()
    assert fake.dir_meta[FOLDER] == (0o755, "root", "root")
    assert fake.restarts == 0 and fake.reloads == 0
    assert daemon_json(fake) == OLD
    records = state_of(fake).files
    assert records[f"{FOLDER}/ca.crt"].extra["created_dir"] == FOLDER
    assert ("service", "skipped") in [(r.step, r.status.value) for r in result.steps]
    assert s.plan().hosts[0].action is Action.NONE


def test_a_removed_registry_removes_the_files_and_the_folder_fleetcfg_created(
    tmp_path: Path,
) -> None:
    s = _setup(tmp_path)
    s.apply(s.plan())
    fake = s.hosts["web-01"]
    fake.add_dir("/etc/docker/certs.d/other.example.com")
    fake.add_file("/etc/docker/certs.d/other.example.com/ca.crt", b"theirs\n")
    _drop_registry(s)
    plan = s.plan()
    host = plan.hosts[0]
    assert host.action is Action.WRITE, host.errors
    assert sorted(f.path for f in host.files if f.remove) == [
        f"{FOLDER}/ca.crt",
        f"{FOLDER}/client.cert",
        f"{FOLDER}/client.key",
    ]
    assert host.remove_dirs == [FOLDER]
    report = s.apply(plan)
    assert report.exit_code == ExitCode.OK, report.results[0].reason
    assert not fake.exists(FOLDER)
    assert fake.content("/etc/docker/certs.d/other.example.com/ca.crt") == b"theirs\n"
    assert s.plan().hosts[0].action is Action.NONE


def test_a_folder_with_other_files_is_kept_when_its_registry_goes(tmp_path: Path) -> None:
    s = _setup(tmp_path)
    s.apply(s.plan())
    fake = s.hosts["web-01"]
    fake.add_file(f"{FOLDER}/extra.crt", b"someone else's\n")
    _drop_registry(s)
    report = s.apply(s.plan())
    assert report.exit_code == ExitCode.OK, report.results[0].reason
    assert fake.content(f"{FOLDER}/extra.crt") == b"someone else's\n"
    assert not fake.exists(f"{FOLDER}/ca.crt")


def test_a_bad_ca_is_an_error_before_the_host_is_touched(tmp_path: Path) -> None:
    s = _setup(tmp_path)
    leaf = make_cert("registry.corp.example.com", ca=False, issuer=CA)
    (tmp_path / "certs" / "ca.pem").write_text(leaf.cert_pem)
    host = s.plan().hosts[0]
    assert host.action is Action.ERROR
    assert any("FC070" in e and "not a CA certificate" in e for e in host.errors)


def test_a_failed_restart_rolls_back_daemon_json_and_certs_d_together(tmp_path: Path) -> None:
    s = _setup(tmp_path, target=RESTARTING)
    fake = s.hosts["web-01"]
    fake.fail_restarts = 1
    plan = s.plan()
    assert plan.hosts[0].action is Action.RESTART
    report = s.apply(plan)
    result = report.results[0]
    assert result.status is HostStatus.FAILED
    assert result.rolled_back
    assert daemon_json(fake) == OLD
    assert not fake.exists(f"{FOLDER}/ca.crt")
    assert not fake.exists(f"{FOLDER}/client.key")
    assert not fake.exists(FOLDER)


def test_rollback_puts_a_replaced_ca_back_with_its_mode(tmp_path: Path) -> None:
    s = _setup(tmp_path)
    fake = s.hosts["web-01"]
    fake.add_dir(FOLDER)
    fake.add_file(f"{FOLDER}/ca.crt", b"the old CA\n", mode=0o644)
    report = s.apply(s.plan())
    assert report.exit_code == ExitCode.OK, report.results[0].reason
    assert fake.content(f"{FOLDER}/ca.crt") == CA.cert_pem.encode()
    report = s.rollback(["web-01"])
    assert report.exit_code == ExitCode.OK, report.results[0].reason
    assert fake.content(f"{FOLDER}/ca.crt") == b"the old CA\n"
    assert fake.file(f"{FOLDER}/ca.crt").mode == 0o644  # type: ignore[union-attr]
    assert not fake.exists(f"{FOLDER}/client.key")  # it was new: removed again
    assert fake.restarts == 0 and fake.reloads == 0


def _dropin_producer(ctx: SurfaceContext) -> SurfaceOutput:
    """A stand-in for the drop-in kind: one unit drop-in that needs
    daemon-reload + restart."""
    return SurfaceOutput(
        files=(
            SurfaceFile(
                kind="dropin",
                path="/etc/systemd/system/docker.service.d/http-proxy.conf",
                content=b'[Service]\nEnvironment="HTTP_PROXY=http://proxy:3128"\n',
                action=ApplyAction.DAEMON_RELOAD_RESTART,
                reason="the proxy drop-in changed",
            ),
        )
    )


def test_a_drop_in_kind_gets_daemon_reload_then_restart_as_one_combined_action(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(surface, "PRODUCERS", (*surface.PRODUCERS, ("dropin", _dropin_producer)))
    s = _setup(tmp_path)
    host = s.plan().hosts[0]
    assert host.action is Action.RESTART and host.daemon_reload, host.errors
    assert host.reasons == [
        "nothing to reload: certs.d only: dockerd reads it on every pull",
        "daemon-reload + restart: the proxy drop-in changed",
    ]
    report = s.apply(s.plan())
    assert report.exit_code == ExitCode.OK, report.results[0].reason
    fake = s.hosts["web-01"]
    assert fake.restarts == 1
    argvs = [" ".join(a) for a in fake.argvs]
    reload_at = next(i for i, a in enumerate(argvs) if "systemctl daemon-reload" in a)
    assert "systemctl restart docker" in argvs[reload_at]  # one command line, in this order
    assert argvs[reload_at].index("daemon-reload") < argvs[reload_at].index("restart docker")
    assert fake.file("/etc/systemd/system/docker.service.d/http-proxy.conf").mode == 0o644  # type: ignore[union-attr]


def test_plan_warns_about_a_folder_without_the_port_and_a_client_crt_on_the_host(
    tmp_path: Path,
) -> None:
    s = _setup(tmp_path)
    fake = s.hosts["web-01"]
    fake.add_dir("/etc/docker/certs.d/registry.corp.example.com")
    fake.add_dir("/etc/docker/cert.d")
    fake.add_dir(FOLDER)
    fake.add_file(f"{FOLDER}/client.crt", CLIENT.cert_pem.encode())
    host = s.plan().hosts[0]
    assert host.action is Action.WRITE, host.errors
    warnings = "\n".join(host.warnings)
    assert "FC074" in warnings and "is named without the port" in warnings
    assert "/etc/docker/cert.d is never read" in warnings
    assert "FC075" in warnings and "client.crt: a *.crt file is read as a CA" in warnings
    report = s.apply(s.plan())
    assert report.exit_code == ExitCode.OK, report.results[0].reason


def test_in_a_folder_that_was_there_only_the_files_fleetcfg_created_go_with_the_registry(
    tmp_path: Path,
) -> None:
    s = _setup(tmp_path)
    fake = s.hosts["web-01"]
    fake.add_dir(FOLDER)
    fake.add_file(f"{FOLDER}/ca.crt", b"the CA someone put here\n", mode=0o644)
    assert s.apply(s.plan()).exit_code == ExitCode.OK
    _drop_registry(s)
    host = s.plan().hosts[0]
    assert sorted(f.path for f in host.files if f.remove) == [
        f"{FOLDER}/client.cert",
        f"{FOLDER}/client.key",
    ]
    assert host.remove_dirs == []
    (warning,) = [w for w in host.warnings if "left in place" in w]
    assert f"{FOLDER}/ca.crt is no longer managed by fleetcfg" in warning
    assert "dockerd still reads it" in warning
    assert s.apply(s.plan()).exit_code == ExitCode.OK
    assert fake.content(f"{FOLDER}/ca.crt") == CA.cert_pem.encode()  # fleetcfg's, left
    assert fake.listdir(FOLDER) == ["ca.crt"]
