"""Every rendered key knows its template line and the inventory line of the
variables substituted there; findings point at the place to fix."""

from __future__ import annotations

from pathlib import Path

from fleetcfg.core.yamlsource import SourceLocation
from fleetcfg.inventory import load_inventory
from fleetcfg.render import Renderer
from tests.unit.inventory.repo import line_of, write_repo

INVENTORY = """
defaults:
  daemon_profile: ci
  engine_version: "26.1"
  vars:
    mirrors: [https://m1.internal, https://m2.internal]
    log: {max_size: 50m, level: info}
groups:
  ci:
    vars:
      log: {level: warning}
    hosts:
      ci-01: {address: 10.0.0.1}
      ci-02: {address: 10.0.0.2, vars: {log: {max_size: 20m}}}
"""

BASE = """
registry-mirrors:
{% for m in mirrors %}
  - {{ m }}
{% endfor %}
log-opts:
  max-size: "{{ log.max_size }}"
  max-file: "5"
log-level: {{ log.level }}
metrics-addr: "{{ address }}:9323"
"""

CI = """
x-fleetcfg:
  extends: base
  append: [registry-mirrors]
registry-mirrors:
  - https://ci-cache.internal
live-restore: true
"""


def setup(tmp_path: Path) -> tuple[Path, Path, Path, Renderer]:
    path = write_repo(tmp_path, INVENTORY, {"base.yaml.j2": BASE, "ci.yaml.j2": CI})
    profiles = tmp_path / "profiles"
    return path, profiles / "base.yaml.j2", profiles / "ci.yaml.j2", Renderer(load_inventory(path))


def at(file: Path, line: int, column: int | None = None) -> SourceLocation:
    return SourceLocation(str(file), line, column)


def test_a_literal_key_points_at_its_template_line_and_column(tmp_path: Path) -> None:
    _, base, ci, renderer = setup(tmp_path)
    rendered = renderer.render("ci-01")
    assert rendered.locate("live-restore") == [at(ci, line_of(ci, "live-restore"), 1)]
    assert rendered.locate("log-opts.max-file") == [at(base, line_of(base, "max-file"), 3)]


def test_a_substituted_value_also_points_at_the_winning_inventory_line(tmp_path: Path) -> None:
    inventory, base, _, renderer = setup(tmp_path)
    rendered = renderer.render("ci-02")
    template, variable = rendered.locate("log-opts.max-size")
    assert template == at(base, line_of(base, "max-size"))
    assert (variable.file, variable.line) == (str(inventory), line_of(inventory, "max_size: 20m"))
    _, level = rendered.locate("log-level")
    assert level.line == line_of(inventory, "level: warning")


def test_loop_items_point_at_the_list_variable(tmp_path: Path) -> None:
    inventory, base, _, renderer = setup(tmp_path)
    template, variable = renderer.render("ci-01").locate("registry-mirrors[1]")
    assert template == at(base, line_of(base, "- {{ m }}"))
    assert variable.line == line_of(inventory, "mirrors:")


def test_appended_items_point_at_the_child_profile(tmp_path: Path) -> None:
    _, _, ci, renderer = setup(tmp_path)
    rendered = renderer.render("ci-01")
    assert rendered.to_json_dict()["registry-mirrors"][2] == "https://ci-cache.internal"
    assert rendered.locate(("registry-mirrors", 2)) == [at(ci, line_of(ci, "ci-cache"), 5)]


def test_builtin_variables_point_at_the_host_entry(tmp_path: Path) -> None:
    inventory, _, _, renderer = setup(tmp_path)
    _, address = renderer.render("ci-02").locate("metrics-addr")
    assert address.line == line_of(inventory, "ci-02:")


def test_a_finding_from_a_variable_is_located_at_the_inventory_line(tmp_path: Path) -> None:
    inventory, base, _, renderer = setup(tmp_path)
    rendered = renderer.render("ci-01")
    assert not rendered.ok
    [finding] = [f for f in rendered.findings if f.path == "log-level"]
    assert finding.rule == "FC004"
    assert (finding.file, finding.line) == (str(inventory), line_of(inventory, "level: warning"))
    assert f"rendered by {base}:{line_of(base, 'log-level')}" in finding.message
    assert finding.hosts == ("ci-01",)


def test_a_finding_from_literal_template_text_is_located_in_the_template(tmp_path: Path) -> None:
    path = write_repo(
        tmp_path,
        "defaults: {daemon_profile: base}\nhosts:\n  h: {address: 10.0.0.1}\n",
        {"base.yaml.j2": "debug: true\nlog-opts:\n  max-file: '3'\n"},
    )
    rendered = Renderer(load_inventory(path)).render("h")
    [finding] = rendered.findings
    assert finding.rule == "FC013"
    assert (Path(finding.file or "").name, finding.line, finding.column) == ("base.yaml.j2", 3, 3)


def test_the_whole_document_locates_to_the_top_of_the_host_profile(tmp_path: Path) -> None:
    _, _, ci, renderer = setup(tmp_path)
    [where] = renderer.render("ci-01").locate("")
    assert where.file == str(ci)
