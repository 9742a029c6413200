"""`fleetcfg plan` through typer's CliRunner: a repo under tmp_path, hosts
answered by FakeDockerHosts (the SSH connector is replaced)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetcfg.cli import env as cli_env
from fleetcfg.cli import plan_cmd
from fleetcfg.cli.app import app
from fleetcfg.core.errors import UnknownHostKeyError
from fleetcfg.core.filedigest import KEYED, digest_matches
from fleetcfg.host.transport.base import CommandResult
from fleetcfg.host.transport.targets import SshTarget
from fleetcfg.plan.fleet import load_plan
from fleetcfg.plan.model import Action
from tests.fakes.dockerhost import FakeDockerHost
from tests.unit.inventory.repo import write_repo

SECRET = "s3cr3t-Pr0xy-pw"

INVENTORY = """
secrets: {env: [PROXY_PASSWORD]}
defaults:
  daemon_profile: base
  engine_version: "26.1"
groups:
  web:
    hosts:
      web-01: {address: 10.0.0.1}
      web-02: {address: 10.0.0.2}
  db:
    hosts:
      db-01: {address: 10.0.1.1}
"""

PROFILES = {
    "base.yaml.j2": """
    registry-mirrors: ["https://mirror.example.com"]
    proxies:
      http-proxy: "http://svc:{{ env('PROXY_PASSWORD') }}@proxy.corp:3128"
    """,
}

CURRENT = {
    "registry-mirrors": ["https://mirror.example.com"],
    "proxies": {"http-proxy": f"http://svc:{SECRET}@proxy.corp:3128"},
}

runner = CliRunner()


class FakeConnector:
    """Opens the FakeDockerHost of each host (by inventory name)."""

    def __init__(self, hosts: Mapping[str, FakeDockerHost]) -> None:
        self.hosts = hosts
        self.opened: list[str] = []
        self.closed = False

    def open(self, target: SshTarget) -> FakeDockerHost:
        self.opened.append(target.host)
        return self.hosts[target.host]

    def close(self) -> None:
        self.closed = True


class UnknownKeyHost(FakeDockerHost):
    def run_many(
        self, commands: object, *, timeout: float | None = None, max_output: int | None = None
    ) -> list[CommandResult]:
        raise UnknownHostKeyError(
            "the host key of 10.0.0.2 is not known: it presented ED25519 key SHA256:abc",
            host=self.host,
            hint="verify the fingerprint, or rerun with --accept-new-host-keys",
        )


def fleet(**changes: FakeDockerHost) -> dict[str, FakeDockerHost]:
    hosts = {
        name: FakeDockerHost(name, daemon_json=CURRENT) for name in ("web-01", "web-02", "db-01")
    }
    hosts.update(changes)
    return hosts


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "repo", INVENTORY, PROFILES)


def invoke(
    monkeypatch: pytest.MonkeyPatch,
    hosts: Mapping[str, FakeDockerHost],
    args: list[str],
) -> tuple[int, str, str, FakeConnector]:
    connector = FakeConnector(hosts)
    monkeypatch.setattr(cli_env, "make_connector", lambda: connector)
    result = runner.invoke(app, ["plan", *args], env={"PROXY_PASSWORD": SECRET})
    return result.exit_code, result.stdout, result.stderr, connector


def test_no_changes_exits_0_and_says_so(monkeypatch: pytest.MonkeyPatch, inventory: Path) -> None:
    code, out, err, connector = invoke(monkeypatch, fleet(), ["-i", str(inventory)])
    assert code == 0, out + err
    assert out == "No changes. 3 hosts match the configuration.\n"
    assert connector.closed


def test_detailed_exitcode_is_0_without_changes(
    monkeypatch: pytest.MonkeyPatch, inventory: Path
) -> None:
    code, _, _, _ = invoke(monkeypatch, fleet(), ["-i", str(inventory), "--detailed-exitcode"])
    assert code == 0


def test_changes_print_a_block_per_host_and_the_summary(
    monkeypatch: pytest.MonkeyPatch, inventory: Path
) -> None:
    changed = FakeDockerHost(
        "web-02", daemon_json={**CURRENT, "registry-mirrors": ["https://old.example.com"]}
    )
    code, out, _, _ = invoke(monkeypatch, fleet(**{"web-02": changed}), ["-i", str(inventory)])
    assert code == 0
    # the proxy URL holds a password: the file is written readable by root only
    assert out.startswith(
        "# web-02 (10.0.0.2): reload\n  ~ /etc/docker/daemon.json "
        "[0644 root:root -> 0600 root:root, holds credentials]\n"
    )
    assert (
        '      ~ registry-mirrors: ["https://old.example.com"] -> ["https://mirror.example.com"]\n'
        in out
    )
    assert "# web-01" not in out
    assert out.endswith("Plan: 1 to reload, 0 to restart, 2 unchanged.\n")


def test_hosts_with_identical_changes_share_one_block_listing_them(
    monkeypatch: pytest.MonkeyPatch, inventory: Path
) -> None:
    old = {**CURRENT, "registry-mirrors": ["https://old.example.com"]}
    hosts = {name: FakeDockerHost(name, daemon_json=old) for name in ("web-01", "web-02", "db-01")}
    code, out, _, _ = invoke(monkeypatch, hosts, ["-i", str(inventory)])
    assert code == 0
    assert out.startswith(
        "# 3 hosts (web-01, web-02, db-01): reload\n  ~ /etc/docker/daemon.json "
        "[0644 root:root -> 0600 root:root, holds credentials]\n"
    )
    assert out.count("~ registry-mirrors:") == 1
    assert out.endswith("Plan: 3 to reload, 0 to restart, 0 unchanged.\n")


def test_verbose_keeps_one_block_per_host(monkeypatch: pytest.MonkeyPatch, inventory: Path) -> None:
    old = {**CURRENT, "registry-mirrors": ["https://old.example.com"]}
    hosts = {name: FakeDockerHost(name, daemon_json=old) for name in ("web-01", "web-02", "db-01")}
    code, out, _, _ = invoke(monkeypatch, hosts, ["-i", str(inventory), "--verbose"])
    assert code == 0
    assert out.startswith("# web-01 (10.0.0.1): reload\n")
    assert "# db-01 (10.0.1.1): reload\n" in out
    assert out.count("~ registry-mirrors:") == 3


def test_detailed_exitcode_is_2_with_changes(
    monkeypatch: pytest.MonkeyPatch, inventory: Path
) -> None:
    changed = FakeDockerHost("db-01", daemon_json=None)
    code, _, _, _ = invoke(
        monkeypatch, fleet(**{"db-01": changed}), ["-i", str(inventory), "--detailed-exitcode"]
    )
    assert code == 2


def test_an_unreachable_host_is_reported_and_the_rest_is_planned(
    monkeypatch: pytest.MonkeyPatch, inventory: Path
) -> None:
    down = FakeDockerHost("web-01", daemon_json=CURRENT)
    down.unreachable = True
    changed = FakeDockerHost("db-01", daemon_json=None)
    hosts = fleet(**{"web-01": down, "db-01": changed})
    code, out, _, _ = invoke(monkeypatch, hosts, ["-i", str(inventory)])
    assert code == 1
    assert "# web-01 (10.0.0.1): unreachable\n  error: cannot connect to web-01" in out
    assert "# db-01 (10.0.1.1): restart" in out
    assert out.endswith("Plan: 0 to reload, 1 to restart, 1 unchanged, 1 unreachable.\n")


def test_detailed_exitcode_counts_an_unreachable_host_as_an_error(
    monkeypatch: pytest.MonkeyPatch, inventory: Path
) -> None:
    down = FakeDockerHost("web-01", daemon_json=CURRENT)
    down.unreachable = True
    changed = FakeDockerHost("db-01", daemon_json=None)
    code, _, _, _ = invoke(
        monkeypatch,
        fleet(**{"web-01": down, "db-01": changed}),
        ["-i", str(inventory), "--detailed-exitcode"],
    )
    assert code == 1


def test_an_unknown_host_key_is_an_error_for_that_host(
    monkeypatch: pytest.MonkeyPatch, inventory: Path
) -> None:
    code, out, _, _ = invoke(
        monkeypatch, fleet(**{"web-02": UnknownKeyHost("web-02")}), ["-i", str(inventory)]
    )
    assert code == 1
    assert (
        "# web-02 (10.0.0.2): error\n  error: the host key of 10.0.0.2 is not known: it "
        "presented ED25519 key SHA256:abc (verify the fingerprint, or rerun with "
        "--accept-new-host-keys)\n"
    ) in out
    assert out.endswith("Plan: 0 to reload, 0 to restart, 2 unchanged, 1 with errors.\n")


def test_accept_new_host_keys_reaches_the_ssh_target(
    monkeypatch: pytest.MonkeyPatch, inventory: Path
) -> None:
    seen: list[bool | None] = []

    class Recording(FakeConnector):
        def open(self, target: SshTarget) -> FakeDockerHost:
            seen.append(target.accept_new_host_keys)
            return super().open(target)

    monkeypatch.setattr(cli_env, "make_connector", lambda: Recording(fleet()))
    runner.invoke(app, ["plan", "-i", str(inventory), "--accept-new-host-keys"])
    assert seen == [True, True, True]


def test_limit_takes_groups_and_globs(monkeypatch: pytest.MonkeyPatch, inventory: Path) -> None:
    _, _, _, connector = invoke(monkeypatch, fleet(), ["-i", str(inventory), "--limit", "db"])
    assert connector.opened == ["db-01"]
    _, _, _, connector = invoke(monkeypatch, fleet(), ["-i", str(inventory), "-l", "web-*,!web-02"])
    assert connector.opened == ["web-01"]


def test_an_unknown_limit_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, inventory: Path
) -> None:
    code, _, err, _ = invoke(monkeypatch, fleet(), ["-i", str(inventory), "-l", "nope"])
    assert code == 2
    assert "'nope' is neither a host nor a group" in err
    code, _, _, _ = invoke(
        monkeypatch, fleet(), ["-i", str(inventory), "-l", "nope", "--detailed-exitcode"]
    )
    assert code == 1


def test_json_output_lists_hosts_with_action_changes_warnings_errors(
    monkeypatch: pytest.MonkeyPatch, inventory: Path
) -> None:
    down = FakeDockerHost("web-01")
    down.unreachable = True
    changed = FakeDockerHost("db-01", daemon_json={**CURRENT, "debug": True})
    code, out, _, _ = invoke(
        monkeypatch,
        fleet(**{"web-01": down, "db-01": changed}),
        ["-i", str(inventory), "--format", "json"],
    )
    assert code == 1
    data = json.loads(out)
    by_host = {h["host"]: h for h in data["hosts"]}
    assert [h["host"] for h in data["hosts"]] == ["web-01", "web-02", "db-01"]
    assert by_host["db-01"]["action"] == "restart"
    assert by_host["db-01"]["changes"] == ["debug"]
    assert by_host["db-01"]["warnings"] == [
        "restart kills 2 running containers: live-restore is off on the running daemon "
        "(containers with a restart policy start again)"
    ]
    assert by_host["web-01"]["action"] == "error" and by_host["web-01"]["unreachable"]
    assert by_host["web-01"]["errors"][0].startswith("cannot connect to web-01")
    assert by_host["web-02"] | {"changes": []} == by_host["web-02"]
    assert data["summary"] == {
        "reload": 0,
        "restart": 1,
        "write": 0,
        "unchanged": 1,
        "error": 0,
        "unreachable": 1,
        "line": "Plan: 0 to reload, 1 to restart, 1 unchanged, 1 unreachable.",
    }


def test_saved_plan_round_trips_and_holds_no_secret(
    monkeypatch: pytest.MonkeyPatch, inventory: Path, tmp_path: Path
) -> None:
    changed = FakeDockerHost(
        "web-01",
        daemon_json={"proxies": {"http-proxy": "http://svc:older-pw-123@proxy.corp:3128"}},
    )
    saved = tmp_path / "plan.json"
    code, out, err, _ = invoke(
        monkeypatch, fleet(**{"web-01": changed}), ["-i", str(inventory), "-o", str(saved)]
    )
    assert code == 0
    assert f"Saved the plan to {saved}" in out
    plan = load_plan(saved)
    web = plan.host("web-01")
    assert web.action is Action.RESTART
    daemon = web.files[0]
    live = changed.file("/etc/docker/daemon.json")
    assert live is not None and live.content is not None
    # a file with a proxy password: a keyed digest, never its plain sha256
    assert digest_matches(daemon.live_sha256, live.content)
    assert (daemon.live_sha256 or "").startswith(KEYED)
    assert live.sha256 is not None and live.sha256[:12] not in saved.read_text()
    assert daemon.target_sha256 is not None and daemon.target_sha256.startswith(KEYED)
    assert len(daemon.target_sha256) == len(KEYED) + 64
    assert web.facts.engine_version == "26.1.5"
    assert plan.format_version == 1 and plan.repo_sha256 and plan.plan_id
    assert load_plan(saved) == plan
    text = saved.read_text()
    for secret in (SECRET, "older-pw-123"):
        assert secret not in text
        assert secret not in out
        assert secret not in err
    assert "http://svc:***@proxy.corp:3128" in text


def test_json_output_holds_no_secret(monkeypatch: pytest.MonkeyPatch, inventory: Path) -> None:
    changed = FakeDockerHost("web-01", daemon_json={"debug": True})
    _, out, err, _ = invoke(
        monkeypatch, fleet(**{"web-01": changed}), ["-i", str(inventory), "--format", "json"]
    )
    assert SECRET not in out + err
    assert "http://svc:***@proxy.corp:3128" in out


def test_progress_is_one_plain_line_per_host_when_not_a_terminal(
    monkeypatch: pytest.MonkeyPatch, inventory: Path
) -> None:
    _, _, err, _ = invoke(monkeypatch, fleet(), ["-i", str(inventory)])
    lines = err.splitlines()
    # hosts finish in any order; the counter counts up
    assert [line[:11] for line in lines] == ["plan [1/3] ", "plan [2/3] ", "plan [3/3] "]
    assert sorted(line[11:] for line in lines) == ["db-01: none", "web-01: none", "web-02: none"]


def test_a_missing_inventory_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, _, err, _ = invoke(monkeypatch, fleet(), ["-i", str(tmp_path / "nope.yaml")])
    assert code == 2
    assert "inventory not found" in err


def test_progress_on_a_terminal_is_a_bar_that_leaves_no_trace() -> None:
    import io

    from rich.console import Console

    from fleetcfg.plan.model import HostPlan

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with plan_cmd._Progress(2, console) as progress:
        progress(HostPlan(host="web-01", action=Action.NONE))
        progress(HostPlan(host="web-02", action=Action.RESTART))
    assert progress.done == 2
    assert "plan [" not in out.getvalue()  # no plain lines on a terminal
