"""The small pure pieces apply relies on: host-side state, ExecStart flags,
dockerd's log, the journal."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleetcfg.apply.journal import Journal, default_journal_path, read_journal
from fleetcfg.apply.rollback import backup_target
from fleetcfg.core.errors import UsageError
from fleetcfg.dockerd.flags import exec_start_argv, validate_argv, validate_flags
from fleetcfg.dockerd.log import message_of, reload_outcome, start_error
from fleetcfg.host.state import (
    BackupRecord,
    FileRecord,
    HostState,
    LockOwner,
    StateFileError,
    backup_name,
    prune_backups,
    stage_path,
)

MOMENT = datetime(2024, 5, 7, 10, 15, 0, 123456, tzinfo=UTC)


def test_backup_names_sort_by_time_and_name_their_file() -> None:
    name = backup_name("/home/alice/.docker/config.json", MOMENT)
    assert name == "home%2Falice%2F.docker%2Fconfig.json.20240507T101500.123456Z"
    assert backup_target(name) == "/home/alice/.docker/config.json"
    later = backup_name("/home/alice/.docker/config.json", MOMENT.replace(second=1))
    assert sorted([later, name]) == [name, later]


def test_the_upload_sits_next_to_its_target() -> None:
    assert stage_path("/etc/docker/daemon.json") == "/etc/docker/.daemon.json.fleetcfg-new"


def test_state_round_trips_and_keeps_keys_it_does_not_know() -> None:
    raw = json.dumps(
        {
            "format": 1,
            "future": {"x": 1},
            "files": {
                "/etc/docker/daemon.json": {
                    "kind": "daemon",
                    "sha256": "ab" * 32,
                    "written_at": "2024-05-07T10:15:00.000000Z",
                    "written_by": "alice@ctl",
                    "run_id": "r1",
                    "plan_id": "p1",
                    "command": "apply",
                    "note": "kept",
                    "backups": [
                        {"name": "x.1", "sha256": "cd" * 32, "made_at": "t", "run_id": "r1"},
                        {"absent": True, "made_at": "t0", "run_id": "r0"},
                        {"name": "../escape", "made_at": "t", "run_id": "r"},
                    ],
                }
            },
        }
    ).encode()
    state = HostState.from_bytes(raw)
    record = state.files["/etc/docker/daemon.json"]
    assert [b.name for b in record.backups] == ["x.1", None]
    assert record.backups[1].absent
    again = json.loads(state.to_bytes())
    assert again["future"] == {"x": 1}
    assert again["files"]["/etc/docker/daemon.json"]["note"] == "kept"


def test_a_state_file_that_is_not_fleetcfgs_is_an_error() -> None:
    with pytest.raises(StateFileError):
        HostState.from_bytes(b"[1, 2]")
    assert HostState.from_bytes(None).files == {}


def test_pruning_keeps_the_newest_backups() -> None:
    backups = tuple(BackupRecord(f"b{i}", None, "", "") for i in range(5))
    kept, dropped = prune_backups(backups, 3)
    assert [b.name for b in kept] == ["b2", "b3", "b4"] and dropped == ["b0", "b1"]
    kept, dropped = prune_backups((BackupRecord(None, None, "", ""), *backups[:1]), 0)
    assert len(kept) == 1 and dropped == []


def test_a_lock_owner_describes_itself() -> None:
    owner = LockOwner("r1", "alice", "ctl", 42, "apply", "2024-05-07T10:00:00.000000Z")
    assert LockOwner.from_bytes(owner.to_bytes()) == owner
    assert owner.describe(MOMENT) == (
        "alice@ctl (pid 42, fleetcfg apply, run r1, since 2024-05-07T10:00:00.000000Z (15m ago))"
    )
    assert LockOwner.from_bytes(b"garbage") is None


def test_file_records_without_backups_have_no_last_backup() -> None:
    record = FileRecord("/p", "daemon", None, None, "", "", "", None, "apply")
    assert record.last_backup is None


def test_exec_start_is_read_from_systemctl_show() -> None:
    shown = (
        "{ path=/usr/bin/dockerd ; argv[]=/usr/bin/dockerd -H fd:// "
        "--containerd=/run/containerd/containerd.sock ; ignore_errors=no ; "
        "start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }\n"
    )
    assert exec_start_argv(shown) == (
        "/usr/bin/dockerd",
        "-H",
        "fd://",
        "--containerd=/run/containerd/containerd.sock",
    )
    assert exec_start_argv("") == ()


def test_validate_keeps_the_flags_dockerd_checks_and_drops_what_cannot_repeat() -> None:
    flags = validate_flags(
        [
            "/usr/sbin/dockerd",
            "-H",
            "fd://",
            "--config-file",
            "/etc/docker/other.json",
            "--log-level",
            "$LEVEL",
            "--config-file=/x",
            "--debug",
            "$DOCKER_OPTS",
        ]
    )
    assert flags.flags == ("-H", "fd://")
    assert flags.dropped == (
        "--config-file",
        "/etc/docker/other.json",
        "--log-level",
        "$LEVEL",
        "--config-file=/x",
        "--debug",
        "$DOCKER_OPTS",
    )
    assert validate_argv("/t", flags.flags) == [
        "dockerd",
        "--validate",
        "--config-file",
        "/t",
        "-H",
        "fd://",
    ]


def test_the_start_error_is_dockerds_own_words() -> None:
    log = "\n".join(
        [
            'time="1" level=info msg="Starting up"',
            'time="2" level=error msg="old failure"',
            "Starting docker.service - Docker Application Container Engine...",
            'time="3" level=info msg="Starting up"',
            "unable to configure the Docker daemon with file /etc/docker/daemon.json: "
            'invalid character "}"',
            "docker.service: Failed with result 'exit-code'.",
        ]
    )
    assert start_error(log) == (
        'unable to configure the Docker daemon with file /etc/docker/daemon.json: invalid character "}"'
    )
    assert start_error("Starting up\ndocker.service: Failed with result 'exit-code'.") == (
        "docker.service: Failed with result 'exit-code'."
    )
    assert start_error("") is None


def test_a_logrus_error_line_gives_its_message_and_error() -> None:
    line = 'time="x" level=error msg="Error reconfiguring the daemon" error="bad \\"mirror\\""'
    assert message_of(line) == 'Error reconfiguring the daemon: bad "mirror"'
    assert message_of('time="x" level=info msg="fine"') is None


@pytest.mark.parametrize(
    ("log", "outcome"),
    [
        ("nothing here", ("unseen", None)),
        (
            "Got signal to reload configuration, reloading from: /etc/docker/daemon.json",
            ("pending", None),
        ),
        (
            "Got signal to reload configuration, reloading from: x\n"
            'time="t" level=info msg="Reloaded configuration: {}"',
            ("ok", None),
        ),
        (
            "Got signal to reload configuration, reloading from: x\n"
            'time="t" level=error msg="Error reloading configuration" error="boom"\n'
            "Got signal to reload configuration, reloading from: x\n"
            'level=error msg="unable to configure the Docker daemon with file x: nope"',
            ("error", "unable to configure the Docker daemon with file x: nope"),
        ),
    ],
)
def test_the_outcome_of_the_last_reload_is_read_from_the_log(
    log: str, outcome: tuple[str, str | None]
) -> None:
    assert reload_outcome(log) == outcome


def test_the_journal_appends_json_lines_next_to_the_inventory(tmp_path: Path) -> None:
    path = default_journal_path(tmp_path / "inventory.yaml")
    assert path == tmp_path / ".fleetcfg" / "journal.jsonl"
    with Journal(path) as journal:
        journal.write("step", "r1", {"host": "a", "detail": "ok", "skip": None})
    with Journal(path) as journal:
        journal.write("run-end", "r2", {"exit_code": 0})
    entries = read_journal(path)
    assert [(e["run"], e["event"]) for e in entries] == [("r1", "step"), ("r2", "run-end")]
    assert "skip" not in entries[0]


def test_a_line_separator_from_a_host_does_not_hide_its_journal_entry(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    detail = "line\u2028separator\u2029paragraph\x85next line"
    with Journal(path) as journal:
        journal.write("step", "r1", {"host": "a", "detail": detail})
    assert [e["detail"] for e in read_journal(path)] == [detail]


def test_an_unwritable_journal_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UsageError, match="cannot write the journal"):
        Journal(blocker / "journal.jsonl")
