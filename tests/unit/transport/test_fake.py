"""The in-memory fake behaves like a host, records everything, and fails on cue."""

from __future__ import annotations

import pytest

from fleetcfg.core.errors import (
    CommandTimeoutError,
    ConnectError,
    ConnectionLostError,
    RemoteCommandError,
    TransportError,
)
from fleetcfg.core.hashing import sha256_hex
from fleetcfg.host.transport.base import CommandResult, Transport
from tests.fakes.transport import FakeFile, FakeTransport, FakeUnhandledCommandError


@pytest.fixture
def fake() -> FakeTransport:
    host = FakeTransport("web1")
    host.add_file("/etc/docker/daemon.json", b'{"debug": true}\n', mode=0o600)
    return host


def test_the_fake_implements_the_protocol(fake: FakeTransport) -> None:
    assert isinstance(fake, Transport)


def test_read_file_reports_content_hash_mode_and_owner(fake: FakeTransport) -> None:
    state = fake.read_file("/etc/docker/daemon.json")
    assert state.exists and state.content == b'{"debug": true}\n'
    assert state.sha256 == sha256_hex(b'{"debug": true}\n')
    assert (state.mode, state.owner, state.group) == (0o600, "root", "root")
    assert not fake.read_file("/etc/docker/missing.json").exists


def test_write_file_is_recorded_and_visible(fake: FakeTransport) -> None:
    fake.write_file("/etc/docker/daemon.json", b"{}\n", mode=0o644, owner="root", group="docker")
    assert fake.content("/etc/docker/daemon.json") == b"{}\n"
    assert fake.file("/etc/docker/daemon.json") == FakeFile(b"{}\n", 0o644, "root", "docker")
    (write,) = fake.writes
    assert (write.path, write.data, write.group) == ("/etc/docker/daemon.json", b"{}\n", "docker")


def test_write_file_into_a_missing_directory_fails_like_mktemp(fake: FakeTransport) -> None:
    with pytest.raises(RemoteCommandError, match="temporary file"):
        fake.write_file("/nope/daemon.json", b"{}")
    assert fake.writes == []


def test_every_command_is_recorded_in_order_with_stdin_sizes(fake: FakeTransport) -> None:
    fake.run(["true"])
    fake.run(["cat"], stdin=b"12345")
    fake.run_many([["test", "-e", "/etc/docker"], ["sync"]])
    assert fake.argvs == [("true",), ("cat",), ("test", "-e", "/etc/docker"), ("sync",)]
    assert [c.stdin_size for c in fake.commands] == [0, 5, 0, 0]
    assert [c.round_trip for c in fake.commands] == [1, 2, 3, 3]
    assert fake.round_trips == 3
    assert [call.kind for call in fake.history] == ["run", "run", "run_many"]


def test_cat_cp_mv_keep_contents_and_metadata(fake: FakeTransport) -> None:
    backup = "/etc/docker/daemon.json.bak"
    assert fake.run(["cp", "-p", "/etc/docker/daemon.json", backup]).ok
    assert fake.file(backup) == fake.file("/etc/docker/daemon.json")
    assert fake.run(["cat", backup]).stdout == '{"debug": true}\n'
    fake.add_file("/etc/docker/.tmp", b"new")
    assert fake.run(["mv", "-f", "/etc/docker/.tmp", "/etc/docker/daemon.json"]).ok
    assert fake.content("/etc/docker/daemon.json") == b"new"
    assert not fake.exists("/etc/docker/.tmp")


def test_cp_without_p_keeps_the_destinations_mode(fake: FakeTransport) -> None:
    fake.add_file("/tmp/src", b"x", mode=0o600, owner="deploy")
    fake.add_file("/tmp/dst", b"y", mode=0o644, owner="root")
    fake.run(["cp", "/tmp/src", "/tmp/dst"])
    assert fake.file("/tmp/dst") == FakeFile(b"x", 0o644, "root", "root")


def test_failing_builtins_exit_non_zero_with_the_usual_message(fake: FakeTransport) -> None:
    missing = fake.run(["cat", "/nope"])
    assert missing.exit_status == 1 and "No such file or directory" in missing.stderr
    assert fake.run(["rm", "/nope"]).exit_status == 1
    assert fake.run(["rm", "-f", "/nope"]).ok
    assert fake.run(["test", "-f", "/etc/docker"]).exit_status == 1
    assert fake.run(["test", "-d", "/etc/docker"]).ok


def test_mkdir_without_p_is_a_usable_lock(fake: FakeTransport) -> None:
    lock = "/var/lock/fleetcfg.d"
    assert fake.run(["mkdir", "-p", "/var/lock"]).ok
    assert fake.run(["mkdir", lock]).ok
    taken = fake.run(["mkdir", lock])
    assert taken.exit_status == 1 and "File exists" in taken.stderr
    assert fake.run(["rmdir", lock]).ok
    assert fake.run(["mkdir", "-m", "0700", lock]).ok


def test_rmdir_refuses_a_non_empty_directory_and_rm_r_removes_it(fake: FakeTransport) -> None:
    assert "not empty" in fake.run(["rmdir", "/etc/docker"]).stderr
    assert fake.run(["rm", "-rf", "/etc/docker"]).ok
    assert not fake.exists("/etc/docker/daemon.json") and not fake.is_dir("/etc/docker")


def test_sha256sum_matches_the_content(fake: FakeTransport) -> None:
    out = fake.run(["sha256sum", "/etc/docker/daemon.json"]).stdout
    digest = sha256_hex(b'{"debug": true}\n')
    assert out == f"{digest}  /etc/docker/daemon.json\n"


def test_handlers_answer_other_commands_exactly_or_by_prefix(fake: FakeTransport) -> None:
    fake.reply(["systemctl", "is-active", "docker"], "active\n")
    seen: list[tuple[str, ...]] = []

    def systemctl(argv: tuple[str, ...], stdin: bytes | None, f: FakeTransport) -> CommandResult:
        seen.append(argv)
        return CommandResult((), 0, "ok\n")

    fake.on(["systemctl"], systemctl, prefix=True)
    assert fake.run(["systemctl", "is-active", "docker"]).stdout == "active\n"
    result = fake.run(["systemctl", "restart", "docker"])
    assert result.stdout == "ok\n" and result.argv == ("systemctl", "restart", "docker")
    assert seen == [("systemctl", "restart", "docker")]


def test_handlers_can_change_the_filesystem(fake: FakeTransport) -> None:
    def wipe(argv: tuple[str, ...], stdin: bytes | None, f: FakeTransport) -> CommandResult:
        f.files.pop("/etc/docker/daemon.json")
        return CommandResult((), 0)

    fake.on(["wipe"], wipe)
    fake.run(["wipe"])
    assert not fake.read_file("/etc/docker/daemon.json").exists


def test_a_handler_overrides_a_builtin(fake: FakeTransport) -> None:
    fake.reply(["mv"], stderr="mv: Read-only file system\n", exit_status=1, prefix=True)
    assert fake.run(["mv", "/a", "/b"]).exit_status == 1


def test_an_unknown_command_fails_the_test_loudly(fake: FakeTransport) -> None:
    with pytest.raises(FakeUnhandledCommandError, match=r"fake\.on"):
        fake.run(["sh", "-c", "echo hi"])


def test_a_lenient_fake_answers_unknown_commands_with_127() -> None:
    result = FakeTransport("web1", strict=False).run(["docker", "info"])
    assert result.exit_status == 127 and "not found" in result.stderr


def test_an_unreachable_host_fails_every_call(fake: FakeTransport) -> None:
    fake.unreachable = True
    for call in (
        lambda: fake.run(["true"]),
        lambda: fake.run_many([["true"]]),
        lambda: fake.read_file("/etc/docker/daemon.json"),
        lambda: fake.write_file("/etc/docker/daemon.json", b""),
    ):
        with pytest.raises(ConnectError) as info:
            call()
        assert info.value.host == "web1"


def test_connection_lost_after_k_calls_then_the_host_stays_down(fake: FakeTransport) -> None:
    fake.lose_connection_after(1)
    fake.run(["true"])
    with pytest.raises(ConnectionLostError):
        fake.write_file("/etc/docker/daemon.json", b"{}")
    assert fake.content("/etc/docker/daemon.json") == b'{"debug": true}\n'
    with pytest.raises(ConnectError):
        fake.run(["true"])
    fake.restore_connection()
    assert fake.run(["true"]).ok


def test_a_lost_call_can_have_taken_effect(fake: FakeTransport) -> None:
    fake.lose_connection_after(0, completes=True)
    with pytest.raises(ConnectionLostError):
        fake.run(["rm", "/etc/docker/daemon.json"])
    assert not fake.exists("/etc/docker/daemon.json")


def test_a_full_disk_fails_writes_and_changes_nothing(fake: FakeTransport) -> None:
    fake.disk_full = True
    with pytest.raises(TransportError, match="no space left on device"):
        fake.write_file("/etc/docker/daemon.json", b"{}")
    assert fake.content("/etc/docker/daemon.json") == b'{"debug": true}\n'
    copy = fake.run(["cp", "-p", "/etc/docker/daemon.json", "/etc/docker/backup"])
    assert copy.exit_status == 1 and "No space left" in copy.stderr
    assert not fake.exists("/etc/docker/backup")


def test_a_slow_command_times_out_on_the_simulated_clock(fake: FakeTransport) -> None:
    fake.reply(["systemctl", "restart", "docker"])
    fake.slow(["systemctl", "restart", "docker"], 90)
    assert fake.run(["systemctl", "restart", "docker"], timeout=120).ok
    assert fake.clock == 90
    with pytest.raises(CommandTimeoutError, match="within 30s"):
        fake.run(["systemctl", "restart", "docker"], timeout=30)
    assert fake.clock == 120


def test_a_slow_builtin_keeps_its_behaviour(fake: FakeTransport) -> None:
    fake.slow(["sync"], 5)
    assert fake.run(["sync"]).ok and fake.clock == 5


def test_close_is_recorded(fake: FakeTransport) -> None:
    fake.close()
    assert fake.closed
