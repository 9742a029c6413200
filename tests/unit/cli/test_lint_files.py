"""`fleetcfg lint FILE...`: located lines, JSON output, stable exit codes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import app

runner = CliRunner()


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_clean_file_exits_0(tmp_path):
    path = write(tmp_path, "daemon.json", '{"live-restore": true}\n')
    result = runner.invoke(app, ["lint", str(path)])
    assert result.exit_code == 0 and result.stdout == "0 errors, 0 warnings, 1 file\n"


def test_errors_print_file_line_column_rule_and_exit_1(tmp_path):
    path = write(tmp_path, "daemon.json", '{\n  "debug": true,\n  "log-level": "warning"\n}\n')
    result = runner.invoke(app, ["lint", str(path)])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{path}:3:3: FC004 error: ")


def test_warnings_alone_exit_0(tmp_path):
    path = write(tmp_path, "daemon.json", '{"registry-mirror": ["https://m"]}')
    result = runner.invoke(app, ["lint", str(path)])
    assert result.exit_code == 0 and "FC005 warning" in result.stdout


def test_json_format_lists_findings_with_every_field(tmp_path):
    path = write(tmp_path, "daemon.json", '{"mtu": "1500"}')
    result = runner.invoke(app, ["lint", "--format", "json", str(path)])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    [finding] = doc["findings"]
    assert finding == {
        "rule": "FC003",
        "severity": "error",
        "message": finding["message"],
        "file": str(path),
        "line": 1,
        "column": 2,
        "path": "mtu",
        "hosts": [],
    }
    assert doc["summary"] == {"error": 1, "warning": 0, "info": 0}


def test_engine_version_changes_the_verdict(tmp_path):
    path = write(tmp_path, "daemon.json", '{"host-gateway-ips": ["172.17.0.1"]}')
    assert runner.invoke(app, ["lint", "--engine-version", "28.0", str(path)]).exit_code == 0
    result = runner.invoke(app, ["lint", "--engine-version", "26.1", str(path)])
    assert (
        result.exit_code == 1
        and "FC006" in result.stdout
        and "added in Engine 28.0" in result.stdout
    )


def test_client_kind(tmp_path):
    path = write(tmp_path, "config.json", '{"auths": {"r": {"auth": "bm9jb2xvbg=="}}}')
    result = runner.invoke(app, ["lint", "--kind", "client", str(path)])
    assert (
        result.exit_code == 1 and "FC018" in result.stdout and "bm9jb2xvbg==" not in result.stdout
    )


@pytest.mark.parametrize(
    "args",
    [
        ["lint", "/no/such/daemon.json"],
        ["lint", "--bogus"],
        ["lint", "--engine-version", "banana", "x"],
        ["lint", "--kind", "nope", "x"],
        ["lint", "--explain", "FC999"],
    ],
)
def test_usage_errors_exit_2(args):
    assert runner.invoke(app, args).exit_code == 2


def test_missing_file_is_named(tmp_path):
    result = runner.invoke(app, ["lint", str(tmp_path / "nope.json")])
    assert "nope.json" in result.stderr and "no such file" in result.stderr


def test_explain_prints_the_rule():
    result = runner.invoke(app, ["lint", "--explain", "fc010"])
    assert result.exit_code == 0 and result.stdout.startswith("FC010 address-pools")


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ('{\n  // comment\n  "debug": true\n}', 2, 3),
        ('{\n  "debug": true,\n}', 3, 1),
        ("{'debug': true}", 1, 2),
        ('{"debug": true}}', 1, 16),
        ("[]", 1, 1),
        ("", None, None),
    ],
)
def test_syntax_problems_are_located(tmp_path, text, line, column):
    path = write(tmp_path, "daemon.json", text)
    result = runner.invoke(app, ["lint", "--format", "json", str(path)])
    findings = json.loads(result.stdout)["findings"]
    if line is None:
        assert findings == [] and result.exit_code == 0
    else:
        assert [(f["rule"], f["line"], f["column"]) for f in findings] == [("FC001", line, column)]


def test_invalid_utf8_is_located(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_bytes(b'{\n "data-root": "/var/\xff"\n}')
    result = runner.invoke(app, ["lint", str(path)])
    assert result.exit_code == 1 and f"{path}:2:" in result.stdout and "UTF-8" in result.stdout


def test_an_inventory_given_as_a_file_is_recognised_and_the_repo_lint_suggested(tmp_path):
    path = write(tmp_path, "inventory.yaml", "hosts: {web-01: {}}\n")
    result = runner.invoke(app, ["lint", str(path)])
    assert result.exit_code == 2
    assert f"fleetcfg lint -i {path}" in result.output
    assert "invalid JSON" not in result.output and "refuses to start" not in result.output


def test_a_profile_given_as_a_file_is_recognised_and_the_repo_lint_suggested(tmp_path):
    (tmp_path / "profiles").mkdir()
    path = write(tmp_path / "profiles", "base.yaml.j2", "live-restore: {{ x }}\n")
    result = runner.invoke(app, ["lint", str(path)])
    assert result.exit_code == 2
    assert "is a profile" in result.output
    assert f"fleetcfg lint -i {tmp_path / 'inventory.yaml'}" in result.output


def test_client_config_findings_say_what_the_docker_cli_does_not_dockerd(tmp_path):
    bad_type = write(tmp_path, "config.json", '{"auths": 1}')
    bad_json = write(tmp_path, "broken.json", '{"auths": {},}')
    result = runner.invoke(app, ["lint", "--kind", "client", str(bad_type), str(bad_json)])
    assert result.exit_code == 1
    assert result.stdout.count("the docker CLI warns and ignores the whole file") == 2
    assert "dockerd" not in result.stdout


def test_help_says_which_engine_version_files_are_linted_for():
    from fleetcfg.core.versions import DEFAULT_ENGINE

    result = runner.invoke(app, ["lint", "--help"], env={"COLUMNS": "200"})
    assert f"(default {DEFAULT_ENGINE})" in result.stdout
