"""`fleetcfg converge` run on a fleet host by itself (over ssh, inside the host's
own /etc/docker, /root and shims), through the local transport and the apply
pipeline: the done-when of issue 15 that needs no bundle."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client.parser import text_string_to_metric_families

from tests.fleet import Fleet, FleetHost
from tests.fleet.repo import write_repo_of
from tests.pki import REGISTRY_FOLDER, make_ca
from tests.unit.image.test_bundle import private_key_file, retar, trusted_file

pytestmark = pytest.mark.e2e

FLEETCFG = str(Path(sys.executable).parent / "fleetcfg")
DAEMON_JSON = "/etc/docker/daemon.json"
METRICS = "/root/textfile"
PROFILE = """
registry-mirrors: ["{{ mirror | default('https://mirror.corp.example.com') }}"]
log-opts: {max-size: "{{ log_max_size | default('20m') }}"}
"""


PRIVATE = ("/root", "/home", "/etc/docker", "/usr/local/sbin")


@contextlib.contextmanager
def runs_fleetcfg(host: FleetHost) -> Iterator[FleetHost]:
    """``host`` able to run this checkout's fleetcfg: when the venv's base
    Python lives in a folder private to each host (pyenv under /root), it is
    bind-mounted there read-only meanwhile."""
    base = Path(sys.base_prefix)
    if not str(base).startswith(PRIVATE):
        yield host
        return
    target = host.path(str(base))
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "--bind", str(base), str(target)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)
        yield host
    finally:
        subprocess.run(["umount", "-l", str(target)], check=True)


@pytest.fixture
def host(fleet: Fleet) -> Iterator[FleetHost]:
    """The first fleet host, able to run this checkout's fleetcfg."""
    with runs_fleetcfg(fleet.hosts[0]) as host:
        yield host


def write_repo(
    root: Path, fleet: Fleet, host: FleetHost, profile: str = PROFILE, sections: str = ""
) -> Path:
    return write_repo_of(
        root,
        fleet,
        [host],
        profiles={"base.yaml.j2": profile},
        sections=sections,
    )


def converge(host: FleetHost, inventory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`fleetcfg converge` on the host itself (as root, its PATH has the shims)."""
    argv = [FLEETCFG, "converge", "-i", str(inventory), "--as", host.name]
    argv += ["--textfile-dir", METRICS, *args]
    return host.ssh(shlex.join(argv), timeout=300)


def metrics(host: FleetHost) -> dict[str, float]:
    text = host.read_file(f"{METRICS}/fleetcfg.prom")
    return {
        f.name: f.samples[0].value
        for f in text_string_to_metric_families(text)
        if f.name != "fleetcfg_converge_revision_info"
    }


def git(repo: Path, *args: str, when: int | None = None) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com")
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    if when is not None:
        env |= {"GIT_COMMITTER_DATE": f"{when} +0000", "GIT_AUTHOR_DATE": f"{when} +0000"}
    out = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_a_host_converges_then_has_nothing_to_do(
    fleet: Fleet, host: FleetHost, tmp_path: Path
) -> None:
    inventory = write_repo(tmp_path / "repo", fleet, host)
    first = converge(host, inventory)
    assert first.returncode == 2, first.stderr
    assert f"{host.name}: restart done (revision sha256:" in first.stderr
    assert '"max-size": "20m"' in host.read_file(DAEMON_JSON)
    assert host.running_config_sha256() is not None
    assert metrics(host)["fleetcfg_converge_exit_code"] == 2
    second = converge(host, inventory)
    assert second.returncode == 0, second.stderr
    assert "nothing to do" in second.stderr
    values = metrics(host)
    assert values["fleetcfg_converge_exit_code"] == 0
    assert values["fleetcfg_converge_last_success_timestamp_seconds"] > 0
    assert host.listdir("/root/textfile") == ["fleetcfg.prom"]  # written by rename only
    families = text_string_to_metric_families(host.read_file(f"{METRICS}/fleetcfg.prom"))
    [info] = [f for f in families if f.name == "fleetcfg_converge_revision_info"]
    assert info.samples[0].labels["revision"].startswith("sha256:")  # no git here


def test_a_disabled_host_does_nothing_and_says_who_and_why(
    fleet: Fleet, host: FleetHost, tmp_path: Path
) -> None:
    inventory = write_repo(tmp_path / "repo", fleet, host)
    off = host.ssh(shlex.join([FLEETCFG, "converge", "--disable", "INC-9 disk swap"]))
    assert off.returncode == 0, off.stderr
    result = converge(host, inventory)
    assert result.returncode == 4
    assert "disabled by root" in result.stderr
    assert "INC-9 disk swap" in result.stderr
    assert not host.exists(DAEMON_JSON)
    assert metrics(host)["fleetcfg_converge_disabled"] == 1


def test_a_config_that_fails_at_restart_is_rolled_back_by_converge(
    fleet: Fleet, host: FleetHost, tmp_path: Path
) -> None:
    inventory = write_repo(tmp_path / "repo", fleet, host)
    assert converge(host, inventory).returncode == 2
    before = host.read_bytes(DAEMON_JSON)
    inventory = write_repo(tmp_path / "repo", fleet, host, PROFILE.replace("'20m'", "'30m'"))
    host.fault_refuse_next_config()
    result = converge(host, inventory)
    assert result.returncode == 1, result.stderr
    assert "rolled back" in result.stderr
    assert host.read_bytes(DAEMON_JSON) == before
    assert host.unit_state() == "active"
    assert metrics(host)["fleetcfg_converge_exit_code"] == 1


def test_an_older_revision_than_the_last_applied_is_refused(
    fleet: Fleet, host: FleetHost, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    inventory = write_repo(repo, fleet, host)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "old", when=1_700_000_000)
    old = git(repo, "rev-parse", "HEAD")
    write_repo(repo, fleet, host, PROFILE.replace("'20m'", "'30m'"))
    git(repo, "commit", "-qam", "new", when=1_700_000_100)
    applied = converge(host, inventory)
    assert applied.returncode == 2
    assert f"(revision {git(repo, 'rev-parse', 'HEAD')[:19]})" in applied.stderr
    git(repo, "checkout", "-q", old)
    result = converge(host, inventory)
    assert result.returncode == 1
    assert "is older than" in result.stderr
    assert '"max-size": "30m"' in host.read_file(DAEMON_JSON)  # untouched


def test_a_second_converge_while_one_runs_exits_4(
    fleet: Fleet, host: FleetHost, tmp_path: Path
) -> None:
    inventory = write_repo(tmp_path / "repo", fleet, host)
    lock = host.path("/etc/docker/.fleetcfg/converge.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # the first converge, still running
        held.write("4242\n")
        held.flush()
        result = converge(host, inventory)
    assert result.returncode == 4
    assert "another fleetcfg converge runs on this host (pid 4242" in result.stderr
    assert not host.exists(DAEMON_JSON)
    assert metrics(host)["fleetcfg_converge_exit_code"] == 4


def test_a_restart_outside_the_maintenance_window_waits_and_is_reported_pending(
    fleet: Fleet, host: FleetHost, tmp_path: Path
) -> None:
    start = datetime.now(UTC) + timedelta(hours=2)  # a window that is not now
    window = f"{start:%H}:00-{start + timedelta(hours=1):%H}:00"
    inventory = write_repo(
        tmp_path / "repo", fleet, host, sections=f'rollout: {{maintenance_window: "{window}"}}\n'
    )
    deferred = converge(host, inventory)
    assert deferred.returncode == 0, deferred.stderr
    assert f"deferred to the maintenance window {window} UTC" in deferred.stderr
    assert not host.exists(DAEMON_JSON)
    assert metrics(host)["fleetcfg_converge_restart_pending"] == 1
    inventory = write_repo(tmp_path / "repo", fleet, host)  # no window: restarts now
    applied = converge(host, inventory)
    assert applied.returncode == 2, applied.stderr
    assert metrics(host)["fleetcfg_converge_restart_pending"] == 0


def test_a_host_outside_the_canary_set_waits_for_the_converge_delay(
    fleet: Fleet, host: FleetHost, tmp_path: Path
) -> None:
    sections = "rollout: {canary_percent: 0, converge_delay: 1h}\n"
    inventory = write_repo(tmp_path / "repo", fleet, host, sections=sections)
    waiting = converge(host, inventory)
    assert waiting.returncode == 0, waiting.stderr
    assert "is outside the canary set (0% of hosts)" in waiting.stderr
    assert not host.exists(DAEMON_JSON)
    seen = host.read_file("/etc/docker/.fleetcfg/converge-seen.json")
    assert "sha256:" in seen  # the first sight of this revision, counted from


def test_a_host_converges_from_a_signed_bundle_and_a_tampered_one_is_refused_before_unpacking(
    fleet: Fleet, host: FleetHost, tmp_path: Path
) -> None:
    inventory = write_repo(tmp_path / "repo", fleet, host)
    key = Ed25519PrivateKey.generate()
    sign = private_key_file(tmp_path / "id_ed25519", key)
    trusted = trusted_file(tmp_path / "trusted-keys", key)
    good = tmp_path / "repo.bundle"
    made = subprocess.run(
        [FLEETCFG, "bundle", "-i", str(inventory), "-o", str(good), "--sign-key", str(sign)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    tampered = tmp_path / "tampered.bundle"
    profile = PROFILE.replace("'20m'", "'99m'").encode()
    tampered.write_bytes(retar(good.read_bytes(), {"profiles/base.yaml.j2": profile}))

    def from_bundle(path: Path) -> subprocess.CompletedProcess[str]:
        argv = [FLEETCFG, "converge", "--bundle", str(path), "--trusted-keys", str(trusted)]
        argv += ["--as", host.name, "--textfile-dir", METRICS]
        return host.ssh(shlex.join(argv), timeout=300)

    refused = from_bundle(tampered)
    assert refused.returncode == 1, refused.stderr
    assert "does not match the manifest's sha256" in refused.stderr
    assert not host.exists(DAEMON_JSON)
    # nothing unpacked: the lock and the record of this run only
    assert host.listdir("/etc/docker/.fleetcfg") == ["converge-status.json", "converge.lock"]
    applied = from_bundle(good)
    assert applied.returncode == 2, applied.stderr
    assert '"max-size": "20m"' in host.read_file(DAEMON_JSON)
    assert not [n for n in host.listdir("/etc/docker/.fleetcfg") if n.startswith("bundle.")]


def test_a_host_with_a_registry_ca_converges_from_a_bundle_and_gets_certs_d(
    fleet: Fleet, host: FleetHost, tmp_path: Path
) -> None:
    inventory = write_repo_of(
        tmp_path / "repo",
        fleet,
        [host],
        profiles={"base.yaml.j2": PROFILE},
        defaults="registries:\n  corp:\n    host: registry.corp.example.com\n"
        "    port: 5000\n    ca_file: certs/ca.pem\n",
    )
    key = Ed25519PrivateKey.generate()
    sign = private_key_file(tmp_path / "id_ed25519", key)
    trusted = trusted_file(tmp_path / "trusted-keys", key)
    out = tmp_path / "repo.bundle"
    argv = [FLEETCFG, "bundle", "-i", str(inventory), "-o", str(out), "--sign-key", str(sign)]

    def bundle() -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, capture_output=True, text=True, check=False)

    missing = bundle()  # certs/ca.pem is not written yet
    assert missing.returncode == 1
    line = next(n for n, t in enumerate(inventory.read_text().splitlines(), 1) if "ca_file" in t)
    assert f"{inventory}:{line}" in missing.stderr
    assert "certs/ca.pem not found" in missing.stderr
    assert not out.exists()

    ca = make_ca("Corp Root CA")
    (tmp_path / "repo/certs").mkdir()
    (tmp_path / "repo/certs/ca.pem").write_text(ca.cert_pem)
    made = bundle()
    assert made.returncode == 0, made.stderr
    shutil.rmtree(tmp_path / "repo")  # the host has the bundle, nothing else
    argv = [FLEETCFG, "converge", "--bundle", str(out), "--trusted-keys", str(trusted)]
    argv += ["--as", host.name, "--textfile-dir", METRICS]
    applied = host.ssh(shlex.join(argv), timeout=300)
    assert applied.returncode == 2, applied.stderr
    assert host.read_file(f"{REGISTRY_FOLDER}/ca.crt") == ca.cert_pem
    assert '"max-size": "20m"' in host.read_file(DAEMON_JSON)


def test_a_host_converges_from_a_git_ref_fetched_without_touching_the_checkout(
    fleet: Fleet, host: FleetHost, tmp_path: Path
) -> None:
    origin, dev, checkout = tmp_path / "origin.git", tmp_path / "dev", tmp_path / "checkout"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(tmp_path, "clone", "-q", str(origin), str(checkout))  # the host's checkout: empty
    git(tmp_path, "clone", "-q", str(origin), str(dev))
    write_repo(dev, fleet, host)
    git(dev, "add", "-A")
    git(dev, "commit", "-qm", "v1", when=1_700_000_000)
    v1 = git(dev, "rev-parse", "HEAD")
    git(dev, "push", "-q", "origin", "HEAD:main")

    def from_ref(*args: str) -> subprocess.CompletedProcess[str]:
        return converge(host, checkout / "inventory.yaml", "--ref", "origin/main", *args)

    first = from_ref()
    assert first.returncode == 2, first.stderr
    assert f"(revision {v1[:19]})" in first.stderr
    assert '"max-size": "20m"' in host.read_file(DAEMON_JSON)
    assert not (checkout / "inventory.yaml").exists()  # the working tree is not touched

    write_repo(dev, fleet, host, PROFILE.replace("'20m'", "'30m'"))
    git(dev, "commit", "-qam", "v2", when=1_700_000_100)
    git(dev, "push", "-q", "origin", "HEAD:main")
    assert from_ref("--no-fetch").returncode == 0  # not fetched: still v1
    assert from_ref().returncode == 2
    assert '"max-size": "30m"' in host.read_file(DAEMON_JSON)

    git(dev, "push", "-q", "--force", "origin", f"{v1}:main")  # history rewritten to v1
    refused = from_ref()
    assert refused.returncode == 1
    assert "is older than" in refused.stderr
    assert '"max-size": "30m"' in host.read_file(DAEMON_JSON)
    unknown = converge(host, checkout / "inventory.yaml", "--ref", "origin/nope")
    assert unknown.returncode == 1
    assert "origin/nope is not a commit of" in unknown.stderr
    assert not [n for n in host.listdir("/etc/docker/.fleetcfg") if n.startswith("ref.")]
