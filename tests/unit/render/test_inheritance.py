"""x-fleetcfg: extends chains, list replace vs append, null, cycles."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcfg.core.errors import TemplateError
from fleetcfg.inventory import load_inventory
from fleetcfg.render import Renderer
from tests.unit.inventory.repo import line_of, write_repo

INVENTORY = """
defaults:
  daemon_profile: ci
  vars: {mirror: https://mirror.internal}
hosts:
  ci-01: {address: 10.0.0.1}
"""

BASE = """
registry-mirrors:
  - {{ mirror }}
log-driver: json-file
log-opts:
  max-size: 50m
  max-file: "5"
live-restore: true
dns: [10.0.0.53]
"""


def render(tmp_path: Path, profiles: dict[str, str]) -> dict[str, object]:
    path = write_repo(tmp_path, INVENTORY, profiles)
    rendered = Renderer(load_inventory(path)).render("ci-01")
    assert rendered.ok, rendered.findings
    return rendered.to_json_dict()


def render_error(tmp_path: Path, profiles: dict[str, str]) -> tuple[TemplateError, Path]:
    path = write_repo(tmp_path, INVENTORY, profiles)
    with pytest.raises(TemplateError) as caught:
        Renderer(load_inventory(path)).render("ci-01")
    return caught.value, path


def test_a_child_is_its_parent_plus_its_own_keys(tmp_path: Path) -> None:
    data = render(
        tmp_path,
        {
            "base.yaml.j2": BASE,
            "ci.yaml.j2": "x-fleetcfg: {extends: base}\nmax-concurrent-downloads: 10\n",
        },
    )
    assert data["max-concurrent-downloads"] == 10
    assert data["log-driver"] == "json-file"
    assert "x-fleetcfg" not in data


def test_mappings_merge_and_lists_are_replaced_by_default(tmp_path: Path) -> None:
    data = render(
        tmp_path,
        {
            "base.yaml.j2": BASE,
            "ci.yaml.j2": """
            x-fleetcfg: {extends: base}
            log-opts: {max-size: 20m}
            registry-mirrors: [https://ci-cache.internal]
            """,
        },
    )
    assert data["log-opts"] == {"max-size": "20m", "max-file": "5"}
    assert data["registry-mirrors"] == ["https://ci-cache.internal"]


def test_lists_marked_for_appending_extend_the_parents(tmp_path: Path) -> None:
    data = render(
        tmp_path,
        {
            "base.yaml.j2": BASE,
            "ci.yaml.j2": """
            x-fleetcfg:
              extends: base
              append: [registry-mirrors, dns]
            registry-mirrors: [https://ci-cache.internal, https://mirror.internal]
            dns: [10.0.0.54]
            """,
        },
    )
    # appended in order, without repeating what the parent already has
    assert data["registry-mirrors"] == ["https://mirror.internal", "https://ci-cache.internal"]
    assert data["dns"] == ["10.0.0.53", "10.0.0.54"]


def test_chains_of_three_profiles_merge_from_the_root(tmp_path: Path) -> None:
    path = write_repo(
        tmp_path,
        INVENTORY.replace("daemon_profile: ci", "daemon_profile: ci-gpu"),
        {
            "base.yaml.j2": BASE,
            "ci.yaml.j2": "x-fleetcfg: {extends: base}\nlog-opts: {max-size: 20m}\n",
            "ci-gpu.json.j2": '{"x-fleetcfg": {"extends": "ci"}, "default-runtime": "runc"}',
        },
    )
    rendered = Renderer(load_inventory(path)).render("ci-01")
    assert [p.name for p in rendered.profiles] == ["ci-gpu", "ci", "base"]
    data = rendered.to_json_dict()
    assert data["log-opts"] == {"max-size": "20m", "max-file": "5"}
    assert data["default-runtime"] == "runc"
    assert data["live-restore"] is True


def test_null_removes_what_the_parent_set(tmp_path: Path) -> None:
    path = write_repo(
        tmp_path,
        INVENTORY,
        {
            "base.yaml.j2": BASE,
            "ci.yaml.j2": "x-fleetcfg: {extends: base}\nlive-restore: null\nlog-opts: {max-file: null}\n",
        },
    )
    rendered = Renderer(load_inventory(path)).render("ci-01")
    data = rendered.to_json_dict()
    assert "live-restore" not in data
    assert data["log-opts"] == {"max-size": "50m"}
    assert rendered.removed_keys == ("live-restore",)


def test_the_parent_may_be_chosen_by_a_variable(tmp_path: Path) -> None:
    data = render(
        tmp_path,
        {
            "base.yaml.j2": BASE,
            "ci.yaml.j2": "x-fleetcfg: {extends: \"{{ 'base' if mirror else 'none' }}\"}\n",
        },
    )
    assert data["log-driver"] == "json-file"


def test_a_cycle_is_an_error_at_the_extends_line(tmp_path: Path) -> None:
    error, _ = render_error(
        tmp_path,
        {
            "ci.yaml.j2": "x-fleetcfg:\n  extends: base\ndebug: true\n",
            "base.yaml.j2": "debug: false\nx-fleetcfg:\n  extends: ci\n",
        },
    )
    assert "cycle: ci -> base -> ci" in error.message
    assert Path(error.file or "").name == "base.yaml.j2"
    assert error.line == 3
    assert error.host == "ci-01"


def test_a_missing_parent_is_an_error_at_the_extends_line(tmp_path: Path) -> None:
    error, _ = render_error(tmp_path, {"ci.yaml.j2": "debug: true\nx-fleetcfg: {extends: bsae}\n"})
    assert "extends profile 'bsae' not found" in error.message
    assert (Path(error.file or "").name, error.line) == ("ci.yaml.j2", 2)


def test_unknown_keys_in_the_block_are_errors(tmp_path: Path) -> None:
    error, _ = render_error(tmp_path, {"ci.yaml.j2": "x-fleetcfg:\n  extend: base\n"})
    assert "unknown key 'extend'" in error.message
    assert error.line == 2


def test_append_must_name_a_list_the_profile_sets(tmp_path: Path) -> None:
    error, _ = render_error(
        tmp_path,
        {
            "base.yaml.j2": BASE,
            "ci.yaml.j2": "x-fleetcfg:\n  extends: base\n  append: [log-opts]\nlog-opts: {}\n",
        },
    )
    assert "'log-opts' is not a list" in error.message
    assert error.line == 3


def test_a_profile_error_in_the_parent_names_the_parent(tmp_path: Path) -> None:
    error, path = render_error(
        tmp_path,
        {
            "base.yaml.j2": "debug: {{ nope }}\n",
            "ci.yaml.j2": "x-fleetcfg: {extends: base}\n",
        },
    )
    assert Path(error.file or "").name == "base.yaml.j2"
    assert error.line == line_of(path.parent / "profiles" / "base.yaml.j2", "nope")
