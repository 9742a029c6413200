"""`fleetcfg apply --shard K/N`: only the shard's hosts change, and each shard
writes its own journal."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetcfg.apply.journal import read_journal
from fleetcfg.cli import env as cli_env
from fleetcfg.cli.app import app
from fleetcfg.plan.fleet import save_plan
from fleetcfg.plan.shards import shard_of
from tests.unit.apply.helpers import OLD, RESTARTING, Setup, daemon_json, setup
from tests.unit.apply.test_cli import FakeConnector

runner = CliRunner()
NAMES = [f"web-{i:02d}" for i in range(1, 9)]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    s = setup(tmp_path, NAMES)
    monkeypatch.setattr(cli_env, "make_connector", lambda: FakeConnector(s.hosts))
    monkeypatch.chdir(tmp_path)
    return s


def test_each_shard_changes_only_its_hosts_and_has_its_own_journal(repo: Setup) -> None:
    for k in (1, 2):
        result = runner.invoke(app, ["apply", "--yes", "--shard", f"{k}/2"])
        assert result.exit_code == 0, result.output
        mine = [n for n in NAMES if shard_of(n, 2) == k]
        assert f"Journal: .fleetcfg/journal-shard-{k}-of-2.jsonl" in result.stdout
        journal = read_journal(repo.tmp_path / ".fleetcfg" / f"journal-shard-{k}-of-2.jsonl")
        ended = {e["host"] for e in journal if e["event"] == "host-end"}
        assert ended == set(mine)
        for name in NAMES:
            done = k == 2 or shard_of(name, 2) == 1
            assert daemon_json(repo.hosts[name]) == (RESTARTING if done else OLD)
    assert not (repo.tmp_path / ".fleetcfg" / "journal.jsonl").exists()


def test_a_saved_plan_cannot_be_narrowed_to_a_shard(repo: Setup, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    save_plan(repo.plan(), plan_file)
    result = runner.invoke(app, ["apply", str(plan_file), "--shard", "1/2", "--yes"])
    assert result.exit_code == 2
    assert "--shard cannot narrow a saved plan" in result.stderr
    assert all(daemon_json(h) == OLD for h in repo.hosts.values())


def test_a_saved_shard_plan_journals_apart(repo: Setup, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan-2.json"
    made = runner.invoke(app, ["plan", "--shard", "2/2", "-o", str(plan_file)])
    assert made.exit_code == 0, made.output
    result = runner.invoke(app, ["apply", str(plan_file), "--yes"])
    assert result.exit_code == 0, result.output
    assert "Journal: .fleetcfg/journal-shard-2-of-2.jsonl" in result.stdout
    for name in NAMES:
        assert daemon_json(repo.hosts[name]) == (RESTARTING if shard_of(name, 2) == 2 else OLD)
