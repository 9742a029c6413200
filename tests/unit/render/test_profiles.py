"""Profiles: found by name, YAML or JSON, templated or plain, with built-ins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetcfg.core.errors import TemplateError
from fleetcfg.inventory import load_inventory
from fleetcfg.render import Renderer
from tests.unit.inventory.repo import line_of, load_repo, write_repo

ONE_HOST = """
defaults:
  daemon_profile: base
  engine_version: "26.1"
  vars: {log_max_size: 10m, mirrors: [https://m1.internal, https://m2.internal]}
hosts:
  web-01: {address: 10.0.0.1}
"""

YAML_PROFILE = """
registry-mirrors:
{% for m in mirrors %}
  - {{ m }}
{% endfor %}
log-opts:
  max-size: "{{ log_max_size }}"
live-restore: true
"""

JSON_PROFILE = """
{
  "registry-mirrors": {{ mirrors | to_json }},
  "log-opts": {"max-size": "{{ log_max_size }}"},
  "live-restore": true
}
"""

EXPECTED = {
    "registry-mirrors": ["https://m1.internal", "https://m2.internal"],
    "log-opts": {"max-size": "10m"},
    "live-restore": True,
}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("base.yaml.j2", YAML_PROFILE),
        ("base.yml.j2", YAML_PROFILE),
        ("base.json.j2", JSON_PROFILE),
        (
            "base.yaml",
            "registry-mirrors: [https://m1.internal, https://m2.internal]\n"
            "log-opts: {max-size: 10m}\nlive-restore: true\n",
        ),
        ("base.json", json.dumps(EXPECTED)),
    ],
)
def test_yaml_and_json_profiles_templated_or_not_give_the_same_config(
    tmp_path: Path, name: str, text: str
) -> None:
    inv = load_repo(tmp_path, ONE_HOST, {name: text})
    rendered = Renderer(inv).render("web-01")
    assert rendered.ok, rendered.findings
    assert rendered.to_json_dict() == EXPECTED
    assert rendered.profiles[0].template == name


def test_the_output_is_canonical_json(tmp_path: Path) -> None:
    inv = load_repo(tmp_path, ONE_HOST, {"base.yaml.j2": YAML_PROFILE})
    text = Renderer(inv).render("web-01").canonical_json()
    assert text == json.dumps(EXPECTED, indent=2, sort_keys=True) + "\n"


def test_a_profile_may_be_named_with_its_suffix(tmp_path: Path) -> None:
    inv = load_repo(
        tmp_path,
        ONE_HOST.replace("daemon_profile: base", "daemon_profile: base.json.j2"),
        {"base.json.j2": JSON_PROFILE},
    )
    assert Renderer(inv).render("web-01").to_json_dict() == EXPECTED


def test_profiles_may_live_in_subfolders(tmp_path: Path) -> None:
    inv = load_repo(
        tmp_path,
        ONE_HOST.replace("daemon_profile: base", "daemon_profile: teams/web"),
        {"teams/web.yaml.j2": YAML_PROFILE},
    )
    assert Renderer(inv).render("web-01").to_json_dict() == EXPECTED


def test_two_files_for_one_profile_name_is_an_error(tmp_path: Path) -> None:
    inv = load_repo(tmp_path, ONE_HOST, {"base.yaml.j2": YAML_PROFILE, "base.json": "{}"})
    with pytest.raises(TemplateError, match="ambiguous"):
        Renderer(inv).render("web-01")


def test_a_missing_profile_is_reported_at_the_inventory_line_that_names_it(
    tmp_path: Path,
) -> None:
    path = write_repo(
        tmp_path,
        ONE_HOST.replace("daemon_profile: base", "daemon_profile: bsae"),
        {"base.yaml.j2": YAML_PROFILE},
    )
    with pytest.raises(TemplateError) as caught:
        Renderer(load_inventory(path)).render("web-01")
    error = caught.value
    assert "profile 'bsae' not found" in error.message
    assert (error.file, error.line) == (str(path), line_of(path, "daemon_profile"))
    assert error.host == "web-01"
    assert error.key == "daemon_profile"


def test_a_host_without_a_profile_says_where_to_set_one(tmp_path: Path) -> None:
    inv = load_repo(tmp_path, "hosts:\n  h: {}\n")
    with pytest.raises(TemplateError, match="no daemon_profile") as caught:
        Renderer(inv).render("h")
    assert "defaults" in (caught.value.hint or "")


def test_templates_see_the_builtin_variables(tmp_path: Path) -> None:
    inv = load_repo(
        tmp_path,
        """
        defaults: {daemon_profile: base, engine_version: "27.5"}
        groups:
          edge:
            hosts:
              web-01: {address: 10.0.0.1}
        """,
        {
            "base.yaml.j2": """
            labels:
              - "host={{ host }}"
              - "address={{ address }}"
              - "groups={{ groups | join(',') }}"
              - "engine={{ engine_version }}/{{ engine_version.major }}"
              - "new={{ engine_version >= '25.0' }}"
              - "kind={{ kind }}"
            """
        },
    )
    labels = Renderer(inv).render("web-01").to_json_dict()["labels"]
    assert labels == [
        "host=web-01",
        "address=10.0.0.1",
        "groups=edge",
        "engine=27.5/27",
        "new=True",
        "kind=daemon",
    ]


def test_templates_are_sandboxed(tmp_path: Path) -> None:
    inv = load_repo(tmp_path, ONE_HOST, {"base.yaml.j2": "x: {{ ''.__class__.__mro__ }}\n"})
    with pytest.raises(TemplateError) as caught:
        Renderer(inv).render("web-01")
    assert caught.value.line == 1


def test_included_templates_render_and_are_memoised_on_their_variables(tmp_path: Path) -> None:
    inv = load_repo(
        tmp_path,
        ONE_HOST + "  web-02: {address: 10.0.0.2, vars: {log_max_size: 20m}}\n",
        {
            "base.yaml.j2": "{% include '_logs.j2' %}\nlive-restore: true\n",
            "_logs.j2": 'log-opts:\n  max-size: "{{ log_max_size }}"\n',
        },
    )
    renderer = Renderer(inv)
    assert renderer.render("web-01").to_json_dict()["log-opts"] == {"max-size": "10m"}
    assert renderer.render("web-02").to_json_dict()["log-opts"] == {"max-size": "20m"}
