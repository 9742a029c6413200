"""Fleet rules FC030-FC041: each fires on the mistake and stays quiet on the fix."""

from __future__ import annotations

from pathlib import Path

from fleetcfg.core.findings import Severity
from tests.unit.inventory.repo import line_of
from tests.unit.lint.helpers import CLEAN, daemon, lint, of, one, relative, rules

RESERVED = """
defaults:
  engine_version: "26.1"
  daemon_profile: base
  vars:
    pools: [{base: 172.20.0.0/14, size: 24}]
networks:
  reserved: [10.0.0.0/8, 192.168.0.0/16]
groups:
  office:
    vars:
      pools: [{base: 192.168.64.0/18, size: 24}]
    hosts:
      office-01: {address: 10.1.0.1}
      office-02: {address: 10.1.0.2}
  dc:
    hosts:
      dc-01: {address: 10.2.0.1}
"""

POOLS_FROM_VARS = """
live-restore: true
log-opts: {max-size: "50m", max-file: "5"}
default-address-pools:
{% for pool in pools %}
  - base: {{ pool.base }}
    size: {{ pool.size }}
{% endfor %}
"""


# -- FC030 reserved-overlap ---------------------------------------------------


def test_a_pool_in_a_reserved_range_is_an_error_at_the_inventory_item(tmp_path: Path) -> None:
    report = lint(tmp_path, RESERVED, {"base.yaml.j2": POOLS_FROM_VARS})
    finding = one(report, "FC030")
    assert finding.severity is Severity.ERROR
    assert finding.hosts == ("office-01", "office-02")
    assert relative(finding, tmp_path) == (
        "inventory.yaml",
        line_of(tmp_path / "inventory.yaml", "192.168.64.0/18"),
    )
    assert "192.168.0.0/16" in finding.message and "base.yaml.j2:5" in finding.message


def test_a_bridge_in_a_reserved_range_is_reported_at_the_template_line(tmp_path: Path) -> None:
    inventory = RESERVED.replace("192.168.64.0/18", "172.24.0.0/14")
    report = lint(tmp_path, inventory, {"base.yaml.j2": POOLS_FROM_VARS + "bip: 10.200.0.1/24\n"})
    finding = one(report, "FC030")
    assert relative(finding, tmp_path) == ("profiles/base.yaml.j2", 8)
    assert finding.hosts == ("office-01", "office-02", "dc-01")
    assert "bip 10.200.0.1/24" in finding.message


def test_built_in_pools_that_overlap_a_reserved_range_are_blamed_on_the_root_profile(
    tmp_path: Path,
) -> None:
    profiles = {
        "base.yaml.j2": 'live-restore: true\nlog-opts: {max-size: "50m"}\n',
        "web.yaml.j2": "x-fleetcfg: {extends: base}\ndebug: false\n",
    }
    inventory = RESERVED.replace("daemon_profile: base", "daemon_profile: web")
    finding = one(lint(tmp_path, inventory, profiles), "FC030")
    assert relative(finding, tmp_path) == ("profiles/base.yaml.j2", 1)
    assert "built-in pools" in finding.message and len(finding.hosts) == 3


def test_pools_clear_of_the_reserved_ranges_pass(tmp_path: Path) -> None:
    inventory = RESERVED.replace("192.168.64.0/18", "172.24.0.0/14")
    assert lint(tmp_path, inventory, {"base.yaml.j2": POOLS_FROM_VARS}).findings == []


def test_ipv6_ranges_are_compared_with_ipv6_reserved_ranges(tmp_path: Path) -> None:
    inventory = RESERVED.replace("[10.0.0.0/8, 192.168.0.0/16]", "[fd00:10::/32]")
    report = lint(
        tmp_path,
        inventory.replace("192.168.64.0/18", "172.24.0.0/14"),
        {"base.yaml.j2": POOLS_FROM_VARS + "fixed-cidr-v6: fd00:10:1::/64\n"},
    )
    assert "fixed-cidr-v6 fd00:10:1::/64" in one(report, "FC030").message


# -- FC031 range-overlap --------------------------------------------------------


def test_pools_that_overlap_each_other_are_a_warning(tmp_path: Path) -> None:
    report = daemon(
        tmp_path,
        "  - {base: 172.21.0.0/16, size: 24}\n",
    )
    finding = one(report, "FC031")
    assert finding.severity is Severity.WARNING
    assert "default-address-pools[1] 172.21.0.0/16 overlaps default-address-pools[0]" in (
        finding.message
    )
    assert relative(finding, tmp_path) == ("profiles/base.yaml.j2", 5)


def test_a_bridge_inside_a_pool_is_a_warning(tmp_path: Path) -> None:
    finding = one(daemon(tmp_path, "bip: 172.22.0.1/16\n"), "FC031")
    assert "default bridge (bip 172.22.0.1/16)" in finding.message


def test_separate_pools_and_bridge_pass(tmp_path: Path) -> None:
    report = daemon(tmp_path, "  - {base: 172.24.0.0/14, size: 24}\nbip: 172.17.0.1/16\n")
    assert report.findings == []


# -- FC032 covers-inventory-hosts --------------------------------------------------


def test_a_pool_that_contains_inventory_hosts_is_an_error_naming_them(tmp_path: Path) -> None:
    inventory = """
    defaults: {engine_version: "26.1", daemon_profile: base}
    hosts:
      web-01: {address: 172.21.4.1}
      web-02: {address: 172.21.4.2}
      ws: {address: 127.0.0.1, connection: local}
      db-01: {address: 10.0.0.5}
    """
    finding = one(lint(tmp_path, inventory), "FC032")
    assert "2 inventory hosts (web-01 172.21.4.1, web-02 172.21.4.2)" in finding.message
    assert finding.hosts == ("web-01", "web-02", "ws", "db-01")


def test_built_in_pools_that_contain_inventory_hosts_are_reported(tmp_path: Path) -> None:
    inventory = """
    defaults: {engine_version: "26.1", daemon_profile: base}
    hosts:
      lab-01: {address: 192.168.1.20}
    """
    profiles = {"base.yaml.j2": 'live-restore: true\nlog-opts: {max-size: "50m"}\n'}
    finding = one(lint(tmp_path, inventory, profiles), "FC032")
    assert "built-in pools" in finding.message and "lab-01 192.168.1.20" in finding.message


def test_pools_away_from_the_fleet_pass(tmp_path: Path) -> None:
    assert of(lint(tmp_path), "FC032") == []


# -- FC033 no-proxy -------------------------------------------------------------------

PROXIED = """
defaults:
  engine_version: "26.1"
  daemon_profile: base
  vars:
    no_proxy: "localhost,.corp.example.com"
    mirrors: [https://mirror.corp.example.com]
    insecure: []
networks:
  internal_domains: [corp.example.com]
hosts:
  web-01: {address: 10.0.0.1}
"""

PROXY_PROFILE = (
    CLEAN
    + """
registry-mirrors: {{ mirrors | to_json }}
insecure-registries: {{ insecure | to_json }}
proxies:
  https-proxy: "http://proxy.corp.example.com:3128"
  http-proxy: "http://proxy.corp.example.com:3128"
  no-proxy: "{{ no_proxy }}"
"""
)


def proxied(root: Path, **replacements: str) -> list[str]:
    inventory = PROXIED
    for old, new in replacements.items():
        inventory = inventory.replace(old, new)
    report = lint(root, inventory, {"base.yaml.j2": PROXY_PROFILE})
    return [f.message for f in of(report, "FC033")]


def test_a_complete_no_proxy_passes(tmp_path: Path) -> None:
    assert proxied(tmp_path) == []


def test_a_mirror_the_proxy_would_carry_is_reported(tmp_path: Path) -> None:
    [message] = proxied(
        tmp_path, **{"https://mirror.corp.example.com": "https://cache.example.net"}
    )
    assert 'misses the registry mirror "https://cache.example.net"' in message
    assert 'Add "cache.example.net"' in message


def test_an_insecure_registry_the_proxy_would_carry_is_reported(tmp_path: Path) -> None:
    [message] = proxied(tmp_path, **{"insecure: []": "insecure: [reg.lab.example.net:5000]"})
    assert 'insecure registry "reg.lab.example.net:5000"' in message


def test_an_insecure_registry_range_needs_a_covering_cidr(tmp_path: Path) -> None:
    assert proxied(tmp_path, **{"insecure: []": "insecure: [10.9.0.0/16]"}) != []
    assert (
        proxied(
            tmp_path / "covered",
            **{
                "insecure: []": "insecure: [10.9.0.0/16]",
                "localhost,": "localhost,10.0.0.0/8,",
            },
        )
        == []
    )


def test_an_internal_domain_missing_from_no_proxy_is_reported(tmp_path: Path) -> None:
    messages = proxied(
        tmp_path, **{"localhost,.corp.example.com": "localhost,mirror.corp.example.com"}
    )
    assert len(messages) == 1 and "internal domain corp.example.com" in messages[0]


def test_a_no_proxy_of_star_bypasses_everything(tmp_path: Path) -> None:
    assert proxied(tmp_path, **{"localhost,.corp.example.com": "*"}) == []


def test_a_no_proxy_entry_with_another_port_does_not_cover_the_mirror(tmp_path: Path) -> None:
    messages = proxied(
        tmp_path,
        **{
            "localhost,.corp.example.com": "mirror.corp.example.com:5000,corp.example.com",
            "https://mirror.corp.example.com": "https://mirror.corp.example.net",
        },
    )
    assert any("mirror.corp.example.net" in m for m in messages)


def test_no_proxies_no_no_proxy_findings(tmp_path: Path) -> None:
    report = lint(
        tmp_path,
        PROXIED,
        {"base.yaml.j2": CLEAN + "registry-mirrors: [https://cache.example.net]\n"},
    )
    assert of(report, "FC033") == []


def test_a_client_no_proxy_missing_an_internal_domain_is_reported(tmp_path: Path) -> None:
    inventory = PROXIED.replace(
        "daemon_profile: base", "daemon_profile: base\n  client_profile: client"
    )
    client = """
    {"proxies": {"default": {"httpsProxy": "http://proxy:3128", "noProxy": "localhost"}}}
    """
    report = lint(tmp_path, inventory, {"base.yaml.j2": PROXY_PROFILE, "client.json.j2": client})
    finding = one(report, "FC033")
    assert relative(finding, tmp_path)[0] == "profiles/client.json.j2"
    assert "proxies.default.noProxy" in finding.message


# -- FC034 http-mirror-not-insecure / FC035 mirror-scope --------------------------------


def test_an_http_mirror_missing_from_insecure_registries_is_a_warning(tmp_path: Path) -> None:
    finding = one(daemon(tmp_path, "registry-mirrors: [http://cache.lan:5000]\n"), "FC034")
    assert finding.severity is Severity.WARNING
    assert 'Add "cache.lan:5000" to insecure-registries' in finding.message


def test_an_http_mirror_listed_as_insecure_passes(tmp_path: Path) -> None:
    report = daemon(
        tmp_path,
        "registry-mirrors: [http://cache.lan:5000]\ninsecure-registries: [cache.lan:5000]\n",
    )
    assert report.findings == []


def test_a_mirror_of_another_registry_gets_an_info(tmp_path: Path) -> None:
    report = daemon(tmp_path, "registry-mirrors: [https://cache.lan/ghcr-proxy]\n")
    finding = one(report, "FC035")
    assert finding.severity is Severity.INFO and "ghcr.io" in finding.message
    assert of(daemon(tmp_path / "hub", "registry-mirrors: [https://cache.lan]\n"), "FC035") == []


# -- FC036 log-rotation / FC037 live-restore --------------------------------------------


def test_the_default_log_driver_without_rotation_is_blamed_on_the_root_profile(
    tmp_path: Path,
) -> None:
    report = lint(tmp_path, profiles={"base.yaml.j2": "live-restore: true\n"})
    finding = one(report, "FC036")
    assert relative(finding, tmp_path) == ("profiles/base.yaml.j2", 1)
    assert "default log driver (json-file)" in finding.message


def test_json_file_without_max_size_is_reported_at_log_opts(tmp_path: Path) -> None:
    profile = 'live-restore: true\nlog-driver: json-file\nlog-opts:\n  max-file: "3"\n'
    finding = one(lint(tmp_path, profiles={"base.yaml.j2": profile}), "FC036")
    assert relative(finding, tmp_path) == ("profiles/base.yaml.j2", 3)


def test_rotated_and_local_and_remote_logging_pass(tmp_path: Path) -> None:
    for name, profile in {
        "rotated": 'live-restore: true\nlog-opts: {max-size: "10m"}\n',
        "local": "live-restore: true\nlog-driver: local\n",
        "journald": "live-restore: true\nlog-driver: journald\n",
    }.items():
        report = lint(tmp_path / name, profiles={"base.yaml.j2": profile})
        assert of(report, "FC036") == [], name


def test_live_restore_false_is_reported_where_it_is_written(tmp_path: Path) -> None:
    profile = CLEAN.replace("live-restore: true", "live-restore: false")
    finding = one(lint(tmp_path, profiles={"base.yaml.j2": profile}), "FC037")
    assert relative(finding, tmp_path) == ("profiles/base.yaml.j2", 1)
    assert "false" in finding.message


def test_live_restore_missing_is_reported(tmp_path: Path) -> None:
    profile = CLEAN.replace("live-restore: true\n", "")
    assert "is not set" in one(lint(tmp_path, profiles={"base.yaml.j2": profile}), "FC037").message
    assert of(lint(tmp_path / "on"), "FC037") == []


# -- FC038 metrics-exposed / FC041 metrics-addr-other-host --------------------------------


def test_metrics_on_every_interface_are_a_warning(tmp_path: Path) -> None:
    for addr in ("0.0.0.0:9323", "[::]:9323", ":9323"):
        report = daemon(tmp_path / addr.replace(":", "_"), f'metrics-addr: "{addr}"\n')
        assert one(report, "FC038").severity is Severity.WARNING, addr


def test_metrics_on_the_hosts_own_address_pass(tmp_path: Path) -> None:
    report = daemon(tmp_path, 'metrics-addr: "{{ address }}:9323"\n')
    assert report.findings == []


def test_metrics_on_another_hosts_address_is_an_error(tmp_path: Path) -> None:
    inventory = """
    defaults: {engine_version: "26.1", daemon_profile: base}
    hosts:
      mon-01: {address: 10.3.0.1}
      mon-02: {address: 10.3.0.2}
    """
    report = lint(tmp_path, inventory, {"base.yaml.j2": CLEAN + 'metrics-addr: "10.3.0.1:9323"\n'})
    finding = one(report, "FC041")
    assert finding.hosts == ("mon-02",) and "mon-01" in finding.message


# -- FC039 hosts-with-systemd ----------------------------------------------------------


def test_hosts_in_daemon_json_is_an_error(tmp_path: Path) -> None:
    finding = one(daemon(tmp_path, 'hosts: ["unix:///var/run/docker.sock"]\n'), "FC039")
    assert finding.severity is Severity.ERROR and "-H fd://" in finding.message
    assert relative(finding, tmp_path) == ("profiles/base.yaml.j2", 5)


def test_no_hosts_key_passes(tmp_path: Path) -> None:
    assert "FC039" not in rules(lint(tmp_path))


# -- FC040 credentials-in-repo ------------------------------------------------------------

PROXY_WITH = """
proxies:
  https-proxy: "http://svc:{password}@proxy.corp.example.com:3128"
"""


def test_a_literal_proxy_password_in_a_template_is_an_error(tmp_path: Path) -> None:
    report = daemon(tmp_path, PROXY_WITH.format(password="s3cret-pw"))
    finding = one(report, "FC040")
    base = tmp_path / "profiles" / "base.yaml.j2"
    assert relative(finding, tmp_path) == ("profiles/base.yaml.j2", line_of(base, "https-proxy"))
    assert "s3cret-pw" not in finding.message and "svc:***@" in finding.message


def test_a_proxy_password_from_an_inventory_variable_points_at_the_variable(
    tmp_path: Path,
) -> None:
    inventory = """
    defaults:
      engine_version: "26.1"
      daemon_profile: base
      vars: {proxy_pass: s3cret-pw}
    hosts:
      web-01: {address: 10.0.0.1}
    """
    report = lint(
        tmp_path,
        inventory,
        {"base.yaml.j2": CLEAN + PROXY_WITH.format(password="{{ proxy_pass }}")},
    )
    finding = one(report, "FC040")
    assert relative(finding, tmp_path) == ("inventory.yaml", 4)


def test_passwords_from_env_and_file_lookups_pass(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir(parents=True)
    (tmp_path / "secrets" / "proxy").write_text("from-a-file\n")
    for password in ('{{ env("PROXY_PASSWORD") }}', '{{ file("secrets/proxy") | urlencode }}'):
        report = daemon(tmp_path, PROXY_WITH.format(password=password))
        assert of(report, "FC040") == [], password


def test_an_inventory_variable_named_like_a_secret_is_an_error(tmp_path: Path) -> None:
    inventory = """
    defaults:
      engine_version: "26.1"
      daemon_profile: base
    groups:
      ci:
        vars: {registry_token: glpat-abcdef}
        hosts:
          ci-01: {address: 10.0.0.1}
    """
    finding = one(lint(tmp_path, inventory), "FC040")
    where = line_of(tmp_path / "inventory.yaml", "registry_token")
    assert relative(finding, tmp_path) == ("inventory.yaml", where)
    assert finding.hosts == ("ci-01",) and "glpat" not in finding.message


def test_a_literal_registry_auth_in_a_client_profile_is_an_error(tmp_path: Path) -> None:
    inventory = ONE_CLIENT
    client = '{"auths": {"registry.corp": {"auth": "c3ZjOnB3ZA=="}}}\n'
    finding = one(
        lint(tmp_path, inventory, {"base.yaml.j2": CLEAN, "client.json.j2": client}), "FC040"
    )
    assert relative(finding, tmp_path)[0] == "profiles/client.json.j2"
    assert "c3ZjOnB3ZA" not in finding.message
    from_file = '{"auths": {"registry.corp": {"auth": "{{ file(\'auth\') }}"}}}\n'
    report = lint(tmp_path / "ok", inventory, {"base.yaml.j2": CLEAN, "client.json.j2": from_file})
    assert of(report, "FC040") == []


ONE_CLIENT = """
defaults:
  engine_version: "26.1"
  daemon_profile: base
  client_profile: client
hosts:
  web-01: {address: 10.0.0.1}
"""
