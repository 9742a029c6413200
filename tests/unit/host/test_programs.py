"""The host programs as files: each is a POSIX sh file with named arguments,
and each HostProgram type names exactly those arguments."""

from __future__ import annotations

import os
import pwd
import re
import subprocess
from importlib import resources
from pathlib import Path

import pytest

from fleetcfg.core.hashing import sha256_hex
from fleetcfg.host.programs.apply import Beat, Install, Lock, Unlock
from fleetcfg.host.programs.base import HostProgram, ProgramError, Script, identify, script
from fleetcfg.host.programs.facts import FactsEngine, FactsFiles, FactsUnit
from fleetcfg.host.programs.files import (
    IN_BATCH_SHELL,
    READ_CAP,
    AsUser,
    Read,
    RunMany,
    Write,
    batch_line,
)

EXAMPLES: list[HostProgram] = [
    Lock("/s", "/s/b", "/s/l", "/s/l/owner.json", "{}"),
    Install("/etc/docker/daemon.json", b"{}\n", 0o644, "root", "root"),
    Unlock("token", "/s/l/owner.json", "/s/l", "/s/state.json", b"{}", ["/s/b/old"]),
    Beat("/s/l/owner.json", "/s/lock.busy", 5, ("systemctl", "restart", "docker")),
    RunMany((("echo", "hi"),)),
    Read("/etc/docker/daemon.json"),
    Write("/etc/x", b"x", 0o600, "root", "root"),
    AsUser("alice", ["true"]),
    FactsFiles(".docker/config.json", ["/etc/docker/daemon.json"]),
    FactsUnit("docker.service"),
    FactsEngine("/etc/docker/.fleetcfg/engine", save=True),
]


def _names() -> list[str]:
    folder = resources.files("fleetcfg.host.programs")
    return sorted(p.name[:-3] for p in folder.iterdir() if p.name.endswith(".sh"))


def test_every_program_is_a_packaged_sh_file_with_a_typed_builder() -> None:
    assert {type(p).SCRIPT for p in EXAMPLES} == set(_names()) - {"lib"}


@pytest.mark.parametrize("program", EXAMPLES, ids=lambda p: type(p).__name__)
def test_each_program_type_names_exactly_the_arguments_its_sh_file_reads(
    program: HostProgram,
) -> None:
    loaded = script(type(program).SCRIPT)
    assert set(program.arguments()) == set(loaded.params)
    argv = program.argv()
    assert argv[:4] == ["sh", "-c", loaded.text, "sh"]
    named, rest = loaded.parse(argv)
    assert named == program.arguments() and rest == program.rest()
    assert identify(argv, _names()) == loaded


def test_install_reads_its_arguments_by_name_in_the_order_of_its_sh_file() -> None:
    loaded = script("install")
    assert loaded.params[:6] == ("target", "mode", "owner", "group", "size", "user")
    assert loaded.params[-8:] == (
        "finish",
        "pending",
        "dir_mode",
        "beat",
        "busy",
        "every",
        "cap",
        "backup_cap",
    )
    assert len(loaded.params) == 24
    named, _ = loaded.parse(
        Install("/t", b"abc", 0o600, "root", "root", user="alice", want=3).argv()
    )
    assert (named["mode"], named["size"], named["user"], named["want"]) == (
        "0600",
        "3",
        "alice",
        "3",
    )


def test_the_shared_routines_are_inlined_only_into_programs_that_use_them() -> None:
    assert "fc_stage()" in script("install").text and "fc_stage()" in script("write").text
    assert "fc_as()" in script("as_user").text
    assert "fc_" not in script("run_many").text
    for name in _names():
        assert script(name).text.startswith(script(name).header + "\n")


def test_a_program_carries_only_the_shared_routines_it_calls() -> None:
    # a host parses every byte of a program on every run: the systemctl
    # show capture needs fc_capture and nothing of the trust checks
    unit = script("facts_unit").text
    assert "fc_capture()" in unit
    assert "fc_trust()" not in unit and "fc_as()" not in unit
    # and the routines those call (fc_trusted -> fc_trust -> fc_whoami, fc_fields)
    lock = script("lock").text
    for needed in ("fc_private_dir()", "fc_trusted()", "fc_trust()", "fc_whoami()", "fc_fields()"):
        assert needed in lock
    assert "fc_put()" not in lock and "fc_capture()" not in lock
    # every routine a program names is defined in it, before the program's own code
    defined = re.compile(r"^(fc_[a-z_]+)\(\) \{$", re.MULTILINE)
    for name in _names():
        if name == "lib":
            continue
        text = script(name).text
        called = set(re.findall(r"\bfc_[a-z_]+\b", text)) & set(defined.findall(_lib_text()))
        assert called <= set(defined.findall(text)), name


def _lib_text() -> str:
    return resources.files("fleetcfg.host.programs").joinpath("lib.sh").read_text()


def test_programs_reach_the_host_without_their_comments_and_still_parse() -> None:
    # every host receives and parses each program on every run: only the
    # name line of the comments goes along
    for name in _names():
        text = script(name).text
        first, _, code = text.partition("\n")
        assert first == script(name).header
        assert not [line for line in code.splitlines() if line.lstrip().startswith("#")]
        checked = subprocess.run(
            ["sh", "-n", "-c", text], capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, (name, checked.stderr)


def test_a_program_given_the_wrong_arguments_is_a_bug_not_a_host_error() -> None:
    with pytest.raises(ProgramError, match="missing arguments \\['cap'\\]"):
        script("read").argv({"path": "/x"})
    with pytest.raises(ProgramError, match="unknown arguments \\['mode'\\]"):
        script("read").argv({"path": "/x", "cap": "1", "mode": "0600"})


def test_an_argv_that_is_not_a_known_program_is_not_identified() -> None:
    assert identify(["sh", "-c", "# other\ntrue", "sh"], _names()) is None
    assert identify(["cat", "/etc/passwd"], _names()) is None
    assert isinstance(script("lock"), Script)


def test_programs_run_in_the_batch_shell_need_no_process_of_their_own() -> None:
    """A subshell shares its parent's ``$$`` (and a trap or the heartbeat's
    loop would outlive a program's end differently): the programs run_many
    runs in its own shell use none of them."""
    folder = resources.files("fleetcfg.host.programs")
    for name in IN_BATCH_SHELL:
        body = folder.joinpath(f"{name}.sh").read_text(encoding="utf-8")
        code = [line for line in body.splitlines() if not line.lstrip().startswith("#")]
        for word in ("$$", "trap ", "fc_beat", "$PPID"):
            assert not [line for line in code if word in line], (name, word)
    line = batch_line(FactsUnit("docker.service").argv())
    assert line.startswith("run_many_program ") and "facts_unit" not in line.split()[0]
    assert batch_line(Read("/etc/x").argv()).startswith("sh -c ")


SECRET_FILE = b'{"proxies": {"http-proxy": "http://svc:hunter2@proxy.corp:3128"}}\n'


@pytest.mark.parametrize(
    "program",
    [
        Install("/etc/docker/daemon.json", SECRET_FILE, 0o600, "root", "root"),
        Write("/etc/docker/daemon.json", SECRET_FILE, 0o600, "root", "root"),
    ],
    ids=lambda p: type(p).__name__,
)
def test_the_upload_programs_get_the_sha256_on_stdin_never_as_an_argument(
    program: Install | Write,
) -> None:
    """Any user of a host reads root's process arguments (ps,
    /proc/PID/cmdline): the sha256 of a 0600 file that holds a password lets
    them guess the password offline, and so does a 12-hex prefix of it."""
    digest = sha256_hex(SECRET_FILE)
    argv = " ".join(program.argv())
    assert digest[:12] not in argv
    assert program.stdin() == digest.encode() + b"\n" + SECRET_FILE


@pytest.mark.parametrize("stdin", [b"", b"not a sum\n{}\n", b"{}\n"])
def test_an_upload_without_its_sha256_line_changes_nothing(tmp_path: Path, stdin: bytes) -> None:
    target = tmp_path / "daemon.json"
    target.write_bytes(b"old")
    argv = Write(str(target), b"{}\n", 0o600, str(os.getuid()), str(os.getgid())).argv()
    done = subprocess.run(argv, input=stdin, capture_output=True, check=False)
    assert done.returncode == 12, done.stderr
    assert b"no sha256 line on stdin" in done.stderr
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["daemon.json"]


def test_a_users_file_turned_into_a_link_to_a_huge_file_is_not_copied_into_roots_backups(
    tmp_path: Path,
) -> None:
    """The attack: a user whose config.json apply manages swaps it for a link
    to a huge file (or /dev/zero) once apply has read it under the lock, e.g.
    when the upload appears next to it. The backup copies the live file as
    the user into root's backup folder: unbounded, it filled the file system
    that holds /etc/docker. It is refused past the most fleetcfg reads of a
    file, before anything is replaced, and no part of it is kept."""
    docker = tmp_path / "home" / ".docker"
    docker.mkdir(parents=True)
    huge = tmp_path / "home" / "huge"
    with huge.open("wb") as f:
        f.truncate(8 * READ_CAP)  # sparse here, 8 MiB of real blocks in a copy
    target = docker / "config.json"
    target.symlink_to(huge)
    backups = tmp_path / "backups"
    backups.mkdir(mode=0o700)
    me = pwd.getpwuid(os.getuid()).pw_name
    program = Install(
        str(target), b"{}\n", 0o600, me, me, user=me, backup=str(backups / "config.json.1")
    )
    done = subprocess.run(program.argv(), input=program.stdin(), capture_output=True, check=False)
    assert done.returncode == 30, done.stderr
    assert f"more than {READ_CAP} bytes".encode() in done.stderr
    assert os.listdir(backups) == []
    assert target.is_symlink() and os.listdir(docker) == ["config.json"]
