"""The repo lint: loading problems as findings, rendering every host, merging
findings across hosts, the repo's lint settings, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcfg.core.errors import UsageError
from fleetcfg.core.findings import Severity
from fleetcfg.lint.lookups import STAND_IN
from fleetcfg.lint.repo import lint_repo
from fleetcfg.lint.report import format_text
from tests.unit.inventory.repo import line_of, write_repo
from tests.unit.lint.helpers import CLEAN, ONE_HOST, lint, of, one, relative, rules

REPO = Path(__file__).resolve().parents[3]


def many_hosts(n: int, group_vars: str = "{}") -> str:
    hosts = "\n".join(
        f"      h{i:03d}: {{address: 10.0.{i // 200}.{i % 200 + 1}}}" for i in range(n)
    )
    return f"""
defaults:
  engine_version: "26.1"
  daemon_profile: base
groups:
  fleet:
    vars: {group_vars}
    hosts:
{hosts}
"""


def test_the_shipped_example_lints_clean() -> None:
    report = lint_repo(REPO / "inventory.yaml")
    assert report.findings == []
    assert report.hosts >= 10 and report.documents > report.hosts


def test_a_missing_inventory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="inventory not found"):
        lint_repo(tmp_path / "inventory.yaml")


def test_a_folder_means_its_inventory(tmp_path: Path) -> None:
    write_repo(tmp_path, "hosts: {web-01: {}}\n")
    assert lint_repo(tmp_path).hosts == 1


# -- one finding per mistake ---------------------------------------------------------


def test_a_mistake_shared_by_many_hosts_is_reported_once_with_every_host(
    tmp_path: Path,
) -> None:
    profile = CLEAN.replace("live-restore: true", "live-restore: false")
    report = lint(tmp_path, many_hosts(120), {"base.yaml.j2": profile})
    finding = one(report, "FC037")
    assert len(finding.hosts) == 120 and finding.hosts[:2] == ("h000", "h001")
    assert format_text(report.findings).count("\n") == 1
    assert "[120 hosts: h000, h001, h002 and 117 more]" in format_text(report.findings)


def test_validation_findings_are_merged_across_hosts_too(tmp_path: Path) -> None:
    report = lint(tmp_path, many_hosts(30), {"base.yaml.j2": CLEAN + "log-level: warning\n"})
    finding = one(report, "FC004")
    assert len(finding.hosts) == 30
    assert relative(finding, tmp_path) == ("profiles/base.yaml.j2", 5)


def test_a_value_from_a_variable_is_blamed_on_the_inventory_line(tmp_path: Path) -> None:
    profile = CLEAN.replace('max-size: "50m"', 'max-size: "{{ size }}"')
    report = lint(tmp_path, many_hosts(3, "{size: huge}"), {"base.yaml.j2": profile})
    finding = one(report, "FC012")
    assert relative(finding, tmp_path) == (
        "inventory.yaml",
        line_of(tmp_path / "inventory.yaml", "size: huge"),
    )
    assert "rendered by" in finding.message and "base.yaml.j2:2" in finding.message


def test_each_host_is_validated_for_its_engine_version(tmp_path: Path) -> None:
    inventory = """
    defaults: {engine_version: "26.1", daemon_profile: base}
    hosts:
      new-01: {address: 10.0.0.1}
      old-01: {address: 10.0.0.2, engine_version: "24.0"}
    """
    report = lint(tmp_path, inventory, {"base.yaml.j2": CLEAN + "log-format: json\n"})
    assert one(report, "FC006").hosts == ("old-01",)


def test_every_client_user_is_rendered(tmp_path: Path) -> None:
    inventory = """
    defaults: {engine_version: "26.1", daemon_profile: base, client_profile: client}
    hosts:
      dev-01: {address: 10.0.0.1, client_users: [root, alice]}
    """
    client = '{"detachKeys": "{{ {"root": "ctrl-e,e"}[user] }}"}\n'
    report = lint(tmp_path, inventory, {"base.yaml.j2": CLEAN, "client.json.j2": client})
    assert rules(report) == ["FC056"] and report.documents == 2


def test_hosts_without_a_daemon_profile_are_not_rendered(tmp_path: Path) -> None:
    report = lint(tmp_path, "hosts: {web-01: {address: 10.0.0.1}}\n", {})
    assert report.findings == [] and report.documents == 0


# -- the inventory does not load -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("defaults:\n  vars: [1\n", "FC050"),
        ("hosts:\n  web-01: {}\n  web-01: {}\n", "FC050"),
        ("- a list\n", "FC051"),
        ("defaults: {daemon_profil: base}\n", "FC051"),
        ("groups: {a: {children: [b]}, b: {children: [a]}}\n", "FC054"),
        ("groups: {a: {children: [nope]}}\n", "FC054"),
    ],
)
def test_an_inventory_that_does_not_load_becomes_located_findings(
    tmp_path: Path, text: str, rule: str
) -> None:
    report = lint(tmp_path, text)
    assert rules(report) == [rule] and report.hosts == 0
    assert report.findings[0].file == str(tmp_path / "inventory.yaml")
    assert report.findings[0].line is not None and not report.ok


def test_every_schema_problem_is_reported_at_once(tmp_path: Path) -> None:
    report = lint(tmp_path, "defaults: {daemon_profil: base}\nrollout: {batch_size: 0}\n")
    assert [(f.rule, f.line) for f in report.findings] == [("FC051", 1), ("FC051", 2)]


# -- templates and lookups -----------------------------------------------------------------


def test_an_undefined_variable_is_one_finding_for_every_host_at_the_template_line(
    tmp_path: Path,
) -> None:
    report = lint(tmp_path, many_hosts(5), {"base.yaml.j2": CLEAN + "debug: {{ verbose }}\n"})
    finding = one(report, "FC056")
    assert relative(finding, tmp_path) == ("profiles/base.yaml.j2", 5)
    assert "undefined variable 'verbose'" in finding.message and len(finding.hosts) == 5


def test_a_missing_profile_is_reported_where_the_inventory_names_it(tmp_path: Path) -> None:
    inventory = "defaults: {daemon_profile: base}\nhosts: {web-01: {daemon_profile: nope}}\n"
    finding = one(lint(tmp_path, inventory), "FC057")
    assert relative(finding, tmp_path) == ("inventory.yaml", 2)


def test_a_syntax_error_in_a_profile_no_host_uses_is_still_found(tmp_path: Path) -> None:
    report = lint(tmp_path, profiles={"base.yaml.j2": CLEAN, "draft.yaml.j2": "{% if %}\n"})
    finding = one(report, "FC056")
    assert relative(finding, tmp_path)[0] == "profiles/draft.yaml.j2" and finding.hosts == ()


def test_missing_secrets_render_as_stand_ins_so_ci_can_lint(tmp_path: Path) -> None:
    profile = (
        CLEAN + 'proxies: {https-proxy: "http://svc:{{ env("PROXY_PASSWORD") }}@proxy:3128"}\n'
    )
    inventory = ONE_HOST + "secrets: {env: [PROXY_PASSWORD]}\n"
    report = lint(tmp_path, inventory, profiles={"base.yaml.j2": profile})
    assert report.findings == [] and report.stand_ins == ["env(PROXY_PASSWORD)"]


def test_a_malformed_lookup_is_an_error(tmp_path: Path) -> None:
    report = lint(tmp_path, profiles={"base.yaml.j2": CLEAN + 'debug: {{ env("no such") }}\n'})
    assert rules(report) == ["FC058"]


def test_secret_values_never_appear_in_findings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PW", "hunter2hunter2")
    profile = CLEAN + 'proxies: {https-proxy: "ftp://svc:{{ env("PW") }}@proxy:3128"}\n'
    inventory = ONE_HOST + "secrets: {env: [PW]}\n"
    report = lint(tmp_path, inventory, profiles={"base.yaml.j2": profile})
    text = format_text(report.findings)
    assert "FC020" in text and "hunter2hunter2" not in text
    assert STAND_IN not in text


# -- lint settings in inventory.yaml ---------------------------------------------------------

SETTINGS = """
defaults: {engine_version: "26.1", daemon_profile: base}
lint: LINT
hosts:
  web-01: {address: 10.0.0.1}
"""
WARNS_AND_ERRS = CLEAN.replace("live-restore: true", "live-restore: false") + "hosts: [fd://]\n"


def settings(root: Path, lint_settings: str) -> list[tuple[str, Severity]]:
    report = lint(root, SETTINGS.replace("LINT", lint_settings), {"base.yaml.j2": WARNS_AND_ERRS})
    return [(f.rule, f.severity) for f in report.findings]


def test_without_settings_rules_keep_their_default_severity(tmp_path: Path) -> None:
    assert settings(tmp_path, "{}") == [("FC037", Severity.WARNING), ("FC039", Severity.ERROR)]


def test_disabled_rules_vanish(tmp_path: Path) -> None:
    assert settings(tmp_path, "{disable: [FC039]}") == [("FC037", Severity.WARNING)]


def test_re_graded_rules_change_the_verdict(tmp_path: Path) -> None:
    found = settings(tmp_path, "{severity: {FC037: error, fc039: info}}")
    assert found == [("FC037", Severity.ERROR), ("FC039", Severity.INFO)]


def test_rules_can_be_disabled_and_re_graded_by_name(tmp_path: Path) -> None:
    found = settings(tmp_path, "{disable: [hosts-with-systemd], severity: {live-restore: error}}")
    assert found == [("FC037", Severity.ERROR)]


def test_a_misspelt_rule_name_in_the_settings_suggests_the_name(tmp_path: Path) -> None:
    report = lint(tmp_path, SETTINGS.replace("LINT", "{disable: [live-restor]}"))
    assert rules(report) == ["FC051"]
    assert "did you mean live-restore?" in report.findings[0].message


def test_an_unknown_rule_in_the_settings_is_a_schema_finding(tmp_path: Path) -> None:
    report = lint(tmp_path, SETTINGS.replace("LINT", "{disable: [FC999]}"))
    assert rules(report) == ["FC051"] and "FC999" in report.findings[0].message


def test_settings_of_an_inventory_that_does_not_load_are_not_applied(tmp_path: Path) -> None:
    report = lint(tmp_path, "lint: {disable: [FC051]}\ndefaults: {bogus: 1}\n")
    assert rules(report) == ["FC051"]


def test_of_helper_lists_nothing_for_a_clean_repo(tmp_path: Path) -> None:
    assert of(lint(tmp_path), "FC037") == []


def test_internal_domains_must_be_domains(tmp_path: Path) -> None:
    report = lint(tmp_path, "networks: {internal_domains: [corp.example.com, http://x/]}\n")
    assert rules(report) == ["FC051"] and "not a DNS domain" in report.findings[0].message
