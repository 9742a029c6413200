"""`fleetcfg converge --ref`: a git ref of the checkout, fetched, resolved to a
commit and its time, and exported without touching the working tree."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fleetcfg.apply.converge import converge
from fleetcfg.core.errors import UsageError
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.host.git_source import GitSource, GitSourceError, export, resolve
from fleetcfg.host.pull import PullPaths, record_last


def git(repo: Path, *args: str, when: int = 1_700_000_000) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com")
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    env |= {"GIT_COMMITTER_DATE": f"{when} +0000", "GIT_AUTHOR_DATE": f"{when} +0000"}
    out = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A clone of an origin that has one commit; the clone's working tree is
    from before it (empty)."""
    origin, dev, clone = tmp_path / "origin.git", tmp_path / "dev", tmp_path / "checkout"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    git(tmp_path, "clone", "-q", str(origin), str(dev))
    (dev / "fleet/profiles").mkdir(parents=True)
    (dev / "fleet/inventory.yaml").write_text("hosts: {ci-01: {address: 10.0.0.1}}\n")
    (dev / "fleet/profiles/base.yaml").write_text("live-restore: true\n")
    git(dev, "add", "-A")
    git(dev, "commit", "-qm", "v1")
    git(dev, "push", "-q", "origin", "HEAD:main")
    return clone


def test_a_ref_is_fetched_resolved_and_exported_outside_the_working_tree(
    checkout: Path, tmp_path: Path
) -> None:
    source = GitSource(checkout / "fleet/inventory.yaml", "origin/main")
    top, inventory, revision = resolve(source)
    assert top == checkout.resolve()
    assert inventory == Path("fleet/inventory.yaml")
    assert revision.time == 1_700_000_000
    assert len(revision.commit) == 40
    export(top, revision.commit, tmp_path / "out")
    assert (tmp_path / "out/fleet/profiles/base.yaml").read_text() == "live-restore: true\n"
    assert not (checkout / "fleet").exists()


def test_without_fetch_the_ref_is_what_the_checkout_already_has(checkout: Path) -> None:
    with pytest.raises(GitSourceError, match=r"origin/main is not a commit of .*checkout$"):
        resolve(GitSource(checkout / "fleet/inventory.yaml", "origin/main", fetch=False))


@pytest.mark.parametrize("ref", ["-oops", "", "main; rm", "--upload-pack=x"])
def test_a_ref_that_could_be_an_option_is_a_usage_error(ref: str) -> None:
    with pytest.raises(UsageError, match="is not a git ref"):
        GitSource(Path("inventory.yaml"), ref)


def test_an_older_ref_than_the_last_applied_is_refused_before_it_is_exported(
    checkout: Path, tmp_path: Path
) -> None:
    paths = PullPaths(state_dir=tmp_path / "state", textfile_dir=tmp_path / "textfile")
    record_last(paths, {"revision": "f" * 40, "revision_time": 1_800_000_000})
    source = GitSource(checkout / "fleet/inventory.yaml", "origin/main")
    result = converge(source, "ci-01", paths=paths, now=lambda: 1_800_000_100.0)
    assert result.exit_code == ExitCode.ERROR
    assert "is older than ffffffffffff" in result.message
    assert not [p for p in (tmp_path / "state").iterdir() if p.name.startswith("ref.")]


def test_a_folder_outside_git_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    paths = PullPaths(state_dir=tmp_path / "state", textfile_dir=tmp_path / "textfile")
    source = GitSource(tmp_path / "plain/inventory.yaml", "origin/main")
    result = converge(source, "ci-01", paths=paths)
    assert result.exit_code == ExitCode.ERROR
    assert f"git rev-parse --show-toplevel failed in {tmp_path}/plain" in result.message
