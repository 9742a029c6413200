"""The local transport: same semantics as SSH, on this machine (tmp_path)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from fleetcfg.core.errors import CommandTimeoutError, TransportError, UsageError
from fleetcfg.core.hashing import sha256_hex
from fleetcfg.host.transport.base import Transport
from fleetcfg.host.transport.local import LocalTransport
from fleetcfg.host.transport.targets import LocalTarget


@pytest.fixture
def local() -> LocalTransport:
    return LocalTransport(LocalTarget(host="control"))


def test_local_transport_implements_the_protocol(local: LocalTransport) -> None:
    assert isinstance(local, Transport)
    assert local.host == "control"


def test_run_returns_output_and_status_without_raising(local: LocalTransport) -> None:
    result = local.run(["sh", "-c", "echo out; echo err >&2; exit 4"])
    assert (result.exit_status, result.stdout, result.stderr) == (4, "out\n", "err\n")
    assert result.argv == ("sh", "-c", "echo out; echo err >&2; exit 4")


def test_arguments_are_never_interpreted_by_a_shell(local: LocalTransport, tmp_path: Path) -> None:
    result = local.run(["echo", "$(touch pwned)", "; rm -rf /", "*"])
    assert result.stdout == "$(touch pwned) ; rm -rf / *\n"
    assert not (Path.cwd() / "pwned").exists()


def test_stdin_is_passed_to_the_command(local: LocalTransport) -> None:
    assert local.run(["cat"], stdin=b"\x00data\xff").stdout_bytes == b"\x00data\xff"


def test_a_missing_program_exits_127(local: LocalTransport) -> None:
    result = local.run(["no-such-program-fleetcfg"])
    assert result.exit_status == 127 and "not found" in result.stderr


def test_a_command_over_its_timeout_is_killed_and_raises(local: LocalTransport) -> None:
    with pytest.raises(CommandTimeoutError) as info:
        local.run(["sleep", "30"], timeout=0.2)
    assert info.value.host == "control"
    assert "did not finish within 0.2s" in str(info.value)


def test_run_many_returns_one_result_per_command(local: LocalTransport) -> None:
    results = local.run_many([["echo", "a"], ["false"], ["printf", "b"]])
    assert [(r.exit_status, r.stdout) for r in results] == [(0, "a\n"), (1, ""), (0, "b")]


def test_read_file_returns_content_hash_mode_and_owner(
    local: LocalTransport, tmp_path: Path
) -> None:
    path = tmp_path / "daemon.json"
    path.write_bytes(b'{"debug": true}\n')
    path.chmod(0o640)
    state = local.read_file(str(path))
    assert state.exists and state.content == b'{"debug": true}\n'
    assert state.sha256 == sha256_hex(b'{"debug": true}\n')
    assert state.mode == 0o640
    assert state.owner == "root" and state.group == "root"


def test_read_file_of_a_missing_file_is_absent(local: LocalTransport, tmp_path: Path) -> None:
    state = local.read_file(str(tmp_path / "missing" / "daemon.json"))
    assert not state.exists and state.content is None


def test_read_file_of_a_directory_is_an_error(local: LocalTransport, tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="directory"):
        local.read_file(str(tmp_path))


def test_write_file_replaces_atomically_with_mode_and_owner(
    local: LocalTransport, tmp_path: Path
) -> None:
    path = tmp_path / "daemon.json"
    path.write_text("old")
    local.write_file(str(path), b"new", mode=0o600, owner="root", group="root")
    assert path.read_bytes() == b"new"
    assert path.stat().st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["daemon.json"]


def test_write_file_with_numeric_owner(local: LocalTransport, tmp_path: Path) -> None:
    path = tmp_path / "f"
    local.write_file(str(path), b"x", owner="1234", group="4321")
    assert (path.stat().st_uid, path.stat().st_gid) == (1234, 4321)


def test_a_failed_write_leaves_the_target_and_no_temp_file(
    local: LocalTransport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "daemon.json"
    path.write_text("original")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(TransportError) as info:
        local.write_file(str(path), b"new content")
    assert "no space left on device" in str(info.value)
    assert "not changed" in str(info.value)
    assert path.read_text() == "original"
    assert os.listdir(tmp_path) == ["daemon.json"]


def test_write_file_into_a_missing_directory_fails_clearly(
    local: LocalTransport, tmp_path: Path
) -> None:
    with pytest.raises(TransportError, match="temporary file"):
        local.write_file(str(tmp_path / "nope" / "daemon.json"), b"{}")


def test_write_file_to_an_unknown_owner_fails_before_writing(
    local: LocalTransport, tmp_path: Path
) -> None:
    with pytest.raises(TransportError, match="no user"):
        local.write_file(str(tmp_path / "f"), b"x", owner="no-such-user-fleetcfg")
    assert not (tmp_path / "f").exists()


def test_relative_paths_are_refused(local: LocalTransport) -> None:
    with pytest.raises(UsageError, match="absolute"):
        local.read_file("daemon.json")


def test_become_as_root_does_not_use_sudo(tmp_path: Path) -> None:
    local = LocalTransport(LocalTarget(become=True))
    assert local.run(["id", "-u"]).stdout == f"{os.geteuid()}\n"


@pytest.fixture
def fake_sudo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `sudo` on PATH that logs its arguments and runs the command (or, with
    tmp_path/deny present, refuses like sudo without NOPASSWD)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    sudo = bindir / "sudo"
    sudo.write_text(
        "#!/bin/sh\n"
        f'printf "%s %s %s\\n" "$1" "$2" "$3" >> {tmp_path}/sudo.log\n'
        f'if [ -e {tmp_path}/deny ]; then echo "sudo: a password is required" >&2; exit 1; fi\n'
        '[ "$1" = -n ] && [ "$2" = -- ] || exit 99\n'
        "shift 2\n"
        'exec "$@"\n'
    )
    sudo.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setattr(os, "geteuid", lambda: 4242)  # fleetcfg is "not root"
    return tmp_path


def test_become_runs_commands_and_file_operations_through_sudo(fake_sudo: Path) -> None:
    local = LocalTransport(LocalTarget(host="control", become=True))
    work = fake_sudo / "work"
    work.mkdir()
    assert local.run(["echo", "hi"]).stdout == "hi\n"
    local.write_file(str(work / "daemon.json"), b"{}\n", owner="root", group="root")
    assert local.read_file(str(work / "daemon.json")).content == b"{}\n"
    log = (fake_sudo / "sudo.log").read_text().splitlines()
    assert log == ["-n -- echo", "-n -- sh", "-n -- sh"]


def test_become_without_passwordless_sudo_fails_fast_and_clearly(fake_sudo: Path) -> None:
    (fake_sudo / "deny").touch()
    local = LocalTransport(LocalTarget(host="control", become=True))
    with pytest.raises(TransportError, match="sudo requires a password") as info:
        local.run(["true"])
    assert "NOPASSWD" in str(info.value)
