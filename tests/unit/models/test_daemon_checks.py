"""What fleetcfg says about daemon.json, key by key, against dockerd's behaviour."""

from __future__ import annotations

import pytest

from fleetcfg.core.findings import Severity
from fleetcfg.core.versions import EngineVersion
from fleetcfg.dockerd.validation import check_daemon, check_daemon_bytes, parse_daemon

V26 = EngineVersion(26, 1)
V28 = EngineVersion(28, 5)


def rules(data, engine=V28, severity=None):
    found = check_daemon(data, engine).findings
    return sorted({f.rule for f in found if severity is None or f.severity == severity})


def errors(data, engine=V28):
    return rules(data, engine, Severity.ERROR)


def warnings(data, engine=V28):
    return rules(data, engine, Severity.WARNING)


VALID = [
    {},
    {"debug": True, "log-level": "INFO", "log-format": "json"},
    {
        "registry-mirrors": ["https://mirror.internal:5000"],
        "insecure-registries": ["10.0.0.0/8", "reg.local:5000", "::1"],
    },
    {
        "proxies": {
            "http-proxy": "http://user:pw@proxy:3128",
            "https-proxy": "proxy:3128",
            "no-proxy": "localhost,.corp",
        }
    },
    {
        "log-driver": "json-file",
        "log-opts": {"max-size": "50m", "max-file": "5", "compress": "true"},
    },
    {"log-driver": "local", "log-opts": {"max-size": "20m", "max-file": "3"}},
    {
        "log-driver": "syslog",
        "log-opts": {"syslog-address": "udp://10.0.0.1:514", "tag": "{{.Name}}"},
    },
    {
        "log-driver": "gelf",
        "log-opts": {"gelf-address": "udp://graylog:12201", "gelf-compression-type": "gzip"},
    },
    {
        "log-driver": "fluentd",
        "log-opts": {"fluentd-address": "fluentd:24224", "fluentd-async": "true"},
    },
    {"log-driver": "awslogs", "log-opts": {"awslogs-group": "g", "awslogs-region": "eu-west-1"}},
    {"log-driver": "journald"},
    {
        "default-address-pools": [
            {"base": "172.30.0.0/16", "size": 24},
            {"Base": "fd00::/104", "SIZE": 112},
        ]
    },
    {"default-ulimits": {"nofile": {"Name": "nofile", "Hard": 65536, "Soft": 65536}}},
    {"default-ulimits": {"nproc": {"name": "nproc", "hard": 4096, "soft": 2048}}},
    {
        "runtimes": {"nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []}},
        "default-runtime": "nvidia",
    },
    {"runtimes": {"kata": {"runtimeType": "io.containerd.kata.v2", "options": {"x": 1}}}},
    {"default-runtime": "io.containerd.runsc.v1"},
    {"live-restore": True, "userland-proxy": False, "metrics-addr": "127.0.0.1:9323"},
    {"storage-driver": "overlay2", "storage-opts": ["overlay2.size=10G"]},
    {"exec-opts": ["native.cgroupdriver=systemd"], "cgroup-parent": "docker.slice"},
    {"features": {"buildkit": True, "containerd-snapshotter": False}},
    {
        "builder": {
            "gc": {
                "enabled": True,
                "defaultKeepStorage": "20GB",
                "policy": [{"filter": ["unused-for=168h"], "keepStorage": "10GB"}],
            }
        }
    },
    {"default-network-opts": {"bridge": {"com.docker.network.bridge.mtu": "1400"}}},
    {
        "dns": ["10.0.0.2", "::1"],
        "dns-search": ["corp.example.com", "."],
        "labels": ["env=prod", "env=prod"],
    },
    {
        "hosts": ["unix:///var/run/docker.sock", "tcp://127.0.0.1:2376"],
        "tls": True,
        "tlscert": "/etc/docker/cert.pem",
        "tlskey": "/etc/docker/key.pem",
    },
    {"bip": "172.26.0.1/16", "fixed-cidr": "172.26.0.0/17", "mtu": 1450},
    {"default-shm-size": "128M", "shutdown-timeout": -1, "max-concurrent-downloads": 10},
    {"debug": None, "log-opts": None},
    {"icc": False},
    {"userland-proxy": False, "userland-proxy-path": "relative/is/fine/when/off"},
]


@pytest.mark.parametrize("data", VALID)
@pytest.mark.parametrize("engine", [V26, V28])
def test_valid_configs_get_no_errors(data, engine):
    assert errors(data, engine) == []


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        ({"debug": "true"}, "FC003"),
        ({"debug": 1}, "FC003"),
        ({"mtu": 3.0}, "FC003"),
        ({"mtu": "1500"}, "FC003"),
        ({"mtu": 2**63}, "FC003"),
        ({"labels": "a=b"}, "FC003"),
        ({"log-opts": {"max-size": 10}}, "FC003"),
        ({"features": {"buildkit": "true"}}, "FC003"),
        ({"default-shm-size": 67108864}, "FC003"),
        ({"default-ulimits": {"nofile": "1024:2048"}}, "FC003"),
        ({"default-address-pools": {"base": "10.0.0.0/8", "size": 24}}, "FC003"),
        ({"proxies": "http://proxy:3128"}, "FC003"),
        ({"builder": {"history": {"maxAge": 3600}}}, "FC003"),
        ({"Debug": True}, "FC002"),
        ({"default-init": True}, "FC002"),
        ({"resolv-conf": "/etc/resolv.conf"}, "FC002"),
        ({"containerd-plugin-namespace": "x"}, "FC002"),
        ({"proxies": {"ftp-proxy": "x"}}, "FC002"),
        ({"foo": {"bar": 1}}, "FC002"),
        ({"foo": []}, "FC002"),
        # dockerd flattens an object under a flag name too: max-size is no flag
        ({"log-opt": {"max-size": "1m"}}, "FC002"),
        ({"config-file": "/etc/docker/daemon.json"}, "FC002"),
        ({"log-level": "warning"}, "FC004"),
        ({"log-format": "JSON"}, "FC004"),
        ({"default-ipc-mode": "host"}, "FC004"),
        ({"default-cgroupns-mode": "foo"}, "FC004"),
        ({"mtu": -1}, "FC004"),
        ({"max-download-attempts": -1}, "FC004"),
        ({"default-shm-size": "64q"}, "FC004"),
        ({"labels": ["nokey"]}, "FC004"),
        ({"labels": ["com.docker.x=1"]}, "FC004"),
        ({"labels": ["a=1", "a=2"]}, "FC004"),
        ({"node-generic-resources": ["gpu"]}, "FC004"),
        ({"userland-proxy-path": "docker-proxy"}, "FC004"),
        ({"tlsverify": False}, "FC004"),
        ({"exec-opts": ["native.cgroupdriver=foo"]}, "FC004"),
        ({"exec-opts": ["foo=bar"]}, "FC004"),
        ({"network-diagnostic-port": 70000}, "FC004"),
        ({"dns": ["1.1.1.1o"]}, "FC015"),
        ({"ip": "fe80::1%eth0"}, "FC015"),
        ({"hosts": ["tcp://0.0.0.0:2375/path"]}, "FC015"),
        ({"hosts": ["ssh://x"]}, "FC015"),
        ({"dns-search": ["123456"]}, "FC004"),
        ({"fixed-cidr-v6": "10.0.0.0/8"}, "FC015"),
        ({"bip": "x"}, "FC015"),
        ({"metrics-addr": "127.0.0.1"}, "FC015"),
        ({"bip": "10.1.0.1/16", "bridge": "br0"}, "FC008"),
        ({"icc": False, "iptables": False}, "FC008"),
        ({"host-gateway-ip": "1.2.3.4", "host-gateway-ips": ["1.2.3.4"]}, "FC008"),
        ({"containerd-namespace": "plugins.moby"}, "FC008"),
        ({"runtimes": {"runc": {"path": "/usr/bin/runc"}}}, "FC009"),
        ({"runtimes": {"x": {"path": "/a", "runtimeType": "io.containerd.x.v2"}}}, "FC009"),
        ({"runtimes": {"x": {}}}, "FC009"),
        ({"runtimes": {"x": {"path": "/a", "options": {"k": 1}}}}, "FC009"),
        ({"runtimes": {"x": {"runtimeType": "t", "runtimeArgs": ["--a"]}}}, "FC009"),
        ({"default-runtime": "crun"}, "FC009"),
        ({"default-address-pools": [{"base": "10.0.0.0/16", "size": 8}]}, "FC010"),
        ({"default-address-pools": [{"base": "10.0.0.0/16", "size": 0}]}, "FC010"),
        ({"default-address-pools": [{"base": "10.0.0.0", "size": 24}]}, "FC010"),
        ({"default-address-pools": [{"size": 24}]}, "FC010"),
        ({"default-ulimits": {"nofile": {"Name": "nofile", "Hard": 1, "Soft": 2}}}, "FC011"),
        ({"default-ulimits": {"files": {"Name": "files", "Hard": 1, "Soft": 1}}}, "FC011"),
        ({"log-driver": "json_file"}, "FC012"),
        ({"log-driver": "etwlogs"}, "FC012"),
        ({"log-opts": {"max-size": "10m", "foo": "x"}}, "FC012"),
        ({"log-driver": "local", "log-opts": {"labels": "a"}}, "FC012"),
        ({"log-opts": {"max-size": "0"}}, "FC012"),
        ({"log-opts": {"max-size": "ten"}}, "FC012"),
        ({"log-opts": {"max-size": "10m", "max-file": "0"}}, "FC012"),
        ({"log-opts": {"compress": "true"}}, "FC012"),
        ({"log-opts": {"max-size": "10m", "max-file": "1", "compress": "true"}}, "FC012"),
        ({"log-driver": "local", "log-opts": {"max-file": "1"}}, "FC012"),
        ({"log-opts": {"mode": "async"}}, "FC012"),
        ({"log-opts": {"max-buffer-size": "4m"}}, "FC012"),
        ({"log-driver": "gelf"}, "FC012"),
        ({"log-driver": "syslog", "log-opts": {"syslog-address": "localhost:514"}}, "FC012"),
        (
            {
                "log-driver": "awslogs",
                "log-opts": {"awslogs-group": "g", "awslogs-create-stream": "true"},
            },
            "FC012",
        ),
        ({"registry-mirrors": ["mirror.example.com"]}, "FC014"),
        ({"registry-mirrors": ["ftp://mirror.example.com"]}, "FC014"),
        ({"registry-mirrors": ["https://u:p@mirror.example.com"]}, "FC014"),
        ({"registry-mirrors": ["https://mirror.example.com?x=1"]}, "FC014"),
        ({"insecure-registries": ["-bad.example.com"]}, "FC014"),
        ({"insecure-registries": ["ftp://x"]}, "FC014"),
        ({"insecure-registries": ["reg.example.com/path"]}, "FC014"),
        ({"insecure-registries": ["registry:99999"]}, "FC014"),
        ({"storage-driver": "devicemapper"}, "FC016"),
        ({"storage-driver": "aufs"}, "FC016"),
        ({"storage-driver": "btrfs2"}, "FC016"),
        (
            {"storage-driver": "overlay2", "storage-opts": ["overlay2.override_kernel_check=true"]},
            "FC016",
        ),
        ({"storage-driver": "overlay2", "storage-opts": ["size=10G"]}, "FC016"),
        ({"proxies": {"http-proxy": "http://[::1"}}, "FC020"),
    ],
)
def test_files_dockerd_refuses_are_errors_with_the_right_rule(data, rule):
    assert rule in errors(data), check_daemon(data, V28).findings


@pytest.mark.parametrize(
    "data",
    [
        {"registry-mirror": ["https://m"]},
        {"insecure-registry": ["r:5000"]},
        {"label": ["a=b"]},
        {"log-opt": "max-size=1m"},
        {"host": ["unix:///x"]},
        {"add-runtime": "x"},
        {"containerd-plugins-namespace": "x"},
        {"http-proxy": "http://proxy:3128"},
        {"no-proxy": "localhost"},
        {"deprecated-key-path": "x"},
        {"restart": True},
        {"foo": {"debug": True}},
        {"foo": {}},
        {"proxies": {"debug": True}},
        {"log-opts": {"max-file": "3"}},
        {"log-driver": "none", "log-opts": {"max-size": "1m"}},
        {"default-ulimits": {"nofile": {"Name": "nofile", "Hard": 1, "Soft": 1, "Typo": 1}}},
        {"runtimes": {"crun": {"path": "/usr/bin/crun", "runtimArgs": []}}},
    ],
)
def test_keys_dockerd_accepts_but_ignores_are_warnings(data):
    found = check_daemon(data, V26).findings
    assert [f for f in found if f.severity == Severity.ERROR] == []
    assert any(f.rule in ("FC005", "FC013") and f.severity == Severity.WARNING for f in found)


def test_flag_spelling_warning_names_the_key_to_use():
    [finding] = check_daemon({"registry-mirror": ["https://m"]}).findings
    assert '"registry-mirrors"' in finding.message and "no effect" in finding.message


def test_unknown_key_suggests_the_nearest_key():
    [finding] = check_daemon({"registry-mirors": ["https://m"]}).findings
    assert finding.rule == "FC002"
    assert 'Did you mean "registry-mirrors"?' in finding.message
    assert "refuses to start" in finding.message


@pytest.mark.parametrize(
    ("data", "added_or_removed"),
    [
        ({"host-gateway-ips": ["1.2.3.4"]}, "added in Engine 28.0"),
        ({"bip6": "fd00::1/64"}, "added in Engine 28.0"),
        ({"allow-direct-routing": True}, "added in Engine 28.2"),
        ({"graph": "/var/lib/docker"}, "removed in Engine 23.0"),
        ({"cluster-store": "consul://x"}, "removed in Engine 24.0"),
        ({"oom-score-adjust": -500}, "removed in Engine 25.0"),
    ],
)
def test_keys_the_target_engine_does_not_know_are_errors_naming_the_version(data, added_or_removed):
    found = [f for f in check_daemon(data, V26).findings if f.rule == "FC006"]
    assert found and added_or_removed in found[0].message


def test_keys_from_newer_engines_are_fine_for_those_engines():
    assert errors({"host-gateway-ips": ["1.2.3.4", "::1"], "bip6": "fd00::1/64"}, V28) == []


def test_proxies_are_unknown_before_engine_23():
    assert "FC006" in errors({"proxies": {"http-proxy": "http://p:3128"}}, EngineVersion(20, 10))


def test_api_cors_header_works_on_27_and_is_refused_from_28():
    assert errors({"api-cors-header": "*"}, EngineVersion(27, 5)) == []
    assert "FC007" in warnings({"api-cors-header": "*"}, EngineVersion(27, 5))
    assert "FC006" in errors({"api-cors-header": "*"}, V28)


def test_allow_nondistributable_artifacts_is_a_no_op_from_28_1():
    assert warnings({"allow-nondistributable-artifacts": ["r:5000"]}, V28) == ["FC005"]
    assert errors({"allow-nondistributable-artifacts": ["r:5000"]}, V26) == []


def test_unknown_exec_opt_is_ignored_before_28_and_fatal_from_28():
    data = {"exec-opts": ["foo=bar"]}
    assert errors(data, V26) == [] and "FC005" in warnings(data, V26)
    assert "FC004" in errors(data, V28)


def test_builder_fields_from_28_are_ignored_by_26():
    data = {"builder": {"gc": {"defaultReservedSpace": "10GB"}}}
    assert errors(data, V26) == [] and "FC005" in warnings(data, V26)
    assert warnings(data, V28) == []


def test_removed_storage_driver_names_the_release():
    [f] = check_daemon({"storage-driver": "devicemapper"}, V26).findings
    assert "removed in Engine 25.0" in f.message and "overlay2" in f.message


def test_pool_message_explains_size_and_how_to_fix():
    [f] = check_daemon({"default-address-pools": [{"base": "10.0.0.0/16", "size": 8}]}).findings
    assert f.path == "default-address-pools[0].size"
    assert "smaller than its own prefix /16" in f.message and "at least 16" in f.message


def test_unknown_log_opt_is_reported_at_the_option():
    [f] = check_daemon({"log-opts": {"max-size": "10m", "max-files": "3"}}).findings
    assert f.path == "log-opts.max-files" and "json-file" in f.message


def test_log_plugin_is_accepted_with_an_info():
    found = check_daemon(
        {"log-driver": "grafana/loki-docker-driver:latest", "log-opts": {"loki-url": "x"}}
    ).findings
    assert [(f.rule, f.severity) for f in found] == [("FC012", Severity.INFO)]


def test_a_bare_plugin_alias_such_as_loki_is_an_info_not_an_error():
    found = check_daemon(
        {"log-driver": "loki", "log-opts": {"loki-url": "https://loki/api/prom/push"}}
    ).findings
    assert [(f.rule, f.severity) for f in found] == [("FC012", Severity.INFO)]
    assert "--alias loki" in found[0].message and "every host" in found[0].message


def test_the_empty_args_nvidia_ctk_writes_is_an_info_that_it_is_harmless():
    data = {"runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}}}
    [f] = check_daemon(data).findings
    assert (f.rule, f.severity, f.path) == ("FC005", Severity.INFO, "runtimes.nvidia.args")
    assert "harmless" in f.message and "remove" not in f.message


def test_args_with_arguments_is_a_warning_to_rename_it_runtime_args():
    data = {"runtimes": {"crun": {"args": ["--systemd-cgroup"], "path": "/usr/bin/crun"}}}
    [f] = check_daemon(data).findings
    assert (f.rule, f.severity) == ("FC005", Severity.WARNING)
    assert '"runtimeArgs"' in f.message


def test_a_tcp_socket_without_tls_is_a_warning_at_the_hosts_entry():
    data = {
        "hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375", ":2376", "tcp://[::1]:2375"]
    }
    found = check_daemon(data).findings
    assert [(f.rule, f.severity, f.path) for f in found] == [
        ("FC021", Severity.WARNING, "hosts[1]"),
        ("FC021", Severity.WARNING, "hosts[2]"),
    ]
    assert "15 s" in found[0].message and "root" in found[0].message


def test_a_tcp_socket_with_tlsverify_is_fine():
    data = {
        "hosts": ["tcp://0.0.0.0:2376"],
        "tlsverify": True,
        "tlscacert": "/etc/docker/ca.pem",
        "tlscert": "/etc/docker/cert.pem",
        "tlskey": "/etc/docker/key.pem",
    }
    assert check_daemon(data).findings == []


def test_a_typo_of_a_builtin_log_driver_is_still_an_error_that_names_it():
    [f] = check_daemon({"log-driver": "jsonfile"}).findings
    assert (f.rule, f.severity) == ("FC012", Severity.ERROR)
    assert 'Did you mean "json-file"?' in f.message


def test_mirror_with_a_path_is_only_an_info_because_dockerd_uses_the_path():
    found = check_daemon(
        {"registry-mirrors": ["https://nexus.corp/repository/docker-hub/"]}
    ).findings
    assert [(f.rule, f.severity) for f in found] == [("FC014", Severity.INFO)]


def test_mirror_credentials_are_masked_in_the_message():
    [f] = check_daemon({"registry-mirrors": ["https://bob:hunter2@m.example.com"]}).findings
    assert "hunter2" not in f.message and "bob:***@" in f.message


def test_every_occurrence_of_a_duplicate_key_is_type_checked_like_dockerd():
    result = check_daemon_bytes(b'{"debug": "yes",\n "debug": true}')
    assert {(f.rule, f.line) for f in result.findings} >= {("FC003", 1), ("FC017", 1)}
    assert not result.ok


def test_empty_file_is_valid_from_23_and_fatal_before():
    assert check_daemon_bytes(b"", engine=V26).ok
    result = check_daemon_bytes(b"", engine=EngineVersion(20, 10))
    assert [f.rule for f in result.findings] == ["FC001"]


@pytest.mark.parametrize("raw", [b"[]", b'"x"', b"3", b"true"])
def test_top_level_that_is_not_an_object_is_an_error(raw):
    [f] = check_daemon_bytes(raw, file="d.json").findings
    assert f.rule == "FC001" and f.line == 1 and "must be a JSON object" in f.message


def test_top_level_null_is_an_empty_config():
    assert check_daemon_bytes(b"null").ok


def test_findings_point_at_the_line_of_the_key():
    raw = b'{\n  "debug": true,\n  "log-opts": {\n    "max-size": 10\n  }\n}\n'
    [f] = check_daemon_bytes(raw, file="daemon.json").findings
    assert (f.file, f.line, f.column, f.path) == ("daemon.json", 4, 5, "log-opts.max-size")


def test_type_errors_say_how_to_write_the_value():
    [f] = check_daemon({"live-restore": "true"}).findings
    assert "write true without quotes" in f.message
    [f] = check_daemon({"log-opts": {"max-file": 3}}).findings
    assert 'write it in quotes: "3"' in f.message


def test_parse_daemon_returns_a_model_or_raises_with_every_error():
    cfg = parse_daemon({"debug": True, "log-opts": {"max-size": "1m"}})
    assert cfg.debug is True and cfg.log_opts == {"max-size": "1m"}
    with pytest.raises(ValueError, match="debug"):
        parse_daemon({"debug": "x", "mtu": -1})


def test_ignored_keys_are_kept_in_the_model():
    cfg = parse_daemon({"registry-mirror": ["https://m"]}, V26)
    assert cfg.to_json_dict() == {"registry-mirror": ["https://m"]}


def test_nested_fields_are_matched_case_insensitively_and_written_canonically():
    cfg = parse_daemon({"default-ulimits": {"nofile": {"name": "nofile", "HARD": 10, "soft": 5}}})
    assert cfg.to_json_dict() == {
        "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 10, "Soft": 5}}
    }


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        # dockerd decodes every occurrence of a key: the earlier one is checked too
        (b'{"ip": "localhost", "ip": "10.0.0.1"}', "FC015"),
        # repeated objects merge, and both are type-checked
        (
            b'{"default-network-opts": {"bridge": {"a": 1}}, "default-network-opts": {"bridge": {"a": "1"}}}',
            "FC003",
        ),
        # a later null does not undo an earlier value...
        (b'{"fixed-cidr-v6": "fd00::1", "fixed-cidr-v6": null}', "FC015"),
        # ...but the key check sees the null, and "proxies" alone is no flag
        (b'{"proxies": {}, "proxies": null}', "FC003"),
        # dockerd's size type decodes null itself, and refuses it
        (b'{"default-shm-size": "1g", "default-shm-size": null}', "FC004"),
        (b'{"default-shm-size": null}', "FC004"),
    ],
)
def test_duplicate_keys_follow_gos_decoding(raw, rule):
    result = check_daemon_bytes(raw)
    assert rule in {f.rule for f in result.findings if f.severity == Severity.ERROR}, (
        result.findings
    )


@pytest.mark.parametrize(
    ("data", "rule", "severity"),
    [
        ({"bip": "172.26.0.1/16", "default-gateway": "10.0.0.1"}, "FC015", Severity.ERROR),
        ({"mtu": 50}, "FC004", Severity.ERROR),
        ({"mtu": 70000}, "FC004", Severity.ERROR),
        # dockerd accepts these but they do not do what they say
        ({"registry-mirrors": ["https://"]}, "FC014", Severity.WARNING),
        ({"bip": "172.26.0.1/16", "fixed-cidr": "10.0.0.0/24"}, "FC015", Severity.WARNING),
    ],
)
def test_bridge_and_mirror_details(data, rule, severity):
    assert [(f.rule, f.severity) for f in check_daemon(data).findings] == [(rule, severity)]
