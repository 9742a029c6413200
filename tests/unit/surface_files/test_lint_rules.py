"""fleetcfg lint reports FC080-FC088 at the inventory line, with --explain texts."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from fleetcfg.cli.app import app
from fleetcfg.core.rules import all_rules
from fleetcfg.lint.repo import lint_repo
from tests.unit.inventory.repo import line_of, write_repo

INVENTORY = """
secrets: {env: [PROXY_PASSWORD]}
defaults:
  daemon_profile: base
  proxy:
    http: http://svc@proxy.corp:3128
    password_env: PROXY_PASSWORD
    where: both
    dropin_lines:
      - 'Environment="GOFLAGS=100%"'
  buildkit:
    enabled: true
    settings: {registry: {docker.io: {mirrors: ["https://mirror.corp"]}}}
hosts:
  old: {engine_version: "20.10"}
  new: {engine_version: "26.1"}
"""
PROFILE = 'proxies: {http-proxy: "http://other:3128"}\nlog-level: info\n'


def test_lint_reports_each_problem_at_the_inventory_line(tmp_path: Path) -> None:
    path = write_repo(tmp_path, INVENTORY, {"base.yaml.j2": PROFILE})
    report = lint_repo(path)
    found = {(f.rule, f.line, f.hosts) for f in report.findings if f.rule >= "FC080"}
    assert found == {
        ("FC080", line_of(path, "dropin_lines"), ("old", "new")),
        ("FC083", line_of(path, "http: http://svc"), ("new",)),
        ("FC084", line_of(path, "where: both"), ("old",)),
        ("FC086", line_of(path, "settings:"), ("old", "new")),
    }
    assert "stand-in" not in "".join(f.message for f in report.findings)


def test_every_proxy_and_buildkit_rule_has_an_explanation() -> None:
    runner = CliRunner()
    for rule in (r for r in all_rules() if "FC080" <= r.id <= "FC089"):
        result = runner.invoke(app, ["lint", "--explain", rule.id], env={"NO_COLOR": "1"})
        assert result.exit_code == 0 and rule.name in result.stdout, rule.id
