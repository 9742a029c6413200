"""The SSH transport against real sshd hosts (tests/fleet)."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from fleetcfg.core.errors import (
    AuthenticationError,
    BecomeError,
    ChangedHostKeyError,
    CommandTimeoutError,
    ConnectCancelled,
    ConnectError,
    ConnectionLostError,
    RemoteCommandError,
    UnknownHostKeyError,
)
from fleetcfg.core.hashing import sha256_hex
from fleetcfg.core.parallel import map_hosts
from fleetcfg.host.transport.base import Transport
from fleetcfg.host.transport.known_hosts import fingerprint, parse_known_hosts
from fleetcfg.host.transport.ssh import SshConnector, SshTransport
from fleetcfg.host.transport.targets import SshTarget
from tests.fleet import Fleet, FleetHost, wait_until
from tests.fleet.keys import generate_ed25519
from tests.fleet.relay import write_relay

pytestmark = pytest.mark.e2e

DAEMON_JSON = "/etc/docker/daemon.json"
NASTY_NAME = "we ird 'single' \"double\" $HOME `id` ; & | * ? \\ é\ttab -n"


@pytest.fixture
def connector() -> Iterator[SshConnector]:
    with SshConnector() as shared:
        yield shared


def target_for(fleet: Fleet, host: FleetHost, **changes: object) -> SshTarget:
    """How an inventory would describe a fleet host (no ssh_config, no agent)."""
    base = SshTarget(
        host=host.name,
        address=host.address,
        port=host.port,
        user="root",
        identity_files=(str(fleet.identity_file),),
        known_hosts_file=str(fleet.known_hosts),
        ssh_config_file="none",
        use_agent=False,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def key_blob(public_key: str) -> bytes:
    return parse_known_hosts(f"x {public_key}\n")[0].key_blob


def connection_id(transport: SshTransport) -> str:
    """The client side of the TCP connection a command ran over."""
    return transport.run(["sh", "-c", 'echo "$SSH_CONNECTION"']).stdout.split()[1]


class TcpRelay:
    """A TCP forwarder to a host that can cut the connection once the client
    has sent ``cut_after`` bytes (a network failure in mid-transfer)."""

    def __init__(self, address: str, port: int, *, cut_after: int | None = None) -> None:
        self._dest = (address, port)
        self._cut_after = cut_after
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.cut = threading.Event()
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._dest)
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, counted: bool) -> None:
        sent = 0
        try:
            while data := src.recv(65536):
                if counted and self._cut_after is not None and sent + len(data) > self._cut_after:
                    self.cut.set()
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        for s in self._sockets:
            s.close()


# ------------------------------------------------------------- round trips
def test_run_returns_stdout_stderr_and_exit_status(fleet: Fleet, connector: SshConnector) -> None:
    transport = connector.open(target_for(fleet, fleet.hosts[0]))
    assert isinstance(transport, Transport)
    result = transport.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (result.exit_status, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert transport.run(["cat"], stdin=b"\x00piped\xff").stdout_bytes == b"\x00piped\xff"
    missing = transport.run(["no-such-command-fleetcfg"])
    assert missing.exit_status == 127


def test_arguments_are_quoted_never_interpreted(fleet: Fleet, connector: SshConnector) -> None:
    transport = connector.open(target_for(fleet, fleet.hosts[0]))
    args = [NASTY_NAME, "", "$(touch /root/pwned)", "*", "-e"]
    result = transport.run(["printf", "%s|", *args])
    assert result.stdout == "|".join(args) + "|"
    assert not fleet.hosts[0].exists("/root/pwned")


def test_the_connection_is_encrypted_with_aes_gcm(fleet: Fleet, connector: SshConnector) -> None:
    """AEAD: no per-packet MAC compared in Python (the controller's CPU per
    host in a large fleet)."""
    transport = connector.open(target_for(fleet, fleet.hosts[0]))
    assert isinstance(transport, SshTransport)
    transport.connect()
    ssh = transport._transport
    assert ssh is not None
    assert (ssh.local_cipher, ssh.remote_cipher) == ("aes128-gcm@openssh.com",) * 2


def test_an_idle_connection_wakes_its_thread_once_a_second(
    fleet: Fleet, connector: SshConnector
) -> None:
    """apply keeps every host's connection open until the rollout ends:
    paramiko's 10 wake-ups a second per idle connection would cost the
    controller CPU in proportion to the fleet times the rollout's length."""
    transport = connector.open(target_for(fleet, fleet.hosts[0]))
    assert isinstance(transport, SshTransport)
    transport.connect()
    ssh = transport._transport
    assert ssh is not None
    assert ssh.sock.gettimeout() == 1.0
    assert transport.run(["echo", "still answers at once"]).stdout == "still answers at once\n"


def test_one_connection_is_reused_for_every_call(fleet: Fleet, connector: SshConnector) -> None:
    transport = connector.open(target_for(fleet, fleet.hosts[0]))
    first = connection_id(transport)
    transport.read_file("/etc/hostname")
    transport.run_many([["true"], ["true"]])
    assert connection_id(transport) == first


def test_run_many_runs_every_command_in_one_exec(fleet: Fleet, connector: SshConnector) -> None:
    host = fleet.hosts[0]
    host.write_file(DAEMON_JSON, '{"debug": true}\n')
    transport = connector.open(target_for(fleet, host))
    transport.connect()
    before = len(host.commands())
    results = transport.run_many(
        [
            ["cat", DAEMON_JSON],
            ["dockerd", "--version"],
            ["systemctl", "is-active", "docker"],
            ["sh", "-c", "printf 'no newline'; echo warn >&2; exit 7"],
            ["cat", "/etc/docker/missing.json"],
        ]
    )
    assert len(host.commands()) == before + 1
    assert results[0].stdout == '{"debug": true}\n'
    assert results[1].stdout.startswith("Docker version 26.1.5")
    assert results[2].stdout == "active\n"
    assert (results[3].stdout, results[3].stderr, results[3].exit_status) == (
        "no newline",
        "warn\n",
        7,
    )
    assert results[4].exit_status == 1 and "No such file" in results[4].stderr


def test_read_file_returns_content_hash_mode_and_owner_in_one_exec(
    fleet: Fleet, connector: SshConnector
) -> None:
    host = fleet.hosts[0]
    host.write_file(DAEMON_JSON, '{"debug": true}\n', mode=0o640)
    transport = connector.open(target_for(fleet, host))
    transport.connect()
    before = len(host.commands())
    state = transport.read_file(DAEMON_JSON)
    assert len(host.commands()) == before + 1
    assert state.exists and state.content == b'{"debug": true}\n'
    assert state.sha256 == sha256_hex(b'{"debug": true}\n')
    assert (state.mode, state.owner, state.group) == (0o640, "root", "root")
    assert not transport.read_file("/etc/docker/absent.json").exists


def test_write_file_installs_content_mode_and_owner_atomically(
    fleet: Fleet, connector: SshConnector
) -> None:
    host = fleet.hosts[0]
    host.write_file(DAEMON_JSON, "old\n")
    transport = connector.open(target_for(fleet, host))
    transport.connect()
    before = len(host.commands())
    transport.write_file(
        DAEMON_JSON, b'{"debug": false}\n', mode=0o600, owner="deploy", group="root"
    )
    assert len(host.commands()) == before + 1
    assert host.read_file(DAEMON_JSON) == '{"debug": false}\n'
    state = transport.read_file(DAEMON_JSON)
    assert (state.mode, state.owner, state.group) == (0o600, "deploy", "root")
    assert host.listdir("/etc/docker") == ["daemon.json"]


def test_binary_content_round_trips_exactly(fleet: Fleet, connector: SshConnector) -> None:
    transport = connector.open(target_for(fleet, fleet.hosts[0]))
    data = bytes(range(256)) * 4096 + os.urandom(100_000)  # 1.1 MB, every byte value
    transport.write_file("/root/blob.bin", data)
    assert fleet.hosts[0].read_bytes("/root/blob.bin") == data
    (cat,) = transport.run_many([["cat", "/root/blob.bin"]])
    assert cat.stdout_bytes == data
    with pytest.raises(RemoteCommandError, match="more than the 1048576 bytes fleetcfg reads"):
        transport.read_file("/root/blob.bin")  # files fleetcfg reads are capped at 1 MiB
    data = data[: 1024 * 1024]
    transport.write_file("/root/blob.bin", data)
    state = transport.read_file("/root/blob.bin")
    assert state.content == data and state.sha256 == sha256_hex(data)


def test_nasty_paths_are_quoted_everywhere(fleet: Fleet, connector: SshConnector) -> None:
    host = fleet.hosts[0]
    transport = connector.open(target_for(fleet, host))
    path = f"/root/{NASTY_NAME}"
    transport.write_file(path, b"content")
    assert host.read_file(path) == "content"
    assert transport.read_file(path).content == b"content"
    assert transport.run(["cat", path]).stdout == "content"
    assert host.listdir("/root") == [NASTY_NAME]


# ---------------------------------------------------------------- host keys
def test_an_unknown_host_key_is_refused_with_its_fingerprint_and_the_fix(
    fleet: Fleet, connector: SshConnector, tmp_path: Path
) -> None:
    host = fleet.hosts[0]
    empty = tmp_path / "known_hosts"
    with pytest.raises(UnknownHostKeyError) as info:
        connector.open(target_for(fleet, host, known_hosts_file=str(empty))).run(["true"])
    text = str(info.value)
    assert info.value.host == host.name
    assert "ED25519" in text and fingerprint(key_blob(host.public_key)) in text
    assert "--accept-new-host-keys" in text and "ssh-keyscan" in text
    assert not empty.exists() or empty.read_text() == ""


def test_a_changed_host_key_is_refused_with_an_alarm_naming_the_line(
    fleet: Fleet, connector: SshConnector
) -> None:
    host = fleet.hosts[1]
    old_line = next(
        i
        for i, line in enumerate(fleet.known_hosts.read_text().splitlines(), start=1)
        if host.public_key.split()[1] in line
    )
    new_key = host.regenerate_host_key()
    for accept_new in (False, True):
        target = target_for(fleet, host, accept_new_host_keys=accept_new)
        with pytest.raises(ChangedHostKeyError) as info:
            connector.open(target).run(["true"])
        text = str(info.value)
        assert "man-in-the-middle" in text
        assert f"line {old_line} of {fleet.known_hosts}" in text
        assert fingerprint(key_blob(new_key)) in text
    assert new_key.split()[1] not in fleet.known_hosts.read_text()


def test_accept_new_records_unknown_keys_and_then_trusts_them(
    fleet: Fleet, connector: SshConnector, tmp_path: Path
) -> None:
    known = tmp_path / "ssh" / "known_hosts"
    known.parent.mkdir()
    known.touch()  # fleetcfg creates no known_hosts file but ~/.ssh/known_hosts
    targets = [
        target_for(fleet, h, known_hosts_file=str(known), accept_new_host_keys=True)
        for h in fleet.hosts
    ]
    outcomes = map_hosts(targets, lambda t: connector.open(t).run(["true"]).ok)
    assert all(o.value for o in outcomes), [o.error for o in outcomes]
    entries = parse_known_hosts(known.read_text())
    assert sorted(e.patterns[0] for e in entries) == sorted(h.address for h in fleet.hosts)
    for host in fleet.hosts:
        assert any(e.key_blob == key_blob(host.public_key) for e in entries)
    # recorded keys are now simply known, also without accept-new
    with SshConnector() as fresh:
        strict = target_for(fleet, fleet.hosts[0], known_hosts_file=str(known))
        assert fresh.open(strict).run(["true"]).ok


# ---------------------------------------------------------------- jump hosts
def test_proxy_jump_reaches_a_host_through_another(fleet: Fleet, connector: SshConnector) -> None:
    jump, dest = fleet.hosts[0], fleet.hosts[1]
    jump_log = jump.sshd_log().count("Accepted publickey")
    jump_sessions = len(jump.commands())
    transport = connector.open(target_for(fleet, dest, proxy_jump=(f"root@{jump.address}",)))
    assert transport.run(["echo", "through"]).stdout == "through\n"
    assert dest.commands()[-1].command.startswith("echo through")
    # we logged in to the jump host but ran nothing there
    assert wait_until(lambda: jump.sshd_log().count("Accepted publickey") == jump_log + 1)
    assert len(jump.commands()) == jump_sessions


def test_proxy_jump_errors_name_the_hop_that_failed(fleet: Fleet, connector: SshConnector) -> None:
    jump, dest = fleet.hosts[0], fleet.hosts[1]
    closed = target_for(fleet, dest, port=2, proxy_jump=(f"root@{jump.address}",))
    with pytest.raises(ConnectError) as info:
        connector.open(closed).run(["true"])
    assert f"jump host root@{jump.address}" in str(info.value)
    assert f"{dest.address}:2" in str(info.value)

    jump.fault_unreachable()
    via = target_for(fleet, dest, proxy_jump=(f"root@{jump.address}",))
    with SshConnector() as fresh, pytest.raises(ConnectError) as down:
        fresh.open(via).run(["true"])
    assert "hop 1 of 1" in str(down.value) and "connection refused" in str(down.value)
    assert down.value.host == dest.name
    # the destination itself is fine: only the path through the jump host broke
    assert fresh_run(fleet, dest)


def fresh_run(fleet: Fleet, host: FleetHost) -> bool:
    with SshConnector() as fresh:
        return fresh.open(target_for(fleet, host)).run(["true"]).ok


def test_jump_host_connections_are_shared_by_the_hosts_behind_them(
    fleet: Fleet, connector: SshConnector
) -> None:
    jump = fleet.hosts[0]
    logins = jump.sshd_log().count("Accepted publickey")
    for dest in fleet.hosts[1:]:
        target = target_for(fleet, dest, proxy_jump=(f"root@{jump.address}",))
        assert connector.open(target).run(["true"]).ok
    assert wait_until(lambda: jump.sshd_log().count("Accepted publickey") == logins + 1)


# -------------------------------------------------------------- ssh_config
def test_ssh_config_supplies_address_user_port_key_and_known_hosts(
    fleet: Fleet, connector: SshConnector, tmp_path: Path
) -> None:
    host, jump = fleet.hosts[1], fleet.hosts[0]
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host web\n  HostName {host.address}\n  Port {host.port}\n  User deploy\n"
        f"  ProxyJump bastion\n\n"
        f"Host bastion\n  HostName {jump.address}\n  User root\n\n"
        f"Host *\n  IdentityFile {fleet.identity_file}\n"
        f"  UserKnownHostsFile {fleet.known_hosts}\n  IdentitiesOnly yes\n"
    )
    transport = connector.open(SshTarget(host="web", ssh_config_file=str(config)))
    assert transport.run(["id", "-un"]).stdout == "deploy\n"
    assert transport.resolved.jumps[0].hostname == jump.address


def test_proxy_command_from_ssh_config_is_used(
    fleet: Fleet, connector: SshConnector, tmp_path: Path
) -> None:
    host = fleet.hosts[0]
    relay = write_relay(tmp_path)
    config = tmp_path / "ssh_config"
    config.write_text(f"Host *\n  ProxyCommand {sys.executable} {relay} %h %p\n")
    target = target_for(fleet, host, ssh_config_file=str(config))
    assert connector.open(target).run(["echo", "proxied"]).stdout == "proxied\n"


# ------------------------------------------------------------ authentication
def test_a_key_the_host_does_not_accept_is_an_authentication_error(
    fleet: Fleet, connector: SshConnector, tmp_path: Path
) -> None:
    stranger = tmp_path / "id_stranger"
    stranger.write_bytes(generate_ed25519("stranger").private_openssh)
    stranger.chmod(0o600)
    target = target_for(fleet, fleet.hosts[0], user="deploy", identity_files=(str(stranger),))
    with pytest.raises(AuthenticationError) as info:
        connector.open(target).run(["true"])
    text = str(info.value)
    assert "user deploy" in text and str(stranger) in text and "SHA256:" in text
    assert "BEGIN OPENSSH PRIVATE KEY" not in text


@pytest.fixture
def ssh_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real ssh-agent of this test (SSH_AUTH_SOCK points to it)."""
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert wait_until(sock.exists), "ssh-agent did not start (is openssh-client installed?)"
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        yield sock
    finally:
        agent.terminate()
        agent.wait(timeout=10)


def test_keys_from_ssh_agent_are_used_when_no_identity_file_is_given(
    fleet: Fleet, connector: SshConnector, ssh_agent: Path, tmp_path: Path
) -> None:
    added = subprocess.run(
        ["ssh-add", str(fleet.identity_file)], capture_output=True, text=True, check=False
    )
    assert added.returncode == 0, added.stderr
    target = target_for(fleet, fleet.hosts[0], identity_files=None, use_agent=None)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(tmp_path))  # no ~/.ssh/id_* to fall back on
        assert connector.open(target).run(["id", "-un"]).stdout == "root\n"


def test_become_with_passwordless_sudo_runs_everything_as_root(
    fleet: Fleet, connector: SshConnector
) -> None:
    host = fleet.hosts[0]
    transport = connector.open(target_for(fleet, host, user="deploy", become=True))
    assert transport.run(["id", "-u"]).stdout == "0\n"
    assert [r.stdout for r in transport.run_many([["id", "-un"], ["whoami"]])] == [
        "root\n",
        "root\n",
    ]
    transport.write_file("/root/secret.json", b"{}", mode=0o600)
    state = transport.read_file("/root/secret.json")
    assert (state.content, state.owner, state.mode) == (b"{}", "root", 0o600)
    assert host.commands()[-1].user == "deploy"


def test_become_when_sudo_wants_a_password_fails_fast_and_clearly(
    fleet: Fleet, connector: SshConnector
) -> None:
    host = fleet.hosts[0]
    transport = connector.open(target_for(fleet, host, user="nopriv", become=True))
    for call in (
        lambda: transport.run(["true"]),
        lambda: transport.run_many([["true"]]),
        lambda: transport.read_file(DAEMON_JSON),
        lambda: transport.write_file(DAEMON_JSON, b"{}"),
    ):
        with pytest.raises(BecomeError) as info:
            call()
        text = str(info.value)
        assert f"sudo requires a password for user nopriv on host {host.name}" in text
        assert "NOPASSWD" in text and "connect as root" in text
    assert not host.exists(DAEMON_JSON)


# ------------------------------------------------------------------- faults
def test_an_unreachable_host_is_a_connect_error(fleet: Fleet, connector: SshConnector) -> None:
    host = fleet.hosts[2]
    host.fault_unreachable()
    with pytest.raises(ConnectError) as info:
        connector.open(target_for(fleet, host)).run(["true"])
    assert info.value.host == host.name
    assert "connection refused" in str(info.value)


def test_a_server_that_never_sends_a_banner_times_out(connector: SshConnector) -> None:
    silent = socket.create_server(("127.0.0.1", 0))
    try:
        target = SshTarget(
            host="silent",
            address="127.0.0.1",
            port=silent.getsockname()[1],
            connect_timeout=0.5,
            ssh_config_file="none",
            use_agent=False,
        )
        with pytest.raises(ConnectError, match="no SSH banner"):
            connector.open(target).run(["true"])
    finally:
        silent.close()


def _silent_target(silent: socket.socket, name: str = "silent") -> SshTarget:
    """A host whose "sshd" accepts TCP and never sends a banner; the connect
    timeout is far longer than any test may wait."""
    return SshTarget(
        host=name,
        address="127.0.0.1",
        port=silent.getsockname()[1],
        connect_timeout=3600,
        ssh_config_file="none",
        use_agent=False,
    )


def test_cancel_opening_ends_a_connection_waiting_for_a_banner_at_once(
    connector: SshConnector,
) -> None:
    silent = socket.create_server(("127.0.0.1", 0))
    failure: list[BaseException] = []

    def connect() -> None:
        try:
            connector.open(_silent_target(silent)).run(["true"])
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    try:
        conn, _ = silent.accept()  # the client waits for the banner now
        connector.cancel_opening()
        thread.join(60)  # a generous bound, far below the connect timeout
        assert not thread.is_alive()
        [error] = failure
        assert isinstance(error, ConnectCancelled)
        assert error.host == "silent" and "was cancelled" in str(error)
        assert "nothing was done" in str(error)
        conn.close()
        # a connection that starts after the cancel is refused at once
        with pytest.raises(ConnectCancelled):
            connector.open(_silent_target(silent, "later")).run(["true"])
    finally:
        silent.close()


def test_cancel_opening_leaves_open_connections_and_their_reconnects_alone(
    fleet: Fleet, connector: SshConnector
) -> None:
    host = fleet.hosts[0]
    transport = connector.open(target_for(fleet, host))
    assert transport.run(["true"]).ok
    connector.cancel_opening()
    assert transport.run(["true"]).ok
    # a host in flight whose connection dropped reconnects to finish (or roll back)
    host.drop_connections()
    assert wait_until(lambda: _reconnects(transport), timeout=60)
    with pytest.raises(ConnectCancelled):
        connector.open(target_for(fleet, fleet.hosts[1])).run(["true"])


def _reconnects(transport: SshTransport) -> bool:
    try:
        return transport.run(["true"]).ok
    except ConnectionLostError:
        return False  # the drop was seen on this call; the next one reconnects


def test_a_server_that_closes_at_once_is_not_reported_as_a_banner_timeout(
    connector: SshConnector,
) -> None:
    closing = socket.create_server(("127.0.0.1", 0))

    def close_each() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = closing.accept()
                conn.close()

    threading.Thread(target=close_each, daemon=True).start()
    try:
        target = SshTarget(
            host="closing",
            address="127.0.0.1",
            port=closing.getsockname()[1],
            connect_timeout=10,
            ssh_config_file="none",
            use_agent=False,
        )
        with pytest.raises(ConnectError) as info:
            connector.open(target).run(["true"])
        text = str(info.value)
        assert "closed the connection before sending an SSH banner" in text
        assert "within 10s" not in text and "MaxStartups" in text
    finally:
        closing.close()


def test_a_command_that_outlives_its_timeout_raises_and_the_connection_survives(
    fleet: Fleet, connector: SshConnector
) -> None:
    transport = connector.open(target_for(fleet, fleet.hosts[0], command_timeout=30))
    before = connection_id(transport)
    with pytest.raises(CommandTimeoutError) as info:
        transport.run(["sleep", "30"], timeout=0.5)
    assert "within 0.5s" in str(info.value)
    assert connection_id(transport) == before


def test_a_full_disk_leaves_the_original_file_and_no_temp_file(
    fleet: Fleet, connector: SshConnector
) -> None:
    host = fleet.hosts[0]
    host.write_file(DAEMON_JSON, '{"debug": true}\n')
    host.fault_disk_full()
    transport = connector.open(target_for(fleet, host))
    with pytest.raises(RemoteCommandError) as info:
        transport.write_file(DAEMON_JSON, b"{" + b" " * 2_000_000 + b"}\n")
    assert "no space left on device" in str(info.value)
    assert "not changed" in str(info.value)
    assert host.read_file(DAEMON_JSON) == '{"debug": true}\n'
    assert host.listdir("/etc/docker") == ["daemon.json"]


def test_a_connection_dropped_during_write_leaves_the_original_intact(
    fleet: Fleet, connector: SshConnector, tmp_path: Path
) -> None:
    host = fleet.hosts[0]
    host.write_file(DAEMON_JSON, '{"debug": true}\n')
    relay = TcpRelay(host.address, host.port, cut_after=3_000_000)
    (tmp_path / "known_hosts").touch()
    try:
        target = target_for(
            fleet,
            host,
            address="127.0.0.1",
            port=relay.port,
            known_hosts_file=str(tmp_path / "known_hosts"),
            accept_new_host_keys=True,
        )
        transport = connector.open(target)
        transport.connect()
        with pytest.raises(ConnectionLostError) as info:
            transport.write_file(DAEMON_JSON, os.urandom(8_000_000))
        assert relay.cut.is_set()
        assert "never partly written" in str(info.value)
    finally:
        relay.close()
    assert host.read_file(DAEMON_JSON) == '{"debug": true}\n'

    # the remote side notices the loss, finds the data incomplete and removes
    # its temporary file (other files in /etc/docker are not this test's)
    def temp_files() -> list[str]:
        return [n for n in host.listdir("/etc/docker") if n.startswith(".daemon.json.fleetcfg-")]

    # (a generous bound: on a machine running two full suites at once, sshd
    # took more than 60 s to end the session once)
    assert wait_until(lambda: not temp_files(), timeout=240), temp_files()
    assert host.read_file(DAEMON_JSON) == '{"debug": true}\n'


def test_a_dropped_connection_is_reported_and_the_next_call_reconnects(
    fleet: Fleet, connector: SshConnector
) -> None:
    host = fleet.hosts[0]
    transport = connector.open(target_for(fleet, host))
    before = connection_id(transport)
    done = threading.Event()

    def cut_when_running() -> None:
        wait_until(lambda: any("sleep 30" in c.command for c in host.commands()), timeout=20)
        host.drop_connections()
        done.set()

    threading.Thread(target=cut_when_running, daemon=True).start()
    with pytest.raises(ConnectionLostError, match="connection lost"):
        transport.run(["sleep", "30"])
    assert done.wait(20)
    assert connection_id(transport) != before


def test_errors_name_the_host_and_never_leak_key_material(
    fleet: Fleet, connector: SshConnector, tmp_path: Path
) -> None:
    key_text = fleet.identity_file.read_text()
    secret_lines = [line for line in key_text.splitlines() if line and "PRIVATE" not in line]
    host = fleet.hosts[0]
    with pytest.raises(UnknownHostKeyError) as info:
        connector.open(target_for(fleet, host, known_hosts_file=str(tmp_path / "kh"))).run(["true"])
    assert not any(line in str(info.value) for line in secret_lines)
    assert re.search(rf"^host {re.escape(host.name)}: ", str(info.value))
