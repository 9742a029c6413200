"""`fleetcfg cloud-init --limit GROUP`: the cloud-config document (schema,
exact bytes, stages, encoding, secrets) and its boot check program."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import app
from fleetcfg.core.hashing import sha256_hex
from fleetcfg.plan.cloudinit import CHECK_PATH, boot_check_program, go_json
from tests.fakes.cloudinit import decode, load_cloud_config, play_write_files
from tests.unit.image.test_render_tree import ENV, PROFILES, SECRET, repo

SCHEMA = json.loads(
    (
        Path(__file__).resolve().parents[2] / "data/cloud-config/write-files-runcmd.schema.json"
    ).read_text()
)

runner = CliRunner()


def cloud_init(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["cloud-init", *args], env=ENV)
    return result.exit_code, result.stdout, result.stderr


def document_for(tmp_path: Path, *args: str) -> tuple[dict[str, Any], str, Path]:
    inv = repo(tmp_path)
    out = tmp_path / "user-data"
    code, _, err = cloud_init("--limit", "runners", "-i", str(inv), "-o", str(out), *args)
    assert code == 0, err
    text = out.read_text()
    return load_cloud_config(text), text, inv


def test_the_document_is_cloud_config_that_matches_the_schema(tmp_path: Path) -> None:
    document, text, _ = document_for(tmp_path)
    assert text.startswith("#cloud-config\n")
    jsonschema.validate(document, SCHEMA)
    assert set(document) == {"write_files", "runcmd"}


def test_write_files_hold_exactly_the_render_output(tmp_path: Path) -> None:
    document, _, inv = document_for(tmp_path)
    assert (
        runner.invoke(
            app,
            ["render", "--limit", "runners", "-o", str(tmp_path / "tree"), "-i", str(inv)],
            env=ENV,
        ).exit_code
        == 0
    )
    manifest = json.loads((tmp_path / "tree/manifest.json").read_text())
    entries = {e["path"]: e for e in document["write_files"]}
    for file in manifest["files"]:
        entry = entries[file["path"]]
        assert sha256_hex(decode(entry)) == file["sha256"]
        assert entry["permissions"] == file["mode"]
        assert entry["owner"] == f"{file['owner']}:{file['group']}"
    assert SECRET in decode(entries["/etc/docker/daemon.json"]).decode()


def test_daemon_json_lands_before_dockerd_starts_and_other_users_files_after_users_exist(
    tmp_path: Path,
) -> None:
    document, _, _ = document_for(tmp_path)
    written = {
        stage: play_write_files(document, lambda *_: None, stage=stage)
        for stage in ("init", "final")
    }
    assert written["init"] == ["/etc/docker/daemon.json", "/root/.docker/config.json", CHECK_PATH]
    assert written["final"] == ["/home/runner/.docker/config.json"]
    # no restart at boot: nothing in the document restarts or reloads docker
    assert "restart" not in json.dumps(document["runcmd"])


def test_the_check_runs_from_runcmd_with_what_dockerd_must_report(tmp_path: Path) -> None:
    document, _, _ = document_for(tmp_path)
    [command] = document["runcmd"]
    assert command[0] == CHECK_PATH
    args = dict(zip(command[1::2], command[2::2], strict=True))
    assert args["--mirrors"] == '["https://mirror.example.com"]'
    assert args["--live-restore"] == "true"
    files = [v for k, v in zip(command[1::2], command[2::2], strict=True) if k == "--file"]
    assert len(files) == 3
    assert all(len(f.split("  ")[0]) == 64 for f in files)
    check = next(e for e in document["write_files"] if e["path"] == CHECK_PATH)
    assert (check["permissions"], check["owner"]) == ("0755", "root:root")
    assert decode(check) == boot_check_program().encode()


def test_no_check_leaves_out_runcmd_and_the_program(tmp_path: Path) -> None:
    document, _, _ = document_for(tmp_path, "--no-check")
    assert "runcmd" not in document
    assert CHECK_PATH not in [e["path"] for e in document["write_files"]]
    jsonschema.validate(document, SCHEMA)


def test_content_that_is_not_plain_ascii_text_is_base64(tmp_path: Path) -> None:
    profiles = dict(PROFILES, **{"base.yaml.j2": 'labels: ["team=bücher"]\n'})
    inv = repo(tmp_path, profiles=profiles)
    code, out, err = cloud_init("--limit", "ci-01", "-i", str(inv))
    assert code == 0, err
    document = load_cloud_config(out)
    jsonschema.validate(document, SCHEMA)
    [daemon] = [e for e in document["write_files"] if e["path"] == "/etc/docker/daemon.json"]
    assert daemon["encoding"] == "b64"
    assert json.loads(decode(daemon)) == {"labels": ["team=bücher"]}


def test_a_document_with_secrets_is_not_printed_unless_asked(tmp_path: Path) -> None:
    inv = repo(tmp_path)
    code, out, err = cloud_init("--limit", "runners", "-i", str(inv))
    assert code == 2
    assert SECRET not in out + err
    assert "-o FILE" in err
    code, out, err = cloud_init("--limit", "runners", "-i", str(inv), "--show-secrets")
    assert code == 0
    assert SECRET in out
    assert "in clear" in err
    target = tmp_path / "user-data"
    assert cloud_init("--limit", "runners", "-i", str(inv), "-o", str(target))[0] == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_hosts_that_differ_get_no_document(tmp_path: Path) -> None:
    inv = repo(tmp_path)
    code, out, err = cloud_init("--limit", "runners,odd", "-i", str(inv), "--show-secrets")
    assert code == 1
    assert out == ""
    assert "do not render identically" in err


def test_limit_is_required(tmp_path: Path) -> None:
    inv = repo(tmp_path)
    assert cloud_init("-i", str(inv))[0] == 2


def test_go_json_escapes_like_go() -> None:
    assert go_json(["https://a/x?a=1&b=<2>"]) == '["https://a/x?a=1\\u0026b=\\u003c2\\u003e"]'


# -- the boot check program, with a stand-in docker client on PATH ----------------

FAKE_DOCKER = """\
#!/bin/sh
# docker info [--format FORMAT]: answers from $FAKE_INFO (a JSON object)
[ "$1" = info ] || exit 2
[ -f "$FAKE_INFO" ] || { echo "Cannot connect to the Docker daemon" >&2; exit 1; }
case ${3-} in
"") cat "$FAKE_INFO" ;;
*Mirrors*) jq -c '.RegistryConfig.Mirrors' "$FAKE_INFO" ;;
*LiveRestoreEnabled*) jq -r '.LiveRestoreEnabled' "$FAKE_INFO" ;;
*LoggingDriver*) jq -r '.LoggingDriver' "$FAKE_INFO" ;;
*HTTPSProxy*) jq -r '.HTTPSProxy // ""' "$FAKE_INFO" ;;
*HTTPProxy*) jq -r '.HTTPProxy // ""' "$FAKE_INFO" ;;
esac
"""


@pytest.fixture
def check_env(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(0o755)
    program = tmp_path / "fleetcfg-boot-check"
    program.write_text(boot_check_program())
    program.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_INFO": str(tmp_path / "info.json")}


def run_check(env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tmp_path / "fleetcfg-boot-check"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def dockerd_runs_with(env: dict[str, str], mirrors: list[str], live_restore: bool) -> None:
    Path(env["FAKE_INFO"]).write_text(
        json.dumps(
            {
                "RegistryConfig": {"Mirrors": mirrors},
                "LiveRestoreEnabled": live_restore,
                "LoggingDriver": "json-file",
            }
        )
    )


def test_the_check_passes_when_dockerd_reports_the_files_settings(
    check_env: dict[str, str], tmp_path: Path
) -> None:
    daemon = tmp_path / "daemon.json"
    daemon.write_text("{}\n")
    dockerd_runs_with(check_env, ["https://mirror.example.com/"], True)  # dockerd adds the slash
    result = run_check(
        check_env,
        tmp_path,
        "--file",
        f"{sha256_hex(daemon.read_bytes())}  {daemon}",
        "--mirrors",
        '["https://mirror.example.com"]',
        "--live-restore",
        "true",
        "--log-driver",
        "json-file",
    )
    assert result.returncode == 0, result.stderr
    assert "runs with the files" in result.stdout


def test_the_check_names_a_boot_race_when_dockerd_runs_other_settings(
    check_env: dict[str, str], tmp_path: Path
) -> None:
    dockerd_runs_with(check_env, [], False)
    result = run_check(
        check_env, tmp_path, "--mirrors", '["https://mirror.example.com"]', "--live-restore", "true"
    )
    assert result.returncode == 1
    assert (
        'dockerd reports registry mirrors [], daemon.json sets ["https://mirror.example.com"]'
        in result.stderr
    )
    assert "dockerd started before cloud-init wrote /etc/docker/daemon.json" in result.stderr
    assert "dockerd reports live-restore false" in result.stderr


def test_the_check_fails_when_a_file_changed_or_dockerd_never_answers(
    check_env: dict[str, str], tmp_path: Path
) -> None:
    daemon = tmp_path / "daemon.json"
    daemon.write_text("{}\n")
    expected = f"{sha256_hex(b'other')}  {daemon}"
    dockerd_runs_with(check_env, [], False)
    result = run_check(check_env, tmp_path, "--file", expected)
    assert result.returncode == 1
    assert "a file differs from what cloud-init wrote" in result.stderr
    Path(check_env["FAKE_INFO"]).unlink()
    result = run_check(check_env, tmp_path, "--timeout", "1")
    assert result.returncode == 1
    assert "docker info did not answer within 1s" in result.stderr


def test_the_check_refuses_unknown_arguments(check_env: dict[str, str], tmp_path: Path) -> None:
    assert run_check(check_env, tmp_path, "--nope", "x").returncode == 2
    assert run_check(check_env, tmp_path, "--mirrors").returncode == 2
