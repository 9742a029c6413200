"""Template errors name the template file and line and the host."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcfg.core.errors import TemplateError
from fleetcfg.inventory import load_inventory
from fleetcfg.render import Renderer
from tests.unit.inventory.repo import write_repo

INVENTORY = """
defaults:
  daemon_profile: base
  vars: {mirror: https://mirror.internal, proxy: {http: "http://proxy:3128"}}
hosts:
  web-01: {address: 10.0.0.1}
"""


def render_error(tmp_path: Path, profile: str, name: str = "base.yaml.j2") -> TemplateError:
    path = write_repo(tmp_path, INVENTORY, {name: profile})
    with pytest.raises(TemplateError) as caught:
        Renderer(load_inventory(path)).render("web-01")
    return caught.value


def test_an_undefined_variable_names_template_line_and_host(tmp_path: Path) -> None:
    error = render_error(
        tmp_path,
        """
        registry-mirrors:
          - {{ mirror }}
        log-opts:
          max-size: "{{ log_max_size }}"
        """,
    )
    assert error.message == "undefined variable 'log_max_size'"
    assert error.file == str(tmp_path / "profiles" / "base.yaml.j2")
    assert error.line == 4
    assert error.host == "web-01"
    assert "vars:" in (error.hint or "")
    assert str(error).startswith(f"{tmp_path}/profiles/base.yaml.j2:4: host web-01: ")


def test_an_undefined_attribute_is_located_too(tmp_path: Path) -> None:
    error = render_error(tmp_path, 'a: 1\nhttps: "{{ proxy.https }}"\n')
    assert error.line == 2
    assert "'https'" in error.message


def test_an_undefined_variable_inside_a_loop_and_condition(tmp_path: Path) -> None:
    error = render_error(
        tmp_path,
        """
        {% if mirror %}
        registry-mirrors:
        {% for m in mirrors %}
          - {{ m }}
        {% endfor %}
        {% endif %}
        """,
    )
    assert (error.line, error.message) == (3, "undefined variable 'mirrors'")


def test_a_template_syntax_error_is_located(tmp_path: Path) -> None:
    error = render_error(tmp_path, "a: 1\n{% if mirror %}\nb: 2\n")
    assert error.message.startswith("template syntax error:")
    assert error.host == "web-01"
    assert error.line is not None and error.line >= 2


def test_an_unclosed_expression_is_a_syntax_error_on_its_line(tmp_path: Path) -> None:
    error = render_error(tmp_path, "a: 1\nb: {{ mirror \nc: 3\n")
    assert error.message.startswith("template syntax error")
    assert error.line in (2, 3)


def test_rendered_text_that_is_not_yaml_points_at_the_template_line(tmp_path: Path) -> None:
    error = render_error(
        tmp_path,
        """
        {% set x = 1 %}
        live-restore: true
        registry-mirrors: [{{ mirror }}
        debug: true
        """,
    )
    assert "rendered YAML is invalid" in error.message
    assert "rendered line" in error.message
    assert error.line in (3, 4)
    assert error.host == "web-01"


def test_rendered_text_that_is_not_json_quotes_the_rendered_line(tmp_path: Path) -> None:
    error = render_error(
        tmp_path,
        """
        {
          "registry-mirrors": ["{{ mirror }}"],
          "debug": true,
        }
        """,
        name="base.json.j2",
    )
    assert "rendered JSON is invalid" in error.message
    assert error.line == 4
    assert "'}'" in error.message


def test_a_key_rendered_twice_is_an_error(tmp_path: Path) -> None:
    error = render_error(tmp_path, "debug: true\n{% if true %}\ndebug: false\n{% endif %}\n")
    assert "duplicate key 'debug'" in error.message
    assert error.line == 3


def test_a_profile_must_render_a_mapping(tmp_path: Path) -> None:
    error = render_error(tmp_path, "- a\n- b\n")
    assert "mapping" in error.message


def test_an_empty_render_is_an_empty_config(tmp_path: Path) -> None:
    path = write_repo(tmp_path, INVENTORY, {"base.yaml.j2": "{# nothing yet #}\n"})
    rendered = Renderer(load_inventory(path)).render("web-01")
    assert rendered.to_json_dict() == {}


def test_python_errors_in_expressions_are_located(tmp_path: Path) -> None:
    error = render_error(tmp_path, "a: 1\nb: {{ 1 // 0 }}\n")
    assert error.line == 2
    assert "ZeroDivisionError" in error.message
