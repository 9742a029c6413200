"""Groups, children and hosts: located errors for every inconsistency."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcfg.core.errors import InventoryError, UsageError
from fleetcfg.inventory import InventoryErrors, load_inventory
from tests.unit.inventory.repo import line_of, load_repo, write_repo


def problems(path: Path) -> list[InventoryError]:
    with pytest.raises(InventoryErrors) as caught:
        load_inventory(path)
    return caught.value.problems


def test_children_hosts_are_members_of_the_parent_group(tmp_path: Path) -> None:
    inv = load_repo(
        tmp_path,
        """
        groups:
          prod:
            children: [prod-eu, prod-us]
          prod-eu:
            hosts: {eu-01: {address: 10.0.0.1}}
          prod-us:
            children: [prod-us-east]
          prod-us-east:
            hosts: {use-01: {address: 10.0.0.2}}
        """,
    )
    assert inv.group_hosts("prod") == {"eu-01", "use-01"}
    assert inv.groups["prod-us-east"].parents == ("prod-us",)
    assert inv.groups["prod-us-east"].depth == 2
    assert inv.host("use-01").groups == ("prod", "prod-us", "prod-us-east")


def test_a_cycle_in_children_is_a_located_error_showing_the_cycle(tmp_path: Path) -> None:
    path = write_repo(
        tmp_path,
        """
        groups:
          a:
            children: [b]
          b:
            children: [c]
          c:
            children: [a]
        """,
    )
    [problem] = problems(path)
    assert "a -> b -> c -> a" in problem.message
    assert problem.file == str(path)
    assert problem.line == line_of(path, "children: [a]")


def test_a_group_listing_itself_as_child_is_an_error(tmp_path: Path) -> None:
    path = write_repo(tmp_path, "groups:\n  a:\n    children: [a]\n")
    [problem] = problems(path)
    assert "itself" in problem.message
    assert problem.line == 3


def test_an_unknown_child_group_is_a_located_error_with_a_suggestion(tmp_path: Path) -> None:
    path = write_repo(
        tmp_path,
        """
        groups:
          prod:
            children: [prod-eu, prod-us]
          prod-eu: {}
          prod-useast: {}
        """,
    )
    [problem] = problems(path)
    assert "unknown child group 'prod-us'" in problem.message
    line = line_of(path, "children:")
    assert problem.line == line
    assert problem.column == path.read_text().splitlines()[line - 1].index("prod-us]") + 1
    assert "prod-useast" in (problem.hint or "")


def test_a_host_defined_twice_is_an_error_naming_both_lines(tmp_path: Path) -> None:
    path = write_repo(
        tmp_path,
        """
        groups:
          web:
            hosts:
              web-01: {address: 10.0.0.1}
          edge:
            hosts:
              web-01: {address: 10.0.0.9}
        """,
    )
    [problem] = problems(path)
    assert "defined twice" in problem.message
    assert problem.host == "web-01"
    assert problem.line == line_of(path, "web-01", 2)
    assert f"line {line_of(path, 'web-01', 1)}" in problem.message


def test_an_empty_entry_in_another_group_is_membership_not_a_definition(tmp_path: Path) -> None:
    inv = load_repo(
        tmp_path,
        """
        groups:
          web:
            hosts:
              web-01: {address: 10.0.0.1}
          monitored:
            vars: {scrape: true}
            hosts:
              web-01:
        hosts:
          db-01: {address: 10.0.0.2}
        """,
    )
    host = inv.host("web-01")
    assert host.address == "10.0.0.1"
    assert host.groups == ("monitored", "web")
    assert host.vars["scrape"] is True


def test_two_hosts_with_the_same_address_and_port_is_an_error(tmp_path: Path) -> None:
    path = write_repo(
        tmp_path,
        """
        hosts:
          a: {address: 10.0.0.1}
          b: {address: 10.0.0.1}
        """,
    )
    [problem] = problems(path)
    assert "'a'" in problem.message and "'b'" in problem.message
    assert "10.0.0.1 port 22" in problem.message
    assert problem.line == line_of(path, "b:")


def test_the_same_address_on_another_ssh_port_is_another_machine(tmp_path: Path) -> None:
    inv = load_repo(
        tmp_path,
        """
        hosts:
          a: {address: 10.0.0.1}
          b: {address: 10.0.0.1, ssh: {port: 2222}}
        """,
    )
    assert len(inv.hosts) == 2


def test_two_local_hosts_are_the_same_machine(tmp_path: Path) -> None:
    path = write_repo(
        tmp_path,
        """
        hosts:
          a: {connection: local}
          b: {connection: local}
        """,
    )
    [problem] = problems(path)
    assert "connection: local" in problem.message


def test_a_name_used_for_a_group_and_a_host_is_an_error(tmp_path: Path) -> None:
    path = write_repo(
        tmp_path,
        """
        groups:
          web:
            hosts: {web: {}}
        """,
    )
    [problem] = problems(path)
    assert "both a group and a host" in problem.message


def test_the_group_name_all_is_reserved(tmp_path: Path) -> None:
    path = write_repo(tmp_path, "groups:\n  all:\n    vars: {x: 1}\n")
    [problem] = problems(path)
    assert "reserved" in problem.message
    assert problem.line == 2


def test_every_problem_is_reported_at_once_in_file_order(tmp_path: Path) -> None:
    path = write_repo(
        tmp_path,
        """
        groups:
          a:
            children: [missing-1]
          b:
            children: [missing-2]
        """,
    )
    found = problems(path)
    assert [p.line for p in found] == sorted(p.line for p in found)
    assert len(found) == 2


def test_a_missing_inventory_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="inventory not found"):
        load_inventory(tmp_path / "nope.yaml")


def test_an_empty_inventory_has_no_hosts(tmp_path: Path) -> None:
    inv = load_repo(tmp_path, "")
    assert inv.hosts == {}


def test_inventory_must_be_a_mapping(tmp_path: Path) -> None:
    path = write_repo(tmp_path, "- a\n- b\n")
    with pytest.raises(InventoryError, match="must be a mapping"):
        load_inventory(path)


def test_hosts_come_in_the_order_they_are_written(tmp_path: Path) -> None:
    inv = load_repo(
        tmp_path,
        """
        hosts:
          zz: {address: 10.0.0.9}
        groups:
          g:
            hosts:
              bb: {address: 10.0.0.2}
              aa: {address: 10.0.0.1}
        """,
    )
    assert list(inv.hosts) == ["zz", "bb", "aa"]


def test_a_folder_means_the_inventory_yaml_in_it(tmp_path: Path) -> None:
    write_repo(tmp_path, "hosts:\n  h: {address: 10.0.0.1}\n")
    inv = load_inventory(tmp_path)
    assert inv.display == str(tmp_path / "inventory.yaml")
    assert list(inv.hosts) == ["h"]


def test_keep_going_loads_the_hosts_around_group_and_host_problems(tmp_path: Path) -> None:
    path = write_repo(
        tmp_path,
        """
        groups:
          a:
            children: [b, nope]
            vars: {x: 1}
          b:
            children: [a]
            vars: {y: 2}
            hosts: {b-01: {address: 10.0.0.1}}
          c:
            vars: {x: 3}
            hosts: {b-01: {}, c-01: {address: 10.0.0.1}}
        hosts:
          c-01: {address: 10.0.0.3}
          ok-01: {address: 10.0.0.4}
        """,
    )
    inv = load_inventory(path, keep_going=True)
    messages = [p.message for p in inv.problems]
    assert any("unknown child group 'nope'" in m for m in messages)
    assert any("groups form a cycle" in m for m in messages)
    assert any("'c-01' is defined twice" in m for m in messages)
    assert any("both point at 10.0.0.1" in m for m in messages)
    assert any("set vars.x differently" in m for m in messages)
    # every host is there; only the ambiguous ones are marked
    assert list(inv.hosts) == ["b-01", "c-01", "ok-01"]
    assert inv.ambiguous == {"b-01", "c-01"}
    assert inv.members["a"] == {"b-01"}  # the edge a -> b stays, b -> a closed the cycle
    assert inv.hosts["ok-01"].vars == {}
    with pytest.raises(InventoryErrors) as caught:
        load_inventory(path)
    assert len(caught.value.problems) == len(inv.problems)


def test_the_inventory_is_found_in_a_folder_above_like_git_finds_its_repo(
    tmp_path: Path,
) -> None:
    from fleetcfg.inventory import find_inventory

    write_repo(tmp_path, "hosts: {web-01: {}}\n")
    deep = tmp_path / "profiles" / "sub"
    deep.mkdir(parents=True)
    assert find_inventory(None, deep) == "../../inventory.yaml"
    assert find_inventory(None, tmp_path) == "inventory.yaml"
    assert find_inventory("other.yaml", deep) == "other.yaml"


def test_the_default_inventory_is_the_nearest_one_above(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_repo(tmp_path, "hosts: {web-01: {}}\n")
    (tmp_path / "profiles").mkdir()
    monkeypatch.chdir(tmp_path / "profiles")
    inv = load_inventory()
    assert inv.display == "../inventory.yaml" and list(inv.hosts) == ["web-01"]
