"""inventory.yaml shape errors: every one located at the key or value to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcfg.core.errors import InventoryError
from fleetcfg.inventory import InventoryErrors, load_inventory
from tests.unit.inventory.repo import line_of, load_repo, write_repo


def only_problem(path: Path) -> InventoryError:
    with pytest.raises(InventoryErrors) as caught:
        load_inventory(path)
    assert len(caught.value.problems) == 1, caught.value.problems
    return caught.value.problems[0]


def test_an_unknown_key_is_located_and_suggests_the_nearest(tmp_path: Path) -> None:
    path = write_repo(
        tmp_path,
        """
        groups:
          ci:
            daemon_profil: ci
        """,
    )
    problem = only_problem(path)
    assert problem.message == "unknown key 'daemon_profil'"
    assert (problem.line, problem.column) == (3, 5)
    assert "daemon_profile" in (problem.hint or "")
    assert problem.key == "groups.ci.daemon_profil"


def test_an_unknown_ssh_setting_suggests_the_ssh_key(tmp_path: Path) -> None:
    path = write_repo(tmp_path, "defaults:\n  ssh: {identityfile: ~/.ssh/id}\n")
    problem = only_problem(path)
    assert "identity_file" in (problem.hint or "")


def test_a_bad_value_is_located_at_the_value(tmp_path: Path) -> None:
    path = write_repo(tmp_path, "hosts:\n  h1:\n    ssh: {port: 70000}\n")
    problem = only_problem(path)
    assert problem.line == 3
    assert problem.column == path.read_text().splitlines()[2].index("70000") + 1
    assert "65535" in problem.message


def test_yaml_syntax_errors_are_located_with_a_hint(tmp_path: Path) -> None:
    path = write_repo(tmp_path, "groups:\n  ci:\n\thosts: {}\n")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert caught.value.line == 3
    assert "tabs" in (caught.value.hint or "")
    assert str(caught.value).startswith(f"{path}:3:")


def test_a_duplicate_yaml_key_names_both_lines(tmp_path: Path) -> None:
    path = write_repo(
        tmp_path,
        """
        hosts:
          web-01: {address: 10.0.0.1}
          web-01: {address: 10.0.0.2}
        """,
    )
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert caught.value.line == 3
    assert "first written at line 2" in caught.value.message


def test_an_unquoted_engine_version_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = write_repo(tmp_path, "defaults:\n  engine_version: 20.10\n")
    problem = only_problem(path)
    assert "quoted" in problem.message
    assert '"26.1"' in problem.message
    assert problem.line == 2


@pytest.mark.parametrize("version", ['"26.1"', '"28.5.2"', '"28.x"', "28"])
def test_engine_versions_users_write_are_accepted(tmp_path: Path, version: str) -> None:
    inv = load_repo(tmp_path, f"defaults:\n  engine_version: {version}\nhosts:\n  h: {{}}\n")
    assert inv.host("h").engine_version.major == 28 or version == '"26.1"'


def test_an_engine_older_than_the_models_is_refused(tmp_path: Path) -> None:
    path = write_repo(tmp_path, 'defaults:\n  engine_version: "19.03"\n')
    assert "older" in only_problem(path).message


def test_a_variable_may_not_take_a_builtin_name(tmp_path: Path) -> None:
    path = write_repo(tmp_path, "defaults:\n  vars: {address: x}\n")
    problem = only_problem(path)
    assert "built-in" in problem.message
    assert problem.line == 2


def test_a_variable_name_must_be_usable_in_templates(tmp_path: Path) -> None:
    path = write_repo(tmp_path, "defaults:\n  vars: {log-size: 10m}\n")
    problem = only_problem(path)
    assert problem.key == "defaults.vars.log-size"


def test_an_address_with_a_port_points_to_ssh_port(tmp_path: Path) -> None:
    path = write_repo(tmp_path, "hosts:\n  h1: {address: '10.0.0.1:2222'}\n")
    assert "ssh.port" in only_problem(path).message


def test_lint_rule_ids_are_checked_against_the_catalogue(tmp_path: Path) -> None:
    path = write_repo(
        tmp_path,
        """
        lint:
          disable: [FC013, FC999]
          severity: {FC005: error}
        """,
    )
    problem = only_problem(path)
    assert "FC999" in problem.message
    assert problem.line == line_of(path, "disable")


def test_lint_severity_must_be_a_known_level(tmp_path: Path) -> None:
    path = write_repo(tmp_path, "lint:\n  severity: {FC005: fatal}\n")
    assert only_problem(path).key == "lint.severity.FC005"


def test_lint_settings_are_normalised(tmp_path: Path) -> None:
    inv = load_repo(tmp_path, "lint:\n  disable: [fc013]\n  severity: {FC005: error}\n")
    assert inv.lint.disable == ["FC013"]
    assert inv.lint.severity == {"FC005": "error"}


def test_rollout_accepts_counts_percentages_and_durations(tmp_path: Path) -> None:
    inv = load_repo(
        tmp_path,
        """
        rollout: {batch_size: "25%", canary: 2, max_failures: "10%", pause: 1m30s}
        """,
    )
    assert inv.rollout.batch_size_for(10) == 3
    assert inv.rollout.batch_size_for(1) == 1
    assert inv.rollout.max_failures_for(10) == 1
    assert inv.rollout.max_failures_for(5) == 0
    assert inv.rollout.pause == 90.0
    assert inv.rollout.canary == 2


def test_rollout_defaults(tmp_path: Path) -> None:
    inv = load_repo(tmp_path, "")
    assert (inv.rollout.batch_size, inv.rollout.canary, inv.rollout.max_failures) == (10, 1, 0)
    assert inv.rollout.pause == 0.0


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("rollout: {batch_size: 0}", "rollout.batch_size"),
        ('rollout: {batch_size: "150%"}', "rollout.batch_size"),
        ("rollout: {canary: -1}", "rollout.canary"),
        ("rollout: {pause: soon}", "rollout.pause"),
        ("rollout: {max_failures: many}", "rollout.max_failures"),
    ],
)
def test_rollout_rejects_nonsense(tmp_path: Path, text: str, key: str) -> None:
    path = write_repo(tmp_path, text + "\n")
    assert only_problem(path).key == key


def test_reserved_networks_must_be_canonical_cidrs(tmp_path: Path) -> None:
    path = write_repo(tmp_path, "networks:\n  reserved: [10.0.0.0/8, 10.0.0.1/8]\n")
    problem = only_problem(path)
    assert "did you mean 10.0.0.0/8" in problem.message
    assert problem.key == "networks.reserved[1]"


def test_reserved_networks_are_available_as_networks(tmp_path: Path) -> None:
    inv = load_repo(tmp_path, "networks:\n  reserved: [10.0.0.0/8, 'fd00::/8']\n")
    assert [str(n) for n in inv.networks.reserved_networks()] == ["10.0.0.0/8", "fd00::/8"]


def test_become_yes_reads_as_true_for_ansible_users(tmp_path: Path) -> None:
    inv = load_repo(tmp_path, "defaults:\n  ssh: {become: yes}\nhosts:\n  h: {}\n")
    assert inv.host("h").ssh["become"] is True


def test_invalid_host_names_are_refused(tmp_path: Path) -> None:
    path = write_repo(tmp_path, "hosts:\n  'web 01': {}\n")
    problem = only_problem(path)
    assert "invalid name" in problem.message
