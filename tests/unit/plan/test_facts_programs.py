"""The facts programs: the real sh (on files under tmp_path, through the
local transport, with a systemctl stand-in) and FakeDockerHost's emulation
give the same facts."""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path

import pytest

from fleetcfg.host.programs.facts import FactsFiles, FactsUnit
from fleetcfg.host.transport.base import Transport
from fleetcfg.host.transport.local import LocalTransport
from fleetcfg.plan.facts import files_command, parse_files, parse_unit
from fleetcfg.plan.facts_model import UNIT
from tests.fakes.dockerhost import FakeDockerHost
from tests.shells import SHELLS, use_shell

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name
CONTENT = b'{"debug": true}\n'


def _layout(root: Path) -> dict[str, str]:
    return {
        "present": str(root / "etc/daemon.json"),
        "absent": str(root / "etc/missing.json"),
        "nodir": str(root / "nowhere/daemon.json"),
        "directory": str(root / "etc/folder"),
    }


def _real(root: Path) -> Transport:
    (root / "etc/folder").mkdir(parents=True)
    (root / "etc/daemon.json").write_bytes(CONTENT)
    (root / "etc/daemon.json").chmod(0o640)
    return LocalTransport()


def _fake(root: Path) -> Transport:
    fake = FakeDockerHost("box", daemon_json=None)
    fake.add_dir(str(root / "etc"))
    fake.add_dir(str(root / "etc/folder"))
    fake.add_file(str(root / "etc/daemon.json"), CONTENT, mode=0o640, owner=ME, group=MY_GROUP)
    return fake


@pytest.fixture(params=[*SHELLS, "fake"])
def host(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Transport:
    if request.param == "fake":
        return _fake(tmp_path)
    use_shell(request.param, tmp_path_factory.mktemp("shell"), monkeypatch)
    return _real(tmp_path)


def test_the_files_program_reports_each_file_the_same_way(host: Transport, tmp_path: Path) -> None:
    paths = _layout(tmp_path)
    files, _ = parse_files(host.run(files_command(list(paths.values()))), list(paths.values()))
    present = files[paths["present"]]
    assert (present.exists, present.content, present.mode) == (True, CONTENT, 0o640)
    assert (present.owner, present.group, present.problem) == (ME, MY_GROUP, None)
    absent = files[paths["absent"]]
    assert (absent.exists, absent.parent_exists, absent.problem) == (False, True, None)
    assert absent.mtime is not None
    nodir = files[paths["nodir"]]
    assert (nodir.exists, nodir.parent_exists, nodir.problem) == (False, False, None)
    assert files[paths["directory"]].problem == f"{paths['directory']} is a directory"


SHOW = """LoadState=loaded
ActiveState=active
SubState=running
MainPID=4242
ExecStart={ path=/usr/sbin/dockerd ; argv[]=/usr/sbin/dockerd -H fd:// $DOCKER_OPTS ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }
FragmentPath=/lib/systemd/system/docker.service
DropInPaths=
Environment=
EnvironmentFiles=%s (ignore_errors=yes)
ActiveEnterTimestamp=Tue 2024-05-07 10:15:00 UTC
"""


def systemctl_showing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env_file: Path) -> None:
    """A ``systemctl`` first on PATH that shows :data:`SHOW` with ``env_file``."""
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "show.txt").write_text(SHOW % env_file)
    systemctl = shims / "systemctl"
    systemctl.write_text(f"#!/bin/sh\ncat {shims / 'show.txt'}\n")
    systemctl.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}:{os.environ['PATH']}")


def test_the_unit_program_expands_variables_from_environment_files_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "default-docker"
    env_file.write_text('DOCKER_OPTS="--debug --log-level=warn"\n')
    systemctl_showing(tmp_path, monkeypatch, env_file)
    real, _, _ = parse_unit(LocalTransport().run(FactsUnit(UNIT).argv()))

    fake = FakeDockerHost("box")
    fake.environment_files = [str(env_file)]
    fake.add_file(str(env_file), env_file.read_bytes())
    emulated, _, _ = parse_unit(fake.run(FactsUnit(UNIT).argv()))

    for unit in (real, emulated):
        assert unit is not None and unit.active
        assert unit.exec_start == (
            "/usr/sbin/dockerd",
            "-H",
            "fd://",
            "--debug",
            "--log-level=warn",
        )
        assert unit.variables == {"DOCKER_OPTS": str(env_file)}


def test_an_environment_file_over_the_cap_is_unreadable_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "default-docker"
    env_file.write_text('DOCKER_OPTS="--debug"\n' + "#" * 100 + "\n")
    systemctl_showing(tmp_path, monkeypatch, env_file)
    result = LocalTransport().run(FactsUnit(UNIT, cap=64).argv())
    assert b"DOCKER_OPTS" not in result.stdout_bytes.partition(b"#fleetcfg-envfiles")[2]
    unit, _, _ = parse_unit(result)
    assert unit is not None and unit.unreadable_env_files == (str(env_file),)
    assert unit.exec_start == ("/usr/sbin/dockerd", "-H", "fd://")


def test_a_file_over_the_cap_is_reported_not_read(host: Transport, tmp_path: Path) -> None:
    path = str(tmp_path / "etc/daemon.json")
    result = host.run(FactsFiles(".docker/config.json", [path], cap=8).argv())
    files, _ = parse_files(result, [path])
    assert files[path].content is None
    assert files[path].problem is not None and "is not read" in files[path].problem
    assert CONTENT not in result.stdout_bytes


def test_root_files_on_a_path_someone_else_could_change_are_refused(
    posix_shell: str, tmp_path: Path
) -> None:
    (tmp_path / "real.json").write_bytes(CONTENT)
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    (shared / "daemon.json").write_bytes(CONTENT)
    paths = [str(tmp_path / "link.json"), str(shared / "daemon.json"), str(tmp_path / "real.json")]
    files, _ = parse_files(LocalTransport().run(files_command(paths)), paths)
    link, writable, real = (files[p] for p in paths)
    assert link.problem is not None and "is a symbolic link" in link.problem
    assert writable.problem is not None and "may be written by other users" in writable.problem
    assert link.content is None and writable.content is None
    assert real.problem is None and real.content == CONTENT


def test_a_systemctl_show_that_prints_without_end_is_stopped_with_a_clear_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "systemctl").write_text("#!/bin/sh\nexec yes LoadState=loaded\n")
    (shims / "systemctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}:{os.environ['PATH']}")
    result = LocalTransport().run(FactsUnit(UNIT, show_cap=4096).argv())
    assert result.exit_status == 3
    assert len(result.stdout_bytes) < 4096
    unit, problem, _ = parse_unit(result)
    assert unit is None
    assert problem is not None and f"systemctl show {UNIT} printed more than 4096 bytes" in problem


def test_each_root_file_keeps_its_own_verdict_when_all_are_checked_at_once(
    posix_shell: str, tmp_path: Path
) -> None:
    """One stat checks every root path's folders: an untrusted file between
    trusted ones, in a shared folder, or under a link, condemns only itself."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "ok.json").write_bytes(CONTENT)
    (etc / "theirs.json").write_bytes(CONTENT)
    os.chown(etc / "theirs.json", 4242, 4242)
    (etc / "open.json").write_bytes(CONTENT)
    (etc / "open.json").chmod(0o666)
    (tmp_path / "linked").symlink_to(etc)
    paths = [
        str(etc / "theirs.json"),
        str(etc / "ok.json"),
        str(tmp_path / "linked/ok.json"),
        str(etc / "missing.json"),
        str(etc / "open.json"),
        str(tmp_path / "nowhere/daemon.json"),
        str(etc / "ok.json"),
    ]
    files, _ = parse_files(LocalTransport().run(files_command(paths)), paths)
    theirs, ok, linked, missing, shared, nowhere, _ = (files[p] for p in paths)
    assert theirs.problem is not None and "belongs to uid 4242, not to root" in theirs.problem
    assert linked.problem is not None and "linked is a symbolic link" in linked.problem
    assert shared.problem is not None and "(mode 666)" in shared.problem
    assert (ok.problem, ok.content) == (None, CONTENT)
    assert (missing.exists, missing.problem) == (False, None)
    assert (nowhere.exists, nowhere.problem) == (False, None)
