"""Benchmark: `fleetcfg plan` against a fleet of real sshd hosts, and its floor,
at several fleet sizes.

    python -m benchmarks.plan_bench                          # 100 hosts
    python -m benchmarks.plan_bench --hosts 100 500 1000 2000 --repeat 3

It starts one test fleet of the largest size (``python -m tests.fleet start``;
1.25 MiB of memory per idle host), gives the hosts realistic daemon.json files
(60% up to date, 10% up to date with a foreign key kept under ``manage:
keys``, 10% with an old mirror: a reload, 10% with other log settings and 10%
without a file: a restart), restarts every dockerd on its file and gives
each host the Engine version record apply keeps (a managed fleet: plan
starts no ``dockerd --version``), and for each size N writes an inventory of the first N hosts, then
measures, each as a fresh process (what a user waits for, interpreter start
included):

* plan: ``fleetcfg plan -i INVENTORY --format json --forks F`` (output
  discarded);
* floor: a bare paramiko connect (``SSHClient.connect``; the key parsed once,
  known_hosts parsed once into a dict, host keys verified, public-key auth)
  plus one ``cat /etc/docker/daemon.json`` per host (``exec_command``), F at
  a time;
* with ``--tuned-floor``, for comparison: the same with a raw
  ``paramiko.Transport`` on a socket with TCP_NODELAY.

F is fleetcfg's default ``--forks`` for N hosts (``--forks`` overrides it).
For each size it prints the median wall time and CPU time (user + system of
that process alone: the hosts' sshd and shims are not counted) of plan and
the floor, their ratios, CPU per host, peak memory (max RSS), and what each
host added between two sizes costs. Targets (issue 13): CPU per host within
1.5x of the floor's, wall within 2x, cost per host flat from 100 to 2,000
hosts, peak memory under 250 MB. The fleet is stopped at the end (``--keep``
leaves it).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAEMON_JSON = "/etc/docker/daemon.json"

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

    from benchmarks.knownhosts import DictHostKeys

    info = json.loads(description.read_text())
    key = paramiko.Ed25519Key.from_private_key_file(info["identity_file"])
    known = DictHostKeys(info["known_hosts"])

    def plain(host: dict[str, object]) -> int:
        client = paramiko.SSHClient()
        client._host_keys = known  # type: ignore[attr-defined]  # known_hosts parsed once
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


def prepare(info: dict[str, object]) -> dict[str, str]:
    """Live files on the hosts; returns the inventory lines of hosts that
    need one (``manage: keys``). A managed fleet has been applied: each host
    also gets the Engine version record apply keeps (its state folder, and
    fleetcfg's own ``engine.sh`` run with ``save`` over SSH, as apply runs
    it under the lock), so that plan reads the version from it instead of
    starting ``dockerd --version``."""
    sys.path.insert(0, str(ROOT))
    from fleetcfg.host.state import ENGINE_RECORD_PATH, STATE_DIR
    from fleetcfg.plan.facts import engine_command
    from tests.fleet import Fleet, FleetHost  # imported late: the floor runs this file bare

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
        host.path(STATE_DIR).mkdir(mode=0o700, exist_ok=True)
        done = host.ssh(shlex.join(engine_command(save=True)))
        if done.returncode != 0 or not host.exists(ENGINE_RECORD_PATH):
            raise SystemExit(f"{host.name}: recording the Engine version failed: {done.stderr}")

    # a managed fleet: every dockerd runs the daemon.json it has
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(restart, hosts))
    return extras


def write_repo(info: dict[str, object], repo: Path, extras: dict[str, str]) -> None:
    """The inventory of the hosts of ``info``, and the profile."""
    from benchmarks.fleetctl import fleet_hosts
    from tests.fleet.repo import write_fleet_repo

    write_fleet_repo(
        repo,
        identity_file=str(info["identity_file"]),
        known_hosts=str(info["known_hosts"]),
        hosts=fleet_hosts(info),
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[100], help="fleet sizes")
    parser.add_argument("--forks", type=int, default=None, help="default: fleetcfg's for N")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--block", default="127.0.100", help="the fleet's first address block")
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--tuned-floor", action="store_true", help="also the raw-Transport floor")
    parser.add_argument("--keep", action="store_true", help="leave the fleet running")
    parser.add_argument("--floor", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tuned", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor is not None:
        floor(args.floor, args.forks, tuned=args.tuned)
        return 0
    sys.path.insert(0, str(ROOT))  # the floor (above) runs this file bare
    from benchmarks.fleetctl import start_fleet, stop_fleet
    from benchmarks.measure import Result, Run, fleet_memory, measure, sizes_table
    from fleetcfg.core.parallel import default_forks

    sizes = sorted(set(args.hosts))
    directory = args.dir or Path(tempfile.mkdtemp(prefix="fleetcfg-plan-bench-", dir="/var/tmp"))
    print(f"starting {sizes[-1]} hosts in {directory} ...", file=sys.stderr)
    started = time.perf_counter()
    info = start_fleet(sizes[-1], directory / "plan-fleet", args.block)
    print(f"fleet up in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    fleet_dir = directory / "plan-fleet"
    memory = fleet_memory(fleet_dir, sizes[-1])
    print(memory, file=sys.stderr)
    try:
        extras = prepare(info)
        pycache = directory / "pycache"
        results: dict[str, list[Result]] = {"plan": [], "floor": [], "tuned": []}
        forks_used: list[int] = []
        for size in sizes:
            hosts = info["hosts"]
            assert isinstance(hosts, list)
            subset = {**info, "hosts": hosts[:size]}
            repo = directory / f"repo-{size}"
            write_repo(subset, repo, extras)
            description = directory / f"fleet-{size}.json"
            description.write_text(json.dumps(subset))
            forks = args.forks or default_forks(size)
            forks_used.append(forks)
            plan_argv = [
                *(sys.executable, "-m", "fleetcfg", "plan", "-i", str(repo / "inventory.yaml")),
                *("--forks", str(forks), "--format", "json"),
            ]
            floor_argv = [
                *(sys.executable, "-m", "benchmarks.plan_bench", "--floor", str(description)),
                *("--forks", str(forks)),
            ]
            commands = {"plan": plan_argv, "floor": floor_argv}
            if args.tuned_floor:
                commands["tuned"] = [*floor_argv, "--tuned"]
            # warm up: sshd, the page cache, the bytecode cache
            measure(floor_argv, pycache)
            measure(plan_argv, pycache)
            runs: dict[str, list[Run]] = {name: [] for name in commands}
            for run in range(args.repeat):
                done_text = []
                for name, argv in commands.items():
                    done = measure(argv, pycache, fleet=fleet_dir)
                    runs[name].append(done)
                    done_text.append(f"{name} {done.seconds:.2f}s/{done.cpu:.2f}s CPU")
                print(f"{size} hosts, run {run + 1}: " + ", ".join(done_text), file=sys.stderr)
            for name, values in runs.items():
                results[name].append(Result.of(size, values))
            # each size as soon as it is measured (a run stopped at a larger size keeps it)
            for line in sizes_table("plan", results["plan"][-1:], results["floor"][-1:]):
                print(line, file=sys.stderr, flush=True)
        forks_text = ", ".join(f"{f} at {n}" for f, n in zip(forks_used, sizes, strict=True))
        print(f"fleetcfg plan vs the floor (forks {forks_text}; median of {args.repeat} runs)")
        for line in sizes_table("plan", results["plan"], results["floor"]):
            print(line)
        for t in results["tuned"]:
            print(f"tuned floor at {t.hosts}: {t.seconds:.2f} s, {t.cpu:.2f} s CPU")
        print(
            "targets: CPU x <= 1.5, wall x <= 2, CPU per host flat (within 20%) "
            "from 100 to 2000 hosts, peak memory < 250 MB"
        )
        print(memory)
        return 0
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
