"""certs.d against a real dockerd (the real-daemon fleet, ``real_fleet``): a
registry served over TLS with a certificate from a CA the test makes. Before
fleetcfg installs the CA, ``docker pull`` fails with "x509: certificate signed
by unknown authority"; after, the pull reaches the registry (which has no
image: "manifest unknown"), with no x509 error and the same dockerd process.

The registry is a small TLS server that answers ``/v2/`` with 200 and
``Docker-Distribution-API-Version: registry/2.0``, run inside the host's
network namespace (dockerd has its own: ``tests/fleet/engine.py``) on an
address outside 127.0.0.0/8, which dockerd would treat as insecure by
default."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import app
from fleetcfg.core.exitcodes import ExitCode
from tests.fleet import Fleet, FleetHost, procs, wait_until
from tests.fleet.repo import write_repo_of
from tests.pki import make_ca, make_cert

pytestmark = pytest.mark.e2e

ADDRESS = "10.99.14.1"
PORT = 5443
REGISTRY = f"{ADDRESS}:{PORT}"
FOLDER = f"/etc/docker/certs.d/{REGISTRY}"
runner = CliRunner()

#: the registry: adds ADDRESS to the namespace's lo (an alias), serves TLS,
#: logs each request path to LOG, removes the alias when it is stopped
SERVER = textwrap.dedent(
    """\
    import fcntl, http.server, signal, socket, ssl, struct, sys
    address, port, cert, key, log = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
    alias = b"lo:fleetcfg"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    def ifreq(ip):
        return struct.pack("16sH2s4s8s", alias, socket.AF_INET, b"\\0\\0", socket.inet_aton(ip), b"\\0" * 8)
    fcntl.ioctl(s, 0x8916, ifreq(address))          # SIOCSIFADDR
    fcntl.ioctl(s, 0x891C, ifreq("255.255.255.255"))  # SIOCSIFNETMASK
    class Registry(http.server.BaseHTTPRequestHandler):
        def answer(self, body):
            with open(log, "a") as out:
                out.write(self.command + " " + self.path + "\\n")
            if self.path == "/v2/":
                self.send_response(200)
                payload = b"{}"
            else:
                self.send_response(404)
                payload = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if body:
                self.wfile.write(payload)
        def do_GET(self):
            self.answer(True)
        def do_HEAD(self):
            self.answer(False)
        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer((address, port), Registry)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    def stop(*_):
        flags = struct.unpack("16sh", fcntl.ioctl(s, 0x8913, struct.pack("16sh", alias, 0)))[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sh", alias, flags & ~1))  # alias down: gone
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    server.serve_forever()
    """
)


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"NO_COLOR": "1"})
    return result.exit_code, result.stdout, result.stderr


def main_pid(host: FleetHost) -> int:
    result = host.ssh("systemctl show -p MainPID --value docker")
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip())


@pytest.fixture
def registry(real_fleet: Fleet, tmp_path: Path) -> Iterator[tuple[FleetHost, Path, Path]]:
    """A TLS registry in the first host's network namespace: (host, the CA
    PEM that signed its certificate, its request log)."""
    host = real_fleet.hosts[0]
    ca = make_ca("fleetcfg e2e registry CA")
    server_cert = make_cert(ADDRESS, ca=False, issuer=ca, san=(ADDRESS,))
    files = tmp_path / "registry"
    files.mkdir()
    (files / "cert.pem").write_text(server_cert.cert_pem)
    (files / "key.pem").write_text(server_cert.key_pem)
    (files / "server.py").write_text(SERVER)
    (files / "ca.pem").write_text(ca.cert_pem)
    log = files / "requests.log"
    pid = procs.engine_pid(host.dir)
    assert pid is not None, "the real host's engine supervisor is not running"
    argv = ["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, str(files / "server.py")]
    argv += [ADDRESS, str(PORT), str(files / "cert.pem"), str(files / "key.pem"), str(log)]
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line == b"ready\n", server.stderr.read() if server.stderr else b""
        yield host, files / "ca.pem", log
    finally:
        server.terminate()
        server.communicate(timeout=10)  # waits, and closes its pipes


def pull(host: FleetHost) -> str:
    result = host.ssh(f"timeout 60 docker pull {REGISTRY}/fleet/probe:1")
    assert result.returncode != 0, result.stdout  # the registry has no image
    return result.stderr + result.stdout


def test_a_ca_fleetcfg_installs_lets_dockerd_trust_the_registry_without_a_restart(
    real_fleet: Fleet, registry: tuple[FleetHost, Path, Path], tmp_path: Path
) -> None:
    host, ca_pem, log = registry
    repo = tmp_path / "repo"
    (repo / "certs").mkdir(parents=True)
    (repo / "certs" / "ca.pem").write_text(ca_pem.read_text())

    def apply(registries: str) -> str:
        path = write_repo_of(
            repo,
            real_fleet,
            [host],
            profiles={"base.yaml.j2": "log-driver: json-file\n"},
            defaults=registries,
        )
        code, out, err = cli("apply", "-i", str(path), "--yes")
        assert code == ExitCode.OK, out + err
        return out

    apply("")  # daemon.json first (that may restart dockerd)
    pid = main_pid(host)
    before = pull(host)
    assert "x509: certificate signed by unknown authority" in before, before
    out = apply(
        f"registries:\n  lab:\n    host: {ADDRESS}\n    port: {PORT}\n    ca_file: certs/ca.pem\n"
    )
    assert "1 to write only" in out, out
    assert host.read_file(f"{FOLDER}/ca.crt") == ca_pem.read_text()
    after = pull(host)
    assert "x509" not in after, after
    assert wait_until(lambda: "/v2/fleet/probe/manifests/1" in log.read_text(), timeout=10)
    assert main_pid(host) == pid
