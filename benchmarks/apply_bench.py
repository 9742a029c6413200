"""Benchmark: `fleetcfg apply` rolling a restart over a fleet of real sshd hosts.

    python benchmarks/apply_bench.py                  # 100 hosts, batches of 10
    python benchmarks/apply_bench.py --hosts 50 --repeat 1
    python benchmarks/apply_bench.py --tools /tmp/bench-venv/bin   # + Ansible, pyinfra

It starts a test fleet (``python -m tests.fleet start``), writes an inventory
and a profile whose target differs from every host's daemon.json in a key that
needs a restart, then measures, each as a fresh process (interpreter start
included) and each from the same starting state (the old daemon.json put back
and ``/etc/docker/.fleetcfg`` removed before every run):

* apply: ``fleetcfg apply -i INVENTORY --yes --batch-size 10 --canary 0``:
  the plan (as ``fleetcfg plan`` makes it), then the rollout with every safety
  step on (lock, recheck, model validation, upload, ``dockerd --validate``
  with the unit's flags, backup, atomic rename, state.json, reset-failed +
  restart, health gate, unlock);
* apply-saved: ``fleetcfg apply PLAN.json --yes ...``, the same rollout of a
  plan saved beforehand (``fleetcfg plan -o``, not timed): what the floor's
  read-each-host-then-restart compares with one to one;
* floor: the plan floor of ``benchmarks/plan_bench.py`` (a bare paramiko
  connection per host, key parsed once, known_hosts checked, TCP_NODELAY,
  one ``cat /etc/docker/daemon.json``; 10 at a time), then, batch by batch
  (10 hosts at a time, on the open connections), one ``systemctl restart
  docker`` and one ``docker info`` per host: the least any tool can do;
* Ansible (``template`` with ``validate:`` and a restart handler, ``serial:
  10``, ``forks: 10``, pipelining, ControlPersist) and pyinfra (template,
  ``dockerd --validate``, restart, ``--parallel 10``), on the same hosts, when
  ``ansible-playbook`` / ``pyinfra`` are found (``--tools DIR`` or PATH);
  skipped with a note otherwise.

It prints the median of ``--repeat`` runs of each and their ratios to the
floor; the exit status checks the target (at most 1.5x) on apply-saved. The
fleet is stopped at the end (``--keep`` leaves it running).
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
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAEMON_JSON = "/etc/docker/daemon.json"
FORKS = 10
BATCH = 10

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

    info = json.loads(description.read_text())
    key = paramiko.Ed25519Key.from_private_key_file(info["identity_file"])
    known = paramiko.HostKeys(info["known_hosts"])

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


def write_repo(info: dict[str, object], repo: Path) -> None:
    from benchmarks.fleetctl import fleet_hosts
    from tests.fleet.repo import write_fleet_repo  # imported late: the floor runs this file bare

    write_fleet_repo(
        repo,
        identity_file=str(info["identity_file"]),
        known_hosts=str(info["known_hosts"]),
        hosts=fleet_hosts(info),
        profiles={"base.yaml.j2": PROFILE},
        defaults="vars:\n  log_max_size: 50m\n",
        sections=f"rollout:\n  batch_size: {BATCH}\n  canary: 0\n  max_failures: 0\n",
        connect_timeout=None,
    )


def reset_hosts(info: dict[str, object]) -> None:
    """Every host back to the old daemon.json, without fleetcfg's state."""
    sys.path.insert(0, str(ROOT))
    from tests.fleet import Fleet

    fleet = Fleet.attach(str(info["dir"]))
    for host in fleet.hosts:
        host.write_file(DAEMON_JSON, old_daemon_json(host.address))
        shutil.rmtree(host.path("/etc/docker/.fleetcfg"), ignore_errors=True)
        for name in host.listdir("/etc/docker"):
            if name.startswith(".daemon.json."):
                host.remove_file(f"/etc/docker/{name}")


def check_applied(info: dict[str, object], expect: str) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.fleet import Fleet

    fleet = Fleet.attach(str(info["dir"]))
    wrong = [
        h.name
        for h in fleet.hosts
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


def write_ansible(info: dict[str, object], directory: Path) -> list[str] | None:
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
        "[defaults]\nforks = 10\nhost_key_checking = True\nstdout_callback = default\n"
        "[ssh_connection]\npipelining = True\n"
    )
    (directory / "site.yml").write_text(
        textwrap.dedent(
            """\
            - hosts: docker
              serial: 10
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
        )
    )
    return [tool, "-i", str(directory / "inventory.ini"), str(directory / "site.yml")]


def write_pyinfra(info: dict[str, object], directory: Path) -> list[str] | None:
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
        "10",
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


def timed(argv: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"{Path(argv[0]).name} failed with exit status {proc.returncode}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--block", default="127.0.70")
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--tools", action="append", default=[], help="where ansible/pyinfra are")
    parser.add_argument("--keep", action="store_true", help="leave the fleet running")
    parser.add_argument("--floor", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor is not None:
        floor(args.floor, FORKS, BATCH)
        return 0
    sys.path.insert(0, str(ROOT))  # the floor (above) runs this file bare
    from benchmarks.fleetctl import start_fleet, stop_fleet

    TOOL_DIRS.extend(args.tools)

    directory = args.dir or Path(tempfile.mkdtemp(prefix="fleetcfg-apply-bench-", dir="/var/tmp"))
    print(f"starting {args.hosts} hosts in {directory} ...", file=sys.stderr)
    started = time.perf_counter()
    info = start_fleet(args.hosts, directory / "fleet", args.block)
    print(f"fleet up in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    try:
        repo = directory / "repo"
        write_repo(info, repo)
        description = directory / "fleet-description.json"
        description.write_text(json.dumps(info))
        runs: dict[str, list[float]] = {"apply": [], "apply-saved": [], "floor": []}
        rollout = ["--yes", "--forks", str(FORKS), "--batch-size", str(BATCH), "--canary", "0"]
        rollout += ["--journal", str(directory / "journal.jsonl")]
        plan_file = directory / "plan.json"
        inventory = str(repo / "inventory.yaml")
        commands: dict[str, tuple[list[str], Path, dict[str, str] | None]] = {
            "apply": (
                [sys.executable, "-m", "fleetcfg", "apply", "-i", inventory, *rollout],
                ROOT,
                None,
            ),
            "apply-saved": (
                [sys.executable, "-m", "fleetcfg", "apply", str(plan_file), *rollout],
                ROOT,
                None,
            ),
            "floor": (
                [sys.executable, str(Path(__file__).resolve()), "--floor", str(description)],
                ROOT,
                None,
            ),
        }
        ansible = write_ansible(info, directory / "ansible")
        if ansible is not None:
            env = {**os.environ, "ANSIBLE_CONFIG": str(directory / "ansible" / "ansible.cfg")}
            commands["ansible"] = (ansible, directory / "ansible", env)
            runs["ansible"] = []
        else:
            print("ansible-playbook not found: skipping Ansible (--tools DIR)", file=sys.stderr)
        pyinfra = write_pyinfra(info, directory / "pyinfra")
        if pyinfra is not None:
            commands["pyinfra"] = (pyinfra, directory / "pyinfra", None)
            runs["pyinfra"] = []
        else:
            print("pyinfra not found: skipping pyinfra (--tools DIR)", file=sys.stderr)
        reset_hosts(info)
        timed(commands["floor"][0])  # warm up: sshd, page cache, the dockerd cache
        for run in range(args.repeat):
            for name, (argv, cwd, env) in commands.items():
                reset_hosts(info)
                if name == "apply-saved":  # planned beforehand, not timed
                    plan = [sys.executable, "-m", "fleetcfg", "plan", "-i", inventory]
                    timed([*plan, "--forks", str(FORKS), "-o", str(plan_file)])
                seconds = timed(argv, cwd, env)
                if name != "floor":
                    check_applied(info, "50m")
                runs[name].append(seconds)
                print(f"run {run + 1}: {name} {seconds:.2f}s", file=sys.stderr)
        medians = {name: statistics.median(values) for name, values in runs.items()}
        floor_s = medians["floor"]
        print(f"hosts: {args.hosts}, batches of {BATCH}, a restart per host")
        print(f"       (forks {FORKS}, median of {args.repeat} runs)")
        for name, seconds in medians.items():
            print(f"{name + ':':13}{seconds:7.2f} s   {seconds / floor_s:5.2f}x the floor")
        print("target: apply-saved at most 1.5x the floor")
        return 0 if medians["apply-saved"] / floor_s <= 1.5 else 1
    finally:
        if args.keep:
            print(f"fleet left running: python -m tests.fleet stop --dir {directory / 'fleet'}")
        else:
            stop_fleet(directory / "fleet")
            if args.dir is None:
                shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
