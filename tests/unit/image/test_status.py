"""`fleetcfg status`: converge's state on this machine (--local) and, over a
replaced SSH connector, on a fleet of fake hosts; the state file as hostile
input; the threshold after which a host stopped reporting."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetcfg.apply.converge import converge
from fleetcfg.cli import env as cli_env
from fleetcfg.cli.app import app
from fleetcfg.host.pull import PullPaths, disable, timer_units
from fleetcfg.host.pull_record import (
    RECORD_CAP,
    ConvergeRecord,
    RecordError,
    parse_record,
    parse_timespan,
    record_text,
    timer_period,
)
from fleetcfg.host.pull_status import Condition, Readout, StatusPaths, assess, read_host
from fleetcfg.inventory import load_inventory
from tests.fakes.dockerhost import FakeDockerHost
from tests.unit.image.test_render_tree import repo
from tests.unit.inventory.repo import write_repo
from tests.unit.plan.test_plan_cli import INVENTORY, PROFILES, FakeConnector

runner = CliRunner()
NOW = 1_800_000_000
STATUS = "/etc/docker/.fleetcfg/converge-status.json"
DISABLED = "/etc/docker/.fleetcfg/converge-disabled.json"


def record(**changes: object) -> ConvergeRecord:
    values: dict[str, object] = {
        "host": "web-01",
        "last_run": NOW - 600.0,
        "last_success": NOW - 600.0,
        "exit_code": 2,
        "message": "restart done",
        "revision": "a" * 40,
        "files_drifted": 0,
        "restart_pending": False,
        "metrics_file": "/var/lib/prometheus/node-exporter/fleetcfg.prom",
    }
    values.update(changes)
    return ConvergeRecord(**values)  # type: ignore[arg-type]


def local(tmp_path: Path, *args: str) -> tuple[int, str]:
    argv = ["status", "--local", "--state-dir", str(tmp_path / "state")]
    argv += ["--systemd-dir", str(tmp_path / "systemd"), *args]
    result = runner.invoke(app, argv, env={"NO_COLOR": "1"})
    return result.exit_code, result.stdout + result.stderr


def put(tmp_path: Path, text: str | bytes, name: str = "converge-status.json") -> None:
    (tmp_path / "state").mkdir(exist_ok=True)
    path = tmp_path / "state" / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)


# -- converge writes what status reads -------------------------------------------------


def test_converge_records_its_run_for_status_next_to_the_metrics(tmp_path: Path) -> None:
    paths = PullPaths(state_dir=tmp_path / "state", textfile_dir=tmp_path / "textfile")
    inventory = load_inventory(repo(tmp_path / "repo"))
    disable(paths, "INC-7", by="alice", at="2026-12-06T10:00:00+00:00")
    result = converge(inventory, "ci-01", paths=paths, now=lambda: float(NOW))
    saved = parse_record(paths.status_file.read_bytes(), "converge-status.json")
    assert saved.host == "ci-01"
    assert saved.last_run == NOW
    assert saved.exit_code == result.exit_code == 4
    assert "INC-7" in saved.message
    assert saved.metrics_file == str(paths.metrics_file)
    assert paths.status_file.stat().st_mode & 0o777 == 0o600
    code, out = local(tmp_path)
    assert code == 2
    assert "converges as:    ci-01" in out
    assert "exit code:       4 (disabled or locked)" in out
    assert "disabled:        disabled by alice at 2026-12-06T10:00:00+00:00: INC-7" in out
    assert "ci-01: disabled: converge is disabled by alice" in out


def test_a_recent_successful_run_is_ok_and_exits_0(tmp_path: Path) -> None:
    put(tmp_path, record_text(record(last_run=time.time() - 60, last_success=time.time() - 60)))
    code, out = local(tmp_path)
    assert code == 0, out
    assert "state:           ok" in out
    assert "exit code:       2 (changed)" in out
    assert "revision:        " + "a" * 40 in out
    assert "Status: 1 ok." in out
    code, text = local(tmp_path, "--format", "json")
    doc = json.loads(text)
    assert code == 0
    [host] = doc["hosts"]
    assert host["state"] == "ok"
    assert host["exit_code"] == 2
    assert 55 <= host["last_run_age_seconds"] < 3600
    assert host["stale_after_from"] == "default"
    assert doc["summary"]["states"] == {"ok": 1}


# -- stopped reporting ---------------------------------------------------------------


def test_a_run_older_than_twice_the_timer_period_means_the_host_stopped_reporting(
    tmp_path: Path,
) -> None:
    put(tmp_path, record_text(record(last_run=time.time() - 40 * 60)))
    assert local(tmp_path)[0] == 0  # within twice the default 45 min
    (tmp_path / "systemd").mkdir()
    units = timer_units(["fleetcfg", "converge"], interval="10min", randomized_delay="5min")
    (tmp_path / "systemd/fleetcfg-converge.timer").write_text(units["fleetcfg-converge.timer"])
    code, out = local(tmp_path)
    assert code == 2
    assert "state:           stale" in out
    assert "longer ago than 30m (twice its timer's period)" in out
    assert local(tmp_path, "--stale-after", "2h")[0] == 0


def test_a_last_run_in_the_future_of_the_hosts_clock_is_reported(tmp_path: Path) -> None:
    put(tmp_path, record_text(record(last_run=time.time() + 3600)))
    code, out = local(tmp_path)
    assert code == 2
    assert "state:           clock" in out
    assert re.search(r"UTC \(in (1h|59m 5\ds)\): is the host's clock right\?", out), out


def test_a_host_without_converge_state_never_reported(tmp_path: Path) -> None:
    code, out = local(tmp_path)
    assert code == 2
    assert "never ran" in out


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30min", 1800), ("1h 30min", 5400), ("90", 90), ("2d", 172800), ("1.5h", 5400)],
)
def test_systemd_time_spans(text: str, seconds: float) -> None:
    assert parse_timespan(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5 parsecs", "1h;rm"])
def test_what_is_not_a_time_span_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a time span"):
        parse_timespan(text)


def test_a_bad_stale_after_is_a_usage_error(tmp_path: Path) -> None:
    assert local(tmp_path, "--stale-after", "soon")[0] == 2
    assert "--stale-after: 'soon' is not a time span" in local(tmp_path, "--stale-after", "soon")[1]


def test_the_timer_period_is_interval_plus_randomized_delay() -> None:
    units = timer_units(["x"], interval="1h", randomized_delay="15min")
    assert timer_period(units["fleetcfg-converge.timer"]) == 4500
    assert timer_period("[Timer]\nOnCalendar=daily\n") is None
    assert timer_period("[Unit]\nOnUnitActiveSec=1h\n") is None


# -- the state file is the host's: hostile input ------------------------------------------


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"{not json", "is not valid JSON"),
        (b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),
        (b"\xff\xfe", "is not UTF-8 text"),
        (b"[1]", "does not hold a JSON object"),
        (record_text(record()).replace('"format": 1', '"format": 9').encode(), "format 9"),
        (record_text(record()).replace('"exit_code": 2', '"exit_code": NaN').encode(), "NaN"),
        (record_text(record()).replace('"exit_code": 2', '"exit_code": "2"').encode(), "exit_code"),
        (
            record_text(record())
            .replace('"restart_pending": false', '"restart_pending": 0')
            .encode(),
            "restart_pending",
        ),
    ],
)
def test_a_state_file_that_does_not_parse_is_that_hosts_error(
    tmp_path: Path, content: bytes, said: str
) -> None:
    with pytest.raises(RecordError, match=said.replace("(", r"\(")):
        parse_record(content, "converge-status.json")
    put(tmp_path, content)
    code, out = local(tmp_path)
    assert code == 1
    assert f"error: {tmp_path}/state/converge-status.json" in out
    assert said in out


def test_a_state_file_larger_than_the_cap_is_not_read(tmp_path: Path) -> None:
    put(tmp_path, b" " * (RECORD_CAP + 1))
    code, out = local(tmp_path)
    assert code == 1
    assert f"more than the {RECORD_CAP} bytes" in out
    assert "converge never writes a file this large" in out


def test_control_characters_and_newlines_from_a_host_cannot_reach_the_terminal(
    tmp_path: Path,
) -> None:
    hostile = "\x1b[2J\x1b[HStatus: 40 ok.\nfake line\u202e"
    put(
        tmp_path,
        record_text(record(last_run=time.time(), exit_code=1, message=hostile, revision=hostile)),
    )
    put(
        tmp_path,
        json.dumps({"reason": hostile, "by": "x" * 10_000, "at": "now"}),
        "converge-disabled.json",
    )
    code, out = local(tmp_path)
    assert code == 2
    assert "\x1b" not in out and "\u202e" not in out
    assert "\\x1b[2J\\x1b[HStatus: 40 ok.\\nfake line\\u202e" in out
    assert not any(line.startswith("fake line") for line in out.splitlines())
    assert "x" * 500 not in out  # bounded
    doc = json.loads(local(tmp_path, "--format", "json")[1])
    assert "\x1b" not in json.dumps(doc, ensure_ascii=False).replace("\\u001b", "")
    assert doc["hosts"][0]["conditions"] == ["disabled", "failed"]


def test_a_disable_file_that_does_not_parse_still_means_disabled(tmp_path: Path) -> None:
    put(tmp_path, record_text(record(last_run=time.time())))
    put(tmp_path, b"\x00garbage", "converge-disabled.json")
    code, out = local(tmp_path)
    assert code == 2
    assert "the disable file does not hold a JSON object" in out


def test_conditions_are_ordered_worst_first() -> None:
    readout = Readout(
        record(last_run=0.0, exit_code=1, files_drifted=2, restart_pending=True, host="other"),
        None,
        None,
        float(NOW),
    )
    status = assess("web-01", readout)
    assert status.conditions == (
        Condition.STALE,
        Condition.FAILED,
        Condition.OTHER_NAME,
        Condition.RESTART_PENDING,
        Condition.DRIFTED,
    )
    assert status.state == "stale"


# -- the fleet over SSH ------------------------------------------------------------------


def fake_host(name: str, state: ConvergeRecord | None, clock: float = NOW) -> FakeDockerHost:
    host = FakeDockerHost(name)
    if state is not None:
        host.add_file(STATUS, record_text(state), mode=0o600)
    host.reply(["date", "+%s"], f"{int(clock)}\n")
    return host


def fleet_status(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hosts: Mapping[str, FakeDockerHost], *args: str
) -> tuple[int, str, FakeConnector]:
    inventory = write_repo(tmp_path / "repo", INVENTORY, PROFILES)
    connector = FakeConnector(hosts)
    monkeypatch.setattr(cli_env, "make_connector", lambda: connector)
    result = runner.invoke(app, ["status", "-i", str(inventory), *args], env={"NO_COLOR": "1"})
    return result.exit_code, result.stdout + result.stderr, connector


def test_a_fleet_where_every_host_converged_recently_exits_0(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hosts = {n: fake_host(n, record(host=n)) for n in ("web-01", "web-02", "db-01")}
    code, out, connector = fleet_status(monkeypatch, tmp_path, hosts)
    assert code == 0, out
    assert out.splitlines()[0].split() == [
        "HOST",
        "STATE",
        "LAST",
        "RUN",
        "EXIT",
        "REVISION",
        "DRIFT",
    ]
    assert "(10m ago)" in out
    assert "Status: 3 ok." in out
    assert sorted(connector.opened) == ["db-01", "web-01", "web-02"]
    assert all(len(h.history) == 1 for h in hosts.values())  # one round trip each


def test_the_fleet_view_names_what_needs_attention_and_the_limit_selects_like_plan(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    disabled = fake_host("web-01", record())
    disabled.add_file(DISABLED, json.dumps({"reason": "INC-9", "by": "bob", "at": "t"}))
    hosts = {
        "web-01": disabled,
        "web-02": fake_host("web-02", record(host="web-02", last_run=NOW - 3 * 3600.0)),
        "db-01": fake_host("db-01", None),
    }
    code, out, connector = fleet_status(monkeypatch, tmp_path, hosts, "--limit", "web")
    assert code == 2, out
    assert connector.opened.count("db-01") == 0
    assert "web-01: disabled: converge is disabled by bob at t: INC-9" in out
    assert "web-02: stale: stopped reporting: last run" in out
    assert "(3h ago), longer ago than 1h 30m" in out
    assert "Status: 1 stale, 1 disabled." in out
    code, out, _ = fleet_status(monkeypatch, tmp_path, hosts, "--limit", "db-01")
    assert code == 2
    assert "db-01: never ran" in out


def test_an_unreachable_host_or_a_broken_state_exits_1_and_the_others_are_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    down = fake_host("web-02", None)
    down.unreachable = True
    broken = fake_host("db-01", None)
    broken.add_file(STATUS, b"{")
    hosts = {"web-01": fake_host("web-01", record()), "web-02": down, "db-01": broken}
    code, out, _ = fleet_status(monkeypatch, tmp_path, hosts, "--format", "json")
    assert code == 1
    doc = json.loads(out.splitlines()[0])
    by_host = {h["host"]: h for h in doc["hosts"]}
    assert by_host["web-01"]["state"] == "ok"
    assert "connection refused" in by_host["web-02"]["error"]
    assert "converge-status.json is not valid JSON" in by_host["db-01"]["error"]
    assert doc["summary"]["states"] == {"ok": 1, "error": 2}


def test_an_answer_that_is_not_the_time_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    odd = fake_host("web-01", record())
    odd.reply(["date", "+%s"], "\x1b[31mlater\n")
    hosts = {"web-01": odd}
    code, out, _ = fleet_status(monkeypatch, tmp_path, hosts, "--limit", "web-01")
    assert code == 1
    assert "printed '\\x1b[31mlater', not the time" in out


def test_status_needs_a_limit_or_local_not_both(tmp_path: Path) -> None:
    code, out = local(tmp_path, "--limit", "web")
    assert code == 2
    assert "--local and --limit exclude each other" in out


def test_the_run_many_batch_reads_three_files_and_the_clock() -> None:
    host = fake_host("web-01", record())
    readout = read_host(host, StatusPaths())
    assert readout.record == record()
    assert readout.clock == NOW
    [call] = host.history
    assert call.kind == "run_many"
    assert len(call.detail) == 4
