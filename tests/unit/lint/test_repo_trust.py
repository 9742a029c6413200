"""The repo under review cannot make lint read files or variables of the CI
machine, run code, exhaust memory or crash it (issue 10). Each test is an
attack a pull request could make; none of the secrets or file contents may
show up in any output format."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from fleetcfg.cli.app import app
from fleetcfg.core import yamlsource
from fleetcfg.lint.lookups import STAND_IN
from fleetcfg.render import budget, outputs
from tests.unit.inventory.repo import write_repo
from tests.unit.lint.helpers import CLEAN, ONE_HOST, lint, one, relative, rules
from tests.unit.lint.test_formats import assert_valid_sarif

runner = CliRunner()
FORMATS = ("text", "json", "sarif", "github")
#: what the file outside the repo holds (a stand-in for /etc/shadow)
OUTSIDE = "root:$6$s4lt$0utsideTheRepoHash:20228:0:99999:7:::"
TOKEN = "ci-t0ken-Value-42"


def outside_file(tmp_path: Path) -> Path:
    path = tmp_path / "etc" / "shadow"
    path.parent.mkdir(parents=True)
    path.write_text(OUTSIDE + "\n")
    return path


def every_output(repo: Path) -> str:
    """stdout and stderr of lint in every format, joined."""
    out = []
    for fmt in FORMATS:
        result = runner.invoke(app, ["lint", "-i", str(repo), "-f", fmt])
        assert result.exit_code in (0, 1), result.output
        out += [result.stdout, result.stderr]
    return "\n".join(out)


def transformed(value: str) -> list[str]:
    """``value`` and the transforms the issue used to defeat masking."""
    return [value, value[::-1], ".".join(value), value.lower(), value.upper()]


def assert_nowhere(secret: str, text: str) -> None:
    for form in transformed(secret) + transformed(secret.split(":")[1]):
        assert form not in text


# -- file() ------------------------------------------------------------------


@pytest.mark.parametrize(
    "how", ["absolute", "dot-dot", "symlink-in-repo"], ids=["absolute", "dot-dot", "symlink"]
)
def test_file_cannot_read_outside_the_repo_even_transformed(tmp_path: Path, how: str) -> None:
    secret = outside_file(tmp_path)
    repo = tmp_path / "repo"
    name = {"absolute": str(secret), "dot-dot": "../etc/shadow", "symlink-in-repo": "x/shadow"}[how]
    profile = CLEAN + f"labels: [\"k={{{{ file('{name}').split(':')[1]|reverse }}}}\"]\n"
    write_repo(repo, ONE_HOST, {"base.yaml.j2": profile})
    if how == "symlink-in-repo":
        (repo / "x").symlink_to(secret.parent)
    finding = one(lint(repo, ONE_HOST, {"base.yaml.j2": profile}), "FC058")
    assert relative(finding, repo) == ("profiles/base.yaml.j2", 5)
    assert_nowhere(OUTSIDE, every_output(repo))


@pytest.mark.parametrize("name", [".git/config", "meta/config"], ids=["direct", "symlink"])
def test_file_never_reads_gits_own_folder(tmp_path: Path, name: str) -> None:
    # actions/checkout leaves the job's token in .git/config (extraheader):
    # a profile's file(".git/config") would have put it in a host's daemon.json
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text(f"extraheader = AUTHORIZATION: basic {TOKEN}\n")
    (tmp_path / "meta").symlink_to(tmp_path / ".git")
    profile = CLEAN + f"labels: [\"k={{{{ file('{name}') }}}}\"]\n"
    finding = one(lint(tmp_path, ONE_HOST, {"base.yaml.j2": profile}), "FC058")
    assert "git's own folder .git" in finding.message
    result = runner.invoke(app, ["render", "web-01", "-i", str(tmp_path)])
    assert result.exit_code == 1 and "git's own folder .git" in result.output
    for form in transformed(TOKEN):
        assert form not in result.output + every_output(tmp_path)


def test_file_inside_the_repo_is_never_read_by_lint(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text(TOKEN)
    profile = CLEAN + "labels: [\"k={{ file('secrets/token')|reverse }}\"]\n"
    report = lint(tmp_path, ONE_HOST, {"base.yaml.j2": profile})
    assert report.findings == [] and report.stand_ins == ["file(secrets/token)"]
    for form in transformed(TOKEN):
        assert form not in every_output(tmp_path)


# -- templates: include, import, extends and the profiles themselves -----------


@pytest.mark.parametrize("tag", ["include 'x.txt'", "import 'x.txt' as x", "extends 'x.txt'"])
def test_a_template_symlinked_out_of_profiles_is_refused(tmp_path: Path, tag: str) -> None:
    secret = outside_file(tmp_path)
    repo = tmp_path / "repo"
    profile = CLEAN + f"# {{% {tag} %}}\n"
    write_repo(repo, ONE_HOST, {"base.yaml.j2": profile})
    (repo / "profiles" / "x.txt").symlink_to(secret)
    report = lint(repo, ONE_HOST, {"base.yaml.j2": profile})
    assert "FC056" in rules(report)
    assert any("outside profiles/" in f.message for f in report.findings)
    assert OUTSIDE not in every_output(repo)


def test_a_profile_that_is_a_symlink_out_of_the_repo_is_refused(tmp_path: Path) -> None:
    secret = outside_file(tmp_path)
    repo = tmp_path / "repo"
    write_repo(repo, ONE_HOST, {})
    (repo / "profiles").mkdir()
    (repo / "profiles" / "base.yaml").symlink_to(secret)
    report = lint_repo_cli(repo)
    assert "outside profiles/" in report and OUTSIDE not in every_output(repo)


def test_a_profiles_folder_that_is_a_symlink_out_of_the_repo_is_refused(tmp_path: Path) -> None:
    secret = outside_file(tmp_path)
    (secret.parent / "base.yaml").symlink_to(secret)
    repo = tmp_path / "repo"
    write_repo(repo, ONE_HOST, {})
    (repo / "profiles").symlink_to(secret.parent)
    assert "outside profiles/" in lint_repo_cli(repo)
    assert OUTSIDE not in every_output(repo)


# -- the files CI names: inventory.yaml and the daemon.json files it lints ----


def test_an_inventory_that_is_a_symlink_out_of_the_repo_is_not_read(tmp_path: Path) -> None:
    # the attack: inventory.yaml -> /etc/shadow; each line became an unknown
    # key, and lint printed it (root's password hash)
    secret = outside_file(tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "inventory.yaml").symlink_to(secret)
    out = every_output(repo / "inventory.yaml")
    assert "symbolic link out of the repo" in out and "FC050" in out
    assert_nowhere(OUTSIDE, out)
    result = runner.invoke(app, ["plan", "-i", str(repo / "inventory.yaml")])
    assert result.exit_code == 1 and "symbolic link out of the repo" in result.output
    assert_nowhere(OUTSIDE, result.output)


def test_a_daemon_json_ci_lints_that_is_a_symlink_out_of_the_repo_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "runner" / "config.json"
    outside.parent.mkdir()
    outside.write_text(json.dumps({"registry-mirrors": [f"not a url {TOKEN}"]}))
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "prod.json").symlink_to(outside)
    monkeypatch.chdir(repo)
    result = runner.invoke(app, ["lint", "prod.json"])
    assert result.exit_code == 2 and "symbolic link out of the repo" in result.output
    assert TOKEN not in result.output
    # into git's own folder of the same work tree: out of the repo too
    (repo / ".git").mkdir()
    (repo / ".git" / "config").write_text(json.dumps({"registry-mirrors": [TOKEN]}))
    (repo / "git.json").symlink_to(repo / ".git" / "config")
    result = runner.invoke(app, ["lint", "git.json"])
    assert result.exit_code == 2 and "symbolic link out of the repo" in result.output
    assert TOKEN not in result.output


def test_links_inside_a_git_work_tree_are_the_repos_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a monorepo: infra/inventory.yaml and a daemon.json link to shared/
    (tmp_path / ".git").mkdir()
    shared = tmp_path / "shared"
    write_repo(shared, ONE_HOST)
    (shared / "prod.json").write_text('{"debug": true}\n')
    infra = tmp_path / "infra"
    write_repo(infra, "", {"base.yaml.j2": CLEAN})
    (infra / "inventory.yaml").unlink()
    (infra / "inventory.yaml").symlink_to(shared / "inventory.yaml")
    (infra / "prod.json").symlink_to(shared / "prod.json")
    monkeypatch.chdir(infra)
    result = runner.invoke(app, ["lint", "-i", "inventory.yaml"])
    assert result.exit_code == 0, result.output
    assert "1 host" in result.output
    result = runner.invoke(app, ["lint", "prod.json"])
    assert result.exit_code == 0, result.output


def lint_repo_cli(repo: Path) -> str:
    result = runner.invoke(app, ["lint", "-i", str(repo)])
    assert result.exit_code == 1, result.output
    return result.stdout


# -- env() -----------------------------------------------------------------------


def test_env_of_an_undeclared_variable_is_fc058_and_prints_nothing_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI_TOKEN", TOKEN)
    profile = CLEAN + "labels: [\"k={{ env('CI_TOKEN')|list|join('.') }}\"]\n"
    finding = one(lint(tmp_path, ONE_HOST, {"base.yaml.j2": profile}), "FC058")
    assert "does not declare" in finding.message and "secrets: {env: [CI_TOKEN]}" in finding.message
    assert relative(finding, tmp_path) == ("profiles/base.yaml.j2", 5)
    for form in transformed(TOKEN):
        assert form not in every_output(tmp_path)


def test_env_of_a_declared_variable_is_a_stand_in_even_when_it_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI_TOKEN", TOKEN)
    profile = CLEAN + "labels: [\"k={{ env('CI_TOKEN')|reverse }}\"]\n"
    inventory = ONE_HOST + "secrets: {env: [CI_TOKEN]}\n"
    report = lint(tmp_path, inventory, {"base.yaml.j2": profile})
    assert report.findings == [] and report.stand_ins == ["env(CI_TOKEN)"]
    for form in transformed(TOKEN):
        assert form not in every_output(tmp_path)


def test_the_inventory_schema_declares_secret_variables() -> None:
    result = runner.invoke(app, ["schema", "--kind", "inventory"])
    schema = json.loads(result.stdout)
    secrets = schema["$defs"]["Secrets"]["properties"]["env"]
    assert secrets["items"]["pattern"] == "^[A-Za-z_][A-Za-z0-9_]*$"


# -- bounded input ---------------------------------------------------------------


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["x-bomb:", "  a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_in_inventory_yaml_is_fc050_not_gigabytes(tmp_path: Path) -> None:
    report = lint(tmp_path, alias_bomb() + ONE_HOST)
    finding = one(report, "FC050")
    assert "alias" in finding.message and finding.file is not None and finding.line


def test_too_many_aliases_are_fc050(tmp_path: Path) -> None:
    uses = "\n".join(f"  k{i}: *a" for i in range(10_001))
    report = lint(tmp_path, "x-anchor: &a 1\nx-uses:\n" + uses + "\n")
    assert "more than 10000 aliases" in one(report, "FC050").message


def repeated_text(key: str, size: int, uses: int) -> str:
    """YAML that names one ``size``-character string ``uses`` times more
    under ``key`` through aliases: few values and little text to read, but
    ``size * uses`` characters once built."""
    return f'{key}: [&t "{"x" * size}", {", ".join(["*t"] * uses)}]\n'


@pytest.fixture
def small_alias_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """What aliases may add, lowered so that the tests stay small (the real
    bound: 16 MiB; a 1 MB string named 10,000 times is 10 GB, which lint
    copied while it validated the labels of a plain .yaml profile, until
    the CI runner ran out of memory)."""
    monkeypatch.setattr(yamlsource, "MAX_ALIAS_TEXT", 1 << 20)


@pytest.mark.usefixtures("small_alias_text")
def test_aliases_that_repeat_a_long_string_in_inventory_yaml_are_fc050(tmp_path: Path) -> None:
    report = lint(tmp_path, ONE_HOST + repeated_text("x-many", 100_000, 20))
    finding = one(report, "FC050")
    assert "aliases expand to more than 1 MiB of text" in finding.message
    assert finding.file is not None and Path(finding.file).name == "inventory.yaml"


@pytest.mark.usefixtures("small_alias_text")
def test_aliases_that_repeat_a_long_string_in_a_profile_are_an_error(tmp_path: Path) -> None:
    profile = "live-restore: true\n" + repeated_text("labels", 100_000, 20)
    report = lint(tmp_path, ONE_HOST, {"base.yaml": profile})
    (finding,) = [f for f in report.findings if f.severity.value == "error"]
    assert "aliases expand to more than 1 MiB of text" in finding.message
    assert relative(finding, tmp_path)[0] == "profiles/base.yaml"


@pytest.mark.usefixtures("small_alias_text")
def test_aliases_within_the_text_bound_still_work(tmp_path: Path) -> None:
    variable = "  vars:\n    " + repeated_text("many", 10_000, 20)
    inventory = ONE_HOST.replace("  daemon_profile: base\n", "  daemon_profile: base\n" + variable)
    assert lint(tmp_path, inventory).findings == []


def test_a_flood_of_values_is_fc050_before_it_is_all_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the attack: a pull request's inventory of `1,1,1,...` up to the 16 MiB
    # bound is 8 million values, about 10 GB and minutes of the CI machine's
    # CPU to parse. The cap (lowered here so that the test stays small) stops
    # the parse at its first value too many, with the place in the file.
    monkeypatch.setattr(yamlsource, "MAX_NODES", 10_000)
    flood = "x-flood: [" + "1," * 400_000 + "1]\n"
    report = lint(tmp_path, ONE_HOST + flood)
    finding = one(report, "FC050")
    assert "more than 10,000 keys and values" in finding.message
    assert finding.file is not None and Path(finding.file).name == "inventory.yaml"
    assert finding.line is not None
    lines = Path(finding.file).read_text().splitlines()
    assert lines[finding.line - 1].startswith("x-flood: [")
    # it stopped at a value within the cap, not at the end of the list
    assert finding.column is not None
    assert finding.column <= len("x-flood: [") + 2 * 10_000 + 1


def test_the_value_cap_leaves_room_for_a_large_real_fleet() -> None:
    # 20,000 hosts, each with its address, two groups and a dozen variables
    host = (
        "  runner-00001: {address: 10.0.0.1, groups: [ci, eu],"
        + " vars: {"
        + ", ".join(f"v{i}: value{i}" for i in range(12))
        + "}}\n"
    )
    yaml = YAML(typ="safe", pure=True)
    yaml.Composer = yamlsource._BoundedComposer
    yaml.compose("hosts:\n" + host)
    per_host = yaml.composer.nodes - 2
    assert per_host * 20_000 < yamlsource.MAX_NODES


@pytest.mark.parametrize("style", ["flow", "block"])
def test_yaml_nested_3000_deep_is_fc050_not_a_traceback(tmp_path: Path, style: str) -> None:
    if style == "flow":
        deep = "x: " + "[" * 3000 + "]" * 3000 + "\n"
    else:
        deep = "".join("  " * i + f"k{i}:\n" for i in range(3000))
    write_repo(tmp_path, deep)
    for fmt in FORMATS:
        result = runner.invoke(app, ["lint", "-i", str(tmp_path), "-f", fmt])
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        assert "FC050" in result.stdout and "nested deeper than 64" in result.stdout


# -- template errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("{{ 1|foo }}", "unknown filter 'foo'"),
        ("{{ 1 is foo }}", "unknown test 'foo'"),
        ("{{ 1 + }}", "template syntax error"),
        ("{% include 'nope.j2' %}", "not found"),
    ],
)
def test_every_template_error_is_a_finding_with_file_and_line(
    tmp_path: Path, expression: str, message: str
) -> None:
    profile = CLEAN + f"debug: true\n# {expression}\n"
    write_repo(tmp_path, ONE_HOST, {"base.yaml.j2": profile})
    result = runner.invoke(app, ["lint", "-i", str(tmp_path), "-f", "sarif"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    document = json.loads(result.stdout)
    assert_valid_sarif(document)
    finding = one(lint(tmp_path, ONE_HOST, {"base.yaml.j2": profile}), "FC056")
    assert message in finding.message
    assert relative(finding, tmp_path) == ("profiles/base.yaml.j2", 6)


def test_an_internal_error_is_one_line_exit_1_and_a_sarif_log_that_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr("fleetcfg.cli.lint_cmd.lint_repo", broken)
    write_repo(tmp_path, ONE_HOST, {"base.yaml.j2": CLEAN})
    result = runner.invoke(app, ["lint", "-i", str(tmp_path), "-f", "sarif"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stderr.count("\n") == 1
    assert "internal error" in result.stderr and "boom second line" in result.stderr
    document = json.loads(result.stdout)
    assert_valid_sarif(document)
    invocation = document["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert "boom" in invocation["toolExecutionNotifications"][0]["message"]["text"]


def test_a_successful_sarif_log_says_the_run_succeeded(tmp_path: Path) -> None:
    write_repo(tmp_path, ONE_HOST, {"base.yaml.j2": CLEAN})
    result = runner.invoke(app, ["lint", "-i", str(tmp_path), "-f", "sarif"])
    assert json.loads(result.stdout)["runs"][0]["invocations"] == [{"executionSuccessful": True}]


def test_lint_output_never_holds_the_stand_in(tmp_path: Path) -> None:
    profile = CLEAN + "labels: [\"k={{ env('PW') }}\"]\n"
    write_repo(tmp_path, ONE_HOST + "secrets: {env: [PW]}\n", {"base.yaml.j2": profile})
    assert STAND_IN not in every_output(tmp_path)
    assert os.environ.get("PW") is None or os.environ["PW"] not in every_output(tmp_path)


# -- ssh_config from the repo ----------------------------------------------------


def test_commands_in_a_repo_ssh_config_are_fc059_and_lint_runs_none(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    inventory = ONE_HOST.replace(
        "  daemon_profile: base\n", "  daemon_profile: base\n  ssh: {ssh_config_file: ssh.conf}\n"
    )
    (tmp_path / "ssh.conf").write_text(
        f'Match exec "touch {marker}"\n  User x\nHost *\n  ProxyCommand sh -c "touch {marker}"\n'
    )
    report = lint(tmp_path, inventory)
    found = [relative(f, tmp_path) for f in report.findings if f.rule == "FC059"]
    assert found == [("ssh.conf", 1), ("ssh.conf", 4)]
    assert all("--trust-repo-ssh-config" in f.message for f in report.findings)
    every_output(tmp_path)
    assert not marker.exists()


def _sparse(path: Path, size: int = 2 << 30, head: str = "") -> Path:
    """``path`` holding ``head`` and then NULs up to ``size`` bytes (2 GiB:
    what git keeps as a blob of megabytes), without writing them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head)
    with path.open("r+b") as handle:
        handle.truncate(size)
    return path


def test_a_huge_profile_or_included_template_is_an_error_unread(tmp_path: Path) -> None:
    profile = CLEAN + '{% include "big.j2" %}\n'
    write_repo(tmp_path, ONE_HOST, {"base.yaml.j2": profile})
    _sparse(tmp_path / "profiles" / "big.j2")
    report = lint(tmp_path, ONE_HOST, {"base.yaml.j2": profile})
    found = [(relative(f, tmp_path)[0], f.message) for f in report.findings if f.rule == "FC056"]
    assert found and all(path == "profiles/big.j2" for path, _ in found)
    assert all("larger than 1 MiB" in message for _, message in found)
    _sparse(tmp_path / "profiles" / "base.yaml.j2", head=CLEAN)
    result = runner.invoke(app, ["lint", "-i", str(tmp_path / "inventory.yaml")])
    assert result.exit_code == 1
    assert "profiles/base.yaml.j2:1:1: FC056 error: cannot read " in result.stdout
    assert "base.yaml.j2: larger than 1 MiB" in result.stdout


def test_a_huge_inventory_is_fc050_unread(tmp_path: Path) -> None:
    path = write_repo(tmp_path, ONE_HOST, {"base.yaml.j2": CLEAN})
    _sparse(path, 17 << 20, head=ONE_HOST)
    result = runner.invoke(app, ["lint", "-i", str(path)])
    assert result.exit_code == 1
    assert "FC050" in result.stdout and "larger than 16 MiB" in result.stdout


@pytest.mark.parametrize("chain", [70, 3000])
def test_a_deep_chain_of_groups_is_fc054_not_a_crash_or_gigabytes(
    tmp_path: Path, chain: int
) -> None:
    # 3,000 nested groups exhausted Python's stack (lint's internal error);
    # 20,000 (1.4 MB of YAML) took 9 GB: every group held all its ancestors
    groups = "".join(f"  g{i}: {{children: [g{i + 1}]}}\n" for i in range(chain))
    inventory = ONE_HOST + f"groups:\n{groups}  g{chain}: {{hosts: {{web-01: {{}}}}}}\n"
    found = [f for f in lint(tmp_path, inventory).findings if f.rule == "FC054"]
    assert len(found) == chain // 65  # cut every 64 levels
    assert "groups nest more than 64 levels deep at 'g64'" in found[0].message


def test_a_huge_secret_file_or_daemon_json_is_refused_unread(tmp_path: Path) -> None:
    profile = CLEAN + "labels: [\"token={{ file('secrets/big') }}\"]\n"
    path = write_repo(tmp_path, ONE_HOST, {"base.yaml.j2": profile})
    _sparse(tmp_path / "secrets" / "big")
    result = runner.invoke(app, ["render", "-i", str(path), "web-01"])
    assert result.exit_code == 1
    assert "cannot read secret file secrets/big: larger than 1 MiB" in result.output
    big = _sparse(tmp_path / "daemon.json", head="{}")
    result = runner.invoke(app, ["lint", str(big)])
    assert result.exit_code == 2 and "larger than 1 MiB" in result.output


def test_a_huge_repo_ssh_config_is_fc059_unread(tmp_path: Path) -> None:
    inventory = ONE_HOST.replace(
        "  daemon_profile: base\n", "  daemon_profile: base\n  ssh: {ssh_config_file: ssh.conf}\n"
    )
    _sparse(tmp_path / "ssh.conf", head="Host *\n  User x\n")
    finding = one(lint(tmp_path, inventory), "FC059")
    assert relative(finding, tmp_path) == ("ssh.conf", None)
    assert "larger than 1 MiB" in finding.message and "not checked" in finding.message


@pytest.mark.parametrize(
    "expression",
    [
        "'x' * 10**10",
        "[1] * 10**9",
        "10 ** 100000",
        "'ab' * 600000",
        # one C call each, which no watchdog can interrupt: refused before
        "'x'|center(10**10)",
        "'x'.ljust(10**10)",
        "'x'.zfill(10**10)",
        "'%10000000000s' % 1",
        "'%*s' % (10**10, 1)",
        "'%10000000000d'|format(1)",
        "'{:>10000000000}'.format(1)",
        "'{:>{w}}'.format(1, w=10**10)",
        "('x' * 999999)|replace('', 'y' * 999999)",
        "('x' * 999999).replace('', 'y' * 999999)",
        "range(99999)|join('y' * 999999)",
        "['a', 'b']|join('y' * 999999)",
        "('a\\n' * 400000)|indent(999999)",
        "('\\t' * 999999).expandtabs(10**6)",
        "('x' * 999999) + ('x' * 999999)",
        "[1]|batch(10**10, 0)|list",
        "[1]|slice(10**10)|list",
    ],
)
def test_a_profile_cannot_make_lint_build_huge_values(tmp_path: Path, expression: str) -> None:
    profile = CLEAN + f"debug: true\n# {{{{ {expression} }}}}\n"
    finding = one(lint(tmp_path, ONE_HOST, {"base.yaml.j2": profile}), "FC056")
    assert "not allowed in a profile" in finding.message
    assert relative(finding, tmp_path) == ("profiles/base.yaml.j2", 6)


#: a list that holds one 10,000-character string 3,000 times: 3,000 items and
#: 10 kB of memory, but 30 million characters as text. With a million of each
#: (what '*' allows) its text is a terabyte, which str(), repr() and
#: json.dumps build in one C call: the render budget's watchdog cannot stop
#: it, and a CI runner runs out of memory (kept small here: on a fleetcfg
#: without the bound each of these builds 30 MB)
HEAVY = "(['x' * 10000] * 3000)"


@pytest.mark.parametrize(
    "expression",
    [
        HEAVY,
        f"{HEAVY}|string|length",
        f"{HEAVY}|tojson|length",
        f"{HEAVY}|to_json|length",
        f"[{HEAVY}]|join(',')|length",
        f"({HEAVY} ~ '')|length",
        f"('%s' % ({HEAVY},))|length",
        f"'{{}}'.format({HEAVY})|length",
        f"(namespace(l={HEAVY}) ~ '')|length",
        f"{HEAVY} is lower",
        f"{HEAVY} == {HEAVY}",
        f"'x' in {HEAVY}",
        f"{HEAVY}.count('x')",
        f"[{HEAVY}] * 2",
        f"env({HEAVY})",
        "'' }}{% include " + HEAVY + " %}{{ ''",
        "('x' * 1000).translate({120: 'y' * 10000})|length",
    ],
)
def test_a_profile_cannot_make_lint_turn_a_repeated_value_into_huge_text(
    tmp_path: Path, expression: str
) -> None:
    profile = CLEAN + f"debug: true\n# {{{{ {expression} }}}}\n"
    finding = one(lint(tmp_path, ONE_HOST, {"base.yaml.j2": profile}), "FC056")
    assert "not allowed in a profile" in finding.message
    assert "would build more than 1000000 characters" in finding.message
    assert relative(finding, tmp_path) == ("profiles/base.yaml.j2", 6)


def test_an_undefined_element_names_a_repeated_key_briefly(tmp_path: Path) -> None:
    profile = CLEAN + f"debug: true\n# {{{{ {{}}[{HEAVY}] }}}}\n"
    finding = one(lint(tmp_path, ONE_HOST, {"base.yaml.j2": profile}), "FC056")
    assert "has no element" in finding.message
    assert len(finding.message) < 500
    assert relative(finding, tmp_path) == ("profiles/base.yaml.j2", 6)


def rendered_label(repo: Path, label: str) -> str:
    """The label a profile that renders ``label`` gives web-01 (``render``)."""
    path = write_repo(repo, ONE_HOST, {"base.yaml.j2": CLEAN + f'labels: ["{label}"]\n'})
    result = runner.invoke(app, ["render", "-i", str(path), "web-01"])
    assert result.exit_code == 0, result.output
    (rendered,) = json.loads(result.stdout)["labels"]
    return str(rendered)


def test_values_of_ordinary_size_still_print_compare_and_filter(tmp_path: Path) -> None:
    label = (
        "x={{ ['a', 'b'] }}|{{ {'k': [1, 2]}|tojson|length }}|{{ [1, 2] ~ '' }}|{{ [1] == [1] }}"
        "|{{ 'a' in ['a'] }}|{{ '%s' % ([1],) }}|{{ '{}'.format([1]) }}|{{ [[1]] * 2 }}"
        "|{{ ([[1], [2]])|sum(start=[]) }}|{{ 'ab'.translate({97: 'c'}) }}"
        "|{{ namespace(a=1).a }}|{{ [1, 2].count(1) }}|{{ {}['k'] is defined }}"
    )
    assert rendered_label(tmp_path, label) == (
        "x=['a', 'b']|13|[1, 2]|True|True|[1]|[1]|[[1], [1]]|[1, 2]|cb|1|1|False"
    )


def test_ordinary_arithmetic_and_repetition_still_work(tmp_path: Path) -> None:
    profile = CLEAN + "labels: [\"x={{ '-' * 3 }}{{ 2 ** 10 }}{{ ([1] * 2)|length }}\"]\n"
    assert lint(tmp_path, ONE_HOST, {"base.yaml.j2": profile}).findings == []


def test_the_bounded_filters_and_methods_still_work_as_jinjas(tmp_path: Path) -> None:
    label = (
        "x={{ 'a'|center(5) }}|{{ 'a'|indent(2, first=true) }}|{{ 'a b'|wordwrap(1, wrapstring=';') }}"
        "|{{ 'aab'|replace('a', 'c', 1) }}|{{ [1, 2, 3]|batch(2)|list|length }}"
        "|{{ [1, 2, 3]|slice(2)|list|length }}|{{ ['a', 'b']|map('upper')|join(',') }}"
        "|{{ [{'n': 'p'}]|join(',', attribute='n') }}|{{ '%s-%03d'|format('v', 7) }}"
        "|{{ '{:>3}'.format(1) }}|{{ 'a'.ljust(3, '.') }}|{{ 'a' + 'b' }}|{{ '%d%%' % 5 }}"
    )
    assert rendered_label(tmp_path, label) == ("x=  a  |  a|a;b|cab|2|2|A,B|p|v-007|  1|a..|ab|5%")


def test_a_profile_that_renders_a_huge_text_is_stopped_before_it_is_parsed(
    tmp_path: Path,
) -> None:
    # 100 MB of YAML comments took the YAML parser 50 s and 650 MB per host
    lines = "{% for i in range(99999) %}# {{ 'x' * 999 }}\n{% endfor %}"
    finding = one(lint(tmp_path, ONE_HOST, {"base.yaml.j2": CLEAN + lines}), "FC056")
    assert "the rendered text would be larger than 2 MiB" in finding.message


@pytest.mark.parametrize(
    "include",
    [
        "{% include 'base.yaml.j2' %}",
        "{% include 'other.j2' %}",
        "{% if false %}{% include 'base.yaml.j2' %}{% endif %}",
    ],
    ids=["itself", "through-another", "guarded"],
)
def test_a_template_that_includes_itself_is_a_finding_not_a_crash(
    tmp_path: Path, include: str
) -> None:
    profiles = {
        "base.yaml.j2": CLEAN + include + "\n",
        "other.j2": "{% include 'base.yaml.j2' %}\n",
    }
    report = lint(tmp_path, ONE_HOST, profiles)
    errors = [f for f in report.findings if f.severity.value == "error"]
    if "false" in include:
        assert errors == []
    else:
        assert {f.rule for f in errors} == {"FC056"}
        assert all("RecursionError" in f.message for f in errors)


@pytest.fixture
def small_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A render budget a test reaches in moments (the real one: 20 s of CPU,
    1 GiB of memory)."""
    monkeypatch.setattr(budget, "CPU_SECONDS", 0.5)
    monkeypatch.setattr(budget, "MEMORY_GROWTH", 256 << 20)


@pytest.mark.usefixtures("small_budget")
def test_a_loop_that_does_not_end_is_stopped_with_the_line_it_ran(tmp_path: Path) -> None:
    # 10**10 turns: hours of a CI runner's CPU before the render budget
    loop = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"
    profile = CLEAN + f"debug: true\n{loop}\n"
    finding = one(lint(tmp_path, ONE_HOST, {"base.yaml.j2": profile}), "FC056")
    assert "rendering stopped: it ran for more than 0.5 s of CPU" in finding.message
    assert relative(finding, tmp_path) == ("profiles/base.yaml.j2", 6)


@pytest.mark.usefixtures("small_budget")
@pytest.mark.parametrize(
    "growth",
    [
        # doubling a string on every turn: 2**40 characters
        "{% set ns = namespace(s='x' * 1000) %}{% for i in range(40) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        # a list of distinct kilobyte strings: 10**10 of them
        "{% set ns = namespace(l=[]) %}{% for i in range(99999) %}{% for j in range(99999) %}"
        "{% set _ = ns.l.append(('x' * 1000) ~ i ~ j) %}{% endfor %}{% endfor %}",
    ],
    ids=["doubling", "list"],
)
def test_a_render_that_keeps_taking_memory_is_stopped(
    tmp_path: Path, growth: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(budget, "CPU_SECONDS", 600.0)  # memory runs out first here
    profile = CLEAN + f"debug: true\n# {growth}\n"
    finding = one(lint(tmp_path, ONE_HOST, {"base.yaml.j2": profile}), "FC056")
    assert "rendering stopped: it took more than 256 MiB of memory" in finding.message
    assert finding.file is not None and finding.file.endswith("profiles/base.yaml.j2")


def test_renders_past_the_runs_total_cpu_are_stopped_for_every_later_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # just under the budget of one render, for each of thousands of hosts,
    # would hold a CI job for days: the run has a total too
    monkeypatch.setattr(budget, "TOTAL_CPU_SECONDS", 0.3)
    slow = "{% for i in range(3000) %}{% for j in range(999) %}{% endfor %}{% endfor %}"
    hosts = "".join(f"  web-{n:02d}: {{address: 10.0.0.{n}}}\n" for n in range(2, 40))
    inventory = ONE_HOST + hosts
    report = lint(
        tmp_path,
        inventory,
        {"base.yaml.j2": CLEAN + f'labels: ["h={{{{ host|upper }}}}"]\n# {slow}\n'},
    )
    stopped = [f for f in report.findings if "rendering stopped" in f.message]
    assert stopped, report.findings
    assert all("more than 0.3 s of CPU in all in this run" in f.message for f in stopped)
    assert sum(len(f.hosts) for f in stopped) < 39  # the first hosts rendered


@pytest.mark.usefixtures("small_budget")
def test_a_stopped_render_leaves_the_other_hosts_and_later_renders_alone(tmp_path: Path) -> None:
    loop = (
        "{% if host == 'web-01' %}{% for i in range(99999) %}{% for j in range(99999) %}"
        "{% endfor %}{% endfor %}{% endif %}"
    )
    inventory = ONE_HOST.replace("hosts:\n", "hosts:\n  web-02: {address: 10.0.0.2}\n", 1)
    report = lint(tmp_path, inventory, {"base.yaml.j2": CLEAN + f"debug: true\n# {loop}\n"})
    stopped = [f for f in report.findings if f.rule == "FC056"]
    assert len(stopped) == 1 and stopped[0].hosts == ("web-01",)
    # nothing is left pending in this thread once the render is over
    time.sleep(budget.POLL * 4)
    assert lint(tmp_path, ONE_HOST, {"base.yaml.j2": CLEAN}).findings == []


def test_a_profile_that_renders_a_flood_of_values_is_stopped_at_the_cap(tmp_path: Path) -> None:
    # 800 KB of `1,1,1,...` (under the 2 MiB render bound) is 400,000 values:
    # about 8 s and 500 MB per host to parse. A rendered profile holds at most
    # MAX_RENDERED_VALUES, and the error quotes a short piece of the line.
    flood = "x-flood: [{{ '1,' * 400000 }}1]\n"
    finding = one(lint(tmp_path, ONE_HOST, {"base.yaml.j2": CLEAN + flood}), "FC056")
    assert "more than 100,000 keys and values" in finding.message
    assert relative(finding, tmp_path) == ("profiles/base.yaml.j2", CLEAN.lstrip().count("\n") + 1)
    assert "'x-flood: [1,1,1," in finding.message and len(finding.message) < 1000


@pytest.mark.usefixtures("small_budget")
def test_parsing_a_rendered_text_counts_in_the_render_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a text under every cap can still take seconds to parse, for every host:
    # the parse runs within the render's budget and counts in the run's total
    monkeypatch.setattr(outputs, "MAX_RENDERED_VALUES", 10_000_000)
    flood = "x-flood: [{{ '1,' * 400000 }}1]\n"
    finding = one(lint(tmp_path, ONE_HOST, {"base.yaml.j2": CLEAN + flood}), "FC056")
    assert "parsing the rendered text stopped: it ran for more than 0.5 s of CPU" in (
        finding.message
    )
    assert finding.file is not None and finding.file.endswith("profiles/base.yaml.j2")
    time.sleep(budget.POLL * 4)
    assert lint(tmp_path, ONE_HOST, {"base.yaml.j2": CLEAN}).findings == []
