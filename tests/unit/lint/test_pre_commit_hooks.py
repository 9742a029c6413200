""".pre-commit-hooks.yaml lets another repo run fleetcfg lint as a hook."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest

from fleetcfg.core.yamlsource import load_yaml

ROOT = Path(__file__).resolve().parents[3]


def hooks() -> dict[str, dict[str, Any]]:
    path = ROOT / ".pre-commit-hooks.yaml"
    data = load_yaml(path.read_text(), str(path)).data
    assert isinstance(data, list)
    return {hook["id"]: hook for hook in data}


def test_every_hook_has_what_pre_commit_requires() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for hook in hooks().values():
        assert {"id", "name", "entry", "language"} <= set(hook)
        assert hook["language"] == "python"  # pre-commit pip-installs this repo
        assert shlex.split(hook["entry"])[0] in scripts


def test_the_repo_lint_runs_once_without_file_names() -> None:
    hook = hooks()["fleetcfg-lint"]
    assert hook["pass_filenames"] is False
    assert shlex.split(hook["entry"]) == ["fleetcfg", "lint"]


@pytest.mark.parametrize(
    ("path", "triggers"),
    [
        ("inventory.yaml", True),
        ("profiles/base.yaml.j2", True),
        ("infra/docker/profiles/ci.yaml.j2", True),
        ("infra/docker/inventory.yaml", True),
        ("README.md", False),
        ("my-inventory.yaml.bak", False),
    ],
)
def test_the_repo_lint_runs_when_the_inventory_or_a_profile_changes(
    path: str, triggers: bool
) -> None:
    assert bool(re.search(hooks()["fleetcfg-lint"]["files"], path)) is triggers


def test_the_file_hook_gets_daemon_json_files() -> None:
    hook = hooks()["fleetcfg-lint-daemon-json"]
    assert hook.get("pass_filenames", True) is True
    assert re.search(hook["files"], "hosts/web/daemon.json")
    assert not re.search(hook["files"], "daemon.json.bak")
