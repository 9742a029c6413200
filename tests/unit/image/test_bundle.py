"""`fleetcfg bundle` and `fleetcfg converge --bundle`: a signed file whose
checksums and signature are verified before anything of it is unpacked; links,
devices and paths outside the repo are refused, and so is an older revision."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import stat
import tarfile
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from fleetcfg.apply.converge import BundleSource, converge
from fleetcfg.cli.app import app
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.host import bundle as bundle_module
from fleetcfg.host.bundle import (
    MANIFEST,
    SIGNATURE,
    BundleError,
    load_trusted_keys,
    make_bundle,
    read_bundle,
    unpack,
    verify_bundle,
)
from fleetcfg.host.pull import PullPaths, Revision
from fleetcfg.inventory import load_inventory
from fleetcfg.render.references import repo_references
from tests.pki import make_ca
from tests.unit.image.test_render_tree import ENV, repo
from tests.unit.inventory.repo import line_of, write_repo
from tests.unit.registry_repo import CORP_CA as CA
from tests.unit.registry_repo import CORP_CLIENT as CLIENT
from tests.unit.registry_repo import corp_registry_inventory, write_corp_certs

runner = CliRunner()
REVISION = Revision("a" * 40, 1_700_000_000)
FILES = {"inventory.yaml": b"hosts: {ci-01: {}}\n", "profiles/base.yaml.j2": b"debug: true\n"}


def private_key_file(path: Path, key: Ed25519PrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    return path


def trusted_file(path: Path, *keys: Ed25519PrivateKey) -> Path:
    lines = [
        k.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
        + " ci@example"
        for k in keys
    ]
    path.write_text("# keys this host trusts\n" + "\n".join(lines) + "\n")
    return path


def members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]


def retar(
    data: bytes, changed: Mapping[str, bytes | None], extra: Sequence[tarfile.TarInfo] = ()
) -> bytes:
    """The bundle with members replaced (None: left out) and ``extra`` added."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, content in {**members(data), **changed}.items():
            if content is None:
                continue
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for info in extra:
            tar.addfile(info)
    return out.getvalue()


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def bundle(key: Ed25519PrivateKey) -> bytes:
    return make_bundle(FILES, REVISION, key)


def verify(
    data: bytes, key: Ed25519PrivateKey, last: Revision | None = None
) -> Mapping[str, bytes]:
    return verify_bundle(data, [key.public_key()], last=last, source="b.tgz").files


def test_a_bundle_holds_the_files_and_a_signed_manifest_of_their_sha256_and_revision(
    bundle: bytes, key: Ed25519PrivateKey
) -> None:
    inside = members(bundle)
    manifest = json.loads(inside[MANIFEST])
    assert manifest["revision"] == {"commit": "a" * 40, "time": 1_700_000_000}
    assert (
        manifest["files"]["profiles/base.yaml.j2"]["sha256"]
        == hashlib.sha256(b"debug: true\n").hexdigest()
    )
    assert SIGNATURE in inside
    assert verify(bundle, key) == FILES


def test_a_tampered_member_is_refused(bundle: bytes, key: Ed25519PrivateKey) -> None:
    evil = retar(bundle, {"profiles/base.yaml.j2": b"debug: false\n"})
    with pytest.raises(BundleError, match="does not match the manifest's sha256"):
        verify(evil, key)


def test_a_tampered_manifest_breaks_the_signature(bundle: bytes, key: Ed25519PrivateKey) -> None:
    doc = json.loads(members(bundle)[MANIFEST])
    doc["files"]["profiles/base.yaml.j2"]["sha256"] = hashlib.sha256(b"x").hexdigest()
    evil = retar(bundle, {MANIFEST: json.dumps(doc).encode(), "profiles/base.yaml.j2": b"x"})
    with pytest.raises(BundleError, match="not from a key this host trusts"):
        verify(evil, key)


def test_an_unsigned_bundle_is_refused(bundle: bytes, key: Ed25519PrivateKey) -> None:
    with pytest.raises(BundleError, match="not signed"):
        verify(retar(bundle, {SIGNATURE: None}), key)


def test_a_bundle_signed_by_a_key_the_host_does_not_trust_is_refused(
    key: Ed25519PrivateKey,
) -> None:
    other = make_bundle(FILES, REVISION, Ed25519PrivateKey.generate())
    with pytest.raises(BundleError, match="not from a key this host trusts"):
        verify(other, key)


def test_an_added_member_not_in_the_manifest_is_refused(
    bundle: bytes, key: Ed25519PrivateKey
) -> None:
    with pytest.raises(BundleError, match="members and manifest differ"):
        verify(retar(bundle, {"profiles/extra.j2": b"{}"}), key)


@pytest.mark.parametrize(
    "name", ["../etc/cron.d/x", "/etc/passwd", "profiles/../../x", "./x", "certs//ca.pem", "a\\b"]
)
def test_a_member_outside_the_repo_is_refused(
    bundle: bytes, key: Ed25519PrivateKey, name: str
) -> None:
    with pytest.raises(BundleError, match=r"outside the repo"):
        verify(retar(bundle, {name: b"x"}), key)


@pytest.mark.parametrize("name", ["other/file", "profiles"])
def test_a_member_the_signed_manifest_does_not_list_is_refused(
    bundle: bytes, key: Ed25519PrivateKey, name: str
) -> None:
    with pytest.raises(BundleError, match="members and manifest differ"):
        verify(retar(bundle, {name: b"x"}), key)


def test_a_name_that_is_both_a_file_and_a_folder_is_refused(key: Ed25519PrivateKey) -> None:
    with pytest.raises(BundleError, match="'certs' is both a file and a folder"):
        make_bundle({**FILES, "certs": b"x", "certs/ca.pem": b"y"}, REVISION, key)


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        (tarfile.SYMTYPE, "link"),
        (tarfile.LNKTYPE, "link"),
        (tarfile.CHRTYPE, "device"),
        (tarfile.FIFOTYPE, "fifo"),
    ],
)
def test_links_and_devices_are_refused(
    bundle: bytes, key: Ed25519PrivateKey, kind: bytes, said: str
) -> None:
    info = tarfile.TarInfo("profiles/base2.yaml.j2")
    info.type, info.linkname = kind, "/etc/shadow"
    with pytest.raises(BundleError, match=said):
        verify(retar(bundle, {}, [info]), key)


def test_an_older_revision_than_the_last_applied_is_refused(
    bundle: bytes, key: Ed25519PrivateKey
) -> None:
    with pytest.raises(BundleError, match="is older than"):
        verify(bundle, key, last=Revision("b" * 40, REVISION.time + 1))
    assert verify(bundle, key, last=Revision("b" * 40, REVISION.time - 1)) == FILES


def bomb(inflated: int) -> bytes:
    """A gzip'd tar of a few KB whose one pax header inflates to ``inflated``
    bytes (tarfile reads a pax header whole, before any member's size)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("inventory.yaml")
        info.pax_headers = {"comment": "x" * inflated}
        info.size = len(FILES["inventory.yaml"])
        tar.addfile(info, io.BytesIO(FILES["inventory.yaml"]))
    return out.getvalue()


def peak_memory(call: Callable[[], object]) -> tuple[object, int]:
    """What ``call`` returned or raised, and the most memory it held at once."""
    tracemalloc.start()
    try:
        try:
            outcome: object = call()
        except BundleError as exc:
            outcome = exc
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_small_bundle_that_inflates_past_the_limit_is_refused_before_it_is_inflated(
    monkeypatch: pytest.MonkeyPatch, key: Ed25519PrivateKey
) -> None:
    # a tampered download of a few KB would otherwise make root's converge
    # hold gigabytes (the OOM killer then picks a process on the host)
    monkeypatch.setattr(bundle_module, "MAX_BYTES", 1024 * 1024)
    data = bomb(32 * 1024 * 1024)
    assert len(data) < 64 * 1024
    refused, peak = peak_memory(lambda: verify(data, key))
    assert isinstance(refused, BundleError)
    assert "unpacks to more than" in str(refused) and "b.tgz" in str(refused)
    assert peak < 8 * 1024 * 1024


def test_a_bundle_of_more_members_than_the_limit_is_refused(
    monkeypatch: pytest.MonkeyPatch, key: Ed25519PrivateKey
) -> None:
    monkeypatch.setattr(bundle_module, "MAX_MEMBERS", 100)
    folders = []
    for number in range(150):
        info = tarfile.TarInfo(f"d{number}")
        info.type = tarfile.DIRTYPE
        folders.append(info)
    with pytest.raises(BundleError, match="more than 100 members"):
        verify(retar(make_bundle(FILES, REVISION, key), {}, folders), key)


def test_a_bundle_file_larger_than_the_limit_is_not_read_whole(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(bundle_module, "MAX_BYTES", 1024 * 1024)
    path = tmp_path / "b.tgz"
    with path.open("wb") as handle:
        handle.truncate(32 * 1024 * 1024)  # sparse: what a download that never ends leaves
    refused, peak = peak_memory(lambda: read_bundle(path))
    assert isinstance(refused, BundleError) and "larger than" in str(refused)
    assert str(path) in str(refused)
    assert peak < 8 * 1024 * 1024


def test_a_bundle_path_that_is_not_a_regular_file_is_refused_without_reading_it() -> None:
    with pytest.raises(BundleError, match="not a regular file"):
        read_bundle(Path("/dev/zero"))


def test_a_bundle_compressed_in_several_gzip_members_still_verifies(
    bundle: bytes, key: Ed25519PrivateKey
) -> None:
    tar = gzip.decompress(bundle)
    half = len(tar) // 2
    recompressed = gzip.compress(tar[:half]) + gzip.compress(tar[half:])
    assert verify(recompressed, key) == FILES


def test_trusted_keys_must_be_ed25519_public_keys_and_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "trusted"
    path.write_text("# comment\n\nssh-rsa AAAAB3NzaC1yc2E= x\n")
    with pytest.raises(BundleError) as bad:
        load_trusted_keys(path)
    assert bad.value.line == 3
    path.write_text("# nothing\n")
    with pytest.raises(BundleError, match="no trusted key"):
        load_trusted_keys(path)


@pytest.mark.parametrize(
    ("tamper", "said"),
    [
        ("member", "does not match the manifest's sha256"),
        ("unsigned", "not signed"),
        ("stranger", "not from a key this host trusts"),
        ("traversal", "outside the repo"),
    ],
)
def test_converge_refuses_a_bad_bundle_before_anything_is_unpacked(
    tmp_path: Path, key: Ed25519PrivateKey, bundle: bytes, tamper: str, said: str
) -> None:
    bad = {
        "member": lambda: retar(bundle, {"inventory.yaml": b"hosts: {evil: {}}\n"}),
        "unsigned": lambda: retar(bundle, {SIGNATURE: None}),
        "stranger": lambda: make_bundle(FILES, REVISION, Ed25519PrivateKey.generate()),
        "traversal": lambda: retar(bundle, {"profiles/../../../tmp/x": b"x"}),
    }[tamper]()
    path = tmp_path / "b.tgz"
    path.write_bytes(bad)
    paths = PullPaths(state_dir=tmp_path / "state", textfile_dir=tmp_path / "textfile")
    source = BundleSource(path, trusted_file(tmp_path / "trusted", key))
    result = converge(source, "ci-01", paths=paths, now=lambda: 1_800_000_000.0)
    assert result.exit_code == ExitCode.ERROR
    assert said in result.message
    assert str(path) in result.message
    written = sorted(p.name for p in (tmp_path / "state").rglob("*"))
    # nothing unpacked, no temporary folder left: the lock and what the run did
    assert written == ["converge-status.json", "converge.lock"]
    assert not (tmp_path / "tmp").exists()
    assert "fleetcfg_converge_exit_code 1" in (tmp_path / "textfile" / "fleetcfg.prom").read_text()


def test_fleetcfg_bundle_writes_a_bundle_the_trusted_key_verifies(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    inv = repo(tmp_path)
    out = tmp_path / "repo.bundle"
    sign = private_key_file(tmp_path / "id_ed25519", key)
    result = runner.invoke(
        app, ["bundle", "-i", str(inv), "-o", str(out), "--sign-key", str(sign)], env=ENV
    )
    assert result.exit_code == 0, result.stderr
    assert "wrote" in result.stderr and "3 files" in result.stderr
    files = verify_bundle(
        out.read_bytes(),
        load_trusted_keys(trusted_file(tmp_path / "t", key)),
        last=None,
        source="x",
    ).files
    assert sorted(files) == ["inventory.yaml", "profiles/base.yaml.j2", "profiles/client.json.j2"]
    assert files["inventory.yaml"] == inv.read_bytes()


def test_fleetcfg_bundle_refuses_a_key_that_is_not_ed25519(tmp_path: Path) -> None:
    inv = repo(tmp_path)
    sign = tmp_path / "not-a-key"
    sign.write_text("hello\n")
    result = runner.invoke(
        app, ["bundle", "-i", str(inv), "-o", str(tmp_path / "b"), "--sign-key", str(sign)], env=ENV
    )
    assert result.exit_code == 1
    assert "Ed25519" in result.stderr and str(sign) in result.stderr
    assert not (tmp_path / "b").exists()


# --------------------------------------------------------------------------
# the repo files the hosts read travel in the bundle


def registry_repo(tmp_path: Path, key_line: str, profile: str = "debug: true\n") -> Path:
    inventory = corp_registry_inventory(
        "client_cert_file: certs/client.cert", key_line, header="secrets: {env: [REGISTRY_KEY]}\n"
    )
    inv = write_repo(tmp_path / "repo", inventory, {"base.yaml.j2": profile})
    write_corp_certs(tmp_path / "repo")
    return inv


def bundle_cli(tmp_path: Path, inv: Path, *extra: str) -> tuple[int, str, Path]:
    out = tmp_path / "repo.bundle"
    sign = private_key_file(tmp_path / "id_ed25519", Ed25519PrivateKey.generate())
    result = runner.invoke(
        app,
        ["bundle", "-i", str(inv), "-o", str(out), "--sign-key", str(sign), *extra],
        env={"NO_COLOR": "1", "COLUMNS": "200"},
    )
    return result.exit_code, result.stderr, out


def bundled(out: Path) -> dict[str, bytes]:
    return {k: v for k, v in members(out.read_bytes()).items() if k not in (MANIFEST, SIGNATURE)}


def test_the_bundle_carries_the_certificates_the_inventory_names_with_their_sha256(
    tmp_path: Path,
) -> None:
    inv = registry_repo(tmp_path, "client_key_env: REGISTRY_KEY")
    code, err, out = bundle_cli(tmp_path, inv)
    assert code == 0, err
    files = bundled(out)
    assert sorted(files) == [
        "certs/client.cert",
        "certs/corp-ca.pem",
        "inventory.yaml",
        "profiles/base.yaml.j2",
    ]
    assert files["certs/corp-ca.pem"].decode() == CA.cert_pem
    manifest = json.loads(members(out.read_bytes())[MANIFEST])
    assert (
        manifest["files"]["certs/corp-ca.pem"]["sha256"]
        == hashlib.sha256(CA.cert_pem.encode()).hexdigest()
    )
    assert "certs/client.key" not in files  # on disk, but no host reads it
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_a_missing_certificate_is_refused_at_bundle_time_with_the_file_and_inventory_line(
    tmp_path: Path,
) -> None:
    inv = registry_repo(tmp_path, "client_key_env: REGISTRY_KEY")
    (tmp_path / "repo/certs/corp-ca.pem").unlink()
    code, err, out = bundle_cli(tmp_path, inv)
    assert code == 1
    line = line_of(inv, "ca_file: certs/corp-ca.pem")
    assert f"{inv}:{line}" in err
    assert "certs/corp-ca.pem not found" in err and "ci-01" in err
    assert "nothing was written" in err
    assert not out.exists()


def test_a_certificate_outside_the_repo_is_refused_at_bundle_time(tmp_path: Path) -> None:
    inv = registry_repo(tmp_path, "client_key_env: REGISTRY_KEY")
    outside = tmp_path / "elsewhere.pem"
    outside.write_text(CA.cert_pem)
    (tmp_path / "repo/certs/corp-ca.pem").unlink()
    (tmp_path / "repo/certs/corp-ca.pem").symlink_to(outside)
    code, err, out = bundle_cli(tmp_path, inv)
    assert code == 1
    assert "leads outside the repo" in err
    assert f"{inv}:{line_of(inv, 'ca_file:')}" in err
    assert not out.exists()


def test_a_client_key_file_is_refused_unless_include_secrets_naming_the_file_and_line(
    tmp_path: Path,
) -> None:
    inv = registry_repo(tmp_path, "client_key_file: certs/client.key")
    code, err, out = bundle_cli(tmp_path, inv)
    assert code == 1
    assert f"{inv}:{line_of(inv, 'client_key_file:')}" in err
    assert "client_key_file: certs/client.key is a secret" in err
    assert "--include-secrets" in err and "client_key_env" in err
    assert CLIENT.key_pem.splitlines()[1] not in err
    assert not out.exists()

    code, err, out = bundle_cli(tmp_path, inv, "--include-secrets")
    assert code == 0, err
    assert "carries secrets in clear (certs/client.key)" in err
    assert bundled(out)["certs/client.key"].decode() == CLIENT.key_pem
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_a_file_lookup_in_a_profile_is_refused_unless_include_secrets_at_the_template_line(
    tmp_path: Path,
) -> None:
    profile = "labels: [\"token={{ file('secrets/token') }}\"]\n"
    inv = registry_repo(tmp_path, "client_key_env: REGISTRY_KEY", profile)
    (tmp_path / "repo/secrets").mkdir()
    (tmp_path / "repo/secrets/token").write_text("t0ken-value\n")
    code, err, out = bundle_cli(tmp_path, inv)
    assert code == 1
    assert "base.yaml.j2:1" in err and "secrets/token is a secret" in err
    assert "t0ken-value" not in err
    code, err, out = bundle_cli(tmp_path, inv, "--include-secrets")
    assert code == 0, err
    assert bundled(out)["secrets/token"] == b"t0ken-value\n"


def test_converge_from_a_bundle_reads_the_carried_certificate(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    inv = registry_repo(tmp_path, "client_key_env: REGISTRY_KEY")
    code, err, out = bundle_cli(tmp_path, inv)
    assert code == 0, err
    raw = out.read_bytes()
    signer = json.loads(members(raw)[SIGNATURE])["key"]
    trusted = tmp_path / "trusted"
    trusted.write_text(signer + "\n")
    verified = verify_bundle(raw, load_trusted_keys(trusted), last=None, source="b")
    root = tmp_path / "unpacked"
    root.mkdir()
    inventory = load_inventory(unpack(verified, root))
    refs = repo_references(inventory)
    assert refs.problems == ()
    assert sorted(refs.files) == ["certs/client.cert", "certs/corp-ca.pem"]


def test_outside_git_the_bundle_revision_changes_with_a_certificate_the_hosts_read(
    tmp_path: Path,
) -> None:
    inv = registry_repo(tmp_path, "client_key_env: REGISTRY_KEY")

    def revision() -> str:
        code, err, out = bundle_cli(tmp_path, inv)
        assert code == 0, err
        commit: str = json.loads(members(out.read_bytes())[MANIFEST])["revision"]["commit"]
        return commit

    before = revision()
    assert before.startswith("sha256:") and revision() == before
    (tmp_path / "repo/certs/corp-ca.pem").write_text(make_ca("Corp Root CA 2027").cert_pem)
    assert revision() != before
