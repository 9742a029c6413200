"""A fleet that shares its proxy password costs one scrypt, whatever its
size: the keyed digests of files that hold credentials are keyed per secret
set (counted, not timed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcfg.core import filedigest
from fleetcfg.plan.fleet import load_plan
from tests.fakes.dockerhost import FakeDockerHost
from tests.unit.inventory.repo import write_repo
from tests.unit.plan.test_plan_cli import CURRENT, PROFILES, invoke

HOSTS = 100


def test_planning_a_fleet_that_shares_a_proxy_password_runs_scrypt_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    names = [f"web-{n:03d}" for n in range(HOSTS)]
    inventory = write_repo(
        tmp_path / "repo",
        "secrets: {env: [PROXY_PASSWORD]}\n"
        'defaults:\n  daemon_profile: base\n  engine_version: "26.1"\n'
        "groups:\n  web:\n    hosts:\n"
        + "".join(
            f"      {name}: {{address: 10.0.{n // 250}.{n % 250 + 1}}}\n"
            for n, name in enumerate(names)
        ),
        PROFILES,
    )
    # every host's live file differs (its own label), the password is the fleet's
    hosts = {
        name: FakeDockerHost(name, daemon_json={**CURRENT, "labels": [f"host={name}"]})
        for name in names
    }
    runs: list[bytes] = []
    real = filedigest.scrypt

    def counting(data: bytes, salt: bytes) -> bytes:
        runs.append(data)
        return real(data, salt)

    filedigest.KEYS.clear()
    monkeypatch.setattr(filedigest, "scrypt", counting)
    saved = tmp_path / "plan.json"
    code, out, err, _ = invoke(monkeypatch, hosts, ["-i", str(inventory), "-o", str(saved)])
    assert code == 0, out + err
    plan = load_plan(saved)
    digests = {f.live_sha256 for h in plan.hosts for f in h.files}
    assert len(digests) == HOSTS
    assert all(d is not None and d.startswith(filedigest.KEYED) for d in digests)
    assert len(runs) == 1
