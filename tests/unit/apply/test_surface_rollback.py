"""The proxy drop-in and buildkitd.toml against FakeDockerHosts: the builder
is recreated (and bootstrapped) while apply holds the lock, a config the
bootstrapped buildkitd rejects fails the host like a failed health gate
(files back, the builder recreated with the old config, the rollout
halted), and rollback does for each file it puts back what apply does for
that kind of file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fleetcfg.apply.daemon import with_config
from fleetcfg.apply.report import HostStatus
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.dockerd.buildkitd import BUILDKITD_PATH
from fleetcfg.dockerd.dropin import DROPIN_PATH
from fleetcfg.host.state import STATE_PATH
from fleetcfg.inventory import load_inventory
from fleetcfg.plan.model import Action
from tests.fakes.buildx import FakeBuildx
from tests.fakes.dockerhost import FakeDockerHost
from tests.unit.apply.helpers import OLD, RESTARTING, Setup, daemon_json, locked, setup

CREATE = (
    f"create --name ci --driver docker-container --buildkitd-config {BUILDKITD_PATH} --bootstrap"
)
#: a gcpolicy buildkitd refuses when it starts (fleetcfg's checks pass it)
BAD_GC = "    settings: {worker: {oci: {gcpolicy: [{keepDuration: 7d}]}}}\n"


def _inventory(names: list[str], extra: str) -> str:
    lines = ["defaults:", "  daemon_profile: base", '  engine_version: "26.1"', extra.rstrip()]
    lines += ["rollout:", "  batch_size: 1", "  canary: 0", "  max_failures: 0", "hosts:"]
    lines += [f"  {name}: {{address: 10.0.0.{i + 1}}}" for i, name in enumerate(names)]
    return "\n".join(lines) + "\n"


def _setup(tmp_path: Path, extra: str, *, names: tuple[str, ...] = ("web-01",), **kw: Any) -> Setup:
    return setup(tmp_path, names, inventory=_inventory(list(names), extra), **kw)


def _rewrite(s: Setup, extra: str) -> None:
    path = s.tmp_path / "inventory.yaml"
    path.write_text(_inventory(list(s.hosts), extra))
    s.inventory = load_inventory(path)


def _buildkit(settings: str = "") -> str:
    return "  buildkit:\n    builder: ci\n" + settings


PROXY = "  proxy:\n    http: http://proxy.corp.example.com:3128\n    where: dropin\n"


def _lock_held_at_each_buildx_call(fake: FakeDockerHost) -> list[tuple[str, bool]]:
    """Record, for each ``docker buildx`` call, whether the host was locked."""
    seen: list[tuple[str, bool]] = []
    run = FakeBuildx.run

    def spy(buildx: FakeBuildx, host: Any, args: Any) -> Any:
        seen.append((" ".join(args), locked(fake)))
        return run(buildx, host, args)

    fake.buildx.run = spy.__get__(fake.buildx)  # type: ignore[method-assign]
    return seen


@pytest.fixture
def applied_buildkit(tmp_path: Path) -> Setup:
    s = _setup(tmp_path, _buildkit(), target=OLD)
    report = s.apply(s.plan())
    assert report.exit_code == ExitCode.OK, report.results[0].reason
    return s


def test_a_builder_config_is_applied_by_a_bootstrapped_builder_while_the_lock_is_held(
    tmp_path: Path,
) -> None:
    s = _setup(tmp_path, _buildkit(), target=OLD)
    fake = s.hosts["web-01"]
    seen = _lock_held_at_each_buildx_call(fake)
    plan = s.plan()
    assert plan.hosts[0].action is Action.WRITE and plan.hosts[0].recreate_builder
    report = s.apply(plan)
    result = report.results[0]
    assert report.exit_code == ExitCode.OK, result.reason
    assert seen == [("inspect ci", True), (CREATE, True)]
    assert fake.buildx.builders["ci"].booted
    assert fake.buildx.builders["ci"].content == fake.content(BUILDKITD_PATH)
    assert not locked(fake)
    assert result.describe() == "web-01: write + builder recreation done"
    steps = [r.step for r in result.steps]
    assert steps.index("builder") < steps.index("unlock")


def test_a_config_the_bootstrapped_buildkitd_rejects_fails_the_host_like_a_health_gate(
    applied_buildkit: Setup,
) -> None:
    s = applied_buildkit
    s.hosts["web-02"] = FakeDockerHost("web-02", daemon_json=dict(OLD))
    fake = s.hosts["web-01"]
    good = fake.content(BUILDKITD_PATH)
    _rewrite(s, _buildkit(BAD_GC))
    plan = s.plan()
    assert plan.hosts[0].action is Action.WRITE, plan.hosts[0].errors
    report = s.apply(plan)
    result = report.results[0]
    assert result.status is HostStatus.FAILED
    assert 'invalid duration "7d"' in result.reason and "--bootstrap" in result.reason
    assert result.rolled_back and result.recovered
    assert fake.content(BUILDKITD_PATH) == good
    builder = fake.buildx.builders["ci"]
    assert builder.booted and builder.content == good  # recreated with the old config
    recreate = ["inspect ci", "rm --keep-state ci", CREATE]
    assert fake.buildx.calls[2:] == recreate + recreate  # the new config, then the old
    assert not locked(fake)
    assert ("recover-builder", "ok") in [(r.step, r.status.value) for r in result.steps]
    assert report.halted
    assert s.hosts["web-02"].content(BUILDKITD_PATH) is None  # never reached


def test_a_rejected_builder_config_after_a_restart_restarts_the_daemon_with_the_old_files(
    applied_buildkit: Setup,
) -> None:
    s = applied_buildkit
    fake = s.hosts["web-01"]
    good = fake.content(BUILDKITD_PATH)
    _rewrite(s, _buildkit(BAD_GC))
    s.set_profile(RESTARTING)
    plan = s.plan()
    assert plan.hosts[0].action is Action.RESTART, plan.hosts[0].errors
    report = s.apply(plan)
    result = report.results[0]
    assert result.status is HostStatus.FAILED and result.rolled_back and result.recovered
    assert daemon_json(fake) == OLD and fake.running_config == OLD
    assert fake.restarts == 2  # the apply's, then the recovery's
    assert fake.content(BUILDKITD_PATH) == good
    assert fake.buildx.builders["ci"].content == good
    assert not locked(fake)


@pytest.fixture
def changed_buildkit(applied_buildkit: Setup) -> tuple[Setup, bytes | None]:
    """buildkitd.toml applied twice: the setup and the first file."""
    s = applied_buildkit
    first = s.hosts["web-01"].content(BUILDKITD_PATH)
    _rewrite(s, _buildkit("    settings: {debug: true}\n"))
    assert s.apply(s.plan()).exit_code == ExitCode.OK
    assert s.hosts["web-01"].content(BUILDKITD_PATH) != first
    return s, first


def test_rollback_of_buildkitd_toml_recreates_the_builder_with_the_restored_config(
    changed_buildkit: tuple[Setup, bytes | None],
) -> None:
    s, first = changed_buildkit
    fake = s.hosts["web-01"]
    seen = _lock_held_at_each_buildx_call(fake)
    report = s.rollback(["web-01"])
    result = report.results[0]
    assert report.exit_code == ExitCode.OK, result.reason
    assert fake.content(BUILDKITD_PATH) == first
    assert seen == [("inspect ci", True), ("rm --keep-state ci", True), (CREATE, True)]
    assert fake.buildx.builders["ci"].content == first
    assert fake.restarts == 0 and fake.reloads == 0
    recheck = next(r for r in result.steps if r.step == "recheck")
    assert "builder recreation: buildkitd.toml is restored" in recheck.detail
    assert result.describe() == "web-01: write + builder recreation done"


def test_a_rollback_whose_builder_fails_is_undone_with_the_builder_recreated(
    changed_buildkit: tuple[Setup, bytes | None],
) -> None:
    s, _first = changed_buildkit
    fake = s.hosts["web-01"]
    second = fake.content(BUILDKITD_PATH)
    fake.buildx.fail_bootstraps = 1
    report = s.rollback(["web-01"])
    result = report.results[0]
    assert result.status is HostStatus.FAILED and result.rolled_back and result.recovered
    assert "buildkitd exited" in result.reason
    assert fake.content(BUILDKITD_PATH) == second
    builder = fake.buildx.builders["ci"]
    assert builder.content == second and builder.booted
    assert not locked(fake)


def test_rollback_of_the_proxy_drop_in_runs_daemon_reload_then_restart(tmp_path: Path) -> None:
    s = _setup(tmp_path, "", target=OLD)
    fake = s.hosts["web-01"]
    old_dropin = b'[Service]\nEnvironment="HTTP_PROXY=http://old-proxy:3128"\n'
    fake.add_file(DROPIN_PATH, old_dropin)
    _rewrite_proxy(s)
    plan = s.plan()
    assert plan.hosts[0].daemon_reload, plan.hosts[0].errors
    assert s.apply(plan).exit_code == ExitCode.OK
    assert fake.daemon_reloads == 1 and fake.restarts == 1
    report = s.rollback(["web-01"])
    result = report.results[0]
    assert report.exit_code == ExitCode.OK, result.reason
    assert fake.content(DROPIN_PATH) == old_dropin
    assert fake.daemon_reloads == 2 and fake.restarts == 2
    argvs = [" ".join(a) for a in fake.argvs]
    last = max(i for i, a in enumerate(argvs) if "systemctl daemon-reload" in a)
    assert argvs[last].index("daemon-reload") < argvs[last].index("restart docker")
    recheck = next(r for r in result.steps if r.step == "recheck")
    assert "daemon-reload + restart: the proxy drop-in is restored" in recheck.detail
    assert result.describe() == "web-01: daemon-reload + restart done"


def test_rollback_that_removes_a_new_drop_in_runs_daemon_reload_then_restart(
    tmp_path: Path,
) -> None:
    s = _setup(tmp_path, "", target=OLD)
    fake = s.hosts["web-01"]
    _rewrite_proxy(s)
    assert s.apply(s.plan()).exit_code == ExitCode.OK
    report = s.rollback(["web-01"])
    assert report.exit_code == ExitCode.OK, report.results[0].reason
    assert fake.content(DROPIN_PATH) is None
    assert fake.daemon_reloads == 2 and fake.restarts == 2


def _rewrite_proxy(s: Setup) -> None:
    _rewrite(s, PROXY)


def _rollback_without_buildkit_in_the_inventory(
    s: Setup, first: bytes | None, *, record_names_builder: bool
) -> tuple[list[str], str]:
    """Roll back after ``buildkit:`` left the inventory: the builder calls
    and the recheck step's detail."""
    fake = s.hosts["web-01"]
    calls = len(fake.buildx.calls)
    if not record_names_builder:  # as an older fleetcfg recorded the file
        state = json.loads(fake.content(STATE_PATH) or b"{}")
        for record in state["files"].values():
            record.pop("builder", None)
        fake.add_file(STATE_PATH, json.dumps(state).encode(), mode=0o600)
    _rewrite(s, "")
    report = s.rollback(["web-01"])
    result = report.results[0]
    assert report.exit_code == ExitCode.OK, result.reason
    assert fake.content(BUILDKITD_PATH) == first
    recheck = next(r for r in result.steps if r.step == "recheck")
    return fake.buildx.calls[calls:], recheck.detail


def test_rollback_recreates_the_builder_state_json_names_even_without_buildkit_in_the_inventory(
    changed_buildkit: tuple[Setup, bytes | None],
) -> None:
    calls, _ = _rollback_without_buildkit_in_the_inventory(
        *changed_buildkit, record_names_builder=True
    )
    assert calls == ["inspect ci", "rm --keep-state ci", CREATE]


def test_rollback_of_buildkitd_toml_nobody_names_a_builder_for_says_to_recreate_it_by_hand(
    changed_buildkit: tuple[Setup, bytes | None],
) -> None:
    calls, detail = _rollback_without_buildkit_in_the_inventory(
        *changed_buildkit, record_names_builder=False
    )
    assert calls == []
    assert "recreate the builder by hand" in detail


def test_rollback_that_removes_a_new_buildkitd_toml_recreates_the_builder_without_a_config(
    applied_buildkit: Setup,
) -> None:
    s = applied_buildkit
    fake = s.hosts["web-01"]
    calls = len(fake.buildx.calls)
    report = s.rollback(["web-01"])
    assert report.exit_code == ExitCode.OK, report.results[0].reason
    assert fake.content(BUILDKITD_PATH) is None
    bare = "create --name ci --driver docker-container"
    assert fake.buildx.calls[calls:] == ["inspect ci", "rm --keep-state ci", bare]
    assert fake.buildx.builders["ci"].config is None


def test_the_builder_is_created_with_its_config_only_when_the_file_is_there() -> None:
    rm = ["sh", "-c", "if ...; fi"]
    create = ["docker", "buildx", "create", "--name", "ci", "--driver", "docker-container"]
    path = "/etc/buildkit/buildkitd.toml"
    full = [*create, "--buildkitd-config", path, "--bootstrap"]
    assert with_config([rm, create], path, exists=True) == [rm, full]
    assert with_config([rm, full], path, exists=False) == [rm, create]
    assert with_config([["systemctl", "restart", "buildkit"]], path, exists=False) == [
        ["systemctl", "restart", "buildkit"]
    ]
