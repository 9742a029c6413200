"""inventory.yaml's proxy: per host: where it goes, the password, the findings."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcfg.core.errors import SecretLookupError
from fleetcfg.core.secrets import Lookups, mask_text
from fleetcfg.dockerd.dropin import render_env_file
from fleetcfg.inventory import Host
from fleetcfg.plan.facts_parse import parse_environment_file
from fleetcfg.render.proxy import dropin_findings, resolve_proxy, with_daemon_proxies
from tests.unit.inventory.repo import line_of, load_repo

INVENTORY = """
secrets: {{env: [PROXY_PASSWORD]}}
defaults:
  proxy:
    http: http://svc@proxy.corp:3128
    https: http://svc@proxy.corp:3128
    no_proxy: [localhost, 127.0.0.1, .corp.example.com]
    password_env: PROXY_PASSWORD
{extra}
hosts:
  old: {{engine_version: "20.10"}}
  new: {{engine_version: "26.1"}}
"""


def hosts(tmp_path: Path, extra: str = "") -> dict[str, Host]:
    return dict(load_repo(tmp_path, INVENTORY.format(extra=extra)).hosts)


def lookups(tmp_path: Path, password: str = "p@ss%word") -> Lookups:
    return Lookups(
        tmp_path, {"PROXY_PASSWORD": password}, allowed_env=frozenset({"PROXY_PASSWORD"})
    )


def test_auto_writes_the_drop_in_below_engine_23_and_daemon_json_from_23(tmp_path: Path) -> None:
    found = hosts(tmp_path)
    old = resolve_proxy(found["old"], lookups(tmp_path))
    new = resolve_proxy(found["new"], lookups(tmp_path))
    assert old is not None and new is not None
    assert (old.to_dropin, old.to_daemon) == (True, False)
    assert (new.to_dropin, new.to_daemon) == (False, True)


@pytest.mark.parametrize(
    ("where", "dropin", "daemon"), [("dropin", True, False), ("both", True, True)]
)
def test_where_chooses_the_places(tmp_path: Path, where: str, dropin: bool, daemon: bool) -> None:
    host = hosts(tmp_path, f"    where: {where}")["new"]
    proxy = resolve_proxy(host, lookups(tmp_path))
    assert proxy is not None and (proxy.to_dropin, proxy.to_daemon) == (dropin, daemon)


def test_one_no_proxy_list_feeds_both_places(tmp_path: Path) -> None:
    proxy = resolve_proxy(hosts(tmp_path, "    where: both")["new"], lookups(tmp_path))
    assert proxy is not None
    joined = "localhost,127.0.0.1,.corp.example.com"
    assert proxy.daemon_proxies()["no-proxy"] == joined
    assert proxy.environment()["NO_PROXY"] == joined


def test_the_password_is_url_encoded_into_the_urls_and_masked(tmp_path: Path) -> None:
    proxy = resolve_proxy(hosts(tmp_path)["old"], lookups(tmp_path))
    assert proxy is not None
    assert proxy.http == "http://svc:p%40ss%25word@proxy.corp:3128"
    assert proxy.urls_hold_credentials and not proxy.dropin_holds_credentials
    assert "40ss" not in proxy.dropin_text()
    text = proxy.env_file_text()
    assert text is not None
    # an environment file has no specifiers: % stays single, unlike in the drop-in
    assert 'HTTP_PROXY="http://svc:p%40ss%25word@proxy.corp:3128"' in text.splitlines()
    masked = mask_text(text, proxy.secrets)
    assert "40ss" not in masked and "word" not in masked


def test_without_a_password_the_drop_in_holds_the_variables_itself(tmp_path: Path) -> None:
    text = (
        INVENTORY.format(extra="")
        .replace("    password_env: PROXY_PASSWORD\n", "")
        .replace("svc@", "")
    )
    proxy = resolve_proxy(load_repo(tmp_path, text).hosts["old"], lookups(tmp_path))
    assert proxy is not None and proxy.env_file_text() is None
    assert not proxy.urls_hold_credentials and not proxy.dropin_holds_credentials
    assert 'Environment="HTTP_PROXY=http://proxy.corp:3128"' in proxy.dropin_text()


@pytest.mark.parametrize(
    "value",
    ["http://u:p%40ss@proxy:3128", 'a"b', "back\\slash", "$HOME `id` 'q' %h #x ;y"],
)
def test_the_environment_file_gives_systemd_each_value_back_unchanged(value: str) -> None:
    [line] = render_env_file({"HTTP_PROXY": value}).splitlines()[2:]
    assert parse_environment_file(line) == {"HTTP_PROXY": value}


def test_an_unset_password_variable_names_the_inventory_line(tmp_path: Path) -> None:
    host = hosts(tmp_path)["old"]
    empty = Lookups(tmp_path, {}, allowed_env=frozenset({"PROXY_PASSWORD"}))
    with pytest.raises(SecretLookupError) as caught:
        resolve_proxy(host, empty)
    assert caught.value.line == line_of(tmp_path / "inventory.yaml", "password_env")
    assert caught.value.key == "proxy.password_env"


def test_where_daemon_on_an_engine_below_23_is_fc084(tmp_path: Path) -> None:
    proxy = resolve_proxy(hosts(tmp_path, "    where: daemon")["old"], lookups(tmp_path))
    assert proxy is not None and not proxy.to_daemon
    (finding,) = proxy.findings
    assert finding.rule == "FC084"
    assert finding.line == line_of(tmp_path / "inventory.yaml", "where: daemon")


def test_a_password_written_in_the_url_is_fc087(tmp_path: Path) -> None:
    text = INVENTORY.format(extra="").replace("http: http://svc@", "http: http://svc:hunter2@")
    host = load_repo(tmp_path, text).hosts["new"]
    proxy = resolve_proxy(host, lookups(tmp_path))
    assert proxy is not None
    assert [f.rule for f in proxy.findings] == ["FC087"]


def test_proxies_join_daemon_json_and_an_equal_profile_value_is_fine(tmp_path: Path) -> None:
    host = hosts(tmp_path)["new"]
    proxy = resolve_proxy(host, lookups(tmp_path))
    assert proxy is not None
    data, findings = with_daemon_proxies(host, proxy, {"debug": True})
    assert data["proxies"] == proxy.daemon_proxies() and not findings
    again, findings = with_daemon_proxies(host, proxy, data)
    assert again == data and not findings


def test_a_profile_with_other_proxies_is_fc083(tmp_path: Path) -> None:
    host = hosts(tmp_path)["new"]
    proxy = resolve_proxy(host, lookups(tmp_path))
    own = {"proxies": {"http-proxy": "http://other:3128"}}
    data, findings = with_daemon_proxies(host, proxy, own)
    assert data == own
    assert [f.rule for f in findings] == ["FC083"]


def test_hand_written_drop_in_lines_are_checked_against_daemon_json(tmp_path: Path) -> None:
    extra = """    dropin_lines:
      - 'Environment="FOO=50%"'
      - ExecStart=
      - ExecStart=/usr/bin/dockerd -H fd://"""
    host = hosts(tmp_path, extra)["old"]
    proxy = resolve_proxy(host, lookups(tmp_path))
    assert proxy is not None
    findings = dropin_findings(host, proxy, {"hosts": ["unix:///var/run/docker.sock"]})
    assert [(f.rule, f.path) for f in findings] == [
        ("FC080", "proxy.dropin_lines[0]"),
        ("FC082", "proxy.dropin_lines[2]"),
    ]
    assert findings[0].line == line_of(tmp_path / "inventory.yaml", "dropin_lines")


def test_a_host_without_proxy_urls_has_no_proxy(tmp_path: Path) -> None:
    host = load_repo(tmp_path, "hosts: {web: {}}").hosts["web"]
    assert resolve_proxy(host, lookups(tmp_path)) is None


def test_enabled_false_turns_off_a_proxy_a_lower_layer_set(tmp_path: Path) -> None:
    text = INVENTORY.format(extra="").replace(
        'old: {engine_version: "20.10"}', 'old: {engine_version: "20.10", proxy: {enabled: false}}'
    )
    found = load_repo(tmp_path, text).hosts
    assert resolve_proxy(found["old"], lookups(tmp_path)) is None
    assert resolve_proxy(found["new"], lookups(tmp_path)) is not None
