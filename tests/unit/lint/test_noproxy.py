"""no-proxy lists read the way Go's net/http reads them (dockerd's proxies)."""

from __future__ import annotations

import ipaddress

import pytest

from fleetcfg.lint.noproxy import parse_no_proxy

LIST = (
    "localhost, 10.0.0.0/8,.corp.example.com,mirror.example.net,reg.lab:5000,[fd00::1]:80,*.apps.io"
)


@pytest.mark.parametrize(
    ("host", "port", "direct"),
    [
        ("mirror.example.net", "443", True),  # a domain matches itself
        ("eu.mirror.example.net", "443", True),  # ... and its subdomains
        ("x.corp.example.com", "443", True),  # a leading dot: subdomains
        ("corp.example.com", "443", False),  # ... but not the domain itself
        ("web.apps.io", "80", True),  # *.domain is .domain
        ("reg.lab", "5000", True),  # host:port matches that port
        ("reg.lab", "443", False),  # ... only
        ("10.20.30.40", "443", True),  # a CIDR matches IP addresses
        ("fd00::1", "80", True),
        ("fd00::1", "443", False),
        ("localhost", "443", True),  # never proxied
        ("127.0.0.53", "80", True),
        ("::1", "80", True),
        ("registry-1.docker.io", "443", False),
    ],
)
def test_go_rules_decide_what_goes_direct(host: str, port: str, direct: bool) -> None:
    assert parse_no_proxy(LIST).bypasses(host, port) is direct


def test_a_cidr_does_not_match_names() -> None:
    assert not parse_no_proxy("10.0.0.0/8").bypasses("mirror.corp", "443")


def test_star_matches_everything() -> None:
    no_proxy = parse_no_proxy("localhost,*")
    assert no_proxy.bypasses("anything.example", "443")
    assert no_proxy.covers_network(ipaddress.ip_network("203.0.113.0/24"))


def test_an_empty_list_matches_only_loopback() -> None:
    no_proxy = parse_no_proxy("")
    assert no_proxy.bypasses("localhost", "80") and not no_proxy.bypasses("example.com", "80")


def test_domain_coverage_asks_about_any_host_of_the_domain() -> None:
    assert parse_no_proxy(".corp.example.com").covers_domain("corp.example.com", "443")
    assert parse_no_proxy("example.com").covers_domain("corp.example.com", "443")
    assert not parse_no_proxy("mirror.corp.example.com").covers_domain("corp.example.com", "443")
    assert not parse_no_proxy("corp.example.com:443").covers_domain("corp.example.com", "80")


def test_network_coverage_needs_a_cidr_that_contains_it() -> None:
    no_proxy = parse_no_proxy("10.0.0.0/8")
    assert no_proxy.covers_network(ipaddress.ip_network("10.9.0.0/16"))
    assert not no_proxy.covers_network(ipaddress.ip_network("11.0.0.0/16"))
