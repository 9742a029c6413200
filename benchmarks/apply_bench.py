"""Benchmark: `fleetcfg apply` rolling a restart over a fleet of real sshd hosts,
at several fleet sizes.

    python -m benchmarks.apply_bench                          # 100 hosts
    python -m benchmarks.apply_bench --hosts 100 500 1000 2000 --repeat 1
    python -m benchmarks.apply_bench --tools /tmp/bench-venv/bin   # + Ansible, pyinfra

It starts one test fleet of the largest size (``python -m tests.fleet start``;
1.25 MiB of memory per idle host) and for each size N writes an inventory of
the first N hosts and a profile whose target differs from every host's
daemon.json in a key that needs a restart, then measures, each as a fresh
process (interpreter start included) and each from the same starting state
(the old daemon.json put back and ``/etc/docker/.fleetcfg`` removed before
every run), with batches of 10% of the hosts and F hosts at a time (F:
fleetcfg's default ``--forks`` for N; ``--forks`` overrides it):

* apply: ``fleetcfg apply -i INVENTORY --yes --batch-size B --canary 0``:
  the plan (as ``fleetcfg plan`` makes it), then the rollout with every safety
  step on (lock, recheck, model validation, upload, ``dockerd --validate``
  with the unit's flags, backup, atomic rename, state.json, reset-failed +
  restart, health gate, unlock);
* apply-saved: ``fleetcfg apply PLAN.json --yes ...``, the same rollout of a
  plan saved beforehand (``fleetcfg plan -o``, not timed): what the floor's
  read-each-host-then-restart compares with one to one;
* floor: the plan floor of ``benchmarks/plan_bench.py`` (a bare paramiko
  connection per host, key parsed once, known_hosts parsed once into a dict,
  TCP_NODELAY, one ``cat /etc/docker/daemon.json``; F at a time), then,
  batch by batch (on the open connections), one ``systemctl restart docker``
  and one ``docker info`` per host: the least any tool can do;
* Ansible (``template`` with ``validate:`` and a restart handler, ``serial``
  of a batch, ``forks``, pipelining, ControlPersist) and pyinfra (template,
  ``dockerd --validate``, restart, ``--parallel F``), on the same hosts, when
  ``ansible-playbook`` / ``pyinfra`` are found (``--tools DIR`` or PATH);
  skipped with a note otherwise.

For each size it prints the median wall time and CPU time (of that process
alone) of each against the floor, CPU per host, peak memory, and what each
added host costs between two sizes. Target (issue 13): apply within 1.5x of
the floor. The fleet is stopped at the end (``--keep`` leaves it running).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DAEMON_JSON = "/etc/docker/daemon.json"

PROFILE = """\
registry-mirrors: ["https://mirror.corp.example.com"]
log-driver: json-file
log-opts:
  max-size: "{{ log_max_size }}"
  max-file: "5"
default-address-pools:
  - {base: 172.18.0.0/15, size: 24}
metrics-addr: "{{ address }}:9323"
"""
JINJA_DAEMON_JSON = """\
{
  "default-address-pools": [{"base": "172.18.0.0/15", "size": 24}],
  "log-driver": "json-file",
  "log-opts": {"max-file": "5", "max-size": "50m"},
  "metrics-addr": "{{ HOST }}:9323",
  "registry-mirrors": ["https://mirror.corp.example.com"]
}
"""


def old_daemon_json(address: str) -> str:
    """What every host has before a run: max-size 10m (a restart to 50m)."""
    data = {
        "registry-mirrors": ["https://mirror.corp.example.com"],
        "log-driver": "json-file",
        "log-opts": {"max-size": "10m", "max-file": "5"},
        "default-address-pools": [{"base": "172.18.0.0/15", "size": 24}],
        "metrics-addr": f"{address}:9323",
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


# --------------------------------------------------------------------------
# the floor (its own process: --floor FLEET.json)


def floor(description: Path, forks: int, batch: int) -> None:
    import socket

    import paramiko

    from benchmarks.knownhosts import DictHostKeys

    info = json.loads(description.read_text())
    key = paramiko.Ed25519Key.from_private_key_file(info["identity_file"])
    known = DictHostKeys(info["known_hosts"])

    def run(transport: paramiko.Transport, command: str) -> int:
        channel = transport.open_session()
        channel.exec_command(command)
        while channel.recv(65536):
            pass
        status = channel.recv_exit_status()
        if status != 0:
            error = channel.recv_stderr(65536).decode(errors="replace").strip()
            peer = transport.getpeername()[0]
            print(f"{peer}: `{command}` exited {status}: {error}", file=sys.stderr)
        return status

    def connect(host: dict[str, object]) -> paramiko.Transport:
        address = str(host["address"])
        sock = socket.create_connection((address, int(str(host["port"]))), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = paramiko.Transport(sock)
        sock.settimeout(1.0)  # idle connections wake once a second, as fleetcfg's do
        transport.start_client(timeout=10)
        if not known.check(address, transport.get_remote_server_key()):
            raise RuntimeError(f"{address}: host key not in known_hosts")
        transport.auth_publickey("root", key)
        run(transport, f"cat {DAEMON_JSON}")
        return transport

    def restart(transport: paramiko.Transport) -> None:
        if run(transport, "systemctl restart docker") != 0:
            raise RuntimeError("restart failed")
        if run(transport, "docker info --format '{{json .ContainersRunning}}'") != 0:
            raise RuntimeError("docker info failed")

    with ThreadPoolExecutor(max_workers=forks) as pool:
        transports = list(pool.map(connect, info["hosts"]))
        for start in range(0, len(transports), batch):
            list(pool.map(restart, transports[start : start + batch]))
    for transport in transports:
        transport.close()
    print(json.dumps({"hosts": len(transports)}))


# --------------------------------------------------------------------------
# setting up


def write_repo(info: dict[str, object], repo: Path, batch: int) -> None:
    from benchmarks.fleetctl import fleet_hosts
    from tests.fleet.repo import write_fleet_repo  # imported late: the floor runs this file bare

    write_fleet_repo(
        repo,
        identity_file=str(info["identity_file"]),
        known_hosts=str(info["known_hosts"]),
        hosts=fleet_hosts(info),
        profiles={"base.yaml.j2": PROFILE},
        defaults="vars:\n  log_max_size: 50m\n",
        sections=f"rollout:\n  batch_size: {batch}\n  canary: 0\n  max_failures: 0\n",
        connect_timeout=None,
    )


def _hosts(info: dict[str, object]) -> list[Any]:
    """The fleet's hosts that ``info`` lists (a size's first N)."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.fleetctl import fleet_hosts
    from tests.fleet import Fleet

    names = {name for name, _ in fleet_hosts(info)}
    return [h for h in Fleet.attach(str(info["dir"])).hosts if h.name in names]


def reset_hosts(info: dict[str, object]) -> None:
    """Every host back to the old daemon.json, without fleetcfg's state."""
    for host in _hosts(info):
        host.write_file(DAEMON_JSON, old_daemon_json(host.address))
        shutil.rmtree(host.path("/etc/docker/.fleetcfg"), ignore_errors=True)
        for name in host.listdir("/etc/docker"):
            if name.startswith(".daemon.json."):
                host.remove_file(f"/etc/docker/{name}")


def check_applied(info: dict[str, object], expect: str) -> None:
    wrong = [
        h.name
        for h in _hosts(info)
        if json.loads(h.read_file(DAEMON_JSON))["log-opts"]
        != {
            "max-file": "5",
            "max-size": expect,
        }
    ]
    if wrong:
        raise SystemExit(f"the run did not change {len(wrong)} hosts: {', '.join(wrong[:5])}")


# --------------------------------------------------------------------------
# Ansible and pyinfra


def write_ansible(
    info: dict[str, object], directory: Path, forks: int, batch: int
) -> list[str] | None:
    tool = find_tool("ansible-playbook")
    if tool is None:
        return None
    hosts = info["hosts"]
    assert isinstance(hosts, list)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "daemon.json.j2").write_text(JINJA_DAEMON_JSON.replace("HOST", "ansible_host"))
    (directory / "inventory.ini").write_text(
        "[docker]\n"
        + "".join(f"{h['name']} ansible_host={h['address']}\n" for h in hosts)
        + textwrap.dedent(
            f"""\
            [docker:vars]
            ansible_user=root
            ansible_ssh_private_key_file={info["identity_file"]}
            ansible_ssh_common_args=-o UserKnownHostsFile={info["known_hosts"]} -o ControlMaster=auto -o ControlPersist=60s -o ControlPath={directory}/cm-%C
            ansible_python_interpreter=/usr/bin/python3
            """
        )
    )
    (directory / "ansible.cfg").write_text(
        f"[defaults]\nforks = {forks}\nhost_key_checking = True\nstdout_callback = default\n"
        "[ssh_connection]\npipelining = True\n"
    )
    (directory / "site.yml").write_text(
        textwrap.dedent(
            """\
            - hosts: docker
              serial: BATCH
              gather_facts: false
              any_errors_fatal: true
              tasks:
                - name: daemon.json
                  ansible.builtin.template:
                    src: daemon.json.j2
                    dest: /etc/docker/daemon.json
                    mode: "0644"
                    owner: root
                    group: root
                    validate: dockerd --validate --config-file %s
                  notify: restart docker
              handlers:
                - name: restart docker
                  ansible.builtin.command: systemctl restart docker
                  notify: docker info
                - name: docker info
                  ansible.builtin.command: docker info --format '{{ '{{' }}json .ContainersRunning{{ '}}' }}'
            """
        ).replace("BATCH", str(batch))
    )
    return [tool, "-i", str(directory / "inventory.ini"), str(directory / "site.yml")]


def write_pyinfra(info: dict[str, object], directory: Path, forks: int) -> list[str] | None:
    tool = find_tool("pyinfra")
    if tool is None:
        return None
    hosts = info["hosts"]
    assert isinstance(hosts, list)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "daemon.json.j2").write_text(
        JINJA_DAEMON_JSON.replace("HOST", "host.data.address")
    )
    data = {
        "ssh_user": "root",
        "ssh_key": str(info["identity_file"]),
        "ssh_known_hosts_file": str(info["known_hosts"]),
        "ssh_strict_host_key_checking": "yes",
    }
    entries = ",\n".join(
        f"    ({json.dumps(h['address'])}, {json.dumps({**data, 'address': h['address']})})"
        for h in hosts
    )
    (directory / "inventory.py").write_text("docker = [\n" + entries + "\n]\n")
    (directory / "deploy.py").write_text(
        textwrap.dedent(
            """\
            from pyinfra.operations import files, server

            upload = files.template(
                name="daemon.json (candidate)",
                src="daemon.json.j2",
                dest="/etc/docker/.daemon.json.pyinfra",
                mode="644",
            )
            if upload.changed:
                server.shell(
                    name="validate",
                    commands=["dockerd --validate --config-file /etc/docker/.daemon.json.pyinfra"],
                )
                server.shell(
                    name="install",
                    commands=["mv -f /etc/docker/.daemon.json.pyinfra /etc/docker/daemon.json"],
                )
                server.shell(
                    name="restart",
                    commands=[
                        "systemctl restart docker",
                        "docker info --format '{{json .ContainersRunning}}'",
                    ],
                )
            """
        )
    )
    return [
        tool,
        "-y",
        "--parallel",
        str(forks),
        str(directory / "inventory.py"),
        str(directory / "deploy.py"),
    ]


def find_tool(name: str) -> str | None:
    for directory in TOOL_DIRS:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


TOOL_DIRS: list[str] = []


# --------------------------------------------------------------------------
# measuring


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[100], help="fleet sizes")
    parser.add_argument("--forks", type=int, default=None, help="default: fleetcfg's for N")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--block", default="127.0.110", help="the fleet's first address block")
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--tools", action="append", default=[], help="where ansible/pyinfra are")
    parser.add_argument("--keep", action="store_true", help="leave the fleet running")
    parser.add_argument("--no-warm-up", action="store_true", help="no floor run before measuring")
    parser.add_argument(
        "--skip", action="append", default=[], choices=("apply", "apply-saved"), help="not this"
    )
    parser.add_argument("--floor", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=10, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor is not None:
        floor(args.floor, args.forks, args.batch)
        return 0
    sys.path.insert(0, str(ROOT))  # the floor (above) runs without fleetcfg
    from benchmarks.fleetctl import start_fleet, stop_fleet
    from benchmarks.measure import Result, Run, fleet_memory, measure, sizes_table
    from fleetcfg.core.parallel import default_forks

    TOOL_DIRS.extend(args.tools)
    sizes = sorted(set(args.hosts))
    directory = args.dir or Path(tempfile.mkdtemp(prefix="fleetcfg-apply-bench-", dir="/var/tmp"))
    print(f"starting {sizes[-1]} hosts in {directory} ...", file=sys.stderr)
    started = time.perf_counter()
    info = start_fleet(sizes[-1], directory / "fleet", args.block)
    print(f"fleet up in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    fleet_dir = directory / "fleet"
    memory = fleet_memory(fleet_dir, sizes[-1])
    print(memory, file=sys.stderr)
    pycache = directory / "pycache"
    results: dict[str, list[Result]] = {}
    settings: list[str] = []
    try:
        for size in sizes:
            hosts = info["hosts"]
            assert isinstance(hosts, list)
            subset = {**info, "hosts": hosts[:size]}
            forks = args.forks or default_forks(size)
            batch = max(1, -(-size // 10))  # 10%, rounded up
            settings.append(f"{size} hosts: forks {forks}, batches of {batch}")
            repo = directory / f"repo-{size}"
            write_repo(subset, repo, batch)
            description = directory / f"fleet-{size}.json"
            description.write_text(json.dumps(subset))
            rollout = ["--yes", "--forks", str(forks), "--batch-size", str(batch), "--canary", "0"]
            rollout += ["--journal", str(directory / "journal.jsonl")]
            plan_file = directory / "plan.json"
            inventory = str(repo / "inventory.yaml")
            fleetcfg = [sys.executable, "-m", "fleetcfg"]
            commands: dict[str, tuple[list[str], Path, dict[str, str] | None]] = {
                "apply": ([*fleetcfg, "apply", "-i", inventory, *rollout], ROOT, None),
                "apply-saved": ([*fleetcfg, "apply", str(plan_file), *rollout], ROOT, None),
                "floor": (
                    [
                        *(sys.executable, "-m", "benchmarks.apply_bench"),
                        *("--floor", str(description), "--forks", str(forks)),
                        *("--batch", str(batch)),
                    ],
                    ROOT,
                    None,
                ),
            }
            for name in args.skip:
                del commands[name]
            ansible = write_ansible(subset, directory / f"ansible-{size}", forks, batch)
            if ansible is not None:
                cfg = directory / f"ansible-{size}" / "ansible.cfg"
                env = {**os.environ, "ANSIBLE_CONFIG": str(cfg)}
                commands["ansible"] = (ansible, directory / f"ansible-{size}", env)
            elif size == sizes[0]:
                print("ansible-playbook not found: skipping Ansible (--tools DIR)", file=sys.stderr)
            pyinfra = write_pyinfra(subset, directory / f"pyinfra-{size}", forks)
            if pyinfra is not None:
                commands["pyinfra"] = (pyinfra, directory / f"pyinfra-{size}", None)
            elif size == sizes[0]:
                print("pyinfra not found: skipping pyinfra (--tools DIR)", file=sys.stderr)
            reset_hosts(subset)
            if not args.no_warm_up:  # sshd, page cache, the dockerd cache, the bytecode cache
                measure(commands["floor"][0], pycache)
            runs: dict[str, list[Run]] = {name: [] for name in commands}
            for run in range(args.repeat):
                for name, (argv, cwd, environ) in commands.items():
                    reset_hosts(subset)
                    if name == "apply-saved":  # planned beforehand, not timed
                        plan = [*fleetcfg, "plan", "-i", inventory, "--forks", str(forks)]
                        measure([*plan, "-o", str(plan_file)], pycache)
                    done = measure(argv, pycache, cwd, environ, fleet=fleet_dir)
                    if name != "floor":
                        check_applied(subset, "50m")
                    runs[name].append(done)
                    print(
                        f"{size} hosts, run {run + 1}: {name} {done.seconds:.2f}s, "
                        f"{done.cpu:.2f}s CPU",
                        file=sys.stderr,
                    )
            for name, measured in runs.items():
                results.setdefault(name, []).append(Result.of(size, measured))
            # each size as soon as it is measured (a run stopped at a larger size keeps it)
            for name in runs:
                if name != "floor":
                    last = sizes_table(name, results[name][-1:], results["floor"][-1:])
                    print("\n".join(last), file=sys.stderr, flush=True)
        print(f"a restart per host ({'; '.join(settings)}; median of {args.repeat} runs)")
        for name, values in results.items():
            if name == "floor":
                continue
            print()
            for line in sizes_table(name, values, results["floor"]):
                print(line)
        print("\ntarget: apply within 1.5x of the floor (a restart per host, batches of 10%)")
        print(memory)
        return 0
    finally:
        if args.keep:
            print(f"fleet left running: python -m tests.fleet stop --dir {directory / 'fleet'}")
        else:
            stop_fleet(directory / "fleet")
            if args.dir is None:
                shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
