"""The sh programs the transports run on hosts, run here with the local sh."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from fleetcfg.core.errors import BecomeError, ConnectionLostError, RemoteCommandError, UsageError
from fleetcfg.core.hashing import sha256_hex
from fleetcfg.host.programs.base import script
from fleetcfg.host.programs.facts import FactsEngine, FactsFiles, FactsUnit
from fleetcfg.host.transport import scripts

NASTY = "we ird 'quoted' \"double\" $HOME `x` ; & | * ? \\ é -n"


def sh(argv: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """What sshd does with the command line: the login shell runs it."""
    return subprocess.run(
        ["sh", "-c", scripts.quote_argv(argv)], input=stdin, capture_output=True, check=False
    )


def test_run_many_returns_each_commands_output_and_status_in_order() -> None:
    batch = scripts.build_batch(
        [["echo", "one"], ["sh", "-c", "echo oops >&2; exit 3"], ["printf", "no newline"]]
    )
    done = sh(batch.argv)
    results = scripts.parse_batch(batch, done.stdout, done.stderr)
    assert [(r.exit_status, r.stdout, r.stderr) for r in results] == [
        (0, "one\n", ""),
        (3, "", "oops\n"),
        (0, "no newline", ""),
    ]


def test_run_many_is_binary_safe() -> None:
    batch = scripts.build_batch([["printf", "\\000\\n\\377"], ["head", "-c", "3", "/dev/zero"]])
    done = sh(batch.argv)
    results = scripts.parse_batch(batch, done.stdout, done.stderr)
    assert [r.stdout_bytes for r in results] == [b"\0\n\xff", b"\0\0\0"]


def test_run_many_keeps_arbitrary_bytes_of_a_file(tmp_path: Path) -> None:
    data = bytes(range(256)) + b"\nFLEETCFG 0 0\n" + b"\xff\xfe"
    target = tmp_path / "blob"
    target.write_bytes(data)
    batch = scripts.build_batch([["cat", str(target)], ["cat", str(target)]])
    done = sh(batch.argv)
    results = scripts.parse_batch(batch, done.stdout, done.stderr)
    assert [r.stdout_bytes for r in results] == [data, data]


def test_run_many_keeps_text_that_looks_like_its_own_marker() -> None:
    """The nonce followed by something that is not a status is output."""
    batch = scripts.build_batch([["echo", "x"]])
    fake = f"\n{batch.nonce} 0 zero\n{batch.nonce} one\n".encode()
    stdout = b"a" + fake + f"\n{batch.nonce} 0 5\n".encode()
    stderr = b"e" + fake + f"\n{batch.nonce} 0\n".encode()
    [result] = scripts.parse_batch(batch, stdout, stderr)
    assert (result.stdout_bytes, result.exit_status) == (b"a" + fake, 5)
    assert result.stderr == (b"e" + fake).decode()


def test_parsing_a_batch_compiles_no_regex(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every host's batch has its own nonce: a regex per nonce would be
    compiled per host (and evict the re module's cache)."""
    batch = scripts.build_batch([["echo", "one"], ["echo", "two"]])
    done = sh(batch.argv)

    def no_compile(*args: object, **kwargs: object) -> None:
        raise AssertionError("re.compile at run time")

    monkeypatch.setattr(scripts.re, "compile", no_compile)
    monkeypatch.setattr(scripts.re, "_compile", no_compile)
    results = scripts.parse_batch(batch, done.stdout, done.stderr)
    assert [r.stdout for r in results] == ["one\n", "two\n"]


def test_run_many_reports_a_missing_command_as_127() -> None:
    batch = scripts.build_batch([["no-such-command-fleetcfg"], ["echo", "after"]])
    done = sh(batch.argv)
    missing, after = scripts.parse_batch(batch, done.stdout, done.stderr)
    assert missing.exit_status == 127 and "not found" in missing.stderr
    assert after.stdout == "after\n"


def test_run_many_commands_do_not_read_the_batch_stdin() -> None:
    batch = scripts.build_batch([["cat"], ["echo", "next"]])
    done = sh(batch.argv, stdin=b"must not be eaten")
    first, second = scripts.parse_batch(batch, done.stdout, done.stderr)
    assert first.stdout == "" and second.stdout == "next\n"


def test_run_many_output_cut_short_is_detected() -> None:
    batch = scripts.build_batch([["echo", "a"], ["echo", "b"]])
    done = sh(batch.argv)
    cut = done.stdout[: done.stdout.index(b"b\n")]
    with pytest.raises(ValueError, match="1 of 2"):
        scripts.parse_batch(batch, cut, b"")


def test_arguments_reach_the_command_verbatim() -> None:
    done = sh(["printf", "%s|", NASTY, "", "-e", "*"])
    assert done.stdout.decode() == f"{NASTY}||-e|*|"


def test_read_file_reports_content_mode_and_owner(tmp_path: Path) -> None:
    path = tmp_path / NASTY
    path.write_bytes(b"\x00binary\xff")
    path.chmod(0o640)
    done = sh(scripts.read_file_argv(str(path)))
    state = scripts.parse_read_file(str(path), done.returncode, done.stdout, done.stderr, "h")
    assert state.exists and state.content == b"\x00binary\xff"
    assert state.mode == 0o640 and state.owner == "root" and state.group == "root"
    assert state.sha256 == sha256_hex(b"\x00binary\xff")


def test_read_file_of_a_missing_file_or_directory_is_absent(tmp_path: Path) -> None:
    for path in (tmp_path / "nope", tmp_path / "nope" / "deeper"):
        done = sh(scripts.read_file_argv(str(path)))
        state = scripts.parse_read_file(str(path), done.returncode, done.stdout, done.stderr, "h")
        assert not state.exists


def test_read_file_of_a_directory_is_an_error(tmp_path: Path) -> None:
    done = sh(scripts.read_file_argv(str(tmp_path)))
    with pytest.raises(RemoteCommandError, match="is a directory"):
        scripts.parse_read_file(str(tmp_path), done.returncode, done.stdout, done.stderr, "h")


def write(
    path: Path, data: bytes, *, stdin: bytes | None = None, mode: int = 0o644
) -> subprocess.CompletedProcess[bytes]:
    argv, upload = scripts.write_file_command(
        str(path), data, mode=mode, owner="root", group="root"
    )
    return sh(argv, stdin=upload if stdin is None else upload[:65] + stdin)


def test_write_file_replaces_the_target_with_mode_and_leaves_no_temp_file(
    tmp_path: Path,
) -> None:
    target = tmp_path / NASTY
    target.write_text("old")
    done = write(target, b"new\x00content", mode=0o600)
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == b"new\x00content"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [NASTY]


def test_write_file_with_truncated_input_leaves_the_target_untouched(tmp_path: Path) -> None:
    # what a dropped connection looks like to the remote side: early EOF
    target = tmp_path / "daemon.json"
    target.write_text("original")
    done = write(target, b"x" * 1000, stdin=b"x" * 400)
    with pytest.raises(ConnectionLostError) as info:
        scripts.check_write_result(str(target), done.returncode, done.stderr, "h", lost=True)
    assert "not replaced" in str(info.value)
    assert done.returncode == 12
    assert target.read_text() == "original"
    assert [p.name for p in tmp_path.iterdir()] == ["daemon.json"]


def test_write_file_with_corrupted_input_leaves_the_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "daemon.json"
    target.write_text("original")
    done = write(target, b"a" * 10, stdin=b"b" * 10)
    assert done.returncode == 12
    assert target.read_text() == "original"


def test_write_file_into_a_missing_directory_fails_clearly(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "daemon.json"
    done = write(target, b"{}")
    with pytest.raises(RemoteCommandError, match="temporary file") as info:
        scripts.check_write_result(str(target), done.returncode, done.stderr, "web1")
    assert info.value.host == "web1"
    assert "not changed" in str(info.value)


def test_a_full_disk_error_says_so_and_that_nothing_changed() -> None:
    with pytest.raises(RemoteCommandError) as info:
        scripts.check_write_result(
            "/etc/docker/daemon.json", 11, b"cat: write error: No space left on device", "web1"
        )
    text = str(info.value)
    assert "no space left on device in /etc/docker" in text
    assert "not changed" in text


@pytest.mark.parametrize("path", ["relative/path", "daemon.json"])
def test_remote_paths_must_be_absolute(path: str) -> None:
    with pytest.raises(UsageError, match="absolute"):
        scripts.read_file_argv(path)


@pytest.mark.parametrize("owner", ["", "root:root", "a b", "$(id)", "-r"])
def test_owner_and_group_are_validated(owner: str) -> None:
    with pytest.raises(UsageError):
        scripts.write_file_command("/etc/x", b"", mode=0o644, owner=owner, group="root")


def test_sudo_asking_for_a_password_is_a_clear_become_error() -> None:
    error = scripts.sudo_failure(1, b"sudo: a password is required\n", user="nopriv", host="web1")
    assert isinstance(error, BecomeError)
    text = str(error)
    assert "sudo requires a password for user nopriv on host web1" in text
    assert "NOPASSWD" in text and "connect as root" in text


def test_a_command_failing_normally_is_not_a_sudo_failure() -> None:
    assert scripts.sudo_failure(1, b"cat: x: No such file\n", user="u", host="h") is None
    assert scripts.sudo_failure(0, b"sudo: a password is required", user="u", host="h") is None


def test_become_prefixes_sudo_non_interactive() -> None:
    assert scripts.with_become(["id"], True) == ["sudo", "-n", "--", "id"]
    assert scripts.with_become(["id"], False) == ["id"]


def test_a_program_run_in_the_batch_shell_answers_exactly_as_alone(
    posix_shell: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The facts programs run in a subshell of run_many's shell (no sh of
    their own): each still gets its own exit status, output and stderr, and
    what one sets (umask, exported variables, options) stays its own."""
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    for name, text in {
        "dockerd": "echo 'Docker version 26.1.5, build a72d7cd'",
        "systemctl": "echo LoadState=loaded; echo 'systemctl: stand-in failure' >&2; exit 4",
    }.items():
        (stand_ins / name).write_text(f"#!/bin/sh\n{text}\n")
        (stand_ins / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{stand_ins}:{os.environ['PATH']}")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/daemon.json").write_text('{"debug": true}\n')
    commands = [
        FactsEngine(str(tmp_path / "state/engine")).argv(),
        FactsUnit("docker.service").argv(),
        FactsFiles(".docker/config.json", [str(tmp_path / "etc/daemon.json"), "/no/x"]).argv(),
        ["sh", "-c", "exit 5"],
        ["sh", "-c", 'umask; printf "%s|%s|%s\\n" "${LC_ALL-unset}" "${TZ-unset}" "$-"'],
    ]
    batch = scripts.build_batch(commands)
    lines = batch.argv[5:]
    assert [line.startswith("run_many_program ") for line in lines] == [True] * 3 + [False] * 2
    done = sh(batch.argv)
    results = scripts.parse_batch(batch, done.stdout, done.stderr)
    alone = [sh(argv) for argv in commands]
    assert [(r.exit_status, r.stdout_bytes, r.stderr) for r in results] == [
        (a.returncode, a.stdout, a.stderr.decode()) for a in alone
    ]
    assert [r.exit_status for r in results] == [0, 4, 0, 5, 0]
    assert "stand-in failure" in results[1].stderr


def test_a_program_in_the_batch_shell_sees_none_of_its_variables(posix_shell: str) -> None:
    program = 'printf "%s|" "${nonce-unset}" "${run_many_cmd-unset}" "$#" "$1" "$2"; exit 3'
    commands = (("program",), ("echo", "next"))
    nonce = "FLEETCFG" + "0" * 32
    argv = [
        *("sh", "-c", script("run_many").text, "sh", nonce),
        scripts.quote_argv(["run_many_program", program, "a b", "c"]),
        scripts.quote_argv(commands[1]),
    ]
    done = sh(argv)
    first, second = scripts.parse_batch(
        scripts.Batch(commands=commands, nonce=nonce, argv=argv), done.stdout, done.stderr
    )
    assert (first.stdout, first.exit_status) == ("unset|unset|2|a b|c|", 3)
    assert (second.stdout, second.exit_status) == ("next\n", 0)


def test_long_arguments_are_quoted_like_short_ones_every_time() -> None:
    long_text = "echo 'it''s' \"$HOME\" `id` \\\n" * 40  # a program text, quoted from memory
    argv = ["sh", "-c", long_text, "sh", "it's", ""]
    for _ in range(2):
        line = scripts.quote_argv(argv)
        assert shlex.split(line) == argv
    assert scripts.quote_argv([long_text + "x"]) != scripts.quote_argv([long_text])


def test_a_marker_seen_in_one_batch_cannot_frame_the_output_of_the_next(tmp_path: Path) -> None:
    # a host user reads one batch's nonce in `ps` and plants its framing in a
    # file the next batch of the same commands (their text is built once) prints
    planted_file = tmp_path / "config.json"
    commands = [["cat", "--", str(planted_file)], ["echo", "two"]]
    seen = scripts.build_batch(commands)
    planted = f"data\n{seen.nonce} 0 0\nforged\n{seen.nonce} 1 0\n"
    planted_file.write_text(planted)
    batch = scripts.build_batch(commands)
    assert batch.nonce != seen.nonce
    done = sh(batch.argv)
    first, second = scripts.parse_batch(batch, done.stdout, done.stderr)
    assert first.stdout == planted and second.stdout == "two\n"
