"""The repo's hash covers the repo files the renders read (registries'
certificates, file() lookups), not only inventory.yaml and profiles/: a plan
saved before a certificate changed is reported stale, shards that read
different files still merge."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fleetcfg.cli import env as cli_env
from fleetcfg.cli.app import app
from fleetcfg.core.errors import PlanError
from fleetcfg.core.secrets import secret_forms
from fleetcfg.host.transport.targets import SshTarget
from fleetcfg.inventory import Inventory, load_inventory
from fleetcfg.plan.fleet import plan_fleet, save_plan
from fleetcfg.plan.model import Plan
from fleetcfg.plan.repohash import combine, legacy_repo_sha256, repo_changes, repo_sha256
from fleetcfg.plan.shards import merge_plan_outputs
from tests.fakes.dockerhost import FakeDockerHost
from tests.pki import make_ca, write_certs
from tests.unit.inventory.repo import write_repo
from tests.unit.registry_repo import CORP_CA as CA
from tests.unit.registry_repo import CORP_CLIENT as CLIENT
from tests.unit.registry_repo import corp_registry_inventory, write_corp_certs

INVENTORY = corp_registry_inventory(more_hosts="  web-01:\n    address: 10.0.0.2\n")
NEW_CA = make_ca("Corp Root CA 2027")


class Connector:
    def __init__(self, hosts: dict[str, FakeDockerHost]) -> None:
        self.hosts = hosts

    def open(self, target: SshTarget) -> FakeDockerHost:
        return self.hosts[target.host]

    def close(self) -> None:
        pass


def _repo(tmp_path: Path) -> Inventory:
    path = write_repo(tmp_path, INVENTORY, {"base.json": '{"debug": true}'})
    write_corp_certs(tmp_path)
    return load_inventory(path)


def _hosts() -> dict[str, FakeDockerHost]:
    return {n: FakeDockerHost(n, daemon_json={}) for n in ("ci-01", "web-01")}


def _plan(inv: Inventory, names: tuple[str, ...] = ("ci-01", "web-01")) -> Plan:
    return plan_fleet(inv, [inv.hosts[n] for n in names], connector=Connector(_hosts()))


def _apply_saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``fleetcfg apply plan.json --yes`` in the repo at ``tmp_path``, on fake hosts."""
    monkeypatch.setattr(cli_env, "make_connector", lambda: Connector(_hosts()))
    monkeypatch.chdir(tmp_path)
    return CliRunner().invoke(
        app,
        ["apply", str(tmp_path / "plan.json"), "--yes"],
        env={"NO_COLOR": "1", "COLUMNS": "200"},
    )


def test_a_plan_records_the_sha256_of_the_certificates_its_hosts_read(tmp_path: Path) -> None:
    inv = _repo(tmp_path)
    plan = _plan(inv)
    assert plan.repo_files is not None
    assert sorted(plan.repo_files) == ["certs/corp-ca.pem", "inventory.yaml", "profiles/base.json"]
    assert "certs/client.key" not in plan.repo_files  # on disk, but no host reads it
    assert plan.repo_sha256 == repo_sha256(
        inv, {"certs/corp-ca.pem": tmp_path / "certs/corp-ca.pem"}
    )
    assert plan.repo_sha256 != repo_sha256(inv)


def test_changing_the_certificate_changes_the_repo_hash(tmp_path: Path) -> None:
    inv = _repo(tmp_path)
    plan = _plan(inv)
    assert repo_changes(inv, plan.repo_sha256, plan.repo_files) == []
    (tmp_path / "certs/corp-ca.pem").write_text(NEW_CA.cert_pem)
    assert _plan(inv).repo_sha256 != plan.repo_sha256
    assert repo_changes(inv, plan.repo_sha256, plan.repo_files) == ["certs/corp-ca.pem"]
    (tmp_path / "certs/corp-ca.pem").unlink()
    assert repo_changes(inv, plan.repo_sha256, plan.repo_files) == ["certs/corp-ca.pem"]


def test_apply_of_a_saved_plan_reports_it_stale_when_the_certificate_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inv = _repo(tmp_path)
    save_plan(_plan(inv), tmp_path / "plan.json")
    (tmp_path / "certs/corp-ca.pem").write_text(NEW_CA.cert_pem)
    result = _apply_saved(tmp_path, monkeypatch)
    assert (
        "warning: certs/corp-ca.pem changed since the plan was made; hosts whose target "
        "changed will be refused"
    ) in " ".join(result.stderr.split())
    assert "ci-01: stale" in result.stdout


def test_a_plan_of_an_older_fleetcfg_is_checked_with_the_hash_it_recorded(tmp_path: Path) -> None:
    inv = _repo(tmp_path)
    old = legacy_repo_sha256(inv)
    assert repo_changes(inv, old, None) == []
    (tmp_path / "certs/corp-ca.pem").write_text(NEW_CA.cert_pem)
    assert repo_changes(inv, old, None) == []  # it did not cover certificates
    (tmp_path / "profiles/base.json").write_text("{}")
    assert repo_changes(inv, old, None) == ["inventory.yaml or a profile"]


def _output(plan: Plan) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(plan.model_dump_json())
    return data


def test_shards_whose_hosts_read_different_files_merge_with_all_of_them(tmp_path: Path) -> None:
    inv = _repo(tmp_path)
    one, two = _plan(inv, ("ci-01",)), _plan(inv, ("web-01",))
    assert one.repo_sha256 != two.repo_sha256
    merged = merge_plan_outputs([("1.json", _output(one)), ("2.json", _output(two))], "0")
    assert merged.repo_files == one.repo_files
    assert merged.repo_sha256 == _plan(inv).repo_sha256


def test_shards_that_read_a_file_with_different_contents_do_not_merge(tmp_path: Path) -> None:
    inv = _repo(tmp_path)
    one = _plan(inv, ("ci-01",))
    (tmp_path / "certs/corp-ca.pem").write_text(NEW_CA.cert_pem)
    two = _plan(inv, ("ci-01",)).model_copy(update={"hosts": _plan(inv, ("web-01",)).hosts})
    with pytest.raises(PlanError, match=r"certs/corp-ca.pem differs between 1.json and 2.json"):
        merge_plan_outputs([("1.json", _output(one)), ("2.json", _output(two))], "0")


def test_shards_planned_with_another_profile_set_do_not_merge(tmp_path: Path) -> None:
    inv = _repo(tmp_path)
    one = _plan(inv, ("ci-01",))
    (tmp_path / "profiles/extra.json").write_text("{}")
    two = _plan(inv, ("web-01",))
    with pytest.raises(PlanError, match=r"only 2.json has profiles/extra.json"):
        merge_plan_outputs([("1.json", _output(one)), ("2.json", _output(two))], "0")


# --------------------------------------------------------------------------
# files read as secrets: no digest that can be guessed offline

PASSWORD = "hunter2"
SECRET_INVENTORY = """
defaults:
  daemon_profile: proxied
  engine_version: "26.1"
hosts:
  ci-01:
    address: 10.0.0.1
    registries:
      corp:
        host: registry.corp.example.com
        ca_file: certs/ca.pem
        client_cert_file: certs/client.cert
        client_key_file: certs/client.key
  web-01:
    address: 10.0.0.2
"""
PROXIED = (
    '{"proxies": {"http-proxy": "http://svc:{{ file("secrets/pw") | urlencode }}@proxy:3128"}}'
)


def _secret_repo(tmp_path: Path, password: str = PASSWORD) -> Inventory:
    path = write_repo(tmp_path, SECRET_INVENTORY, {"proxied.json.j2": PROXIED})
    write_certs(tmp_path, CA, CLIENT)
    (tmp_path / "secrets").mkdir(exist_ok=True)
    (tmp_path / "secrets/pw").write_text(password + "\n")
    return load_inventory(path)


def _guessable(secret: str, file_bytes: bytes) -> set[str]:
    """The bare sha256 (hex and base64) of every form the secret may take."""
    forms = {f.encode() for f in secret_forms(secret)} | {file_bytes}
    forms |= {f + b"\n" for f in forms} | {f + b"\r\n" for f in forms}
    out: set[str] = set()
    for form in forms:
        digest = hashlib.sha256(form).digest()
        out |= {digest.hex(), base64.b64encode(digest).decode(), digest.hex().upper()}
    return out


def test_a_plan_records_no_guessable_hash_of_a_file_read_as_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inv = _secret_repo(tmp_path)
    plan = _plan(inv)
    save_plan(plan, tmp_path / "plan.json")
    monkeypatch.setattr(cli_env, "make_connector", lambda: Connector(_hosts()))
    monkeypatch.chdir(tmp_path)
    shown = CliRunner().invoke(app, ["plan", "--format", "json"], env={"NO_COLOR": "1"})
    assert shown.exit_code == 0, shown.output
    shards = [_plan(inv, ("ci-01",)), _plan(inv, ("web-01",))]
    merged = merge_plan_outputs([(f"{n}.json", _output(p)) for n, p in enumerate(shards)], "0")
    texts = [
        shown.stdout,
        (tmp_path / "plan.json").read_text(),
        merged.model_dump_json(),
        plan.model_dump_json(),
    ]
    guessable = _guessable(PASSWORD, b"hunter2\n")
    for text in texts:
        assert not [g for g in guessable if g in text]
    assert plan.repo_files is not None
    key_sha256 = hashlib.sha256(CLIENT.key_pem.encode()).hexdigest()
    assert key_sha256 not in plan.repo_files.values()
    assert plan.repo_files["secrets/pw"].startswith("scrypt:")
    assert plan.repo_files["certs/client.key"].startswith("scrypt:")
    # certificates are public: their bare sha256 is fine
    assert plan.repo_files["certs/ca.pem"] == hashlib.sha256(CA.cert_pem.encode()).hexdigest()
    # the aggregate covers the digests, not the bytes
    assert plan.repo_sha256 == combine(plan.repo_files) == merged.repo_sha256


def test_a_changed_secret_file_makes_a_saved_plan_stale_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inv = _secret_repo(tmp_path)
    plan = _plan(inv)
    assert repo_changes(inv, plan.repo_sha256, plan.repo_files) == []
    save_plan(plan, tmp_path / "plan.json")
    (tmp_path / "secrets/pw").write_text("hunter3\n")
    assert repo_changes(inv, plan.repo_sha256, plan.repo_files) == ["secrets/pw"]
    result = _apply_saved(tmp_path, monkeypatch)
    assert "warning: secrets/pw changed since the plan was made" in " ".join(result.stderr.split())
    assert "ci-01: stale" in result.stdout
    assert "hunter" not in result.output


def test_a_plan_that_recorded_a_bare_sha256_of_a_secret_file_is_checked_as_before(
    tmp_path: Path,
) -> None:
    inv = _secret_repo(tmp_path)
    plan = _plan(inv)
    assert plan.repo_files is not None
    old = {
        **plan.repo_files,
        "secrets/pw": hashlib.sha256(b"hunter2\n").hexdigest(),
        "certs/client.key": hashlib.sha256(CLIENT.key_pem.encode()).hexdigest(),
    }
    assert repo_changes(inv, combine(old), old) == []
    (tmp_path / "secrets/pw").write_text("hunter3\n")
    assert repo_changes(inv, combine(old), old) == ["secrets/pw"]


def test_shards_that_read_a_secret_file_with_different_contents_do_not_merge(
    tmp_path: Path,
) -> None:
    inv = _secret_repo(tmp_path)
    one = _plan(inv, ("web-01",))
    (tmp_path / "secrets/pw").write_text("hunter3\n")
    two = _plan(inv, ("ci-01",))
    with pytest.raises(PlanError, match=r"secrets/pw differs between 1.json and 2.json"):
        merge_plan_outputs([("1.json", _output(one)), ("2.json", _output(two))], "0")


def test_shards_that_recorded_a_secret_file_in_two_forms_do_not_merge(tmp_path: Path) -> None:
    inv = _secret_repo(tmp_path)
    one = _output(_plan(inv, ("web-01",)))
    two = _output(_plan(inv, ("ci-01",)))
    two["repo_files"]["secrets/pw"] = hashlib.sha256(b"hunter2\n").hexdigest()  # older fleetcfg
    with pytest.raises(PlanError, match=r"secrets/pw is recorded as a secret by 1.json"):
        merge_plan_outputs([("1.json", one), ("2.json", two)], "0")
