"""Settings layer defaults < parent group < child group < host, with provenance."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcfg.core.errors import InventoryError
from fleetcfg.inventory import BUILTIN_LAYER, InventoryErrors, load_inventory
from tests.unit.inventory.repo import line_of, load_repo, write_repo

LAYERED = """
defaults:
  engine_version: "26.1"
  daemon_profile: base
  vars:
    mirror: https://mirror.internal
    log: {driver: json-file, max_size: 10m, max_file: "3"}
    dns: [10.0.0.53, 10.0.0.54]
groups:
  prod:
    children: [prod-eu]
    vars:
      log: {max_size: 50m}
      tier: prod
  prod-eu:
    vars:
      log: {max_file: "5"}
      dns: [10.1.0.53]
    hosts:
      eu-01: {address: 10.1.0.1}
      eu-02: {address: 10.1.0.2, vars: {tier: canary, log: {driver: local}}}
  ci:
    daemon_profile: ci
    hosts:
      ci-01: {address: 10.2.0.1}
hosts:
  lonely: {address: 10.3.0.1}
"""


def test_defaults_apply_to_a_host_in_no_group(tmp_path: Path) -> None:
    inv = load_repo(tmp_path, LAYERED)
    host = inv.host("lonely")
    assert host.groups == ()
    assert host.vars["mirror"] == "https://mirror.internal"
    assert host.daemon_profile == "base"
    assert str(host.engine_version) == "26.1"


def test_group_setting_overrides_defaults(tmp_path: Path) -> None:
    inv = load_repo(tmp_path, LAYERED)
    assert inv.host("ci-01").daemon_profile == "ci"
    assert inv.host("eu-01").daemon_profile == "base"


def test_child_group_overrides_parent_and_mappings_merge_key_by_key(tmp_path: Path) -> None:
    inv = load_repo(tmp_path, LAYERED)
    log = inv.host("eu-01").vars["log"]
    # driver from defaults, max_size from the parent group, max_file from the child
    assert log == {"driver": "json-file", "max_size": "50m", "max_file": "5"}


def test_host_overrides_every_group(tmp_path: Path) -> None:
    inv = load_repo(tmp_path, LAYERED)
    host = inv.host("eu-02")
    assert host.vars["tier"] == "canary"
    assert host.vars["log"] == {"driver": "local", "max_size": "50m", "max_file": "5"}


def test_lists_replace_the_lower_layer_instead_of_merging(tmp_path: Path) -> None:
    inv = load_repo(tmp_path, LAYERED)
    assert inv.host("eu-01").vars["dns"] == ["10.1.0.53"]
    assert inv.host("ci-01").vars["dns"] == ["10.0.0.53", "10.0.0.54"]


def test_host_groups_include_ancestors_parents_first(tmp_path: Path) -> None:
    inv = load_repo(tmp_path, LAYERED)
    assert inv.host("eu-01").groups == ("prod", "prod-eu")


def test_every_leaf_knows_the_layer_and_line_that_set_it(tmp_path: Path) -> None:
    path = write_repo(tmp_path, LAYERED)
    host = load_inventory(path).host("eu-02")
    origins = dict(host.origins)
    assert origins[("vars", "mirror")].layer == "defaults"
    assert origins[("vars", "mirror")].location.line == line_of(path, "mirror:")
    assert origins[("vars", "log", "max_size")].layer == "group prod"
    assert origins[("vars", "log", "max_size")].location.line == line_of(path, "max_size: 50m")
    assert origins[("vars", "log", "max_file")].layer == "group prod-eu"
    assert origins[("vars", "log", "driver")].layer == "host eu-02"
    assert origins[("vars", "tier")].location.line == line_of(path, "eu-02:")


def test_explain_lists_address_settings_and_builtin_defaults(tmp_path: Path) -> None:
    path = write_repo(tmp_path, LAYERED)
    rows = {
        name: (value, origin)
        for name, value, origin in load_inventory(path).host("eu-01").explain()
    }
    assert rows["address"][0] == "10.1.0.1"
    assert rows["address"][1].layer == "host eu-01"
    assert rows["vars.log.max_size"][1].layer == "group prod"
    assert rows["vars.dns"] == (["10.1.0.53"], rows["vars.dns"][1])
    assert rows["vars.dns"][1].layer == "group prod-eu"
    assert rows["connection"] == ("ssh", rows["connection"][1])
    assert rows["connection"][1].layer == BUILTIN_LAYER
    assert rows["manage"][0] == "full"
    assert rows["client_users"][0] == ["root"]


def test_address_defaults_to_the_host_name(tmp_path: Path) -> None:
    inv = load_repo(tmp_path, "hosts:\n  web-01.example.com: {}\n")
    host = inv.host("web-01.example.com")
    assert host.address == "web-01.example.com"
    assert host.address_origin.layer.startswith(BUILTIN_LAYER)


CONFLICT = """
groups:
  gpu:
    vars: {log_max_size: 100m}
    hosts:
      ci-03: {address: 10.0.0.3}
  ci:
    vars: {log_max_size: 20m}
    hosts:
      ci-01: {address: 10.0.0.1}
      ci-03:
"""


def test_unrelated_groups_setting_a_key_differently_is_an_error_naming_both(
    tmp_path: Path,
) -> None:
    path = write_repo(tmp_path, CONFLICT)
    with pytest.raises(InventoryErrors) as caught:
        load_inventory(path)
    [problem] = caught.value.problems
    text = str(problem)
    assert "'gpu'" in text and "'ci'" in text
    assert problem.key == "vars.log_max_size"
    assert problem.host == "ci-03"
    gpu_line = line_of(path, "100m")
    ci_line = line_of(path, "20m")
    assert f"inventory.yaml:{gpu_line}" in text and f"inventory.yaml:{ci_line}" in text
    assert "priority" in (problem.hint or "")


def test_priority_decides_between_unrelated_groups(tmp_path: Path) -> None:
    text = CONFLICT.replace("  gpu:\n", "  gpu:\n    priority: 10\n")
    inv = load_repo(tmp_path, text)
    assert inv.host("ci-03").vars["log_max_size"] == "100m"
    assert inv.host("ci-01").vars["log_max_size"] == "20m"


def test_lower_priority_loses_whatever_the_file_order(tmp_path: Path) -> None:
    text = CONFLICT.replace("  ci:\n", "  ci:\n    priority: 5\n")
    inv = load_repo(tmp_path, text)
    assert inv.host("ci-03").vars["log_max_size"] == "20m"


def test_child_group_inherits_its_parents_priority(tmp_path: Path) -> None:
    inv = load_repo(
        tmp_path,
        """
        groups:
          prod:
            priority: 10
            children: [prod-eu]
          prod-eu:
            vars: {x: from-prod-eu}
            hosts:
              h1: {}
          other:
            priority: 5
            vars: {x: from-other}
            hosts:
              h1:
        """,
    )
    assert inv.host("h1").vars["x"] == "from-prod-eu"
    assert inv.groups["prod-eu"].priority == 10


def test_equal_values_in_unrelated_groups_are_not_a_conflict(tmp_path: Path) -> None:
    inv = load_repo(tmp_path, CONFLICT.replace("100m", "20m"))
    assert inv.host("ci-03").vars["log_max_size"] == "20m"


def test_a_host_setting_resolves_a_group_conflict(tmp_path: Path) -> None:
    text = CONFLICT.replace(
        "ci-03: {address: 10.0.0.3}", "ci-03: {address: 10.0.0.3, vars: {log_max_size: 1m}}"
    )
    inv = load_repo(tmp_path, text)
    assert inv.host("ci-03").vars["log_max_size"] == "1m"


def test_a_mapping_against_a_scalar_in_unrelated_groups_is_a_conflict(tmp_path: Path) -> None:
    with pytest.raises(InventoryErrors, match=r"vars\.proxy"):
        load_repo(
            tmp_path,
            """
            groups:
              a:
                vars: {proxy: {http: x}}
                hosts: {h1: {}}
              b:
                vars: {proxy: none}
                hosts: {h1: }
            """,
        )


def test_different_keys_of_one_mapping_from_unrelated_groups_merge(tmp_path: Path) -> None:
    inv = load_repo(
        tmp_path,
        """
        groups:
          a:
            ssh: {user: deploy}
            hosts: {h1: {}}
          b:
            ssh: {port: 2222}
            hosts: {h1: }
        """,
    )
    assert dict(inv.host("h1").ssh) == {"user": "deploy", "port": 2222}


def test_a_parent_and_child_group_never_conflict(tmp_path: Path) -> None:
    inv = load_repo(
        tmp_path,
        """
        groups:
          parent:
            children: [child]
            vars: {x: 1}
            hosts: {h1: {}}
          child:
            vars: {x: 2}
            hosts: {h1: }
        """,
    )
    assert inv.host("h1").vars["x"] == 2


def test_every_setting_layers_like_vars(tmp_path: Path) -> None:
    inv = load_repo(
        tmp_path,
        """
        defaults:
          manage: full
          client_users: [root]
          client_profile: client
        groups:
          dev:
            manage: keys
            client_users: [root, alice]
            engine_version: "27.5"
            hosts:
              d1: {}
              d2: {manage: full, client_profile: special}
        """,
    )
    d1, d2 = inv.host("d1"), inv.host("d2")
    assert (d1.manage, d1.client_users, str(d1.engine_version)) == (
        "keys",
        ("root", "alice"),
        "27.5",
    )
    assert (d2.manage, d2.client_profile) == ("full", "special")
    assert d1.client_profile == "client"


def test_hosts_in_the_same_groups_share_one_resolution(tmp_path: Path) -> None:
    inv = load_repo(
        tmp_path,
        """
        groups:
          web:
            vars: {a: 1}
            hosts:
              w1: {address: 10.0.0.1}
              w2: {address: 10.0.0.2}
        """,
    )
    assert inv.host("w1").settings is inv.host("w2").settings


def test_error_is_an_inventory_error_subclass(tmp_path: Path) -> None:
    with pytest.raises(InventoryError):
        load_repo(tmp_path, CONFLICT)
