"""manage: full vs keys for daemon.json; config.json merged per client user."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcfg.core.errors import UsageError
from fleetcfg.inventory import load_inventory
from fleetcfg.render import Renderer
from tests.unit.inventory.repo import write_repo

INVENTORY = """
defaults:
  daemon_profile: base
  client_profile: client
groups:
  gpu:
    manage: keys
    hosts:
      gpu-01: {address: 10.0.0.1}
hosts:
  web-01: {address: 10.0.0.2}
  dev-01: {address: 10.0.0.3, client_users: [root, alice]}
"""

PROFILES = {
    "base.yaml.j2": "live-restore: true\nlog-level: info\ndebug: null\n",
    "client.yaml.j2": """
    detachKeys: "ctrl-e,e"
    credHelpers: {registry.internal: pass}
    psFormat: "table {{ '{{' }}.Names{{ '}}' }} ({{ user }})"
    """,
}

ON_HOST = {
    "live-restore": False,
    "debug": True,
    "runtimes": {"nvidia": {"path": "nvidia-container-runtime"}},
}


@pytest.fixture
def renderer(tmp_path: Path) -> Renderer:
    return Renderer(load_inventory(write_repo(tmp_path, INVENTORY, PROFILES)))


def test_manage_full_replaces_the_whole_file(renderer: Renderer) -> None:
    rendered = renderer.render("web-01")
    assert rendered.manage == "full"
    assert rendered.desired(ON_HOST) == {"live-restore": True, "log-level": "info"}


def test_manage_keys_keeps_keys_other_tools_wrote(renderer: Renderer) -> None:
    rendered = renderer.render("gpu-01")
    assert rendered.manage == "keys"
    assert rendered.desired(ON_HOST) == {
        "live-restore": True,
        "log-level": "info",
        "runtimes": {"nvidia": {"path": "nvidia-container-runtime"}},
    }
    assert rendered.managed_keys() == {"live-restore", "log-level", "debug"}


def test_a_null_key_is_removed_from_the_host_under_manage_keys(renderer: Renderer) -> None:
    rendered = renderer.render("gpu-01")
    assert rendered.removed_keys == ("debug",)
    assert "debug" not in rendered.desired(ON_HOST)


def test_a_missing_file_becomes_the_target(renderer: Renderer) -> None:
    assert renderer.render("gpu-01").desired(None) == {"live-restore": True, "log-level": "info"}


def test_client_config_is_rendered_for_root_by_default(renderer: Renderer) -> None:
    rendered = renderer.render("web-01", "client")
    assert (rendered.user, rendered.path) == ("root", "/root/.docker/config.json")
    assert rendered.to_json_dict()["psFormat"] == "table {{.Names}} (root)"


def test_client_config_is_rendered_per_listed_user(renderer: Renderer) -> None:
    rendered = renderer.render("dev-01", "client", "alice")
    assert rendered.path == "/home/alice/.docker/config.json"
    assert rendered.to_json_dict()["psFormat"].endswith("(alice)")


def test_a_user_not_in_client_users_is_a_usage_error(renderer: Renderer) -> None:
    with pytest.raises(UsageError, match="client_users: root"):
        renderer.render("web-01", "client", "alice")


def test_client_merge_never_removes_credentials(renderer: Renderer) -> None:
    rendered = renderer.render("dev-01", "client", "alice")
    assert rendered.manage == "merge"
    current = {
        "auths": {"registry.internal": {"auth": "YWxpY2U6cHc="}},
        "credsStore": "desktop",
        "credHelpers": {"ghcr.io": "gh"},
        "currentContext": "work",
    }
    desired = rendered.desired(current)
    assert desired["auths"] == current["auths"]
    assert desired["credsStore"] == "desktop"
    assert desired["credHelpers"] == {"ghcr.io": "gh", "registry.internal": "pass"}
    assert desired["currentContext"] == "work"
    assert desired["detachKeys"] == "ctrl-e,e"


def test_auths_are_never_printed(tmp_path: Path) -> None:
    profiles = {**PROFILES, "client.yaml.j2": 'auths: {"r.internal": {auth: "c2VjcmV0"}}\n'}
    renderer = Renderer(load_inventory(write_repo(tmp_path, INVENTORY, profiles)))
    assert "c2VjcmV0" not in renderer.render("web-01", "client").canonical_json()


def test_user_only_applies_to_client_configs(renderer: Renderer) -> None:
    with pytest.raises(UsageError, match="--kind client"):
        renderer.render("web-01", "daemon", "root")
