"""~/.docker/config.json: auths kept and never printed; the CLI's own rules."""

from __future__ import annotations

import pytest

from fleetcfg.core.findings import Severity
from fleetcfg.core.hashing import canonical_json
from fleetcfg.core.secrets import mask_document
from fleetcfg.dockerd.validation import check_client, check_client_bytes, parse_client
from fleetcfg.plan.diff import render_change, semantic_diff, text_diff

SECRET = "Ym9iOmh1bnRlcjI="  # bob:hunter2


def test_auths_survive_a_round_trip_byte_for_byte_in_meaning():
    data = {
        "auths": {"registry.corp:5000": {"auth": SECRET, "email": "x@y"}},
        "psFormat": "table {{.ID}}",
    }
    config = parse_client(data)
    assert config.to_json_dict() == data


def test_auths_are_never_in_the_repr_or_in_masked_output():
    config = parse_client({"auths": {"r": {"auth": SECRET, "identitytoken": "tok-123"}}})
    assert SECRET not in repr(config) and "tok-123" not in repr(config)
    masked = canonical_json(mask_document(config.to_json_dict()))
    assert SECRET not in masked and "tok-123" not in masked and '"r"' in masked


def test_changed_auth_is_shown_as_a_secret_change_only():
    old = {"auths": {"r": {"auth": SECRET}}}
    new = {"auths": {"r": {"auth": "YWxpY2U6cHc="}}}
    lines = [render_change(c) for c in semantic_diff(old, new)]
    assert lines == ["~ auths.r.auth: (secret changed)"]
    diff = text_diff(None, None, path="config.json", old_data=old, new_data=new)
    assert SECRET not in diff and "YWxpY2U6cHc=" not in diff


def test_unknown_keys_are_kept_with_a_warning():
    result = check_client({"credsStore": "pass", "myTool": {"x": 1}})
    assert result.ok
    assert [(f.rule, f.severity, f.path) for f in result.findings] == [
        ("FC019", Severity.WARNING, "myTool")
    ]
    assert result.config.to_json_dict()["myTool"] == {"x": 1}


def test_field_names_match_case_insensitively_like_the_cli():
    config = parse_client({"credsstore": "pass", "PSFORMAT": "x"})
    assert config.creds_store == "pass" and config.ps_format == "x"


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        ({"auths": []}, "FC003"),
        ({"proxies": {"default": {"httpProxy": 3128}}}, "FC003"),
        ({"auths": {"r": {"auth": "!!notbase64"}}}, "FC018"),
        ({"auths": {"r": {"auth": "bm9jb2xvbg=="}}}, "FC018"),
        ({"aliases": {"ps": "container ls"}}, "FC018"),
        ({"credsStore": "/usr/bin/docker-credential-pass"}, "FC018"),
        ({"proxies": {"default": {"httpProxy": "http://[::1"}}}, "FC020"),
        ({"detachKeys": "ctrl-"}, "FC018"),
    ],
)
def test_client_mistakes_are_errors(data, rule):
    found = check_client(data).findings
    assert rule in {f.rule for f in found if f.severity == Severity.ERROR}, found


def test_error_messages_never_contain_the_auth_value():
    found = check_client({"auths": {"r": {"auth": "bm9jb2xvbg=="}}}).findings
    assert all("bm9jb2xvbg==" not in f.message for f in found)


def test_proxies_default_and_per_daemon_host_are_valid():
    data = {
        "proxies": {
            "default": {"httpProxy": "http://p:3128", "noProxy": "localhost"},
            "tcp://docker-host:2376": {
                "httpsProxy": "https://p2:3129",
                "allProxy": "socks5://p3:1080",
                "ftpProxy": "p4:21",
            },
        }
    }
    assert check_client(data).findings == []


def test_client_syntax_errors_say_the_cli_ignores_the_file():
    [f] = check_client_bytes(b'{"auths": {},}', file="config.json").findings
    assert f.rule == "FC001" and "ignores the whole file" in f.message and f.line == 1


def test_experimental_is_flagged_as_ignored():
    assert "FC007" in {f.rule for f in check_client({"experimental": "enabled"}).findings}
