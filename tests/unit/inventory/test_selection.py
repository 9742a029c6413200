"""--limit: host names, group names (with children), globs, exclusions."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcfg.cli.exits import exit_code_for
from fleetcfg.core.errors import UsageError
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.inventory import Inventory
from tests.unit.inventory.repo import load_repo

FLEET = """
groups:
  ci-runners:
    hosts:
      ci-01: {address: 10.0.0.1}
      ci-02: {address: 10.0.0.2}
  prod:
    children: [prod-eu, prod-us]
  prod-eu:
    hosts:
      eu-01: {address: 10.1.0.1}
      eu-02: {address: 10.1.0.2}
  prod-us:
    hosts:
      us-01: {address: 10.2.0.1}
  gpu:
    hosts:
      ci-02:
      eu-02:
hosts:
  ws-7: {address: 127.0.0.1, connection: local}
"""


@pytest.fixture
def inv(tmp_path: Path) -> Inventory:
    return load_repo(tmp_path, FLEET)


def names(inv: Inventory, *patterns: str) -> list[str]:
    return [h.name for h in inv.select(list(patterns))]


def test_no_pattern_selects_every_host_in_inventory_order(inv: Inventory) -> None:
    assert names(inv) == ["ci-01", "ci-02", "eu-01", "eu-02", "us-01", "ws-7"]


def test_a_host_name_selects_that_host(inv: Inventory) -> None:
    assert names(inv, "eu-02") == ["eu-02"]


def test_a_group_selects_its_hosts_and_its_childrens(inv: Inventory) -> None:
    assert names(inv, "prod") == ["eu-01", "eu-02", "us-01"]


def test_a_glob_matches_host_names(inv: Inventory) -> None:
    assert names(inv, "ci-*") == ["ci-01", "ci-02"]


def test_a_glob_matches_group_names(inv: Inventory) -> None:
    assert names(inv, "prod-*") == ["eu-01", "eu-02", "us-01"]


def test_comma_separated_and_repeated_patterns_are_a_union(inv: Inventory) -> None:
    assert names(inv, "ci-01,us-01", "ws-7") == ["ci-01", "us-01", "ws-7"]


def test_bang_excludes_and_ampersand_intersects(inv: Inventory) -> None:
    assert names(inv, "prod,!eu-01") == ["eu-02", "us-01"]
    assert names(inv, "prod", "&gpu") == ["eu-02"]
    assert names(inv, "!gpu") == ["ci-01", "eu-01", "us-01", "ws-7"]


def test_all_selects_everything(inv: Inventory) -> None:
    assert len(names(inv, "all")) == 6


def test_an_unknown_name_is_a_usage_error_with_a_suggestion(inv: Inventory) -> None:
    with pytest.raises(UsageError) as caught:
        inv.select(["prod-uss"])
    assert exit_code_for(caught.value) == ExitCode.USAGE
    assert "prod-us" in (caught.value.hint or "")


def test_a_glob_matching_nothing_is_a_usage_error(inv: Inventory) -> None:
    with pytest.raises(UsageError, match="matches no host or group"):
        inv.select(["db-*"])


def test_an_unknown_host_lookup_is_a_usage_error(inv: Inventory) -> None:
    with pytest.raises(UsageError, match="unknown host 'ci-3'") as caught:
        inv.host("ci-3")
    assert "ci-01" in (caught.value.hint or "")
