"""The exported JSON Schemas accept valid files and reject what JSON Schema can say."""

from __future__ import annotations

import json

import jsonschema
import pytest

from fleetcfg.core.jsondoc import JsonSyntaxError, parse_document
from fleetcfg.dockerd.schema import client_json_schema, daemon_json_schema
from tests.oracle.corpus import corpus_ids, load_corpus

DAEMON = jsonschema.Draft202012Validator(daemon_json_schema())
CLIENT = jsonschema.Draft202012Validator(client_json_schema())


def _document(entry):
    try:
        doc = parse_document(entry.raw())
    except JsonSyntaxError:
        return None
    return doc if not doc.duplicates else None


def _accepted(entry):
    exp = entry.expectation("26.1")
    return (
        entry.validate == "ok"
        and entry.start == "ok"
        and exp is not None
        and exp.verdict != "error"
    )


ACCEPTED = [e for e in load_corpus() if _accepted(e) and _document(e) is not None]
# type errors and unknown keys are what JSON Schema can express; nested
# case-insensitive fields and cross-field rules are not
TYPE_OR_KEY = [
    e
    for e in load_corpus()
    if e.validate == "reject"
    and _document(e) is not None
    and isinstance(_document(e).value, dict)
    and (exp := e.expectation("26.1")) is not None
    and exp.rules
    and all(group in ("FC002", "FC003") for group in exp.rules)
    # JSON Schema's "integer" also matches 3.0 and 1e3, which Go refuses
    and e.file
    not in ("invalid-validate/type-int-as-float.json", "invalid-validate/type-int-exponent.json")
]


def test_schemas_are_valid_draft_2020_12_schemas():
    jsonschema.Draft202012Validator.check_schema(daemon_json_schema())
    jsonschema.Draft202012Validator.check_schema(client_json_schema())
    assert daemon_json_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_titles_are_the_json_key_names():
    props = daemon_json_schema()["properties"]
    assert props["log-opts"]["title"] == "log-opts"
    assert props["default-address-pools"]["title"] == "default-address-pools"
    assert client_json_schema()["properties"]["credsStore"]["title"] == "credsStore"


@pytest.mark.parametrize("entry", ACCEPTED, ids=corpus_ids(ACCEPTED))
def test_schema_accepts_every_file_dockerd_accepts(entry):
    errors = list(DAEMON.iter_errors(_document(entry).value or {}))
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize("entry", TYPE_OR_KEY, ids=corpus_ids(TYPE_OR_KEY))
def test_schema_rejects_type_errors_and_unknown_keys(entry):
    assert list(DAEMON.iter_errors(_document(entry).value)), entry.about


@pytest.mark.parametrize(
    "data",
    [
        {"log-level": "warning"},
        {"log-format": "xml"},
        {"default-ipc-mode": "host"},
        {"mtu": -1},
        {"network-diagnostic-port": 70000},
        {"default-shm-size": "64q"},
        {"default-address-pools": [{"base": "10.0.0.0/8", "size": 0}]},
        {"Debug": True},
        {"proxies": {"ftp-proxy": "x"}},
        {"foo": {"bar": 1}},
    ],
)
def test_schema_rejects_enumerations_ranges_and_patterns(data):
    assert list(DAEMON.iter_errors(data))


def test_client_schema_accepts_unknown_keys_and_refuses_bad_aliases():
    assert not list(CLIENT.iter_errors({"auths": {"r": {"auth": "eDp5"}}, "someTool": 1}))
    assert list(CLIENT.iter_errors({"aliases": {"ps": "x"}}))
    assert list(CLIENT.iter_errors({"auths": []}))


def test_cli_prints_the_schemas(tmp_path):
    from typer.testing import CliRunner

    from fleetcfg.cli.app import app

    for kind, title in (("daemon", "daemon.json"), ("client", "config.json")):
        result = CliRunner().invoke(app, ["schema", "--kind", kind])
        assert result.exit_code == 0
        assert json.loads(result.stdout)["title"] == title
