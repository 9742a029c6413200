"""YAML loading with positions for every key and value."""

from __future__ import annotations

import pytest

from fleetcfg.core.errors import FleetcfgError, InventoryError
from fleetcfg.core.yamlsource import format_path, load_yaml, plain_scalar_is_string

TEXT = """\
top:
  key: value
  list:
    - first
    - {name: second}
other: 3
"""


def test_every_key_value_and_list_item_has_its_line_and_column() -> None:
    doc = load_yaml(TEXT, "x.yaml")
    assert str(doc.key_location(("top", "key"))) == "x.yaml:2:3"
    assert str(doc.value_location(("top", "key"))) == "x.yaml:2:8"
    assert str(doc.key_location(("top", "list", 1))) == "x.yaml:5:7"
    assert str(doc.key_location(("top", "list", 1, "name"))) == "x.yaml:5:8"


def test_a_missing_path_falls_back_to_its_nearest_ancestor() -> None:
    doc = load_yaml(TEXT, "x.yaml")
    assert doc.key_location(("top", "nope", "deeper")).line == 1
    assert doc.line_of(("top", "nope")) is None


def test_yaml_1_2_scalars_become_plain_python_values() -> None:
    doc = load_yaml("a: yes\nb: 0o17\nc: ~\nd: 2024-01-01\n22: port\ne: 1.5\n", "x.yaml")
    assert doc.data == {"a": "yes", "b": 15, "c": None, "d": "2024-01-01", "22": "port", "e": 1.5}


def test_merge_keys_work_and_local_keys_win() -> None:
    doc = load_yaml("base: &b {x: 1, y: 2}\nmine:\n  <<: *b\n  y: 3\n", "x.yaml")
    assert doc.data["mine"] == {"y": 3, "x": 1}
    assert doc.key_location(("mine", "y")).line == 4


def test_custom_tags_are_refused() -> None:
    with pytest.raises(FleetcfgError, match="unsupported YAML tag !vault"):
        load_yaml("secret: !vault abc\n", "x.yaml")


def test_errors_use_the_requested_error_class() -> None:
    with pytest.raises(InventoryError) as caught:
        load_yaml("a: [1\n", "inv.yaml", error=InventoryError)
    assert caught.value.file == "inv.yaml"
    assert caught.value.line == 2


def test_several_documents_are_refused_with_a_hint() -> None:
    with pytest.raises(FleetcfgError) as caught:
        load_yaml("a: 1\n---\nb: 2\n", "x.yaml")
    assert "one document" in (caught.value.hint or "")


def test_an_empty_document_is_none() -> None:
    assert load_yaml("# nothing\n", "x.yaml").data is None


@pytest.mark.parametrize(
    ("text", "is_string"),
    [
        ("10.0.0.1", True),
        ("ci-01", True),
        ("2375", False),
        ("true", False),
        ("null", False),
        ("1e3", False),
    ],
)
def test_plain_scalar_typing_follows_yaml_1_2(text: str, is_string: bool) -> None:
    assert plain_scalar_is_string(text) is is_string


def test_paths_format_like_users_write_them() -> None:
    assert format_path(("registry-mirrors", 0)) == "registry-mirrors[0]"
    assert format_path(("log-opts", "max-size")) == "log-opts.max-size"


def test_a_character_yaml_refuses_is_located_on_one_line() -> None:
    with pytest.raises(InventoryError) as caught:
        load_yaml(
            'hosts:\n  a: {address: "10.0.0.1"}\n  b: "x\x01y"\n', "inv.yaml", error=InventoryError
        )
    error = caught.value
    assert (error.line, error.column) == (3, 8)
    assert (
        error.message
        == "YAML error: unacceptable character #x0001: special characters are not allowed"
    )
