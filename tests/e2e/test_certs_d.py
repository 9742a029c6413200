"""certs.d on real sshd hosts (tests/fleet): a registry CA from inventory.yaml
is written with the right names and modes and restarts nothing; a removed
registry removes only the folder fleetcfg created; a bad CA is refused before
any host is touched; a failed restart rolls back every file of the host."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import app
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.host.state import STATE_PATH
from tests.fleet import Fleet, FleetHost
from tests.fleet.repo import write_repo_of
from tests.pki import REGISTRY_FOLDER, REGISTRY_YAML, make_ca, make_cert, write_certs

pytestmark = pytest.mark.e2e

CA = make_ca("Corp Root CA")
CLIENT = make_cert("fleet client", ca=False, issuer=CA)
FOLDER = REGISTRY_FOLDER
PROFILE = "log-driver: json-file\nlog-level: \"{{ level | default('info') }}\"\n"
REGISTRY = REGISTRY_YAML

runner = CliRunner()


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"NO_COLOR": "1"})
    return result.exit_code, result.stdout, result.stderr


def repo(tmp_path: Path, fleet: Fleet, *, registry: bool = True, level: str = "info") -> Path:
    path = write_repo_of(
        tmp_path,
        fleet,
        fleet.hosts,
        profiles={"base.yaml.j2": PROFILE},
        defaults=(REGISTRY if registry else "") + f"vars: {{level: {level}}}\n",
        sections="rollout:\n  batch_size: 1\n  canary: 1\n  max_failures: 0\n",
    )
    write_certs(tmp_path, CA, CLIENT)
    return path


def mode_of(host: FleetHost, remote: str) -> tuple[int, int, int]:
    st = host.path(remote).stat()
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


def test_adding_a_ca_writes_certs_d_with_the_right_names_and_modes_and_restarts_nothing(
    fleet: Fleet, tmp_path: Path
) -> None:
    path = repo(tmp_path, fleet, registry=False)
    assert cli("apply", "-i", str(path), "--yes")[0] == ExitCode.OK
    started = [len(h.events("started")) for h in fleet.hosts]
    path = repo(tmp_path, fleet)
    code, out, err = cli("plan", "-i", str(path))
    assert code == 0, out + err
    assert "nothing to reload: certs.d only" in out
    assert CLIENT.key_pem.splitlines()[1] not in out + err
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    assert CLIENT.key_pem.splitlines()[1] not in out + err
    for host, before in zip(fleet.hosts, started, strict=True):
        assert host.listdir(FOLDER) == ["ca.crt", "client.cert", "client.key"]
        assert host.read_file(f"{FOLDER}/ca.crt") == CA.cert_pem
        assert mode_of(host, f"{FOLDER}/ca.crt") == (0o644, 0, 0)
        assert mode_of(host, f"{FOLDER}/client.cert") == (0o644, 0, 0)
        assert mode_of(host, f"{FOLDER}/client.key") == (0o600, 0, 0)
        assert mode_of(host, FOLDER) == (0o755, 0, 0)
        assert len(host.events("started")) == before and host.events("reloaded") == []
        record = json.loads(host.read_file(STATE_PATH))["files"][f"{FOLDER}/ca.crt"]
        assert record["created_dir"] == FOLDER
    code, out, _ = cli("plan", "-i", str(path), "--detailed-exitcode")
    assert code == 0, out


def test_a_removed_registry_removes_the_folder_fleetcfg_created_and_leaves_others(
    fleet: Fleet, tmp_path: Path
) -> None:
    host = fleet.hosts[0]
    theirs = "/etc/docker/certs.d/other.example.com/ca.crt"
    host.write_file(theirs, CA.cert_pem)
    path = repo(tmp_path, fleet)
    assert cli("apply", "-i", str(path), "--yes")[0] == ExitCode.OK
    assert host.exists(f"{FOLDER}/ca.crt")
    started = [len(h.events("started")) for h in fleet.hosts]
    path = repo(tmp_path, fleet, registry=False)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    for each, before in zip(fleet.hosts, started, strict=True):
        assert not each.exists(FOLDER)
        assert len(each.events("started")) == before and each.events("reloaded") == []
    assert host.read_file(theirs) == CA.cert_pem
    assert host.listdir("/etc/docker/certs.d") == ["other.example.com"]


def test_a_bad_ca_is_refused_before_any_host_is_touched(fleet: Fleet, tmp_path: Path) -> None:
    path = repo(tmp_path, fleet)
    leaf = make_cert("registry.corp.example.com", ca=False, issuer=CA)
    (tmp_path / "certs" / "ca.pem").write_text(leaf.cert_pem)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.ERROR, out + err
    assert "FC070" in out + err and "not a CA certificate" in out + err
    for host in fleet.hosts:
        assert not host.exists("/etc/docker/certs.d")
        assert not host.exists("/etc/docker/.fleetcfg")
        assert not host.exists("/etc/docker/daemon.json")


def test_a_failed_restart_rolls_back_every_file_of_the_host_together(
    fleet: Fleet, tmp_path: Path
) -> None:
    path = repo(tmp_path, fleet, registry=False)
    assert cli("apply", "-i", str(path), "--yes")[0] == ExitCode.OK
    first, bad, _later = fleet.hosts
    old = bad.read_file("/etc/docker/daemon.json")
    bad.fault_refuse_next_config()
    path = repo(tmp_path, fleet, level="warn")  # log-level needs a restart
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.ERROR, out + err
    assert "host-02: failed, rolled back" in out
    assert first.exists(f"{FOLDER}/client.key")
    assert bad.read_file("/etc/docker/daemon.json") == old
    assert not bad.exists(FOLDER)
    assert bad.unit_state() == "active"


def test_a_symlinked_certs_d_folder_is_refused_and_nothing_is_written_through_it(
    fleet: Fleet, tmp_path: Path
) -> None:
    host = fleet.hosts[0]
    # someone points certs.d at a folder another user controls
    elsewhere = host.path("/etc/docker/elsewhere")
    elsewhere.mkdir()
    elsewhere.chmod(0o777)
    host.path("/etc/docker/certs.d").symlink_to("/etc/docker/elsewhere")
    path = repo(tmp_path, fleet)
    code, out, err = cli("plan", "-i", str(path))
    assert code == ExitCode.ERROR, out + err
    assert "/etc/docker/certs.d is a symbolic link" in out, out
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.ERROR, out + err
    assert list(elsewhere.iterdir()) == []
