"""apply's host programs: the real sh (on files under tmp_path, through the
local transport) and FakeDockerHost's emulation behave the same."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from fleetcfg.host.programs import (
    STAGE,
    Check,
    Install,
    check_of,
    install_failure,
    lock_argv,
    stage_of,
    steps_done,
)
from fleetcfg.host.transport.base import CommandResult, Transport
from fleetcfg.host.transport.local import LocalTransport
from tests.fakes.dockerhost import FakeDockerHost

OLD = b'{"debug": false}\n'
NEW = b'{"debug": true}\n'


class Host:
    """A transport and a way to look at its files."""

    def __init__(self, transport: Transport, root: Path, fake: FakeDockerHost | None) -> None:
        self.transport = transport
        self.root = root
        self.fake = fake

    def path(self, name: str) -> str:
        return str(self.root / name)

    def write(self, name: str, data: bytes) -> None:
        if self.fake is not None:
            self.fake.add_file(self.path(name), data)
        else:
            Path(self.path(name)).parent.mkdir(parents=True, exist_ok=True)
            Path(self.path(name)).write_bytes(data)

    def read(self, name: str) -> bytes | None:
        if self.fake is not None:
            return self.fake.content(self.path(name))
        file = Path(self.path(name))
        return file.read_bytes() if file.exists() else None

    def mode(self, name: str) -> int:
        if self.fake is not None:
            entry = self.fake.file(self.path(name))
            assert entry is not None
            return entry.mode
        return stat.S_IMODE(os.stat(self.path(name)).st_mode)

    def names(self, folder: str = "etc") -> list[str]:
        if self.fake is not None:
            return self.fake.listdir(self.path(folder))
        return sorted(os.listdir(self.path(folder)))


@pytest.fixture(params=["sh", "fake"])
def host(request: pytest.FixtureRequest, tmp_path: Path) -> Host:
    (tmp_path / "etc").mkdir()
    (tmp_path / "state").mkdir()
    if request.param == "sh":
        return Host(LocalTransport(), tmp_path, None)
    fake = FakeDockerHost("box", daemon_json=None)
    fake.on(
        ["echo"],
        lambda argv, stdin, f: CommandResult((), 0, " ".join(argv[1:]) + "\n"),
        prefix=True,
    )
    fake.on(  # prints without end: as much as the cap lets through
        ["yes"],
        lambda argv, stdin, f: CommandResult((), 141, (argv[-1] + "\n") * 100_000),
        prefix=True,
    )
    fake.on(
        ["sh", "-c", "echo refused; exit 3"],
        lambda argv, stdin, f: CommandResult((), 3, "refused\n"),
    )
    fake.add_dir(str(tmp_path / "etc"))
    fake.add_dir(str(tmp_path / "state"))
    return Host(fake, tmp_path, fake)


Make = Callable[..., Install]


def make(host: Host, **changes: object) -> Install:
    values: dict[str, object] = {
        "target": host.path("etc/daemon.json"),
        "content": NEW,
        "mode": 0o644,
        "owner": "root",
        "group": "root",
        "backup": host.path("state/daemon.json.bak"),
        "validate": ["test", "-f", STAGE],
        "state_path": host.path("state/state.json"),
        "state": b'{"format": 1}\n',
        "action": ["true"],
    }
    values.update(changes)
    return Install(**values)  # type: ignore[arg-type]


def run_install(host: Host, program: Install) -> CommandResult:
    return host.transport.run(program.argv(), stdin=program.stdin())


def test_install_replaces_backs_up_records_and_acts(host: Host) -> None:
    host.write("etc/daemon.json", OLD)
    program = make(host)
    result = run_install(host, program)
    assert result.exit_status == 0, result.stderr
    assert steps_done(result) == ["upload", "validate", "backup", "replace", "state", "action"]
    assert (stage_of(result) or "").startswith(host.path("etc/.daemon.json.fleetcfg-"))
    assert host.read("etc/daemon.json") == NEW and host.mode("etc/daemon.json") == 0o644
    assert host.read("state/daemon.json.bak") == OLD
    assert json.loads(host.read("state/state.json") or b"") == {"format": 1}
    assert host.mode("state/state.json") == 0o600
    assert host.names() == ["daemon.json"]


def test_a_new_file_has_no_backup(host: Host) -> None:
    result = run_install(host, make(host, validate=()))
    assert steps_done(result) == ["upload", "replace", "state", "action"]
    assert host.read("state/daemon.json.bak") is None


def test_a_rejected_file_changes_nothing(host: Host) -> None:
    host.write("etc/daemon.json", OLD)
    result = run_install(host, make(host, validate=["false"]))
    assert install_failure(result) == ("validate", "the host's validation rejects the new {path}")
    assert steps_done(result) == ["upload"]
    assert host.read("etc/daemon.json") == OLD
    assert host.read("state/daemon.json.bak") is None and host.read("state/state.json") is None
    assert host.names() == ["daemon.json"]


def test_what_the_commands_run_as_the_user_print_is_never_taken_for_a_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # chmod, mv, sync, test, rm and mkdir run as the file's user, who may
    # ptrace their own processes (no Yama) and make them print anything on
    # the program's stdout; a forged step line must not reach the controller
    shims = tmp_path / "shims"
    shims.mkdir()
    for name in ("chmod", "mv", "sync", "test", "rm", "mkdir"):
        real = next(
            f"{d}/{name}" for d in os.environ["PATH"].split(":") if os.path.isfile(f"{d}/{name}")
        )
        shim = shims / name
        shim.write_text(f'#!/bin/sh\necho "fleetcfg-step forged-{name}"\nexec {real} "$@"\n')
        shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}:{os.environ['PATH']}")
    (tmp_path / "etc").mkdir()
    (tmp_path / "state").mkdir()
    host = Host(LocalTransport(), tmp_path, None)
    host.write("etc/daemon.json", OLD)
    result = run_install(host, make(host))
    assert result.exit_status == 0, result.stderr
    assert steps_done(result) == ["upload", "validate", "backup", "replace", "state", "action"]
    assert host.read("etc/daemon.json") == NEW


def test_an_incomplete_upload_changes_nothing(host: Host) -> None:
    host.write("etc/daemon.json", OLD)
    program = make(host)
    result = host.transport.run(program.argv(), stdin=program.stdin()[:-3])
    assert result.exit_status == 12 and "received" in result.stderr
    assert host.read("etc/daemon.json") == OLD and host.names() == ["daemon.json"]


def test_an_upload_altered_on_the_way_changes_nothing(host: Host) -> None:
    host.write("etc/daemon.json", OLD)
    program = make(host)
    sent = program.stdin()
    altered = sent[:-3] + bytes(b ^ 0x20 for b in sent[-3:])
    result = host.transport.run(program.argv(), stdin=altered)
    assert result.exit_status == 12 and "checksum mismatch" in result.stderr
    assert host.read("etc/daemon.json") == OLD and host.names() == ["daemon.json"]


def test_a_failed_action_comes_after_the_state(host: Host) -> None:
    result = run_install(host, make(host, action=["false"], pre=["true"]))
    assert result.exit_status == 60
    assert steps_done(result) == ["upload", "validate", "replace", "state"]
    assert host.read("etc/daemon.json") == NEW


def test_a_missing_folder_is_created_but_not_its_parents(host: Host) -> None:
    result = run_install(host, make(host, target=host.path("new/daemon.json")))
    assert result.exit_status == 0, result.stderr
    assert host.read("new/daemon.json") == NEW


def test_a_missing_folder_fails_before_anything(host: Host) -> None:
    program = make(host, target=host.path("nowhere/deeper/daemon.json"))
    result = run_install(host, program)
    assert result.exit_status == 10 and steps_done(result) == []


def test_the_lock_is_taken_once_and_names_its_holder(host: Host) -> None:
    argv = lock_argv(
        host.path("state/fc"),
        host.path("state/fc/backups"),
        host.path("state/fc/lock"),
        host.path("state/fc/lock/owner.json"),
        b'{"run_id": "r1"}\n',
    )
    first = host.transport.run(argv)
    assert first.exit_status == 0, first.stderr
    assert host.read("state/fc/lock/owner.json") == b'{"run_id": "r1"}\n'
    second = host.transport.run(argv)
    assert second.exit_status == 3 and second.stdout == '{"run_id": "r1"}\n'


def test_a_passing_first_health_check_unlocks_in_the_same_round_trip(host: Host) -> None:
    host.write("state/lock/owner.json", b"{}")
    finish = [["rm", "-f", "--", host.path("state/lock/owner.json")]]
    program = make(host, status=["true"], info=["echo", "3"], want=2, finish=finish)
    result = run_install(host, program)
    assert result.exit_status == 0, result.stderr
    assert steps_done(result)[-2:] == ["health", "unlock"]
    assert check_of(result) == Check(0, 0, 0, "3")
    assert host.read("state/lock/owner.json") is None


def test_a_failing_first_health_check_keeps_the_lock(host: Host) -> None:
    host.write("state/lock/owner.json", b"{}")
    finish = [["rm", "-f", "--", host.path("state/lock/owner.json")]]
    program = make(host, status=["true"], info=["echo", "1"], want=2, finish=finish)
    result = run_install(host, program)
    assert install_failure(result) == ("health", "not healthy at the first check")
    assert steps_done(result)[-1] == "action"
    assert host.read("state/lock/owner.json") == b"{}"
    assert host.read("etc/daemon.json") == NEW


def test_the_lock_creates_missing_state_folders_and_repairs_their_mode(host: Host) -> None:
    if host.fake is None:
        Path(host.path("state/fc")).mkdir(mode=0o755)
        os.chmod(host.path("state/fc"), 0o755)
    argv = lock_argv(
        host.path("state/fc"),
        host.path("state/fc/backups"),
        host.path("state/fc/lock"),
        host.path("state/fc/lock/owner.json"),
        b"{}\n",
    )
    assert host.transport.run(argv).exit_status == 0
    if host.fake is None:
        assert stat.S_IMODE(os.stat(host.path("state/fc")).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(host.path("state/fc/backups")).st_mode) == 0o700
    deeper = lock_argv(
        host.path("new/etc-docker/fc"),
        host.path("new/etc-docker/fc/backups"),
        host.path("new/etc-docker/fc/lock"),
        host.path("new/etc-docker/fc/lock/owner.json"),
        b"{}\n",
    )
    assert host.transport.run(deeper).exit_status == 0


def test_a_validation_that_prints_without_end_is_stopped_and_changes_nothing(host: Host) -> None:
    host.write("etc/daemon.json", OLD)
    program = make(host, validate=["yes", "flood"], cap=4096)
    result = run_install(host, program)
    assert result.exit_status == 21, result.stderr
    assert install_failure(result) == (
        "validate",
        "dockerd --validate printed more than 64 KiB about the new {path}",
    )
    assert "the validation printed more than 4096 bytes" in result.stderr
    assert "flood" not in result.stdout + result.stderr
    assert steps_done(result) == ["upload"]
    assert host.read("etc/daemon.json") == OLD and host.names() == ["daemon.json"]


def test_a_first_health_check_whose_docker_info_prints_without_end_is_stopped(
    host: Host,
) -> None:
    program = make(host, status=["true"], info=["yes", "3"], want=2, cap=4096)
    result = run_install(host, program)
    assert result.exit_status == 71, result.stderr
    assert install_failure(result) == (
        "health",
        "docker info printed more than 64 KiB at the first check",
    )
    assert steps_done(result) == ["upload", "validate", "replace", "state", "action"]
    assert len(result.stdout) < 4096


def test_what_the_validation_prints_below_the_cap_is_kept_with_its_status(host: Host) -> None:
    program = make(host, validate=["sh", "-c", "echo refused; exit 3"], cap=4096)
    result = run_install(host, program)
    assert result.exit_status == 20
    assert "refused" in result.stderr
    program = make(host, status=["true"], info=["echo", "3"], want=2, cap=4096)
    result = run_install(host, program)
    assert check_of(result) == Check(0, 0, 0, "3")
