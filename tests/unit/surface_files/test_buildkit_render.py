"""inventory.yaml's buildkit: per host: buildkitd.toml and what applies it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from fleetcfg.render.buildkit import render_buildkit
from tests.unit.inventory.repo import line_of, load_repo

DAEMON = {
    "registry-mirrors": ["https://mirror.corp:5000"],
    "insecure-registries": ["legacy.corp:5000"],
}


def test_no_buildkit_section_or_disabled_renders_nothing(tmp_path: Path) -> None:
    inv = load_repo(tmp_path, "hosts: {a: {}, b: {buildkit: {enabled: false}}}")
    assert render_buildkit(inv.hosts["a"], DAEMON) is None
    assert render_buildkit(inv.hosts["b"], DAEMON) is None


def test_buildkitd_toml_follows_the_daemons_mirrors_insecure_registries_and_cas(
    tmp_path: Path,
) -> None:
    host = load_repo(tmp_path, "hosts: {a: {buildkit: {enabled: true}}}").hosts["a"]
    ca = "/etc/docker/certs.d/reg.corp/ca.crt"
    out = render_buildkit(host, DAEMON, {"reg.corp": [ca]})
    assert out is not None and out.text is not None and not out.findings
    assert tomllib.loads(out.text)["registry"] == {
        "docker.io": {"mirrors": ["mirror.corp:5000"]},
        "legacy.corp:5000": {"http": True, "insecure": True},
        "reg.corp": {"ca": [ca]},
    }
    assert (out.builder, out.service) == ("fleetcfg", None)


def test_extra_settings_merge_over_the_generated_tables(tmp_path: Path) -> None:
    inventory = """
    hosts:
      a:
        buildkit:
          builder: ci
          settings:
            debug: true
            registry: {docker.io: {http: false}}
    """
    host = load_repo(tmp_path, inventory).hosts["a"]
    out = render_buildkit(host, DAEMON)
    assert out is not None and out.text is not None
    data = tomllib.loads(out.text)
    assert data["debug"] is True
    assert data["registry"]["docker.io"] == {"mirrors": ["mirror.corp:5000"], "http": False}
    assert out.builder == "ci"


def test_a_standalone_service_is_restarted_instead_of_a_builder(tmp_path: Path) -> None:
    host = load_repo(tmp_path, "hosts: {a: {buildkit: {service: buildkit}}}").hosts["a"]
    out = render_buildkit(host, {})
    assert out is not None and (out.builder, out.service) == (None, "buildkit")


def test_unknown_keys_mirror_urls_and_builder_with_service_are_findings(tmp_path: Path) -> None:
    inventory = """
    hosts:
      a:
        buildkit:
          builder: ci
          service: buildkit
          settings:
            degub: true
            registry: {docker.io: {mirrors: ["https://mirror.corp"]}}
    """
    path = tmp_path / "inventory.yaml"
    host = load_repo(tmp_path, inventory).hosts["a"]
    out = render_buildkit(host, {})
    assert out is not None
    assert sorted(f.rule for f in out.findings) == ["FC085", "FC086", "FC088"]
    by_rule = {f.rule: f for f in out.findings}
    assert by_rule["FC088"].line == line_of(path, "service: buildkit")
    assert by_rule["FC085"].line == line_of(path, "degub: true")
    assert by_rule["FC086"].line == line_of(path, "registry: {docker.io")


def test_null_settings_cannot_be_written(tmp_path: Path) -> None:
    host = load_repo(tmp_path, "hosts: {a: {buildkit: {settings: {root: null}}}}").hosts["a"]
    out = render_buildkit(host, {})
    assert out is not None and out.text is None
    assert [f.rule for f in out.findings] == ["FC085"]
