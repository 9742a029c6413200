"""`fleetcfg apply` and `fleetcfg rollback` on the command line, against fake hosts."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetcfg.apply.journal import read_journal
from fleetcfg.cli import env as cli_env
from fleetcfg.cli.app import app
from fleetcfg.host.transport.targets import SshTarget
from fleetcfg.plan.fleet import save_plan
from tests.fakes.dockerhost import DAEMON_JSON, FakeDockerHost
from tests.unit.apply.helpers import OLD, RELOADABLE, RESTARTING, canonical, daemon_json, setup

runner = CliRunner()
NAMES = ["web-01", "web-02", "web-03"]


class FakeConnector:
    def __init__(self, hosts: dict[str, FakeDockerHost]) -> None:
        self.hosts = hosts
        self.closed = False

    def open(self, target: SshTarget) -> FakeDockerHost:
        return self.hosts[target.host]

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    s = setup(tmp_path, NAMES)
    monkeypatch.setattr(cli_env, "make_connector", lambda: FakeConnector(s.hosts))
    monkeypatch.chdir(tmp_path)
    return s


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), input=input, env={"NO_COLOR": "1", **(env or {})})


def test_apply_yes_rolls_out_and_prints_a_summary(repo) -> None:  # type: ignore[no-untyped-def]
    result = run("apply", "--yes")
    assert result.exit_code == 0, result.output
    assert "Plan: 0 to reload, 3 to restart, 0 unchanged." in result.stdout
    assert "Rollout: 3 hosts in 2 batches (canary web-01, then up to 2 hosts at a time" in (
        result.stdout
    )
    assert "Apply: 3 changed." in result.stdout
    assert "batch 1/2 (canary): web-01" in result.stderr
    assert "  web-01: restart done" in result.stderr
    assert all(daemon_json(h) == RESTARTING for h in repo.hosts.values())
    entries = read_journal(repo.tmp_path / ".fleetcfg" / "journal.jsonl")
    assert entries[-1]["event"] == "run-end" and entries[-1]["exit_code"] == 0
    assert "Journal: .fleetcfg/journal.jsonl (run " in result.stdout


def test_apply_asks_and_only_yes_approves(repo) -> None:  # type: ignore[no-untyped-def]
    result = run("apply", input="no\n")
    assert result.exit_code == 0
    assert "Apply these changes to 3 hosts?" in result.stderr
    assert "Apply cancelled: nothing was changed." in result.stdout
    assert all(daemon_json(h) == OLD for h in repo.hosts.values())
    result = run("apply", input="yes\n")
    assert result.exit_code == 0, result.output
    assert all(daemon_json(h) == RESTARTING for h in repo.hosts.values())


def test_apply_without_an_answer_is_a_usage_error(repo) -> None:  # type: ignore[no-untyped-def]
    result = run("apply", input="")
    assert result.exit_code == 2
    assert "pass --yes" in result.stderr
    assert all(daemon_json(h) == OLD for h in repo.hosts.values())


def test_nothing_to_apply(repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run("apply", "--yes").exit_code == 0
    result = run("apply", "--yes")
    assert result.exit_code == 0
    assert "Nothing to apply." in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "0"], "--batch-size"),
        (["--max-failures", "lots"], "--max-failures"),
        (["--pause", "soon"], "--pause"),
        (["--limit", "nope"], "neither a host nor a group"),
    ],
)
def test_bad_options_are_usage_errors(repo, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    result = run("apply", "--yes", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Value error" not in result.stderr
    assert all(daemon_json(h) == OLD for h in repo.hosts.values())


def test_a_saved_plan_is_applied_exactly_and_refused_where_stale(repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plan_file = tmp_path / "plan.json"
    save_plan(repo.plan(), plan_file)
    repo.hosts["web-02"].add_file(DAEMON_JSON, canonical({"debug": True}))
    result = run("apply", str(plan_file), "--yes")
    assert result.exit_code == 3, result.output
    assert "web-02: stale: /etc/docker/daemon.json changed since the plan" in result.stdout
    assert daemon_json(repo.hosts["web-01"]) == RESTARTING
    assert daemon_json(repo.hosts["web-02"]) == {"debug": True}


def test_a_saved_plan_cannot_be_narrowed(repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plan_file = tmp_path / "plan.json"
    save_plan(repo.plan(), plan_file)
    result = run("apply", str(plan_file), "--limit", "web-01", "--yes")
    assert result.exit_code == 2
    assert "--limit cannot narrow a saved plan" in result.stderr


def test_a_failed_host_makes_apply_exit_1_and_lists_what_happened(repo) -> None:  # type: ignore[no-untyped-def]
    repo.hosts["web-01"].fail_restarts = 1
    result = run("apply", "--yes", "--journal", "j.jsonl")
    assert result.exit_code == 1
    out = result.stdout
    assert "Apply: 0 changed, 1 failed (1 rolled back), 2 not reached." in out
    assert "web-01: failed, rolled back, healthy again:" in out
    assert "not reached: web-02, web-03" in out
    assert (repo.tmp_path / "j.jsonl").exists()


def test_secrets_never_reach_the_output_or_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-Pa55"
    profile = {
        "base.yaml.j2": (
            'proxies:\n  http-proxy: "http://svc:{{ env("PROXY_PASSWORD") }}@proxy:3128"\n'
        )
    }

    def echo_content(content: bytes, path: str) -> str | None:
        if path == DAEMON_JSON:
            return f"failed to start daemon: bad config {content.decode()}"
        return None

    s = setup(tmp_path, ["web-01"], profiles=profile, validator=echo_content)
    (tmp_path / "profiles" / "base.json").unlink()
    monkeypatch.setattr(cli_env, "make_connector", lambda: FakeConnector(s.hosts))
    result = run("apply", "-i", str(tmp_path), "--yes", "-v", env={"PROXY_PASSWORD": secret})
    assert result.exit_code == 1, result.output
    assert "failed to start daemon: bad config" in result.stdout
    journal = (tmp_path / ".fleetcfg" / "journal.jsonl").read_text()
    for text in (result.stdout, result.stderr, journal):
        assert secret not in text


def test_rollback_restores_and_lists_backups(repo) -> None:  # type: ignore[no-untyped-def]
    assert run("apply", "--yes").exit_code == 0
    result = run("rollback", "web-0[12]", "--yes")
    assert result.exit_code == 0, result.output
    assert "Rollback: 2 changed." in result.stdout
    assert daemon_json(repo.hosts["web-01"]) == OLD
    assert daemon_json(repo.hosts["web-03"]) == RESTARTING
    listing = run("rollback", "--list", "web-01")
    assert listing.exit_code == 0
    assert "/etc/docker/daemon.json: written by fleetcfg rollback" in listing.stdout
    assert listing.stdout.count("etc%2Fdocker%2Fdaemon.json.") == 2


def test_rollback_asks_first(repo) -> None:  # type: ignore[no-untyped-def]
    assert run("apply", "--yes").exit_code == 0
    result = run("rollback", "web-01", input="no\n")
    assert result.exit_code == 0
    assert "Roll back 1 host (web-01) as shown above?" in result.stderr
    assert daemon_json(repo.hosts["web-01"]) == RESTARTING


def test_rollback_shows_what_each_host_gets_back_before_asking(repo) -> None:  # type: ignore[no-untyped-def]
    assert run("apply", "--yes", "--limit", "web-01").exit_code == 0
    result = run("rollback", "web-01", input="no\n")
    assert re.search(
        r"^web-01: /etc/docker/daemon.json put back etc%2Fdocker%2Fdaemon.json\.\S+ \(made ",
        result.stdout,
        re.MULTILINE,
    ), result.output


def test_rollback_of_a_host_with_nothing_to_roll_back_exits_0(repo) -> None:  # type: ignore[no-untyped-def]
    assert run("apply", "--yes", "--limit", "web-01").exit_code == 0
    result = run("rollback", "web-0[123]", "--yes")
    assert result.exit_code == 0, result.output
    assert "nothing to roll back on web-02, web-03: fleetcfg has not written" in result.stdout
    assert "Rollback: 1 changed." in result.stdout
    assert daemon_json(repo.hosts["web-01"]) == OLD
    alone = run("rollback", "web-02", "--yes")
    assert alone.exit_code == 0, alone.output
    assert "nothing to roll back on web-02" in alone.stdout


def test_rolling_back_a_reload_only_change_reloads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # debug false -> true and back: dockerd applies both on SIGHUP
    s = setup(tmp_path, ["web-01"], target=RELOADABLE, live={**OLD, "debug": False})
    monkeypatch.setattr(cli_env, "make_connector", lambda: FakeConnector(s.hosts))
    monkeypatch.chdir(tmp_path)
    assert run("apply", "--yes").exit_code == 0
    host = s.hosts["web-01"]
    restarts = host.restarts
    result = run("rollback", "web-01", "--yes")
    assert result.exit_code == 0, result.output
    assert "web-01: reload done" in result.stderr
    assert host.restarts == restarts and daemon_json(host) == {**OLD, "debug": False}


def test_apply_and_rollback_document_their_exit_codes() -> None:
    for command in ("apply", "rollback"):
        text = " ".join(run(command, "--help").stdout.split())
        assert "Exit codes: 0 done" in text and "4 another fleetcfg run holds" in text
        assert "130 interrupted" in text


def test_rollback_help_does_not_talk_about_plans() -> None:
    text = " ".join(run("rollback", "--help").stdout.split())
    assert "plan" not in text.lower()
    assert "0 done, or nothing to roll back" in text


def test_control_characters_a_host_sends_are_escaped_in_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile = "\x1b[2J\u202e\x9b"

    def hostile_validate(content: bytes, path: str) -> str | None:
        return f"unable to configure the Docker daemon: {hostile}"

    s = setup(tmp_path, ["web-01"], validator=hostile_validate)
    monkeypatch.setattr(cli_env, "make_connector", lambda: FakeConnector(s.hosts))
    result = run("apply", "-i", str(tmp_path), "--yes")
    assert result.exit_code == 1, result.output
    path = tmp_path / ".fleetcfg" / "journal.jsonl"
    raw = path.read_bytes()
    for char in ("\x1b", "\u202e", "\x9b"):
        assert char.encode() not in raw
    for line in raw.decode().split("\n")[:-1]:
        assert isinstance(json.loads(line), dict)
    details = [e.get("detail", "") for e in read_journal(path) if e["event"] == "step"]
    assert f"unable to configure the Docker daemon: {hostile}" in details


def test_a_host_whose_validation_prints_without_end_fails_with_that_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def flooding_validate(content: bytes, path: str) -> str | None:
        return "flood " * 20_000

    s = setup(tmp_path, ["web-01", "web-02"], validator=flooding_validate)
    monkeypatch.setattr(cli_env, "make_connector", lambda: FakeConnector(s.hosts))
    result = run("apply", "-i", str(tmp_path), "--yes")
    assert result.exit_code == 1, result.output
    out = " ".join(result.stdout.split())
    assert (
        "dockerd --validate printed more than 64 KiB about the new /etc/docker/daemon.json: "
        "stopped it, refusing to read more"
    ) in out, out
    assert "not reached: web-02" in out
    assert "flood flood" not in result.output


@pytest.mark.parametrize("link", ["folder", "file", "fifo"])
def test_the_journal_is_never_written_through_a_link_the_repo_commits(
    repo, tmp_path: Path, link: str
) -> None:  # type: ignore[no-untyped-def]
    # the attack: a pull request commits .fleetcfg (or the journal in it) as
    # a link to /etc/sudoers.d, whose files sudo parses (one JSON line that
    # does not parse stops sudo), or as a FIFO (apply would wait forever)
    outside = tmp_path.parent / f"{tmp_path.name}-sudoers.d"
    outside.mkdir()
    (outside / "journal.jsonl").write_text("root ALL=(ALL) ALL\n")
    folder = tmp_path / ".fleetcfg"
    if link == "folder":
        folder.symlink_to(outside)
    else:
        folder.mkdir()
        if link == "file":
            (folder / "journal.jsonl").symlink_to(tmp_path / "inventory.yaml")
        else:
            os.mkfifo(folder / "journal.jsonl")
    inventory = (tmp_path / "inventory.yaml").read_text()
    result = run("apply", "--yes")
    assert result.exit_code == 2, result.output
    assert "cannot write the journal" in result.stderr
    assert "--journal PATH" in result.stderr
    assert (outside / "journal.jsonl").read_text() == "root ALL=(ALL) ALL\n"
    assert (tmp_path / "inventory.yaml").read_text() == inventory
    assert all(daemon_json(h) == OLD for h in repo.hosts.values())
