"""Benchmark: `fleetcfg plan` against a fleet of real sshd hosts, and its floor.

    python benchmarks/plan_bench.py                 # 100 hosts
    python benchmarks/plan_bench.py --hosts 500 --repeat 3

It starts a test fleet (``python -m tests.fleet start``), gives the hosts
realistic daemon.json files (60% up to date, 10% up to date with a foreign
key kept under ``manage: keys``, 10% with an old mirror: a reload, 10% with
other log settings and 10% without a file: a restart), restarts every dockerd
on its file (a managed fleet), writes an inventory and profiles for them, then
measures,
each as a fresh process (what a user waits for, interpreter start included):

* plan: ``fleetcfg plan -i INVENTORY --format json`` (output discarded);
* floor: a bare paramiko connect (``SSHClient.connect``; the key parsed once,
  known_hosts parsed once, host keys verified) plus one
  ``cat /etc/docker/daemon.json`` per host (``exec_command``), with the same
  concurrency (``--forks``);
* tuned floor, for comparison: the same with a raw ``paramiko.Transport`` on
  a socket with TCP_NODELAY (the tricks fleetcfg's transport uses).

It prints the median of ``--repeat`` runs of each, the ratio to the floor,
and the peak memory (max RSS) of each process. The target is a ratio of at most 1.5 at 100
and at 500 hosts. The fleet is stopped at the end (``--keep`` leaves it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAEMON_JSON = "/etc/docker/daemon.json"
DEFAULT_FORKS = 10

PROFILE = """\
registry-mirrors: ["{{ mirror }}"]
log-driver: json-file
log-opts:
  max-size: "{{ log_max_size }}"
  max-file: "{{ log_max_file }}"
live-restore: true
default-address-pools:
  - {base: 172.18.0.0/15, size: 24}
proxies:
  http-proxy: "http://svc:{{ env('PROXY_PASSWORD', 'bench-only') }}@proxy.corp.example.com:3128"
  no-proxy: "localhost,127.0.0.0/8,.corp.example.com"
metrics-addr: "{{ address }}:9323"
"""


def _target(address: str, *, mirror: str, size: str) -> dict[str, object]:
    return {
        "registry-mirrors": [mirror],
        "log-driver": "json-file",
        "log-opts": {"max-size": size, "max-file": "5"},
        "live-restore": True,
        "default-address-pools": [{"base": "172.18.0.0/15", "size": 24}],
        "proxies": {
            "http-proxy": "http://svc:bench-only@proxy.corp.example.com:3128",
            "no-proxy": "localhost,127.0.0.0/8,.corp.example.com",
        },
        "metrics-addr": f"{address}:9323",
    }


# --------------------------------------------------------------------------
# the floor (runs in its own process: --floor FLEET.json)


def floor(description: Path, forks: int, *, tuned: bool) -> None:
    """Connect to every host and ``cat`` its daemon.json, ``forks`` at a time.

    The floor of the issue is paramiko as people use it: ``SSHClient.connect``
    then ``exec_command`` (the private key parsed once, known_hosts parsed
    once and shared, host keys verified). ``tuned`` is the best bare paramiko
    can do: a raw ``Transport`` on a socket with TCP_NODELAY (what fleetcfg's
    transport does); it is printed for comparison."""
    import socket

    import paramiko

    info = json.loads(description.read_text())
    key = paramiko.Ed25519Key.from_private_key_file(info["identity_file"])
    known = paramiko.HostKeys(info["known_hosts"])

    def plain(host: dict[str, object]) -> int:
        client = paramiko.SSHClient()
        client._host_keys = known  # known_hosts parsed once for the run
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                str(host["address"]),
                port=int(str(host["port"])),
                username="root",
                pkey=key,
                allow_agent=False,
                look_for_keys=False,
                timeout=10,
            )
            _, stdout, _ = client.exec_command(f"cat {DAEMON_JSON}")
            data = stdout.read()
            stdout.channel.recv_exit_status()
            return len(data)
        finally:
            client.close()

    def raw(host: dict[str, object]) -> int:
        address = str(host["address"])
        sock = socket.create_connection((address, int(str(host["port"]))), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = paramiko.Transport(sock)
        try:
            transport.start_client(timeout=10)
            if not known.check(address, transport.get_remote_server_key()):
                raise RuntimeError(f"{address}: host key not in known_hosts")
            transport.auth_publickey("root", key)
            channel = transport.open_session()
            channel.exec_command(f"cat {DAEMON_JSON}")
            data = b""
            while chunk := channel.recv(65536):
                data += chunk
            channel.recv_exit_status()
            return len(data)
        finally:
            transport.close()

    with ThreadPoolExecutor(max_workers=forks) as pool:
        sizes = list(pool.map(raw if tuned else plain, info["hosts"]))
    print(json.dumps({"hosts": len(sizes), "bytes": sum(sizes)}))


# --------------------------------------------------------------------------
# setting up


def prepare(info: dict[str, object], repo: Path) -> None:
    """Live files on the hosts, and the inventory and profile."""
    from tests.fleet.repo import write_fleet_repo  # imported late: the floor runs this file bare

    sys.path.insert(0, str(ROOT))
    from tests.fleet import Fleet, FleetHost

    fleet = Fleet.attach(str(info["dir"]))
    hosts = fleet.hosts
    extras: dict[str, str] = {}
    for index, host in enumerate(hosts):
        mirror = "https://mirror.corp.example.com"
        extra = ""
        live: dict[str, object] | None = _target(host.address, mirror=mirror, size="50m")
        kind = index % 10
        if kind == 1:  # an old mirror: a reload
            live = _target(host.address, mirror="https://old.corp.example.com", size="50m")
        elif kind == 2:  # other log settings: a restart
            live = _target(host.address, mirror=mirror, size="10m")
        elif kind == 3:  # no daemon.json yet
            live = None
        elif kind == 4:  # a foreign key kept under manage: keys
            assert live is not None
            live["runtimes"] = {"nvidia": {"path": "nvidia-container-runtime"}}
            extra = "manage: keys"
        if live is None:
            host.remove_file(DAEMON_JSON)
        else:
            host.write_file(DAEMON_JSON, json.dumps(live, indent=2) + "\n")
        past = time.time() - 120  # written well before the restart below
        for path in (host.path("/etc/docker"), host.path(DAEMON_JSON)):
            if path.exists():
                os.utime(path, (past, past))
        if extra:
            extras[host.name] = extra

    def restart(host: FleetHost) -> None:
        done = host.ssh("systemctl restart docker")
        if done.returncode != 0:
            raise SystemExit(f"{host.name}: systemctl restart docker failed: {done.stderr}")

    # a managed fleet: every dockerd runs the daemon.json it has
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(restart, hosts))
    write_fleet_repo(
        repo,
        identity_file=str(info["identity_file"]),
        known_hosts=str(info["known_hosts"]),
        hosts=[(h.name, h.address) for h in hosts],
        host_extra=extras,
        profiles={"base.yaml.j2": PROFILE},
        defaults=(
            "vars:\n  mirror: https://mirror.corp.example.com\n  log_max_size: 50m\n"
            '  log_max_file: "5"\n'
        ),
        connect_timeout=None,
    )


# --------------------------------------------------------------------------
# measuring


def measure(argv: list[str], pycache: Path) -> tuple[float, int, int, str]:
    """Run ``argv`` under a tiny wrapper that reports the child's max RSS.
    Bytecode is cached (in ``pycache``, outside the tree) as in an installed
    fleetcfg, also when the environment sets PYTHONDONTWRITEBYTECODE."""
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
        "t = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "sys.stderr.write(p.stderr.decode(errors='replace')[-2000:])\n"
        "print(t, p.returncode, rss)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    proc = subprocess.run(
        [sys.executable, "-c", wrapper, *argv],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    seconds, status, rss = proc.stdout.split()
    return float(seconds), int(status), int(rss), proc.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--forks", type=int, default=DEFAULT_FORKS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--block", default="127.0.60")
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="leave the fleet running")
    parser.add_argument("--floor", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tuned", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor is not None:
        floor(args.floor, args.forks, tuned=args.tuned)
        return 0
    sys.path.insert(0, str(ROOT))  # the floor (above) runs this file bare
    from benchmarks.fleetctl import start_fleet, stop_fleet

    directory = args.dir or Path(tempfile.mkdtemp(prefix="fleetcfg-plan-bench-", dir="/var/tmp"))
    print(f"starting {args.hosts} hosts in {directory} ...", file=sys.stderr)
    started = time.perf_counter()
    info = start_fleet(args.hosts, directory / "plan-fleet", args.block)
    print(f"fleet up in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    try:
        repo = directory / "repo"
        prepare(info, repo)
        description = directory / "fleet-description.json"
        description.write_text(json.dumps(info))
        plan_argv = [
            sys.executable,
            "-m",
            "fleetcfg",
            "plan",
            "-i",
            str(repo / "inventory.yaml"),
            "--forks",
            str(args.forks),
            "--format",
            "json",
        ]
        floor_argv = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--floor",
            str(description),
            "--forks",
            str(args.forks),
        ]
        tuned_argv = [*floor_argv, "--tuned"]
        pycache = directory / "pycache"
        # warm up: sshd, the page cache, the bytecode cache
        measure(floor_argv, pycache)
        measure(plan_argv, pycache)
        runs: dict[str, list[tuple[float, int]]] = {"plan": [], "floor": [], "tuned": []}
        for run in range(args.repeat):
            line = []
            for name, argv in (("plan", plan_argv), ("floor", floor_argv), ("tuned", tuned_argv)):
                seconds, status, rss, err = measure(argv, pycache)
                if status != 0:
                    print(err, file=sys.stderr)
                    raise SystemExit(f"{name} failed with exit status {status}")
                runs[name].append((seconds, rss))
                line.append(f"{name} {seconds:.2f}s")
            print(f"run {run + 1}: " + ", ".join(line), file=sys.stderr)

        def median(name: str) -> float:
            return statistics.median(s for s, _ in runs[name])

        def peak(name: str) -> float:
            return max(r for _, r in runs[name]) / 1024

        plan_s, floor_s, tuned_s = median("plan"), median("floor"), median("tuned")
        ratio = plan_s / floor_s
        print(f"hosts:        {args.hosts} (forks {args.forks}, median of {args.repeat} runs)")
        print(f"plan:         {plan_s:.2f} s   peak memory {peak('plan'):.0f} MiB")
        print(f"floor:        {floor_s:.2f} s   peak memory {peak('floor'):.0f} MiB")
        print(f"ratio:        {ratio:.2f}x (target <= 1.5x)")
        print(
            f"tuned floor:  {tuned_s:.2f} s   (raw Transport + TCP_NODELAY; plan is "
            f"{plan_s / tuned_s:.2f}x of it)"
        )
        return 0 if ratio <= 1.5 else 1
    finally:
        if args.keep:
            print(
                f"fleet left running: python -m tests.fleet stop --dir {directory / 'plan-fleet'}"
            )
        else:
            stop_fleet(directory / "plan-fleet")
            if args.dir is None:
                shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
