"""``engine.sh`` run for real (sh, a stand-in dockerd that counts its runs):
plan reads the Engine version from apply's record while the binary is the
same, and a record a host user could have made or changed is never believed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fleetcfg.host.programs.facts import FactsEngine

VERSION = "Docker version 26.1.5+dfsg1, build a72d7cd"
FORGED = "Docker version 99.0.0, build forged"


class Host:
    """A folder with a bin/dockerd stand-in and a 0700 state folder."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        #: the folder on PATH that holds dockerd (bin, or a link to it)
        self.path = self.bin
        self.state = root / "state"
        self.state.mkdir(mode=0o700)
        self.record = self.state / "engine"
        self.runs = root / "runs"
        self.install(VERSION)

    def install(self, line: str) -> None:
        """A new dockerd binary (a new file renamed over the old: an upgrade)."""
        new = self.bin / ".dockerd.new"
        new.write_text(f"#!/bin/sh\necho run >>{self.runs}\necho '{line}'\n")
        new.chmod(0o755)
        new.replace(self.bin / "dockerd")

    def run(self, *, save: bool = False) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PATH": f"{self.path}:{os.environ['PATH']}"}
        argv = FactsEngine(str(self.record), save).argv()
        return subprocess.run(argv, capture_output=True, text=True, env=env, check=False)

    def facts(self, *, save: bool = False) -> str:
        done = self.run(save=save)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def version_runs(self) -> int:
        return len(self.runs.read_text().splitlines()) if self.runs.exists() else 0


@pytest.fixture
def host(posix_shell: str, tmp_path: Path) -> Host:
    return Host(tmp_path)


def test_a_plan_after_apply_reads_the_recorded_version_without_starting_dockerd(
    host: Host,
) -> None:
    assert host.facts() == VERSION + "\n"  # no record yet: the real --version
    assert not host.record.exists()  # only apply (save) records
    assert host.facts(save=True) == VERSION + "\n"
    assert host.version_runs() == 2
    assert host.record.stat().st_mode & 0o777 == 0o600
    assert host.facts() == VERSION + "\n"
    assert host.facts(save=True) == VERSION + "\n"
    assert host.version_runs() == 2


def test_an_upgraded_dockerd_runs_its_real_version(host: Host) -> None:
    host.facts(save=True)
    host.install("Docker version 27.0.1, build 1234567")
    assert host.facts() == "Docker version 27.0.1, build 1234567\n"
    assert host.version_runs() == 2


def _forge(host: Host) -> None:
    """The record of the binary the host has, with a forged version line."""
    host.facts(save=True)
    identity = host.record.read_text().splitlines()[0]
    host.record.write_text(f"{identity}\n{FORGED}\n")


def test_a_record_of_the_same_binary_is_believed(host: Host) -> None:
    # (what makes the attacks below meaningful: only trust stands between
    # the record and the plan)
    _forge(host)
    assert host.facts() == FORGED + "\n"


def test_a_record_others_may_write_is_ignored(host: Host) -> None:
    _forge(host)
    host.record.chmod(0o646)
    assert host.facts() == VERSION + "\n"


def test_a_record_in_a_folder_others_may_write_is_ignored(host: Host) -> None:
    _forge(host)
    host.state.chmod(0o777)
    assert host.facts() == VERSION + "\n"


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give the record to another user")
def test_a_record_owned_by_a_user_is_ignored(host: Host) -> None:
    _forge(host)
    os.chown(host.record, 65534, 65534)
    assert host.facts() == VERSION + "\n"


def test_a_symlinked_record_is_ignored(host: Host, tmp_path: Path) -> None:
    _forge(host)
    planted = tmp_path / "planted"
    host.record.rename(planted)
    host.record.symlink_to(planted)
    assert host.facts() == VERSION + "\n"


def test_a_record_of_another_binary_is_ignored(host: Host) -> None:
    host.facts(save=True)
    _, line = host.record.read_text().splitlines()
    host.record.write_text(f"fleetcfg-engine v1 1 2 3 4 5 /usr/sbin/dockerd\n{line}\n")
    assert host.facts() == VERSION + "\n"
    assert host.version_runs() == 2


def test_a_failing_dockerd_is_not_recorded(host: Host) -> None:
    (host.bin / "dockerd").write_text("#!/bin/sh\necho 'dockerd: broken' >&2\nexit 3\n")
    done = host.run(save=True)
    assert (done.returncode, done.stdout, done.stderr) == (3, "", "dockerd: broken\n")
    assert not host.record.exists()


def test_a_dockerd_on_a_linked_folder_is_known_by_the_binary_it_reaches(
    host: Host, tmp_path: Path
) -> None:
    """The record's trust check stats the binary too, unless a symlink is on
    its way (then ``stat -L``): an upgrade behind the link is still seen."""
    linked = tmp_path / "linked"
    linked.symlink_to(host.bin)
    host.path = linked
    host.facts(save=True)
    assert f" {linked}/dockerd" in host.record.read_text().splitlines()[0]
    assert host.facts() == VERSION + "\n"
    assert host.version_runs() == 1
    host.install("Docker version 27.0.1, build 1234567")
    assert host.facts() == "Docker version 27.0.1, build 1234567\n"
    assert host.version_runs() == 2
