"""`fleetcfg render --limit GROUP|HOST -o DIR`: the file tree an image build
copies in, its manifest, and the refusals (hosts that differ, errors)."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from fleetcfg.cli.app import app
from fleetcfg.core.hashing import sha256_hex
from fleetcfg.inventory import load_inventory
from fleetcfg.plan.targets import file_target
from fleetcfg.render import Renderer
from tests.unit.inventory.repo import line_of, write_repo

INVENTORY = """
secrets: {env: [PROXY_PASSWORD]}
defaults:
  daemon_profile: base
  client_profile: client
  engine_version: "26.1"
  vars: {log_max_size: 50m, mirror: "https://mirror.example.com"}
groups:
  runners:
    client_users: [root, runner]
    hosts:
      ci-01: {address: 10.0.0.1}
      ci-02: {address: 10.0.0.2, engine_version: "27.5"}
  odd:
    hosts:
      odd-01: {address: 10.0.0.9, vars: {log_max_size: 5m}}
"""

PROFILES = {
    "base.yaml.j2": """
    registry-mirrors: ["{{ mirror }}"]
    log-opts:
      max-size: "{{ log_max_size }}"
    live-restore: true
    proxies:
      http-proxy: "http://svc:{{ env('PROXY_PASSWORD') }}@proxy:3128"
    """,
    "client.json.j2": '{"detachKeys": "ctrl-e,e"}\n',
}
SECRET = "s3cr3t-pw"
ENV = {"PROXY_PASSWORD": SECRET}

runner = CliRunner()


def repo(
    tmp_path: Path, inventory: str = INVENTORY, profiles: dict[str, str] | None = None
) -> Path:
    return write_repo(tmp_path / "repo", inventory, PROFILES if profiles is None else profiles)


def render(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["render", *args], env=ENV)
    return result.exit_code, result.stdout, result.stderr


def test_a_group_that_renders_identically_gets_one_tree_with_modes_and_a_manifest(
    tmp_path: Path,
) -> None:
    inv = repo(tmp_path)
    out = tmp_path / "out"
    code, _, err = render("--limit", "runners", "-o", str(out), "-i", str(inv))
    assert code == 0, err
    daemon = out / "rootfs/etc/docker/daemon.json"
    runner_config = out / "rootfs/home/runner/.docker/config.json"
    root_config = out / "rootfs/root/.docker/config.json"
    # it holds the proxy password: 0600, as apply writes it
    assert stat.S_IMODE(daemon.stat().st_mode) == 0o600
    assert stat.S_IMODE(runner_config.stat().st_mode) == 0o600
    assert stat.S_IMODE(root_config.stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "rootfs/root/.docker").stat().st_mode) == 0o700
    assert stat.S_IMODE(out.stat().st_mode) == 0o700  # the files hold secrets in clear
    assert SECRET in daemon.read_text()  # the real file, not a masked one
    manifest = json.loads((out / "manifest.json").read_text())
    assert SECRET not in (out / "manifest.json").read_text()
    assert manifest["hosts"] == ["ci-01", "ci-02"]
    assert manifest["engine_versions"] == ["26.1", "27.5"]
    files = {f["path"]: f for f in manifest["files"]}
    assert set(files) == {
        "/etc/docker/daemon.json",
        "/home/runner/.docker/config.json",
        "/root/.docker/config.json",
    }
    entry = files["/etc/docker/daemon.json"]
    assert entry["sha256"] == sha256_hex(daemon.read_bytes())
    assert (entry["mode"], entry["owner"], entry["group"]) == ("0600", "root", "root")
    assert entry["source"] == "rootfs/etc/docker/daemon.json"
    assert entry["validated_for"] == ["26.1", "27.5"]
    # log-opts and proxies need a restart; mirrors and live-restore reload
    assert (entry["action"], entry["restart_keys"]) == ("restart", ["log-opts", "proxies"])
    client = files["/home/runner/.docker/config.json"]
    assert (client["mode"], client["owner"], client["action"]) == ("0600", "runner", "none")
    assert "wrote" in err


def test_a_daemon_json_without_credentials_is_0644(tmp_path: Path) -> None:
    profiles = dict(PROFILES, **{"base.yaml.j2": "live-restore: true\n"})
    inv = repo(tmp_path, profiles=profiles)
    out = tmp_path / "out"
    assert render("--limit", "ci-01", "-o", str(out), "-i", str(inv))[0] == 0
    assert stat.S_IMODE((out / "rootfs/etc/docker/daemon.json").stat().st_mode) == 0o644


def test_the_tree_holds_the_bytes_apply_writes_on_a_host_without_the_file(tmp_path: Path) -> None:
    inv = repo(tmp_path)
    out = tmp_path / "out"
    assert render("--limit", "ci-01", "-o", str(out), "-i", str(inv))[0] == 0
    renderer = Renderer(load_inventory(inv), environ=ENV)
    rendered = renderer.render("ci-01", "daemon")
    assert (out / "rootfs/etc/docker/daemon.json").read_bytes() == file_target(
        rendered, None
    ).content


def test_hosts_that_render_differently_are_refused_naming_the_key_values_and_lines(
    tmp_path: Path,
) -> None:
    inv = repo(tmp_path)
    out = tmp_path / "out"
    code, _, err = render("--limit", "runners,odd", "-o", str(out), "-i", str(inv))
    assert code == 1
    assert not out.exists()
    assert "do not render identically" in err
    assert 'log-opts.max-size: 2 values: "50m" (ci-01, ci-02); "5m" (odd-01)' in err
    assert f"inventory.yaml:{line_of(inv, 'odd-01')}" in err  # where odd-01's value is set
    assert "/home/runner/.docker/config.json: only 2 of 3 hosts get it" in err
    assert SECRET not in err


def test_validation_errors_refuse_to_write(tmp_path: Path) -> None:
    profiles = dict(PROFILES, **{"base.yaml.j2": 'log-opts: {max-size: "fifty"}\n'})
    inv = repo(tmp_path, profiles=profiles)
    out = tmp_path / "out"
    code, _, err = render("--limit", "runners", "-o", str(out), "-i", str(inv))
    assert code == 1
    assert not out.exists()
    assert "nothing was written" in err
    assert "max-size" in err
    assert "[2 hosts: ci-01, ci-02]" in err


def test_an_extra_engine_version_is_validated_too(tmp_path: Path) -> None:
    # log-format is new in Engine 25.0
    profiles = dict(PROFILES, **{"base.yaml.j2": "log-format: json\n"})
    inv = repo(tmp_path, profiles=profiles)
    assert render("--limit", "ci-01", "-i", str(inv))[0] == 0
    code, _, err = render("--limit", "ci-01", "--engine-version", "20.10", "-i", str(inv))
    assert code == 1, err
    assert "for Engine 20.10" in err


def test_without_output_the_manifest_is_printed_and_nothing_written(tmp_path: Path) -> None:
    inv = repo(tmp_path)
    code, out, _ = render("--limit", "ci-01", "-i", str(inv))
    assert code == 0
    manifest = json.loads(out)
    assert manifest["hosts"] == ["ci-01"]
    assert SECRET not in out


def test_an_earlier_output_is_replaced_and_any_other_folder_refused(tmp_path: Path) -> None:
    inv = repo(tmp_path)
    out = tmp_path / "out"
    assert render("--limit", "ci-01", "-o", str(out), "-i", str(inv))[0] == 0
    (out / "rootfs/stale").write_text("x")
    assert render("--limit", "ci-01", "-o", str(out), "-i", str(inv))[0] == 0
    assert not (out / "rootfs/stale").exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    code, _, err = render("--limit", "ci-01", "-o", str(other), "-i", str(inv))
    assert code == 2
    assert "not an earlier fleetcfg render output" in err
    assert (other / "keep.txt").read_text() == "mine"


def test_the_same_repo_gives_the_same_manifest(tmp_path: Path) -> None:
    inv = repo(tmp_path)
    first = render("--limit", "runners", "-i", str(inv))[1]
    assert first == render("--limit", "runners", "-i", str(inv))[1]


def test_host_and_limit_together_are_a_usage_error(tmp_path: Path) -> None:
    inv = repo(tmp_path)
    assert render("ci-01", "--limit", "runners", "-i", str(inv))[0] == 2
    assert render("-i", str(inv))[0] == 2


def test_the_output_has_an_install_script_with_one_line_per_file(tmp_path: Path) -> None:
    inv = repo(tmp_path)
    out = tmp_path / "out"
    assert render("--limit", "runners", "-o", str(out), "-i", str(inv))[0] == 0
    script = out / "install.sh"
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    text = script.read_text()
    manifest = json.loads((out / "manifest.json").read_text())
    for entry in manifest["files"]:
        line = (
            f"put {entry['source']} {entry['path']} {entry['mode']} {entry['owner']} "
            f"{entry['group']} {entry['sha256']}"
        )
        assert line in text
    assert SECRET not in text
    assert subprocess.run(["sh", "-n", str(script)], check=False).returncode == 0
