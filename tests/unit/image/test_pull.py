"""What `fleetcfg converge` keeps on its host: the local lock, the disable
file, the revision check, the textfile metrics and the systemd units."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from fleetcfg.cli.app import app
from fleetcfg.cli.exits import exit_code_for
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.host.pull import (
    ConvergeLockedError,
    ConvergeMetrics,
    PullPaths,
    Revision,
    converge_lock,
    disable,
    enable,
    older_revision,
    read_disabled,
    timer_units,
    write_metrics,
)
from tests.unit.image.test_render_tree import repo

runner = CliRunner()


def paths(tmp_path: Path) -> PullPaths:
    return PullPaths(state_dir=tmp_path / "state", textfile_dir=tmp_path / "textfile")


def test_a_second_converge_is_refused_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    where = paths(tmp_path)
    with converge_lock(where):
        with pytest.raises(ConvergeLockedError) as refused, converge_lock(where):
            pass
        assert f"pid {os.getpid()}" in refused.value.message
        assert exit_code_for(refused.value) == ExitCode.LOCKED
    with converge_lock(where):  # released with the first
        pass


def test_disable_records_who_and_why_and_enable_removes_it(tmp_path: Path) -> None:
    where = paths(tmp_path)
    record = disable(where, "  kernel upgrade, INC-42 ", by="alice", at="2026-12-06T10:00:00+00:00")
    assert read_disabled(where) == record
    assert (
        record.describe()
        == "disabled by alice at 2026-12-06T10:00:00+00:00: kernel upgrade, INC-42"
    )
    assert enable(where) == record
    assert read_disabled(where) is None
    assert enable(where) is None


def test_an_older_revision_is_refused_and_a_newer_or_the_same_is_not() -> None:
    last = Revision("b" * 40, 2000)
    assert older_revision(Revision("a" * 40, 1000), last) is not None
    assert "older than bbbbbbbbbbbb" in (older_revision(Revision("a" * 40, 1000), last) or "")
    assert older_revision(Revision("c" * 40, 3000), last) is None
    assert older_revision(last, last) is None
    assert older_revision(Revision("a" * 40, 1000), None) is None


def test_metrics_are_written_by_rename_and_parse_as_prometheus_text(tmp_path: Path) -> None:
    where = paths(tmp_path)
    metrics = ConvergeMetrics(
        last_run=1765000000.5,
        last_success=1765000000.5,
        exit_code=2,
        revision='abc"def',
        files_drifted=1,
        restart_pending=False,
        disabled=False,
    )
    first = write_metrics(where, metrics)
    inode = first.stat().st_ino
    write_metrics(where, metrics)
    assert first.stat().st_ino != inode  # replaced whole, never rewritten in place
    assert os.listdir(where.textfile_dir) == ["fleetcfg.prom"]  # no temporary file left
    families = {f.name: f for f in text_string_to_metric_families(first.read_text())}
    value = {name: f.samples[0].value for name, f in families.items()}
    assert value["fleetcfg_converge_exit_code"] == 2
    assert value["fleetcfg_converge_last_run_timestamp_seconds"] == 1765000000.5
    assert value["fleetcfg_converge_files_drifted"] == 1
    assert value["fleetcfg_converge_disabled"] == 0
    assert families["fleetcfg_converge_revision_info"].samples[0].labels == {"revision": 'abc"def'}


def test_the_timer_runs_a_oneshot_service_at_a_stable_random_offset() -> None:
    units = timer_units(["/usr/bin/fleetcfg", "converge", "-i", "/srv/repo/inventory.yaml"])
    service = units["fleetcfg-converge.service"]
    timer = units["fleetcfg-converge.timer"]
    assert "Type=oneshot" in service
    assert "ExecStart=/usr/bin/fleetcfg converge -i /srv/repo/inventory.yaml" in service
    assert "SuccessExitStatus=2 4" in service
    assert "RandomizedDelaySec=15min" in timer
    assert "FixedRandomDelay=true" in timer
    assert "WantedBy=timers.target" in timer


def test_install_timer_writes_both_units_for_this_host(tmp_path: Path) -> None:
    inv = repo(tmp_path)
    result = runner.invoke(
        app,
        [
            "converge",
            "-i",
            str(inv),
            "--as",
            "ci-01",
            "--install-timer",
            "--systemd-dir",
            str(tmp_path / "systemd"),
            "--randomized-delay",
            "1h",
        ],
    )
    assert result.exit_code == 0, result.stderr
    service = (tmp_path / "systemd/fleetcfg-converge.service").read_text()
    assert f"-i {inv} --as ci-01" in service
    assert "RandomizedDelaySec=1h" in (tmp_path / "systemd/fleetcfg-converge.timer").read_text()
    assert "systemctl enable --now fleetcfg-converge.timer" in result.stderr


def test_disable_from_the_cli_says_who_and_a_disabled_converge_exits_4(tmp_path: Path) -> None:
    inv = repo(tmp_path)
    where = ["--state-dir", str(tmp_path / "state"), "--textfile-dir", str(tmp_path / "prom")]
    result = runner.invoke(app, ["converge", "--disable", "INC-7: disk swap", *where])
    assert result.exit_code == 0, result.stderr
    assert "INC-7: disk swap" in result.stderr
    result = runner.invoke(app, ["converge", "-i", str(inv), "--as", "ci-01", *where])
    assert result.exit_code == 4
    assert "disabled by" in result.stderr
    assert "INC-7: disk swap" in result.stderr
    prom = (tmp_path / "prom/fleetcfg.prom").read_text()
    assert "fleetcfg_converge_disabled 1" in prom
    assert "fleetcfg_converge_exit_code 4" in prom
    assert runner.invoke(app, ["converge", "--enable", *where]).exit_code == 0
    assert not (tmp_path / "state/converge-disabled.json").exists()


def test_an_unknown_host_is_a_usage_error(tmp_path: Path) -> None:
    inv = repo(tmp_path)
    result = runner.invoke(
        app, ["converge", "-i", str(inv), "--as", "nope", "--state-dir", str(tmp_path / "s")]
    )
    assert result.exit_code == 2


def test_the_state_folder_is_created_private(tmp_path: Path) -> None:
    where = paths(tmp_path)
    disable(where, "why", by="bob", at="now")
    assert (where.state_dir.stat().st_mode & 0o777) == 0o700
