"""No value from the repo under review or from a host can start a line that a
CI runner acts on. GitHub Actions reads a step's log line by line and takes
``::set-output``, ``::add-mask::``, ``::stop-commands::`` or ``::error
file=...::`` at the start of a line (after blanks) for a workflow command;
Azure Pipelines does the same with ``##vso[``. The attack: a pull request
whose inventory holds ``"x\\n::error file=README.md::..."`` as a key or a value
made lint's text output (the default, in CI) put that line in the log."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetcfg.cli import env as cli_env
from fleetcfg.cli import plan_view
from fleetcfg.cli.app import app
from fleetcfg.cli.output import CiSafeStream
from fleetcfg.host.transport.targets import SshTarget
from fleetcfg.plan.model import Action, HostPlan, Plan
from tests.fakes.dockerhost import FakeDockerHost
from tests.unit.inventory.repo import write_repo

INJECTED = "x\n::error file=README.md,line=1::INJECTED\n  ::set-output name=deploy::yes\r##vso[task.setvariable variable=a]b\n"
#: what a CI runner takes for a command: a line starting with :: or ## (after blanks)
COMMAND_LINE = re.compile(r"^[ \t]*(::|##)", re.MULTILINE)
runner = CliRunner()


def command_lines(text: str) -> list[str]:
    return [line for line in re.split(r"\r\n|\r|\n", text) if COMMAND_LINE.match(line)]


def written(*writes: str, flush_each: bool = False) -> str:
    out = io.StringIO()
    stream = CiSafeStream(out)
    for text in writes:
        stream.write(text)
        if flush_each:
            stream.flush()
    stream.flush()
    return out.getvalue()


@pytest.mark.parametrize("flush_each", [False, True], ids=["buffered", "flushed"])
@pytest.mark.parametrize(
    ("writes", "expected"),
    [
        (("a\n::error::x\n",), "a\n\\x3a:error::x\n"),
        (("  ", "::error::x\n"), "  \\x3a:error::x\n"),
        ((":", ":error::x\n"), "\\x3a:error::x\n"),
        (("x\n", " ", ":", ":y\n"), "x\n \\x3a:y\n"),
        (("##vso[task.complete]\n",), "\\x23#vso[task.complete]\n"),
        (("ab", "::x\n"), "ab::x\n"),  # inside a line: nothing to do
        (("a\r::error::x\n",), "a\r\\x3a:error::x\n"),  # a runner ends a line at CR too
        (("ab\r", "  ::x\n"), "ab\r  \\x3a:x\n"),
        (("ok: 1\n  :\n# one\n",), "ok: 1\n  :\n# one\n"),
    ],
)
def test_a_line_never_starts_like_a_ci_command_however_it_is_written(
    writes: tuple[str, ...], expected: str, flush_each: bool
) -> None:
    assert written(*writes, flush_each=flush_each) == expected


INVENTORY = f"""
defaults:
  daemon_profile: base
  engine_version: "26.1"
  vars:
    evil: {json.dumps(INJECTED)}
hosts:
  web-01: {{address: 10.0.0.1}}
"""
PROFILE = """
log-driver: {{ evil|tojson }}
registry-mirrors: [{{ evil|tojson }}]
labels: [{{ evil|tojson }}]
dns: [{{ evil|tojson }}]
{{ evil|tojson }}: 1
"""


def run(args: list[str]) -> str:
    result = runner.invoke(app, args, env={"NO_COLOR": "1"})
    return result.stdout + result.stderr


def test_lint_render_and_errors_print_no_command_from_the_repo(tmp_path: Path) -> None:
    repo = write_repo(tmp_path, INVENTORY, {"base.yaml.j2": PROFILE})
    out = run(["lint", "-i", str(repo)])
    assert "FC014" in out and "INJECTED" in out
    out += run(["render", "web-01", "-i", str(repo)])
    out += run(["render", "web-01", "-i", str(repo), "--explain"])
    # a key and a variable name that hold newlines: an inventory error
    bad = tmp_path / "bad"
    write_repo(
        bad,
        f"{json.dumps(INJECTED)}: 1\nhosts:\n  web-01: {{vars: {{{json.dumps(INJECTED)}: 1}}}}\n",
    )
    errors = run(["render", "web-01", "-i", str(bad / "inventory.yaml")])
    assert "INJECTED" in errors
    assert command_lines(out + errors) == []


def test_lints_github_format_prints_only_its_own_annotations(tmp_path: Path) -> None:
    repo = write_repo(tmp_path, INVENTORY, {"base.yaml.j2": PROFILE})
    out = runner.invoke(app, ["lint", "-i", str(repo), "-f", "github"]).stdout
    lines = out.splitlines()
    assert len(lines) >= 5
    assert command_lines(out) == lines
    assert all(re.match(r"::(error|warning|notice) file=", line) for line in lines)


class FakeConnector:
    def __init__(self, hosts: Mapping[str, FakeDockerHost]) -> None:
        self.hosts = hosts

    def open(self, target: SshTarget) -> FakeDockerHost:
        return self.hosts[target.host]


def hostile_validator(content: bytes, path: str) -> str | None:
    return f"unable to configure the Docker daemon with file {path}: {INJECTED}"


def test_plan_and_apply_print_no_command_from_the_repo_or_a_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = write_repo(
        tmp_path,
        """
        defaults: {daemon_profile: base, client_profile: client, engine_version: "26.1"}
        hosts:
          web-01: {address: 10.0.0.1}
          web-02: {address: 10.0.0.2}
          web-03: {address: 10.0.0.3, daemon_profile: evil, vars: {evil: EVIL}}
        """.replace("EVIL", json.dumps(INJECTED)),
        {
            "evil.yaml.j2": PROFILE,
            "base.yaml": "live-restore: true\n",
            "client.yaml": 'proxies: {default: {httpProxy: "http://proxy:3128"}}\n',
        },
    )
    # what the hosts send: a daemon.json that does not parse, a user's
    # config.json of lines that look like commands, and dockerd --validate's
    # answer (web-02)
    hosts = {
        "web-01": FakeDockerHost(
            "web-01", daemon_json=INJECTED, client_config=INJECTED.encode() + b"{"
        ),
        "web-02": FakeDockerHost(
            "web-02", daemon_json={"debug": True}, validator=hostile_validator
        ),
        "web-03": FakeDockerHost("web-03"),
    }
    monkeypatch.setattr(cli_env, "make_connector", lambda: FakeConnector(hosts))
    out = run(["plan", "-i", str(repo)])
    assert "web-01" in out and "web-02" in out and "FC014" in out
    out += run(["plan", "-i", str(repo), "--verbose"])
    applied = run(["apply", "-i", str(repo), "--yes", "--journal", str(tmp_path / "j")])
    assert "INJECTED" in out + applied  # the values are shown, escaped
    assert command_lines(out + applied) == []


#: what a terminal acts on: ESC (clear the screen), CSI in C1, a bidi override
CONTROLS = "\x1b[2J\x9b2J\u202e"
RAW_CONTROL = re.compile("[\x1b\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_no_output_format_passes_a_control_character_from_the_repo(tmp_path: Path) -> None:
    inventory = INVENTORY.replace(json.dumps(INJECTED), json.dumps(CONTROLS))
    repo = write_repo(tmp_path, inventory, {"base.yaml.j2": PROFILE})
    outputs = [
        run(["lint", "-i", str(repo), "-f", fmt]) for fmt in ("text", "json", "sarif", "github")
    ]
    outputs += [run(["render", "web-01", "-i", str(repo), *flag]) for flag in ([], ["--explain"])]
    clean = write_repo(
        tmp_path / "clean", inventory, {"base.yaml.j2": '{"labels": [{{ ("k=" ~ evil)|tojson }}]}'}
    )
    rendered = runner.invoke(app, ["render", "web-01", "-i", str(clean)])
    assert rendered.exit_code == 0, rendered.output
    assert json.loads(rendered.stdout)["labels"] == ["k=" + CONTROLS]  # the same JSON value
    for out in [*outputs, rendered.stdout]:
        assert RAW_CONTROL.search(out) is None, out


def test_a_hosts_reasons_warnings_and_errors_print_one_line_each() -> None:
    plan = Plan(
        fleetcfg_version="0",
        inventory="inventory.yaml",
        hosts=[
            HostPlan(
                host="web-01",
                action=Action.ERROR,
                reasons=[f"restart: {INJECTED}"],
                warnings=[f"cannot see docker.service ({INJECTED})"],
                errors=[f"dockerd said {INJECTED}"],
            )
        ],
    )
    texts = [text for text, _ in plan_view.plan_lines(plan)]
    assert all("\n" not in t and "\r" not in t for t in texts)
    assert command_lines("\n".join(texts)) == []


def test_values_are_printed_as_they_are_not_as_emoji(tmp_path: Path) -> None:
    # rich turns ":smile:" into an emoji, also with markup=False: lint said
    # "registry mirror 'mirror😄'" of a mirror written 'mirror:smile:'
    repo = write_repo(
        tmp_path,
        "defaults: {daemon_profile: base}\nhosts:\n  web-01: {address: 10.0.0.1}\n",
        {"base.yaml": 'registry-mirrors: ["mirror:smile:"]\n'},
    )
    out = run(["lint", "-i", str(repo)])
    assert "registry mirror 'mirror:smile:'" in out
    assert "\U0001f604" not in out


def test_a_file_name_with_control_characters_reaches_no_output_raw(tmp_path: Path) -> None:
    # git stores any file name: a template a profile includes may be named
    # with an OSC 8 link (BEL-terminated), CSI and a bidi override; the
    # github format wrote it raw into the annotation's file= property
    name = "t\x1b]8;;https:evil.example\x07link\x1b]8;;\x07" + CONTROLS + ".j2"
    profile = f"live-restore: true\n{{% include {name!r} %}}\n"
    repo = write_repo(tmp_path, INVENTORY, {"base.yaml.j2": profile, name: "{{ oops( }}\n"})
    for fmt in ("text", "json", "sarif", "github"):
        out = run(["lint", "-i", str(repo), "-f", fmt])
        assert "FC056" in out, out
        assert RAW_CONTROL.search(out) is None and "\x07" not in out, out
