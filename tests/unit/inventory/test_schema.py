"""The JSON Schema of inventory.yaml."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from fleetcfg.core.yamlsource import load_yaml
from fleetcfg.inventory.model import inventory_json_schema

REPO = Path(__file__).resolve().parents[3]


def test_the_schema_is_draft_2020_12_with_yaml_key_titles() -> None:
    schema = inventory_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    ssh = schema["$defs"]["SshSettings"]["properties"]
    assert ssh["identity_file"]["title"] == "identity_file"
    assert schema["properties"]["defaults"]["title"] == "defaults"


def test_the_shipped_inventory_satisfies_the_schema() -> None:
    data = load_yaml((REPO / "inventory.yaml").read_text(), "inventory.yaml").data
    jsonschema.Draft202012Validator(inventory_json_schema()).validate(data)


@pytest.mark.parametrize(
    "data",
    [
        {"defaults": {"daemon_profil": "x"}},
        {"hosts": {"bad name": {}}},
        {"defaults": {"vars": {"bad-name": 1}}},
        {"rollout": {"batch_size": 0}},
    ],
)
def test_the_schema_refuses_what_the_loader_refuses(data: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(inventory_json_schema()).validate(data)
