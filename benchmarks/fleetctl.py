"""Start and stop a test fleet from a benchmark (in a subprocess, detached, so
that the fleet's sshd processes outlive nothing but the benchmark itself)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_fleet(hosts: int, directory: Path, block: str) -> dict[str, object]:
    """``python -m tests.fleet start``; returns its JSON description."""
    out = subprocess.run(
        [
            *(sys.executable, "-m", "tests.fleet", "start", "--hosts", str(hosts)),
            *("--dir", str(directory), "--block", block, "--json"),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    info: dict[str, object] = json.loads(out.stdout)
    return info


def stop_fleet(directory: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "tests.fleet", "stop", "--dir", str(directory)],
        cwd=ROOT,
        check=False,
        capture_output=True,
    )


def fleet_hosts(info: dict[str, object]) -> list[tuple[str, str]]:
    """(name, address) of every host in a fleet description."""
    hosts = info["hosts"]
    assert isinstance(hosts, list)
    return [(str(h["name"]), str(h["address"])) for h in hosts]
