"""The proxy drop-in against a FakeDockerHost: plan says daemon-reload +
restart, apply runs daemon-reload before the restart, and a failed restart
puts the old drop-in back and runs daemon-reload again before the daemon is
brought back."""

from __future__ import annotations

from pathlib import Path

from fleetcfg.apply.report import HostStatus
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.dockerd.dropin import DROPIN_PATH
from fleetcfg.plan.model import Action, FileKind
from tests.unit.apply.helpers import OLD, Setup, daemon_json, setup

INVENTORY = """\
defaults:
  daemon_profile: base
  engine_version: "20.10"
  proxy: {http: "http://proxy.corp:3128", no_proxy: [localhost], where: dropin}
hosts:
  web-01: {address: 10.0.0.1}
"""


def _setup(tmp_path: Path) -> Setup:
    return setup(tmp_path, target=OLD, inventory=INVENTORY)


def test_a_new_drop_in_is_planned_as_daemon_reload_and_restart(tmp_path: Path) -> None:
    host = _setup(tmp_path).plan().hosts[0]
    assert host.action is Action.RESTART, host.errors
    assert host.daemon_reload
    assert "daemon-reload + restart: the proxy drop-in changed" in host.reasons
    (dropin,) = [f for f in host.files if f.kind is FileKind.DROPIN]
    assert dropin.path == DROPIN_PATH and dropin.mode == 0o644
    assert 'Environment="HTTP_PROXY=http://proxy.corp:3128"' in dropin.text_diff


def test_apply_runs_daemon_reload_before_the_restart(tmp_path: Path) -> None:
    s = _setup(tmp_path)
    report = s.apply(s.plan())
    assert report.exit_code == ExitCode.OK, report.results[0].reason
    fake = s.hosts["web-01"]
    assert b'Environment="NO_PROXY=localhost"' in fake.content(DROPIN_PATH)
    assert (fake.daemon_reloads, fake.restarts) == (1, 1)
    assert daemon_json(fake) == OLD
    assert s.plan().hosts[0].action is Action.NONE


def test_a_failed_restart_restores_the_drop_in_and_reloads_systemd_again(
    tmp_path: Path,
) -> None:
    s = _setup(tmp_path)
    fake = s.hosts["web-01"]
    fake.fail_restarts = 1
    result = s.apply(s.plan()).results[0]
    assert result.status is HostStatus.FAILED
    assert result.rolled_back and result.recovered, result.reason
    assert not fake.exists(DROPIN_PATH)
    assert fake.daemon_reloads == 2  # the new drop-in, then the restored state
    assert fake.unit_state == "active"
