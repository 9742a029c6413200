"""`fleetcfg render --limit ... -o DIR` and `fleetcfg cloud-init` carry every
surface file of the host (certs.d here), with its mode and apply action; a
group whose hosts get different surface files is refused naming the file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from typer.testing import CliRunner

from fleetcfg.cli.app import app
from fleetcfg.core.hashing import sha256_hex
from tests.fakes.cloudinit import decode, load_cloud_config
from tests.pki import make_ca, make_cert
from tests.unit.inventory.repo import line_of, write_repo

CA = make_ca("Corp Root CA")
OTHER_CA = make_ca("Lab Root CA")
CLIENT = make_cert("ci-01", ca=False, issuer=CA)

INVENTORY = """
defaults:
  daemon_profile: base
  registries:
    corp:
      host: registry.corp.example.com
      port: 5000
      ca_file: certs/corp-ca.pem
      client_cert_file: certs/client.cert
      client_key_file: certs/client.key
groups:
  runners:
    hosts:
      ci-01: {address: 10.0.0.1}
      ci-02: {address: 10.0.0.2}
  lab:
    hosts:
      lab-01:
        address: 10.0.0.9
        registries: {corp: {ca_file: certs/lab-ca.pem}}
"""
PROFILES = {"base.yaml.j2": "live-restore: true\n"}
FOLDER = "/etc/docker/certs.d/registry.corp.example.com:5000"

runner = CliRunner()


def _repo(tmp_path: Path) -> Path:
    inv = write_repo(tmp_path, INVENTORY, PROFILES)
    certs = tmp_path / "certs"
    certs.mkdir(exist_ok=True)
    for name, text in {
        "corp-ca.pem": CA.cert_pem,
        "lab-ca.pem": OTHER_CA.cert_pem,
        "client.cert": CLIENT.cert_pem,
        "client.key": CLIENT.key_pem,
    }.items():
        (certs / name).write_text(text)
    return inv


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={})
    return result.exit_code, result.stdout, result.stderr


def test_the_tree_holds_the_certs_d_files_with_modes_and_their_action_in_the_manifest(
    tmp_path: Path,
) -> None:
    inv = _repo(tmp_path)
    out = tmp_path / "out"
    code, _, err = _run("render", "--limit", "runners", "-o", str(out), "-i", str(inv))
    assert code == 0, err
    ca = out / f"rootfs{FOLDER}/ca.crt"
    key = out / f"rootfs{FOLDER}/client.key"
    assert stat.S_IMODE(ca.stat().st_mode) == 0o644
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((out / f"rootfs{FOLDER}").stat().st_mode) == 0o755
    assert ca.read_text().strip() == CA.cert_pem.strip()
    manifest_text = (out / "manifest.json").read_text()
    files = {f["path"]: f for f in json.loads(manifest_text)["files"]}
    entry = files[f"{FOLDER}/ca.crt"]
    assert entry["sha256"] == sha256_hex(ca.read_bytes())
    assert (entry["mode"], entry["owner"], entry["group"]) == ("0644", "root", "root")
    assert (entry["kind"], entry["action"], entry["secret"]) == ("certs.d", "none", False)
    key_entry = files[f"{FOLDER}/client.key"]
    assert (key_entry["mode"], key_entry["secret"]) == ("0600", True)
    assert set(files) == {
        "/etc/docker/daemon.json",
        f"{FOLDER}/ca.crt",
        f"{FOLDER}/client.cert",
        f"{FOLDER}/client.key",
    }
    assert CLIENT.key_pem.strip().splitlines()[1] not in manifest_text
    install = (out / "install.sh").read_text()
    assert f"put rootfs{FOLDER}/client.key {FOLDER}/client.key 0600 root root" in install


def test_the_printed_manifest_never_holds_the_client_key(tmp_path: Path) -> None:
    inv = _repo(tmp_path)
    code, out, err = _run("render", "--limit", "runners", "-i", str(inv))
    assert code == 0, err
    body = CLIENT.key_pem.strip().splitlines()[1]
    assert body not in out
    assert body not in err


def test_cloud_init_writes_the_certs_d_files_and_holds_the_key_only_in_a_0600_file(
    tmp_path: Path,
) -> None:
    inv = _repo(tmp_path)
    code, out, err = _run("cloud-init", "--limit", "runners", "-i", str(inv))
    assert code == 2  # the client key is a secret: not printed on stdout
    assert CLIENT.key_pem.strip().splitlines()[1] not in out + err
    user_data = tmp_path / "user-data"
    code, _, err = _run("cloud-init", "--limit", "runners", "-i", str(inv), "-o", str(user_data))
    assert code == 0, err
    assert stat.S_IMODE(user_data.stat().st_mode) == 0o600
    document = load_cloud_config(user_data.read_text())
    entries = {e["path"]: e for e in document["write_files"]}
    ca = entries[f"{FOLDER}/ca.crt"]
    assert (ca["permissions"], ca["owner"]) == ("0644", "root:root")
    assert "defer" not in ca  # before dockerd starts
    assert decode(ca).strip() == CA.cert_pem.strip().encode()
    assert entries[f"{FOLDER}/client.key"]["permissions"] == "0600"
    [command] = document["runcmd"]
    checked = [v for k, v in zip(command[1::2], command[2::2], strict=True) if k == "--file"]
    assert f"{sha256_hex(decode(ca))}  {FOLDER}/ca.crt" in checked


def test_a_group_whose_hosts_differ_in_a_registry_is_refused_naming_the_file(
    tmp_path: Path,
) -> None:
    inv = _repo(tmp_path)
    out = tmp_path / "out"
    code, _, err = _run("render", "--limit", "runners,lab", "-o", str(out), "-i", str(inv))
    assert code == 1
    assert not out.exists()
    assert "do not render identically" in err
    assert f"{FOLDER}/ca.crt: content differs, 2 variants" in err
    assert "(ci-01, ci-02)" in err
    assert "(lab-01)" in err
    assert f"inventory.yaml:{line_of(inv, 'lab-ca.pem')}" in err  # where lab-01's CA comes from
    code, _, err = _run("cloud-init", "--limit", "runners,lab", "-i", str(inv))
    assert code == 1
    assert f"{FOLDER}/ca.crt: content differs" in err


def test_a_ca_file_line_that_looks_like_a_ci_command_is_carried_in_base64(
    tmp_path: Path,
) -> None:
    # a CA bundle may hold any text between its certificates; printed in a
    # CI log, user-data's literal block would put the line at a line start
    inv = _repo(tmp_path)
    bundle = "# Corp CA\n  ::set-output name=deploy::yes\n" + CA.cert_pem
    (tmp_path / "certs" / "corp-ca.pem").write_text(bundle)
    user_data = tmp_path / "user-data"
    code, _, err = _run("cloud-init", "--limit", "runners", "-i", str(inv), "-o", str(user_data))
    assert code == 0, err
    text = user_data.read_text()
    assert not [line for line in text.splitlines() if line.lstrip().startswith(("::", "##"))]
    entries = {e["path"]: e for e in load_cloud_config(text)["write_files"]}
    ca = entries[f"{FOLDER}/ca.crt"]
    assert ca["encoding"] == "b64" and decode(ca).decode() == bundle
