"""Golden test (issue 10, item 3): a hostile secret, and the previous secret a
host still holds, never appear in any form in any output: lint (text, json,
sarif, github), render, render --explain, plan (text, json), plan.json, apply's
output and journal, status, and error messages; the same for the proxy drop-in
(render --surface, its plan diff). Real sshd hosts (tests/fleet)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import app
from tests.fakes.cloudinit import bootcmd_files, load_cloud_config
from tests.fleet import Fleet
from tests.fleet.repo import write_repo_of
from tests.leaks import assert_hidden
from tests.pki import REGISTRY_FOLDER, REGISTRY_YAML, make_ca, make_cert, write_certs

pytestmark = pytest.mark.e2e

DAEMON_JSON = "/etc/docker/daemon.json"
DROPIN = "/etc/systemd/system/docker.service.d/http-proxy.conf"
ENV_FILE = "/etc/systemd/system/docker.service.d/http-proxy.env"
#: a generated password with every character that breaks naive masking
HOSTILE = "p@ss/w:rd+x=%2F\"'"
#: what host-02 still has from before the rotation
OLD = "0ld/P@ss:w+rd=%3D\"'"

PROFILE = """
log-driver: json-file
log-opts: {max-size: "50m", max-file: "5"}
live-restore: true
proxies:
  http-proxy: "http://svc:{{ env('PROXY_PASSWORD')|urlquote }}@proxy.corp:3128"
  https-proxy: "http://svc:{{ env('PROXY_PASSWORD')|urlquote }}@proxy.corp:3128"
  no-proxy: localhost
labels:
  - {{ ("token=" ~ env('PROXY_PASSWORD'))|to_json }}
{% if broken is defined %}
log-level: {{ ("x" ~ env('PROXY_PASSWORD'))|to_json }}
{% endif %}
"""

CA = make_ca("Corp Root CA")
#: mutual TLS with the registry: the key is a secret like the password
CLIENT = make_cert("fleet client", ca=False, issuer=CA)

runner = CliRunner()


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args), env={"NO_COLOR": "1"})
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output
    return result.stdout + result.stderr


def test_no_output_ever_holds_a_secret_in_any_form(
    fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROXY_PASSWORD", HOSTILE)
    first, rotated, broken = fleet.hosts
    old_url = f"http://svc:{quote(OLD, safe='')}@proxy.corp:3128"
    rotated.write_file(
        DAEMON_JSON,
        json.dumps({"proxies": {"http-proxy": old_url}, "labels": [f"token={OLD}"]}) + "\n",
    )
    repo = write_repo_of(
        tmp_path / "repo",
        fleet,
        fleet.hosts,
        profiles={"base.yaml.j2": PROFILE},
        host_extra={broken.name: "vars: {broken: true}"},
        sections="rollout: {batch_size: 1, canary: 1, max_failures: 5}\n",
        defaults=REGISTRY_YAML,
    )
    write_certs(repo.parent, CA, CLIENT)
    outputs: dict[str, str] = {}
    for fmt in ("text", "json", "sarif", "github"):
        outputs[f"lint -f {fmt}"] = cli("lint", "-i", str(repo), "-f", fmt)
    outputs["render"] = cli("render", first.name, "-i", str(repo))
    outputs["render --explain"] = cli("render", first.name, "-i", str(repo), "--explain")
    outputs["render --surface"] = cli("render", first.name, "-i", str(repo), "--surface")
    outputs["render error"] = cli("render", broken.name, "-i", str(repo))
    outputs["plan"] = cli("plan", "-i", str(repo))
    outputs["plan json"] = cli("plan", "-i", str(repo), "--format", "json")
    saved = tmp_path / "plan.json"
    outputs["plan -o"] = cli("plan", "-i", str(repo), "-o", str(saved))
    outputs["plan.json"] = saved.read_text()
    journal = tmp_path / "journal.jsonl"
    outputs["apply"] = cli("apply", str(saved), "-i", str(repo), "--yes", "--journal", str(journal))
    outputs["journal"] = journal.read_text()
    outputs["plan after"] = cli("plan", "-i", str(repo))
    outputs["status"] = cli("status", "-i", str(repo))
    outputs["status json"] = cli("status", "-i", str(repo), "--format", "json")

    # the run did what it should: the secret reached the host, and only there
    assert HOSTILE in rotated.read_file(DAEMON_JSON).replace('\\"', '"')
    assert "FC004" in outputs["lint -f text"]  # the broken host's log-level
    assert "log-level" in outputs["plan"] and "***" in outputs["plan"]
    assert "Apply: 2 changed, 1 skipped." in outputs["apply"]
    assert '"event": "host-end"' in outputs["journal"]
    # the client key of the registry reached the hosts, and only there
    assert first.read_file(f"{REGISTRY_FOLDER}/client.key") == CLIENT.key_pem
    assert "client.key" in outputs["render --surface"] and "client.key" in outputs["plan"]
    key_lines = [line for line in CLIENT.key_pem.splitlines() if not line.startswith("-----")]
    for name, text in outputs.items():
        for secret in (HOSTILE, OLD, CLIENT.key_pem, *key_lines):
            assert_hidden(secret, text, name)


def test_the_proxy_drop_in_never_shows_the_password_in_any_form(
    fleet_of: Callable[[int], Fleet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROXY_PASSWORD", HOSTILE)
    fleet = fleet_of(1)
    (host,) = fleet.hosts
    host.set_engine_version("20.10.24")
    old_url = f"http://svc:{quote(OLD, safe='')}@proxy.corp:3128".replace("%", "%%")
    host.write_file(DROPIN, f'[Service]\nEnvironment="HTTP_PROXY={old_url}"\n')
    proxy = (
        "proxy: {http: 'http://svc@proxy.corp:3128', password_env: PROXY_PASSWORD,"
        " no_proxy: [localhost], where: dropin}\n"
    )

    def write_repo(defaults: str) -> Path:
        return write_repo_of(
            tmp_path / "repo",
            fleet,
            fleet.hosts,
            profiles={"base.yaml.j2": "log-driver: json-file\n"},
            defaults=defaults,
        )

    repo = write_repo(proxy)
    outputs: dict[str, str] = {}
    outputs["render"] = cli("render", host.name, "-i", str(repo))
    outputs["render --surface"] = cli("render", host.name, "-i", str(repo), "--surface")
    outputs["render --limit"] = cli("render", "--limit", host.name, "-i", str(repo))
    tree = tmp_path / "tree"
    outputs["render -o"] = cli("render", "--limit", host.name, "-i", str(repo), "-o", str(tree))
    outputs["manifest.json"] = (tree / "manifest.json").read_text()
    outputs["cloud-init"] = cli("cloud-init", "--limit", host.name, "-i", str(repo))
    user_data = tmp_path / "user-data"
    outputs["cloud-init -o"] = cli(
        "cloud-init", "--limit", host.name, "-i", str(repo), "-o", str(user_data)
    )
    outputs["plan"] = cli("plan", "-i", str(repo))
    outputs["plan json"] = cli("plan", "-i", str(repo), "--format", "json")
    saved = tmp_path / "plan.json"
    outputs["plan -o"] = cli("plan", "-i", str(repo), "-o", str(saved))
    outputs["plan.json"] = saved.read_text()
    journal = tmp_path / "journal.jsonl"
    outputs["apply"] = cli("apply", str(saved), "-i", str(repo), "--yes", "--journal", str(journal))
    outputs["plan after"] = cli("plan", "-i", str(repo))
    env_on_host = host.read_file(ENV_FILE), host.path(ENV_FILE).stat().st_mode & 0o777
    # the proxy leaves the inventory: the drop-in (there before fleetcfg) stays
    write_repo("")
    outputs["plan removal"] = cli("plan", "-i", str(repo))
    outputs["plan removal json"] = cli("plan", "-i", str(repo), "--format", "json")
    outputs["apply removal"] = cli("apply", "-i", str(repo), "--yes", "--journal", str(journal))
    outputs["journal"] = journal.read_text()

    # the password reached the host (0600) and the file meant to hold it, only
    # there: the drop-in's environment file, not the drop-in (systemd shows its
    # Environment= to every user of the host)
    dropin = (tree / "rootfs" / DROPIN.lstrip("/")).read_text()
    written = (tree / "rootfs" / ENV_FILE.lstrip("/")).read_text()
    assert host.read_file(DROPIN) == dropin and f"EnvironmentFile=-{ENV_FILE}" in dropin
    assert env_on_host == (written, 0o600)
    assert quote(HOSTILE, safe="") in written  # no specifiers in an environment file
    assert (tree / "rootfs" / ENV_FILE.lstrip("/")).stat().st_mode & 0o777 == 0o600
    assert {
        f["path"]: f["credentials"]
        for f in json.loads(outputs["manifest.json"])["files"]
        if f["path"] in (DROPIN, ENV_FILE)
    } == {DROPIN: False, ENV_FILE: True}
    # cloud-init lands both from bootcmd (loaded with daemon-reload before
    # docker starts): base64 inside the program, the same bytes
    assert bootcmd_files(load_cloud_config(user_data.read_text())) == {
        DROPIN: dropin.encode(),
        ENV_FILE: written.encode(),
    }
    assert "the document holds secrets" in outputs["cloud-init"]
    assert 'HTTP_PROXY="http://svc:***@proxy.corp:3128"' in outputs["plan"]
    assert "holds credentials" in outputs["plan"]
    assert f"{DROPIN} is no longer managed by fleetcfg" in outputs["plan removal"]
    assert host.read_file(DROPIN) == dropin and not host.exists(ENV_FILE)
    for name, text in outputs.items():
        for secret in (HOSTILE, OLD):
            assert_hidden(secret, text, name)
            assert_hidden(quote(secret, safe="").replace("%", "%%"), text, name)
            assert_hidden(quote(secret, safe=""), text, name)
