"""A host with ``connection: local`` is the machine fleetcfg runs on: a pull
request that adds one must not make plan print the CI runner's Docker
configuration, nor apply rewrite it (DESIGN.md, Trust model). Without
--allow-local-hosts such a host is refused before anything is read, and the
rest of the fleet is planned.

fleetcfg runs in a process of its own, in a mount namespace whose
/etc/docker is a folder of the test: "this machine's" daemon.json, with a
mirror name that must not show. The other host is a real sshd host
(tests/fleet)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fleet import Fleet
from tests.fleet.repo import write_repo_of

pytestmark = pytest.mark.e2e

PROFILE = 'log-opts: {max-size: "50m", max-file: "5"}\nlive-restore: true\n'
#: what the CI runner's own daemon.json holds (an internal mirror's name)
RUNNER_MIRROR = "mirror.runner-internal.example"
RUNNER_CONFIG = json.dumps({"registry-mirrors": [f"https://{RUNNER_MIRROR}"]}) + "\n"


#: this machine's dockerd (the CI machine has none): it reports its version
DOCKERD = """#!/bin/sh
case "$1" in --version) echo "Docker version 26.1.5, build a72d7cd" ;; esac
"""


def on_this_machine(etc_docker: Path, *args: str) -> tuple[int, str]:
    """``fleetcfg ARGS`` run as an operator (or a CI job) runs it, with
    ``etc_docker`` as this machine's /etc/docker and a dockerd on its PATH."""
    bin_dir = etc_docker.parent / "runner-bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "dockerd").write_text(DOCKERD)
    (bin_dir / "dockerd").chmod(0o755)
    script = 'mount --make-rslave / && mount --bind "$1" /etc/docker && shift && exec "$@"'
    argv = ["unshare", "--mount", "--propagation", "unchanged", "--", "/bin/sh", "-c", script]
    argv += ["local-host-test", str(etc_docker), sys.executable, "-m", "fleetcfg", *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")} | {"NO_COLOR": "1"}
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}"
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=180, check=False)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def runner_docker(tmp_path: Path) -> Path:
    etc = tmp_path / "runner-etc-docker"
    etc.mkdir()
    (etc / "daemon.json").write_text(RUNNER_CONFIG)
    return etc


def repo_adding_a_local_host(tmp_path: Path, fleet: Fleet) -> Path:
    """The pull request: one real host, and ``ws-pr`` with connection: local."""
    inventory = write_repo_of(
        tmp_path / "repo", fleet, fleet.hosts[:1], profiles={"base.yaml.j2": PROFILE}
    )
    with inventory.open("a") as f:
        f.write("  ws-pr: {address: 127.0.0.1, connection: local}\n")
    return inventory


def test_a_local_host_the_pull_request_adds_is_refused_and_nothing_of_this_machine_shows(
    fleet: Fleet, tmp_path: Path, runner_docker: Path
) -> None:
    inventory = repo_adding_a_local_host(tmp_path, fleet)
    line = (
        inventory.read_text().splitlines().index("  ws-pr: {address: 127.0.0.1, connection: local}")
    )
    for output in ("text", "json"):
        code, out = on_this_machine(runner_docker, "plan", "-i", str(inventory), "--format", output)
        assert code == 1, out
        assert RUNNER_MIRROR not in out
        assert "refused unless the operator allows it" in out and "--allow-local-hosts" in out
        assert f"inventory.yaml:{line + 1}" in out
        assert fleet.hosts[0].name in out
    code, out = on_this_machine(runner_docker, "apply", "-i", str(inventory), "--yes")
    assert code != 0 and RUNNER_MIRROR not in out
    assert "--allow-local-hosts" in out
    assert (runner_docker / "daemon.json").read_text() == RUNNER_CONFIG
    assert sorted(p.name for p in runner_docker.iterdir()) == ["daemon.json"]


def test_the_operator_allows_local_hosts_on_the_command_line(
    fleet: Fleet, tmp_path: Path, runner_docker: Path
) -> None:
    # the same run with the flag does read this machine: the test above
    # would see the mirror if the refusal were missing
    inventory = repo_adding_a_local_host(tmp_path, fleet)
    code, out = on_this_machine(
        runner_docker, "plan", "-i", str(inventory), "--limit", "ws-pr", "--allow-local-hosts"
    )
    assert RUNNER_MIRROR in out, out
    assert "refused" not in out
    assert code in (0, 2), out
