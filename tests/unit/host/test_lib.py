"""lib.sh's routines run for real under each POSIX sh a host may have."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fleetcfg.host.programs.base import script


def lib_sh(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``code`` run by ``sh`` after lib.sh's routines."""
    return subprocess.run(
        ["sh", "-c", script("lib").text + code, "sh", *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("printed", ["a\n", "a\n\n\n", "", "\n\n", "a", "a\n\nb\n", " a \n"])
def test_a_capture_keeps_what_command_substitution_keeps(posix_shell: str, printed: str) -> None:
    code = 't=$1; fc_capture 100 \'printf %s "$t"\'; printf "%s|%s|%s" "$?" "$fc_over" "$fc_out"'
    done = lib_sh(code, printed)
    expected = subprocess.run(
        ["sh", "-c", 'printf %s "$(printf %s "$1")"', "sh", printed],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert done.stdout == f"0|0|{expected}"


def test_a_capture_returns_the_commands_status(posix_shell: str) -> None:
    done = lib_sh('fc_capture 100 "echo out; (exit 7)"; printf "%s|%s" "$?" "$fc_out"')
    assert done.stdout == "7|out"


def test_the_user_id_is_read_without_a_process(posix_shell: str, tmp_path: Path) -> None:
    """fc_whoami reads /proc/self/status; ``id`` is not even on PATH."""
    done = subprocess.run(
        ["sh", "-c", script("lib").text + 'fc_whoami; printf %s "$fc_me"'],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": str(tmp_path)},
        executable=os.environ["PATH"].split(":")[0] + "/sh",
    )
    assert done.stdout == str(os.geteuid()), done.stderr
