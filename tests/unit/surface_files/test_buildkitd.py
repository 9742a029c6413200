"""buildkitd.toml: registry tables from daemon.json, TOML writing, known keys."""

from __future__ import annotations

import tomllib

import pytest

from fleetcfg.dockerd.buildkitd import registry_host, registry_tables, to_toml, unknown_keys


def test_mirrors_are_host_names_not_the_urls_daemon_json_uses() -> None:
    tables = registry_tables(["https://mirror.corp:5000/", "https://hub-cache.corp"])
    assert tables == {"docker.io": {"mirrors": ["mirror.corp:5000", "hub-cache.corp"]}}


def test_a_plain_http_mirror_gets_http_true_in_its_own_table() -> None:
    tables = registry_tables(["http://mirror.corp:5000"])
    assert tables["mirror.corp:5000"] == {"http": True}


def test_insecure_registries_get_http_and_insecure_and_cidrs_are_left_out() -> None:
    tables = registry_tables([], ["reg.corp:5000", "10.0.0.0/8"])
    assert tables == {"reg.corp:5000": {"http": True, "insecure": True}}


def test_registry_cas_are_listed_per_registry() -> None:
    path = "/etc/docker/certs.d/reg.corp:5000/ca.crt"
    assert registry_tables([], [], {"reg.corp:5000": [path]}) == {"reg.corp:5000": {"ca": [path]}}


@pytest.mark.parametrize(
    ("entry", "host"),
    [
        ("https://m.corp:5000/", "m.corp:5000"),
        ("m.corp", "m.corp"),
        ("http://[fd00::1]:5000", "[fd00::1]:5000"),
        ("10.0.0.0/8", None),
    ],
)
def test_registry_host(entry: str, host: str | None) -> None:
    assert registry_host(entry) == host


def test_written_toml_reads_back_as_the_data() -> None:
    data = {
        "debug": True,
        "registry": registry_tables(["https://m.corp:5000"], ["r.corp:5000"]),
        "worker": {"oci": {"gc": True, "gcpolicy": [{"all": True, "keepBytes": 1000}]}},
    }
    text = to_toml(data)
    assert tomllib.loads(text) == data
    assert '[registry."docker.io"]\nmirrors = ["m.corp:5000"]' in text


def test_null_values_cannot_be_written() -> None:
    with pytest.raises(ValueError, match="no TOML form"):
        to_toml({"debug": None})


def test_unknown_keys_are_found_with_the_nearest_known_one() -> None:
    data = {
        "debg": True,
        "registry": {"docker.io": {"mirror": ["m"]}},
        "worker": {"oci": {"gcpolicy": [{"keepbytes": 1}]}},
    }
    messages = [p.message for p in unknown_keys(data)]
    assert any("'debg'" in m and "debug" in m for m in messages)
    assert any("'mirror'" in m and "mirrors" in m for m in messages)
    assert any("'keepbytes'" in m and "keepBytes" in m for m in messages)


def test_known_keys_and_free_tables_pass() -> None:
    data = {
        "root": "/var/lib/buildkit",
        "grpc": {"address": ["unix:///run/buildkit/buildkitd.sock"], "tls": {"ca": "x"}},
        "worker": {"oci": {"labels": {"anything": "x"}, "max-parallelism": 4}},
        "registry": {"any.host:5000": {"keypair": [{"key": "k", "cert": "c"}]}},
        "frontend": {"dockerfile.v0": {"enabled": True}},
    }
    assert unknown_keys(data) == []


def test_a_table_written_as_a_value_is_found() -> None:
    (problem,) = unknown_keys({"grpc": "tcp://0.0.0.0:1234"})
    assert "must be a table" in problem.message
