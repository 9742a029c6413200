"""converge runs as root and writes what its source says to /etc/docker: a
source that anyone but root may change is refused (host.source_trust),
like sshd's StrictModes."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from fleetcfg.apply.converge import BundleSource, converge
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.host.git_source import GitSource
from fleetcfg.host.pull import PullPaths
from fleetcfg.host.source_trust import foreign_control
from fleetcfg.inventory import load_inventory
from tests.unit.image.test_git_source import checkout, git
from tests.unit.inventory.repo import write_repo

__all__ = ["checkout"]  # the fixture


def paths_in(tmp_path: Path) -> PullPaths:
    return PullPaths(state_dir=tmp_path / "state", textfile_dir=tmp_path / "textfile")


def test_a_git_config_others_may_write_is_refused_before_git_runs(
    checkout: Path, tmp_path: Path
) -> None:
    # the attack: a host user who may write .git/config sets the remote's
    # upload-pack; converge --ref runs git fetch as root, which runs it
    marker = tmp_path / "ran-as-root"
    pack = f"sh -c 'touch {shlex.quote(str(marker))}; exec git-upload-pack \"$@\"' upload-pack"
    git(checkout, "config", "remote.origin.uploadpack", pack)
    (checkout / ".git" / "config").chmod(0o666)
    source = GitSource(checkout / "fleet/inventory.yaml", "origin/main")
    result = converge(source, "ci-01", paths=paths_in(tmp_path))
    assert result.exit_code == ExitCode.ERROR
    assert "refusing to converge from the checkout" in result.message
    assert ".git/config is writable by group and others (mode 0666)" in result.message
    assert not marker.exists()


def test_a_checkout_a_user_owns_or_may_write_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "srv" / "fleet"
    path = write_repo(repo, "hosts: {ci-01: {address: 10.0.0.1}}\n", {"base.yaml": "debug: true\n"})
    inventory = load_inventory(path)
    (repo / "profiles").chmod(0o775)
    result = converge(inventory, "ci-01", paths=paths_in(tmp_path))
    assert result.exit_code == ExitCode.ERROR
    assert "profiles is writable by its group (mode 0775)" in result.message
    (repo / "profiles").chmod(0o755)
    os.chown(repo / "profiles" / "base.yaml", 65534, 65534)
    assert foreign_control(repo) == f"{repo}/profiles/base.yaml belongs to uid 65534"


def test_the_folders_above_count_and_a_sticky_one_is_fine(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    (shared / "fleet").mkdir(parents=True)
    shared.chmod(0o777)
    assert (
        foreign_control(shared / "fleet") == f"{shared} is writable by group and others (mode 0777)"
    )
    shared.chmod(0o1777)  # like /tmp: others cannot replace the checkout in it
    assert foreign_control(shared / "fleet") is None
    # a root-owned link to a folder a user owns: where it leads counts
    os.chown(shared / "fleet", 65534, 65534)
    (tmp_path / "link").symlink_to(shared / "fleet")
    assert foreign_control(tmp_path / "link") == f"{shared}/fleet belongs to uid 65534"


def test_trusted_keys_others_may_write_are_refused(tmp_path: Path) -> None:
    keys = tmp_path / "trusted"
    keys.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC2 ops\n")
    keys.chmod(0o646)
    source = BundleSource(tmp_path / "bundle.tgz", keys)
    result = converge(source, "ci-01", paths=paths_in(tmp_path))
    assert result.exit_code == ExitCode.ERROR
    assert "refusing to converge from the trusted keys" in result.message


@pytest.mark.parametrize("mode", [0o755, 0o700, 0o1755])
def test_a_root_checkout_is_accepted(tmp_path: Path, mode: int) -> None:
    repo = tmp_path / "fleet"
    write_repo(repo, "hosts: {}\n", {"base.yaml": "debug: true\n"})
    repo.chmod(mode)
    assert foreign_control(repo) is None


def test_install_timer_refuses_a_checkout_others_may_write(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fleetcfg.cli.app import app

    repo = tmp_path / "srv" / "fleet"
    inventory = write_repo(repo, "hosts: {ci-01: {address: 10.0.0.1}}\n", {"base.yaml": "{}\n"})
    repo.chmod(0o777)
    units = tmp_path / "systemd"
    args = ["converge", "-i", str(inventory), "--as", "ci-01", "--install-timer"]
    result = CliRunner().invoke(app, [*args, "--systemd-dir", str(units)])
    assert result.exit_code == 1, result.output
    assert "refusing to converge from the checkout" in result.stderr
    assert not units.exists()
