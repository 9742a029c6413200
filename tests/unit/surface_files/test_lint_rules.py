"""fleetcfg lint reports FC080-FC089 at the inventory line, with --explain texts."""

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


def test_a_credential_written_in_dropin_lines_is_fc089_and_a_password_env_is_not(
    tmp_path: Path,
) -> None:
    # systemd shows a drop-in's settings to every user of the host; the
    # password fleetcfg renders goes to a root-only environment file instead
    inventory = INVENTORY.replace(
        "      - 'Environment=\"GOFLAGS=100%\"'\n",
        "      - 'Environment=\"NO_PROXY=localhost\"'\n"
        "      - 'Environment=\"FTP_PROXY=http://svc:hunter2@ftp.corp:21\"'\n",
    )
    path = write_repo(tmp_path, inventory, {"base.yaml.j2": "log-level: info\n"})
    report = lint_repo(path)
    [finding] = [f for f in report.findings if f.rule == "FC089"]
    assert finding.severity.value == "warning" and finding.path == "proxy.dropin_lines[1]"
    assert finding.line == line_of(path, "dropin_lines") and finding.hosts == ("old", "new")
    assert "hunter2" not in finding.message
