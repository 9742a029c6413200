"""`fleetcfg plan --shard K/N` and `fleetcfg plan merge` on the command line
(fake hosts behind the SSH connector, as in test_plan_cli)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fleetcfg.cli.app import app
from fleetcfg.plan import fleet as plan_fleet_module
from fleetcfg.plan.fleet import load_plan
from fleetcfg.plan.shards import shard_of
from tests.fakes.dockerhost import FakeDockerHost
from tests.unit.inventory.repo import write_repo
from tests.unit.plan.test_plan_cli import CURRENT, INVENTORY, PROFILES, fleet, invoke, runner

ALL = ["web-01", "web-02", "db-01"]


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "repo", INVENTORY, PROFILES)


def changed_fleet() -> dict[str, FakeDockerHost]:
    return fleet(**{"db-01": FakeDockerHost("db-01", daemon_json={**CURRENT, "debug": True})})


def plan_shards(
    monkeypatch: pytest.MonkeyPatch, inventory: Path, tmp_path: Path, count: int
) -> list[Path]:
    """Each shard's `plan --format json` saved to a file, as N CI jobs do."""
    files = []
    for k in range(1, count + 1):
        code, out, err, _ = invoke(
            monkeypatch,
            changed_fleet(),
            ["-i", str(inventory), "--shard", f"{k}/{count}", "--format", "json"],
        )
        assert code == 0, err
        files.append(tmp_path / f"plan-{k}.json")
        files[-1].write_text(out)
    return files


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_the_shards_plan_every_host_exactly_once(
    monkeypatch: pytest.MonkeyPatch, inventory: Path, count: int
) -> None:
    planned: list[str] = []
    for k in range(1, count + 1):
        code, out, err, connector = invoke(
            monkeypatch,
            fleet(),
            ["-i", str(inventory), "--shard", f"{k}/{count}", "--format", "json"],
        )
        assert code == 0, err
        hosts = [h["host"] for h in json.loads(out)["hosts"]]
        # nothing outside the shard is contacted (in whatever order the workers open)
        assert sorted(connector.opened) == sorted(hosts)
        assert all(shard_of(name, count) == k for name in hosts)
        assert json.loads(out)["shard"] == f"{k}/{count}"
        planned += hosts
    assert sorted(planned) == sorted(ALL)


def test_a_shard_applies_to_the_hosts_limit_selects(
    monkeypatch: pytest.MonkeyPatch, inventory: Path
) -> None:
    for k in (1, 2):
        code, out, _, _ = invoke(
            monkeypatch,
            fleet(),
            ["-i", str(inventory), "--limit", "web", "--shard", f"{k}/2", "--format", "json"],
        )
        assert code == 0
        assert {h["host"] for h in json.loads(out)["hosts"]} <= {"web-01", "web-02"}


def test_an_empty_shard_plans_nothing_and_succeeds(
    monkeypatch: pytest.MonkeyPatch, inventory: Path
) -> None:
    empty = next(k for k in range(1, 9) if all(shard_of(n, 8) != k for n in ALL))
    code, out, _, connector = invoke(
        monkeypatch, fleet(), ["-i", str(inventory), "--shard", f"{empty}/8"]
    )
    assert code == 0
    assert out == "No hosts to plan.\n" and connector.opened == []


def test_a_bad_shard_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, inventory: Path) -> None:
    code, _, err, connector = invoke(monkeypatch, fleet(), ["-i", str(inventory), "--shard", "3/2"])
    assert code == 2 and "--shard '3/2': expected K/N" in err
    assert connector.opened == []


def test_a_saved_shard_plan_records_its_shard(
    monkeypatch: pytest.MonkeyPatch, inventory: Path, tmp_path: Path
) -> None:
    out_file = tmp_path / "plan-1.json"
    code, _, _, _ = invoke(
        monkeypatch, fleet(), ["-i", str(inventory), "--shard", "1/2", "-o", str(out_file)]
    )
    assert code == 0
    plan = load_plan(out_file)
    assert plan.shard == "1/2"
    assert all(shard_of(h.host, 2) == 1 for h in plan.hosts)


def test_merge_sums_up_the_shards_in_one_summary(
    monkeypatch: pytest.MonkeyPatch, inventory: Path, tmp_path: Path
) -> None:
    files = plan_shards(monkeypatch, inventory, tmp_path, 3)
    result = runner.invoke(app, ["plan", "merge", *map(str, files)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "# db-01 (10.0.1.1): restart"
    assert lines[-1] == "Plan: 0 to reload, 1 to restart, 2 unchanged."
    for k, file in enumerate(files, start=1):
        assert any(line.startswith(f"shard {k}/3 ({file}): ") for line in lines)
    detailed = runner.invoke(app, ["plan", "merge", "--detailed-exitcode", *map(str, files)])
    assert detailed.exit_code == 2


def test_merge_as_json_lists_every_host_once(
    monkeypatch: pytest.MonkeyPatch, inventory: Path, tmp_path: Path
) -> None:
    files = plan_shards(monkeypatch, inventory, tmp_path, 2)
    result = runner.invoke(app, ["plan", "merge", "--format", "json", *map(str, files)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert sorted(h["host"] for h in data["hosts"]) == sorted(ALL)
    assert data["summary"]["line"] == "Plan: 0 to reload, 1 to restart, 2 unchanged."
    by_host = {h["host"]: h for h in data["hosts"]}
    assert by_host["db-01"]["changes"] == ["debug"]


def test_merge_refuses_a_host_planned_by_two_shards(
    monkeypatch: pytest.MonkeyPatch, inventory: Path, tmp_path: Path
) -> None:
    [whole] = plan_shards(monkeypatch, inventory, tmp_path, 1)
    result = runner.invoke(app, ["plan", "merge", str(whole), str(whole)])
    assert result.exit_code == 1
    assert "planned in two shards" in result.stderr


def test_merge_names_a_missing_or_broken_file(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["plan", "merge", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "nope.json: JSON plan not found" in missing.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('{"hosts": [\n')
    result = runner.invoke(app, ["plan", "merge", str(broken)])
    assert result.exit_code == 1 and f"{broken}:2:1: not a JSON plan" in result.stderr


@pytest.mark.parametrize("special", ["deep", "zero", "fifo", "large"])
def test_plan_files_from_elsewhere_are_read_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, special: str
) -> None:
    # a shard's output or a saved plan is a CI artifact, not trusted: deep
    # JSON made merge die with a RecursionError traceback, /dev/zero took all
    # memory, a FIFO waited forever
    path = tmp_path / "plan.json"
    if special == "deep":
        path.write_text("[" * 100_000 + "]" * 100_000)
    elif special == "zero":
        path = Path("/dev/zero")
    elif special == "fifo":
        os.mkfifo(path)
    else:
        monkeypatch.setattr(plan_fleet_module, "PLAN_LIMIT", 1000)
        path.write_text(json.dumps({"format_version": 1, "hosts": [], "pad": "x" * 2000}))
    for args in (["plan", "merge", str(path)], ["apply", str(path), "--yes"]):
        result = runner.invoke(app, args)
        assert result.exit_code in (1, 2), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        expected = {
            "deep": "nest deeper than 64 levels",
            "zero": "not a regular file",
            "fifo": "not a regular file",
            "large": "larger than",
        }[special]
        assert expected in result.stderr, result.stderr
