"""`fleetcfg render` through typer's CliRunner against repos under tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from fleetcfg.cli.app import app
from tests.unit.inventory.repo import line_of, write_repo

INVENTORY = """
secrets: {env: [PROXY_PASSWORD]}
defaults:
  daemon_profile: base
  client_profile: client
  engine_version: "26.1"
  vars: {log_max_size: 50m, proxy_user: svc}
groups:
  ci:
    vars: {log_max_size: 20m}
    client_users: [root, runner]
    hosts:
      ci-01: {address: 10.0.0.1}
      ci-02: {address: 10.0.0.2, vars: {log_max_size: 5m}}
"""

PROFILES = {
    "base.yaml.j2": """
    log-opts:
      max-size: "{{ log_max_size }}"
      max-file: "3"
    proxies:
      http-proxy: "http://{{ proxy_user }}:{{ env('PROXY_PASSWORD') }}@proxy:3128"
    """,
    "client.json.j2": '{"detachKeys": "ctrl-e,e", "psFormat": "{{ user }}"}\n',
}

runner = CliRunner()


def repo(
    tmp_path: Path, inventory: str = INVENTORY, profiles: dict[str, str] | None = None
) -> Path:
    return write_repo(tmp_path, inventory, PROFILES if profiles is None else profiles)


def test_render_prints_the_canonical_target_with_secrets_masked(tmp_path: Path) -> None:
    inv = repo(tmp_path)
    result = runner.invoke(
        app, ["render", "ci-01", "-i", str(inv)], env={"PROXY_PASSWORD": "pa55word"}
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "log-opts": {"max-file": "3", "max-size": "20m"},
        "proxies": {"http-proxy": "http://svc:***@proxy:3128"},
    }
    assert result.stdout.endswith("}\n")
    assert result.stdout.index('"log-opts"') < result.stdout.index('"proxies"')
    assert "pa55word" not in result.output


def test_show_secrets_prints_the_real_values(tmp_path: Path) -> None:
    inv = repo(tmp_path)
    result = runner.invoke(
        app,
        ["render", "ci-01", "-i", str(inv), "--show-secrets"],
        env={"PROXY_PASSWORD": "pa55word"},
    )
    assert "http://svc:pa55word@proxy:3128" in result.stdout


def test_render_client_config_for_a_user(tmp_path: Path) -> None:
    inv = repo(tmp_path)
    result = runner.invoke(
        app, ["render", "ci-02", "--kind", "client", "--user", "runner", "-i", str(inv)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"detachKeys": "ctrl-e,e", "psFormat": "runner"}


def test_explain_shows_every_setting_its_layer_and_line(tmp_path: Path) -> None:
    inv = repo(tmp_path)
    result = runner.invoke(
        app, ["render", "ci-02", "--explain", "-i", str(inv)], env={"PROXY_PASSWORD": "pa55word"}
    )
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "host ci-02" in result.stdout
    assert "daemon profile: base" in result.stdout
    assert f"{inv}:{line_of(inv, 'log_max_size: 5m')}" in rows["vars.log_max_size"]
    assert "host ci-02" in rows["vars.log_max_size"] and rows["vars.log_max_size"].endswith("5m")
    assert "defaults" in rows["vars.proxy_user"]
    assert "group ci" in rows["client_users"]
    assert "built-in default" in rows["manage"]
    assert "pa55word" not in result.output


def test_explain_masks_url_credentials_in_variables(tmp_path: Path) -> None:
    inv = repo(
        tmp_path,
        INVENTORY.replace(
            "proxy_user: svc", "proxy_user: svc, upstream: 'http://u:topsecret@up:80'"
        ),
    )
    result = runner.invoke(
        app, ["render", "ci-01", "--explain", "-i", str(inv)], env={"PROXY_PASSWORD": "x"}
    )
    assert "http://u:***@up:80" in result.stdout
    assert "topsecret" not in result.output


def test_explain_still_shows_settings_when_the_profile_fails(tmp_path: Path) -> None:
    inv = repo(tmp_path)
    result = runner.invoke(app, ["render", "ci-01", "--explain", "-i", str(inv)], env={})
    assert result.exit_code == 1
    assert "vars.log_max_size" in result.stdout
    assert "PROXY_PASSWORD is not set" in result.stderr


def test_an_unknown_host_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["render", "ci-9", "-i", str(repo(tmp_path))])
    assert result.exit_code == 2
    assert "unknown host 'ci-9'" in result.stderr


def test_a_missing_inventory_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["render", "ci-01", "-i", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "inventory not found" in result.stderr


def test_an_invalid_inventory_prints_every_located_problem(tmp_path: Path) -> None:
    inv = repo(tmp_path, "groups:\n  a:\n    childs: [x]\n  b:\n    priority: high\n")
    result = runner.invoke(app, ["render", "h", "-i", str(inv)])
    assert result.exit_code == 1
    assert f"{inv}:3:" in result.stderr
    assert f"{inv}:5:" in result.stderr
    assert result.stderr.count("error:") == 2


def test_a_template_error_names_file_line_and_host(tmp_path: Path) -> None:
    inv = repo(tmp_path, profiles={"base.yaml.j2": "debug: true\nlog-level: {{ level }}\n"})
    result = runner.invoke(app, ["render", "ci-01", "-i", str(inv)])
    assert result.exit_code == 1
    assert (
        f"{tmp_path}/profiles/base.yaml.j2:2: host ci-01: undefined variable 'level'"
        in result.stderr
    )
    assert result.stdout == ""


def test_validation_errors_exit_1_with_located_findings_and_no_output(tmp_path: Path) -> None:
    inv = repo(tmp_path, profiles={"base.yaml.j2": 'log-level: "{{ log_max_size }}"\n'})
    result = runner.invoke(app, ["render", "ci-01", "-i", str(inv)])
    assert result.exit_code == 1
    assert f"{inv}:{line_of(inv, 'log_max_size: 20m')}" in result.stderr
    assert "FC004" in result.stderr
    assert result.stdout == ""


def test_warnings_are_printed_but_the_target_is_still_rendered(tmp_path: Path) -> None:
    inv = repo(tmp_path, profiles={"base.yaml.j2": "log-opts: {max-file: '3'}\n"})
    result = runner.invoke(app, ["render", "ci-01", "-i", str(inv)])
    assert result.exit_code == 0
    assert "warning FC013" in result.stderr
    assert json.loads(result.stdout) == {"log-opts": {"max-file": "3"}}


def test_the_inventory_can_come_from_the_environment(tmp_path: Path) -> None:
    inv = repo(tmp_path, profiles={"base.yaml.j2": "debug: true\n"})
    result = runner.invoke(app, ["render", "ci-01"], env={"FLEETCFG_INVENTORY": str(inv)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"debug": True}
