"""Semantic diffs as key paths, masked; text diffs second."""

from __future__ import annotations

from fleetcfg.core.hashing import canonical_json
from fleetcfg.plan.diff import ChangeKind, render_change, semantic_diff, text_diff


def test_changes_are_key_paths_and_ignore_key_order():
    old = {"log-opts": {"max-size": "10m", "max-file": "3"}, "debug": True}
    new = {"debug": True, "log-opts": {"max-file": "3", "max-size": "50m"}}
    changes = semantic_diff(old, new)
    assert [(c.path, c.kind) for c in changes] == [("log-opts.max-size", ChangeKind.CHANGED)]
    assert render_change(changes[0]) == '~ log-opts.max-size: "10m" -> "50m"'


def test_added_and_removed_keys_and_whole_lists():
    changes = semantic_diff(
        {"registry-mirrors": ["https://a"], "live-restore": False},
        {"registry-mirrors": ["https://a", "https://b"], "metrics-addr": "10.0.0.1:9323"},
    )
    assert [render_change(c) for c in changes] == [
        "- live-restore: false",
        '+ metrics-addr: "10.0.0.1:9323"',
        '~ registry-mirrors: ["https://a"] -> ["https://a", "https://b"]',
    ]


def test_true_and_one_are_different_values():
    assert semantic_diff({"x": True}, {"x": 1})
    assert not semantic_diff({"x": 1}, {"x": 1.0})


def test_proxy_credentials_are_masked_in_changes():
    old = {"proxies": {"http-proxy": "http://svc:oldpass@proxy:3128"}}
    new = {"proxies": {"http-proxy": "http://svc:newpass@proxy:3128"}}
    [change] = semantic_diff(old, new)
    line = render_change(change)
    assert "oldpass" not in line and "newpass" not in line
    assert "http://svc:***@proxy:3128" in line


def test_registered_secrets_are_masked_everywhere():
    new = {"proxies": {"https-proxy": "http://proxy:3128/?token=s3cr3t-t0ken"}}
    [change] = semantic_diff({}, new)
    assert "s3cr3t-t0ken" not in render_change(change, secrets=["s3cr3t-t0ken"])


def test_text_diff_is_masked_and_canonical():
    old = canonical_json({"proxies": {"http-proxy": "http://u:pw1@p:3128"}})
    new = canonical_json({"proxies": {"http-proxy": "http://u:pw2@p:3128"}, "debug": True})
    diff = text_diff(old, new, path="/etc/docker/daemon.json")
    assert "pw1" not in diff and "pw2" not in diff
    assert diff.startswith("--- /etc/docker/daemon.json (live)")
    assert '+  "debug": true,' in diff


def test_canonical_json_is_sorted_indented_and_ends_with_newline():
    text = canonical_json({"b": 1, "a": {"d": "é", "c": [1, 2]}})
    assert (
        text
        == '{\n  "a": {\n    "c": [\n      1,\n      2\n    ],\n    "d": "é"\n  },\n  "b": 1\n}\n'
    )
