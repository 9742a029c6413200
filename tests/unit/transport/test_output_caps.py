"""Every byte a host sends back is untrusted: each transport reads at most a
cap of a command's stdout and of its stderr, stops the command past it and
raises a per-host OutputTooLargeError naming the command."""

from __future__ import annotations

import os
import shlex
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetcfg.core.errors import OutputTooLargeError, TransportError
from fleetcfg.host.transport import scripts
from fleetcfg.host.transport.caps import (
    KIB,
    MIB,
    OUTPUT_CAP,
    BatchMeter,
    OutputMeter,
    Overflow,
    format_size,
)
from fleetcfg.host.transport.local import LocalTransport
from fleetcfg.host.transport.scripts import build_batch, parse_batch
from fleetcfg.host.transport.ssh.channel import run_channel
from fleetcfg.host.transport.ssh.transport import SshTransport
from fleetcfg.host.transport.targets import Endpoint, LocalTarget, ResolvedSshTarget, SshTarget
from tests.fakes.transport import FakeTransport

# -- the meters -------------------------------------------------------------------------


def test_sizes_are_named_in_the_largest_whole_unit() -> None:
    assert [format_size(n) for n in (4 * MIB, 64 * KIB, 1000, MIB + 1)] == [
        "4 MiB",
        "64 KiB",
        "1000 bytes",
        "1048577 bytes",
    ]


def test_one_command_may_print_exactly_its_cap_on_each_stream() -> None:
    meter = OutputMeter(10)
    meter(b"x" * 10, b"y" * 10)
    with pytest.raises(Overflow) as out:
        meter(b"x" * 11, b"")
    with pytest.raises(Overflow) as err:
        meter(b"", b"y" * 11)
    assert (out.value.stream, err.value.stream) == ("stdout", "stderr")


def _batch_output(nonce: str, outputs: list[bytes]) -> bytes:
    return b"".join(out + f"\n{nonce} {i} 0\n".encode() for i, out in enumerate(outputs))


def test_a_batch_meters_each_command_apart_and_names_the_one_over_its_cap() -> None:
    batch = build_batch([["a"], ["b"], ["c"]])
    meter = BatchMeter(b"\n" + batch.nonce.encode(), _tails(), 3, 100)
    done = _batch_output(batch.nonce, [b"x" * 100, b"y" * 100])
    meter(done, b"")  # two commands at their cap each: fine
    meter(done + b"z" * 100, b"")
    with pytest.raises(Overflow) as info:
        meter(done + b"z" * 200, b"")
    assert (info.value.stream, info.value.index) == ("stdout", 2)


def test_a_batch_meter_finds_a_marker_that_arrives_in_pieces() -> None:
    batch = build_batch([["a"], ["b"]])
    meter = BatchMeter(b"\n" + batch.nonce.encode(), _tails(), 2, 100)
    whole = _batch_output(batch.nonce, [b"x" * 90]) + b"y" * 90
    for end in range(1, len(whole) + 1):
        meter(whole[:end], b"")  # never more than 100 bytes of one command


def test_fake_markers_do_not_lift_a_batch_over_its_whole_cap() -> None:
    batch = build_batch([["a"], ["b"]])
    meter = BatchMeter(b"\n" + batch.nonce.encode(), _tails(), 2, 100)
    fake = _batch_output(batch.nonce, [b"x" * 90] * 5)
    with pytest.raises(Overflow) as info:
        meter(fake, b"")
    assert info.value.index == 1


def _tails() -> tuple[Any, Any]:
    return scripts._OUT_TAIL, scripts._ERR_TAIL


# -- the local transport ----------------------------------------------------------------


@pytest.fixture
def local() -> LocalTransport:
    return LocalTransport(LocalTarget(host="control"))


def _flood(pid_file: Path, stream: str = "") -> list[str]:
    """A command that records its pid, ignores SIGTERM and prints forever."""
    redirect = " >&2" if stream == "stderr" else ""
    return ["sh", "-c", f"echo $$ >{shlex.quote(str(pid_file))}; trap '' TERM; exec yes{redirect}"]


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_local_a_command_that_prints_forever_is_stopped_at_its_cap(
    local: LocalTransport, tmp_path: Path, stream: str
) -> None:
    pid_file = tmp_path / "pid"
    with pytest.raises(OutputTooLargeError) as info:
        local.run(_flood(pid_file, stream), max_output=64 * KIB, timeout=60)
    assert isinstance(info.value, TransportError)
    assert info.value.host == "control"
    assert f"sent more than 64 KiB on {stream}; refusing to read more" in str(info.value)
    assert str(info.value).startswith("host control: `sh -c ")
    assert _gone(int(pid_file.read_text()))


def test_local_the_default_cap_applies_when_the_caller_gives_none(
    local: LocalTransport, tmp_path: Path
) -> None:
    with pytest.raises(OutputTooLargeError, match=f"more than {format_size(OUTPUT_CAP)}"):
        local.run(_flood(tmp_path / "pid"), timeout=60)


def test_local_output_up_to_the_cap_is_returned_whole(local: LocalTransport) -> None:
    result = local.run(["head", "-c", str(64 * KIB), "/dev/zero"], max_output=64 * KIB)
    assert result.ok and result.stdout_bytes == b"\0" * (64 * KIB)


def test_local_a_batch_caps_each_command(local: LocalTransport, tmp_path: Path) -> None:
    with pytest.raises(OutputTooLargeError, match=r"`sh -c .* sent more than 1 KiB on stdout"):
        local.run_many([["true"], _flood(tmp_path / "pid")], max_output=KIB, timeout=60)


def test_local_stdin_still_reaches_a_command_that_reads_it_slowly(local: LocalTransport) -> None:
    data = os.urandom(3 * MIB)
    result = local.run(["sh", "-c", "sleep 0.2; cat"], stdin=data, max_output=4 * MIB)
    assert result.stdout_bytes == data


# -- the SSH transport (a scripted channel in place of paramiko's) ---------------------


class _Channel:
    """A paramiko channel whose command prints ``prefix`` then, with
    ``endless``, ``y\\n`` forever; records whether it was closed."""

    def __init__(self, prefix: bytes, *, endless: bool, stream: str) -> None:
        self.pending = prefix
        self.endless = endless
        self.stream = stream
        self.closed = False
        self.eof_received = False
        self.status_event = threading.Event()
        self.exit_status = 0
        self.read = 0
        self.cmdline = ""

    def exec_command(self, cmdline: str) -> None:
        self.cmdline = cmdline

    def shutdown_write(self) -> None:
        pass

    def _ready(self, stream: str) -> bool:
        return not self.closed and self.stream == stream and (bool(self.pending) or self.endless)

    def _take(self, size: int) -> bytes:
        if self.pending:
            data, self.pending = self.pending[:size], self.pending[size:]
        else:
            data = b"y\n" * (size // 2)
        self.read += len(data)
        if not self.pending and not self.endless:
            self.eof_received = True
            self.closed = True
            self.status_event.set()
        return data

    def recv_ready(self) -> bool:
        return self._ready("stdout")

    def recv_stderr_ready(self) -> bool:
        return self._ready("stderr")

    def recv(self, size: int) -> bytes:
        return self._take(size)

    def recv_stderr(self, size: int) -> bytes:
        return self._take(size)

    def exit_status_ready(self) -> bool:
        return self.status_event.is_set()

    def close(self) -> None:
        self.closed = True


class _Paramiko:
    """A paramiko transport that opens one scripted channel."""

    def __init__(self, channel: _Channel) -> None:
        self.channel = channel

    def open_session(self, timeout: float | None = None) -> _Channel:
        return self.channel

    def is_active(self) -> bool:
        return True

    def close(self) -> None:
        pass


class _Dialer:
    def __init__(self, paramiko: _Paramiko) -> None:
        self.paramiko = paramiko

    def resolve(self, target: SshTarget) -> ResolvedSshTarget:
        endpoint = Endpoint(
            label=target.host,
            hostname="192.0.2.1",
            port=22,
            user="root",
            identity_files=(),
            use_default_keys=False,
            use_agent=False,
            known_hosts_files=(),
            global_known_hosts_files=(),
        )
        return ResolvedSshTarget(
            host=target.host,
            endpoint=endpoint,
            jumps=(),
            become=False,
            connect_timeout=5.0,
            command_timeout=30.0,
            accept_new_host_keys=False,
        )

    def connect(self, resolved: ResolvedSshTarget, *, cancellable: bool = True) -> Any:
        return self.paramiko


@pytest.fixture
def flood() -> Iterator[_Channel]:
    yield _Channel(b"", endless=True, stream="stdout")


def test_ssh_channel_stops_reading_and_closes_at_the_cap(flood: _Channel) -> None:
    with pytest.raises(Overflow) as info:
        run_channel(_Paramiko(flood), "yes", None, 30.0, OutputMeter(MIB))  # type: ignore[arg-type]
    assert (info.value.stream, info.value.cap) == ("stdout", MIB)
    assert flood.closed
    assert flood.read <= MIB + 65536


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_ssh_transport_a_command_that_prints_forever_fails_the_host(stream: str) -> None:
    channel = _Channel(b"", endless=True, stream=stream)
    transport = SshTransport(SshTarget(host="web-03"), connector=_Dialer(_Paramiko(channel)))
    with pytest.raises(OutputTooLargeError) as info:
        transport.run(["docker", "info"], max_output=4 * MIB)
    assert str(info.value).startswith(
        f"host web-03: `docker info` sent more than 4 MiB on {stream}; refusing to read more"
    )
    assert channel.closed and channel.read <= 4 * MIB + 65536


def test_ssh_transport_output_under_the_cap_is_returned() -> None:
    channel = _Channel(b"x" * KIB, endless=False, stream="stdout")
    transport = SshTransport(SshTarget(host="web-03"), connector=_Dialer(_Paramiko(channel)))
    assert transport.run(["cat"], max_output=KIB).stdout == "x" * KIB


def test_ssh_transport_names_the_command_of_a_batch_that_floods() -> None:
    channel = _Channel(b"", endless=True, stream="stdout")
    transport = SshTransport(SshTarget(host="web-03"), connector=_Dialer(_Paramiko(channel)))
    commands = [["dockerd", "--version"], ["journalctl", "-n", "50"], ["true"]]
    real = build_batch(commands)

    def first_done(cmdline: str) -> None:  # the first command answers, the second floods
        channel.cmdline = cmdline
        nonce = shlex.split(cmdline)[4]
        channel.pending = f"Docker version 26.1.5\n{nonce} 0 0\n".encode()

    channel.exec_command = first_done  # type: ignore[method-assign]
    with pytest.raises(OutputTooLargeError) as info:
        transport.run_many(commands, max_output=MIB)
    assert "`journalctl -n 50` sent more than 1 MiB on stdout" in str(info.value)
    assert channel.read <= 2 * MIB
    assert parse_batch(real, _batch_output(real.nonce, [b"", b"", b""]), b"")  # framing as built


def test_fake_transport_caps_output_like_the_real_ones() -> None:
    fake = FakeTransport("web-03")
    fake.reply(["docker", "info"], "y\n" * KIB)
    with pytest.raises(OutputTooLargeError, match="`docker info` sent more than 1 KiB on stdout"):
        fake.run(["docker", "info"], max_output=KIB)
    with pytest.raises(OutputTooLargeError):
        fake.run_many([["docker", "info"]], max_output=KIB)
    assert fake.run(["docker", "info"]).ok
