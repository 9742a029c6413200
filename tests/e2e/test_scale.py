"""A fleet larger than what this machine lets fleetcfg keep open at once
(issue 13): `fleetcfg apply` plans and applies over one connection per host,
but never holds more idle connections than the open-files limit allows."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.fleet import Fleet
from tests.fleet.repo import write_repo_of

PROFILE = """
registry-mirrors: ["https://mirror.corp.example.com"]
log-driver: json-file
log-opts: {max-size: "50m", max-file: "5"}
"""

#: ``ulimit -n`` for the run: 4 hosts in flight (fleetcfg's default --forks
#: for it), no room for idle connections beyond them
OPEN_FILES = 80
HOSTS = 80


def test_apply_plans_more_hosts_than_the_open_files_limit_could_keep_connected(
    fleet_of: Callable[[int], Fleet], tmp_path: Path
) -> None:
    # apply used to keep every planned host's connection open for the
    # rollout: past `ulimit -n` hosts, the last ones failed to connect with
    # "Too many open files" and were skipped as unreachable
    fleet = fleet_of(HOSTS)
    inventory = write_repo_of(
        tmp_path / "repo",
        fleet,
        fleet.hosts,
        profiles={"base.yaml.j2": PROFILE},
    )

    def small_limit() -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, hard))

    done = subprocess.run(
        [sys.executable, "-m", "fleetcfg", "apply", "-i", str(inventory)],
        input="no\n",  # plan every host, then decline: nothing is changed
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        preexec_fn=small_limit,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    assert "Too many open files" not in output
    assert "unreachable" not in output
    assert f"{HOSTS} to restart" in done.stdout
    assert "Apply cancelled: nothing was changed." in done.stdout
    assert done.returncode == 0
