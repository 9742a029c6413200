"""Every restart or reload apply and rollback run outside the install program
(recovery's, rollback's that only removes files) runs under the lock's
heartbeat, as the install program's own: the beat program touches the
lock's owner file and names itself in lock.busy while the command runs, so
that a --break-lock refuses the lock meanwhile."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from fleetcfg.apply.daemon import under_heartbeat
from fleetcfg.host.programs import Beat, identify
from fleetcfg.host.programs.apply import Lock, busy_pid
from fleetcfg.host.state import LOCK_BUSY_PATH, LOCK_OWNER_PATH
from fleetcfg.host.transport.base import CommandResult
from fleetcfg.host.transport.local import LocalTransport
from tests.fakes.dockerhost import FakeDockerHost
from tests.fakes.transport import FakeTransport
from tests.unit.apply.helpers import (
    OLD,
    RESTARTING,
    daemon_json,
    locked,
    refuses_the_old_file,
    setup,
)
from tests.unit.apply.test_apply_faults import refuse_at_start
from tests.unit.apply.test_rollback import applied

RESTART = ("systemctl", "restart", "docker")


def _watch_restarts(host: FakeDockerHost) -> list[bool]:
    """Whether lock.busy existed during each restart of ``host``."""
    seen: list[bool] = []
    builtin = host._systemctl

    def restart(argv: tuple[str, ...], stdin: bytes | None, fake: FakeTransport) -> CommandResult:
        seen.append(host.exists(LOCK_BUSY_PATH))
        return builtin(argv, stdin, fake)

    host.on(list(RESTART), restart)
    return seen


def test_the_restart_of_a_recovery_runs_under_the_lock_heartbeat(tmp_path: Path) -> None:
    s = setup(tmp_path, validator=refuse_at_start)
    host = s.hosts["web-01"]
    seen = _watch_restarts(host)
    result = s.apply(s.plan()).results[0]
    assert result.rolled_back and result.recovered
    # the install program's restart (it keeps its own heartbeat, which the
    # fake does not emulate), then recovery's, under the beat program
    assert len(seen) == 2 and seen[1]
    assert daemon_json(host) == OLD and not locked(host)
    assert not host.exists(LOCK_BUSY_PATH)
    beats = [a for a in host.argvs if identify(a, ["beat"])]
    assert len(beats) == 1 and beats[0][-1] == "systemctl restart docker"


def test_the_restart_of_a_rollback_recovery_runs_under_the_lock_heartbeat(
    tmp_path: Path,
) -> None:
    s = applied(tmp_path)
    host = s.hosts["web-01"]
    host.validator = refuses_the_old_file
    seen = _watch_restarts(host)
    result = s.rollback(["web-01"]).results[0]
    assert result.rolled_back and result.recovered
    assert len(seen) == 2 and seen[1]
    assert daemon_json(host) == RESTARTING and not host.exists(LOCK_BUSY_PATH)


def test_the_beat_command_is_the_restart_quoted_for_the_host() -> None:
    argv = under_heartbeat(RESTART)
    program = identify(argv, ["beat"])
    assert program is not None
    named, _ = program.parse(argv)
    assert named == {
        "beat": LOCK_OWNER_PATH,
        "busy": LOCK_BUSY_PATH,
        "every": "5",
        "command": "systemctl restart docker",
    }


def test_the_beat_program_keeps_the_heartbeat_and_names_itself_while_its_command_runs(
    tmp_path: Path,
) -> None:
    """The real sh: lock.busy holds the program's pid and start time while
    the command runs, owner.json's mtime is refreshed, and both are done
    with (the loop stopped, lock.busy removed) when it ends with the
    command's exit status."""
    beat, busy, seen = tmp_path / "owner.json", tmp_path / "lock.busy", tmp_path / "seen"
    ref = tmp_path / "an-hour-ago"
    beat.write_text("{}")
    ref.write_text("")
    then = time.time() - 3600
    os.utime(beat, (then, then))
    os.utime(ref, (then + 1, then + 1))
    # the command waits (a minute at most) for the heartbeat's first touch
    wait = (
        f'i=0; while [ ! "{beat}" -nt "{ref}" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done'
    )
    command = ("sh", "-c", f'cat "{busy}" >"{seen}"; {wait}; exit 7')
    result = LocalTransport().run(Beat(str(beat), str(busy), 1, command).argv())
    assert result.exit_status == 7
    pid, start = seen.read_text().split()
    assert int(pid) > 0 and start.isdigit()
    assert not busy.exists()
    assert beat.stat().st_mtime > then + 60


def test_a_stale_busy_file_naming_a_users_process_with_spaces_in_its_name_is_not_busy(
    tmp_path: Path,
) -> None:
    """The attack: lock.busy outlived its install program (killed, or the
    host rebooted) and a host user gets its pid for a process whose name
    holds spaces ("a b c": a copy of sleep). Each space shifts the fields of
    /proc/PID/stat that ``cut -d' ' -f22`` counts, so the start time read
    was a field the user controls (here the thread count, 1; the minor
    faults with more spaces) and lock.sh named the stale lock busy: every
    --break-lock refused it. The start time is counted after the name."""
    state, lock = tmp_path / "s", tmp_path / "s" / "l"
    lock.mkdir(parents=True, mode=0o700)
    (lock / "owner.json").write_text("{}\n")
    named = tmp_path / "a b c"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", named)
    with subprocess.Popen([str(named), "60"]) as user:
        try:
            (state / "lock.busy").write_text(f"{user.pid} 1\n")
            program = Lock(
                str(state),
                str(state / "b"),
                str(lock),
                str(lock / "owner.json"),
                "{}",
                busy=str(state / "lock.busy"),
            )
            result = LocalTransport().run(program.argv())
        finally:
            user.kill()
    assert result.exit_status == 3, result.stderr
    assert busy_pid(result.stderr) is None, result.stderr
