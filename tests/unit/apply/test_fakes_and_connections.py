"""What apply needs from the fakes (added for it), and one connection per
host across plan and apply."""

from __future__ import annotations

from fleetcfg.host.connections import ReusingConnector
from fleetcfg.host.transport.targets import SshTarget
from tests.fakes.dockerhost import DAEMON_JSON, FakeDockerHost
from tests.fakes.transport import FakeTransport


def test_reset_failed_clears_a_failed_unit() -> None:
    host = FakeDockerHost(unit_state="failed")
    assert host.run(["systemctl", "reset-failed", "docker"]).ok
    assert host.unit_state == "inactive" and host.resets_failed == 1


def test_the_journal_tells_why_a_start_failed() -> None:
    host = FakeDockerHost(validator=lambda content, path: "unable to configure: nope")
    assert not host.run(["systemctl", "restart", "docker"]).ok
    log = host.run(["journalctl", "-u", "docker", "-n", "2", "--no-pager", "-o", "cat"])
    assert (
        log.stdout == "unable to configure: nope\ndocker.service: Failed with result 'exit-code'.\n"
    )


def test_a_hosts_flag_in_execstart_conflicts_with_hosts_in_the_file() -> None:
    host = FakeDockerHost(daemon_json={"hosts": ["tcp://0.0.0.0:2375"]})
    result = host.run(["dockerd", "--validate", "--config-file", DAEMON_JSON, "-H", "fd://"])
    assert result.exit_status == 1
    assert "specified both as a flag and in the configuration file: hosts" in result.stderr


def test_containers_run_while_the_daemon_does() -> None:
    host = FakeDockerHost()
    host.containers = 3
    host.lose_containers_on_restart = 1
    assert host.run(["docker", "ps", "-q"]).stdout.count("\n") == 3
    host.run(["systemctl", "restart", "docker"])
    info = host.run(["docker", "info", "--format", "{{json .ContainersRunning}}"])
    assert info.stdout == "2\n"


def test_chown_chmod_mkdir_mode_and_find_delete() -> None:
    fake = FakeTransport()
    fake.add_dir("/home/alice")
    assert fake.run(["mkdir", "-m", "0700", "/home/alice/.docker"]).ok
    assert fake.run(["chown", "alice:staff", "/home/alice/.docker"]).ok
    assert fake.dir_meta["/home/alice/.docker"] == (0o700, "alice", "staff")
    fake.add_file("/etc/docker/.daemon.json.fleetcfg-abc123", b"x")
    fake.add_file("/etc/docker/daemon.json", b"{}", mode=0o600)
    assert fake.run(["chmod", "644", "/etc/docker/daemon.json"]).ok
    assert fake.file("/etc/docker/daemon.json").mode == 0o644  # type: ignore[union-attr]
    find = [
        "find",
        "/etc/docker",
        "-maxdepth",
        "1",
        "-name",
        ".daemon.json.fleetcfg-*",
        "-type",
        "f",
        "-delete",
    ]
    assert fake.run(find).ok
    assert fake.listdir("/etc/docker") == ["daemon.json"]


class CountingConnector:
    def __init__(self) -> None:
        self.opened: list[str] = []

    def open(self, target: SshTarget) -> FakeTransport:
        self.opened.append(target.host)
        return FakeTransport(target.host)


def test_plan_and_apply_share_one_connection_per_host() -> None:
    inner = CountingConnector()
    connector = ReusingConnector(inner)
    first = connector.open(SshTarget("web-01"))
    first.close()  # what plan does when it is done with a host
    second = connector.open(SshTarget("web-01"))
    connector.open(SshTarget("web-02"))
    assert inner.opened == ["web-01", "web-02"]
    assert second.run(["true"]).ok
    connector.reset()
    connector.open(SshTarget("web-01"))
    assert inner.opened == ["web-01", "web-02", "web-01"]
    connector.close()


class ClosingConnector(CountingConnector):
    def __init__(self) -> None:
        super().__init__()
        self.closed: list[str] = []

    def open(self, target: SshTarget) -> FakeTransport:
        transport = super().open(target)
        transport.close = lambda: self.closed.append(target.host)  # type: ignore[method-assign]
        return transport


def test_connections_kept_between_uses_are_bounded() -> None:
    # one descriptor per idle connection: past the budget (from ulimit -n),
    # a connection given back is closed and its host connects afresh later
    inner = ClosingConnector()
    connector = ReusingConnector(inner, keep=2)
    for host in ("web-01", "web-02", "web-03"):
        connector.open(SshTarget(host)).close()
    assert inner.closed == ["web-03"]
    connector.open(SshTarget("web-01")).close()
    connector.open(SshTarget("web-03")).close()
    assert inner.opened == ["web-01", "web-02", "web-03", "web-03"]
    connector.close()
    assert sorted(inner.closed) == ["web-01", "web-02", "web-03", "web-03"]


def test_after_the_last_use_a_connection_given_back_is_closed_at_once() -> None:
    # apply: planned over a connection, then applied over the same one, which
    # is closed as soon as the host is done (not held open for the whole rollout)
    inner = ClosingConnector()
    connector = ReusingConnector(inner)
    connector.open(SshTarget("web-01")).close()  # the plan
    connector.last_use()
    applying = connector.open(SshTarget("web-01"))
    assert inner.closed == []
    applying.close()
    applying.close()  # giving it back twice closes it once
    assert inner.opened == ["web-01"]
    assert inner.closed == ["web-01"]
    connector.close()
    assert inner.closed == ["web-01"]


def test_a_connection_two_users_hold_stays_open_until_both_are_done() -> None:
    inner = ClosingConnector()
    connector = ReusingConnector(inner)
    connector.last_use()
    first = connector.open(SshTarget("web-01"))
    second = connector.open(SshTarget("web-01"))
    first.close()
    assert inner.closed == []
    assert second.run(["true"]).ok
    second.close()
    assert inner.opened == ["web-01"]
    assert inner.closed == ["web-01"]
