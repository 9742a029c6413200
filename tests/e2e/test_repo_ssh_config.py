"""An ssh_config file in the repo cannot run commands on the control machine
(issue 10, item 1): plan and apply refuse ProxyCommand / Match exec from it
unless the operator passes --trust-repo-ssh-config; the operator's own
ssh_config keeps working. Real sshd hosts (tests/fleet)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import app
from tests.fleet import Fleet, FleetHost
from tests.fleet.relay import write_relay
from tests.fleet.repo import write_repo_of

pytestmark = pytest.mark.e2e

PROFILE = 'log-opts: {max-size: "50m", max-file: "5"}\nlive-restore: true\n'
runner = CliRunner()


def repo_with_config(
    tmp_path: Path, fleet: Fleet, host: FleetHost, config: Path, marker: Path
) -> Path:
    """A repo whose host reads ``config``; that config runs a relay through a
    ProxyCommand that first touches ``marker`` (and a Match exec does too)."""
    relay = write_relay(tmp_path)
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'Match exec "touch {marker}.match"\n'
        f"  User root\n"
        f"Host *\n"
        f"  ProxyCommand sh -c 'touch {marker}; exec {sys.executable} {relay} %h %p'\n"
    )
    return write_repo_of(
        tmp_path / "repo",
        fleet,
        [host],
        profiles={"base.yaml.j2": PROFILE},
        host_extra={host.name: f"ssh: {{ssh_config_file: {config}, port: {host.port}}}"},
    )


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"NO_COLOR": "1"})
    return result.exit_code, result.stdout + result.stderr


def run_process(*args: str, home: Path | None = None) -> tuple[int, str]:
    """fleetcfg in a process of its own, as an operator runs it (a ProxyCommand
    is a child process of that run), with ``home`` as its HOME if given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")} | {"NO_COLOR": "1"}
    if home is not None:
        env["HOME"] = str(home)
    done = subprocess.run(
        [sys.executable, "-m", "fleetcfg", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("config", "where"),
    [("repo/ssh.conf", "is in the repo"), ("ci/ssh_config", "is named by the repo's inventory")],
    ids=["in-the-repo", "next-to-it-in-a-monorepo"],
)
def test_plan_and_apply_refuse_commands_from_an_ssh_config_of_the_pull_request(
    fleet: Fleet, tmp_path: Path, config: str, where: str
) -> None:
    # next to it: a monorepo with the inventory in repo/ and the pull
    # request's ssh_config in ci/; taken for the operator's own file, its
    # ProxyCommand ran on the plan machine
    host = fleet.hosts[0]
    marker = tmp_path / "PWNED"
    repo = repo_with_config(tmp_path, fleet, host, tmp_path / config, marker)
    code, out = run("plan", "-i", str(repo))
    assert code == 1
    assert "refused to connect" in out and "--trust-repo-ssh-config" in out
    assert f"{Path(config).name} {where} and its" in out
    code, out = run("apply", "-i", str(repo), "--yes")
    assert code == 1 and "refused to connect" in out
    if config.startswith("repo/"):  # lint reads nothing outside the repo
        code, out = run("lint", "-i", str(repo))
        assert code == 1 and "FC059" in out
    assert not marker.exists() and not Path(f"{marker}.match").exists()
    assert not host.exists("/etc/docker/daemon.json")


@pytest.mark.parametrize(
    ("where", "flags"),
    [("repo", ["--trust-repo-ssh-config"]), ("operator", [])],
    ids=["repo-trusted-on-the-command-line", "operators-own-ssh-config"],
)
def test_commands_run_from_a_trusted_or_the_operators_own_ssh_config(
    fleet: Fleet, tmp_path: Path, where: str, flags: list[str]
) -> None:
    host = fleet.hosts[0]
    marker = tmp_path / "ran"
    config = tmp_path / ("repo/ssh.conf" if where == "repo" else "home/.ssh/config")
    repo = repo_with_config(tmp_path, fleet, host, config, marker)
    code, out = run_process("plan", "-i", str(repo), *flags, home=tmp_path / "home")
    assert code == 0, out
    assert marker.exists() and Path(f"{marker}.match").exists()
