"""Measuring a command as a user runs it: a fresh process, its wall time, its
own CPU time (user + system, not the hosts' sshd), its peak memory, and the
CPU time the fleet's hosts spent for it (their sshd and everything it ran:
on loopback the hosts share the controller's cores, so host-side work costs
wall time here); the memory of a test fleet; and the table of costs per host
at several fleet sizes that the plan and apply benchmarks print."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: runs ``argv`` and prints the child's wall seconds, exit status, CPU seconds
#: (user + system) and max RSS (KiB): RUSAGE_CHILDREN holds only that child
_WRAPPER = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
    "t = time.perf_counter() - t\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "sys.stderr.write(p.stderr.decode(errors='replace')[-3000:])\n"
    "print(t, p.returncode, u.ru_utime + u.ru_stime, u.ru_maxrss)\n"
)


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu: float
    rss_mib: float
    #: CPU seconds of the fleet's hosts (None: not measured)
    hosts_cpu: float | None = None


_TICK = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, bytes]]:
    """pid -> (parent pid, command line) of every process."""
    found: dict[int, tuple[int, bytes]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[1])
            found[int(entry.name)] = (ppid, (entry / "cmdline").read_bytes())
        except (OSError, IndexError, ValueError):
            continue
    return found


def _listeners(fleet: Path, processes: dict[int, tuple[int, bytes]]) -> list[int]:
    """The fleet's sshd listeners (their command line names the fleet's folder)."""
    mark = str(fleet.resolve()).encode()
    return [
        pid
        for pid, (_, cmd) in processes.items()
        if cmd.startswith((b"sshd", b"/usr/sbin/sshd")) and b"/sshd_config" in cmd and mark in cmd
    ]


def hosts_cpu(fleet: Path) -> float:
    """CPU seconds the fleet's sshd listeners and their finished children used
    (a session's processes count once sshd has reaped them)."""
    total = 0
    for pid in _listeners(fleet, _processes()):
        try:
            fields = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / _TICK


def _sessions(fleet: Path) -> int:
    processes = _processes()
    listeners = set(_listeners(fleet, processes))
    return sum(1 for ppid, _ in processes.values() if ppid in listeners)


def fleet_memory_mib(fleet: Path) -> tuple[float, int]:
    """The proportional set size (PSS: shared pages divided among the
    processes sharing them) of the fleet's sshd listeners and everything
    below them, in MiB, and how many processes that is."""
    processes = _processes()
    tree = set(_listeners(fleet, processes))
    grew = True
    while grew:
        below = {pid for pid, (ppid, _) in processes.items() if ppid in tree} - tree
        grew = bool(below)
        tree |= below
    kib = 0
    for pid in tree:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
            kib += next(int(line.split()[1]) for line in text.splitlines() if line[:4] == "Pss:")
        except (OSError, StopIteration):
            continue
    return kib / 1024, len(tree)


def fleet_memory(fleet: Path, hosts: int) -> str:
    """A line on the memory of a test fleet of ``hosts`` hosts."""
    mib, processes = fleet_memory_mib(fleet)
    return (
        f"the idle fleet: {mib:.0f} MiB PSS in {processes} processes, "
        f"{mib / hosts:.2f} MiB per host"
    )


def measure(
    argv: Sequence[str],
    pycache: Path,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
    fleet: Path | None = None,
) -> Run:
    """Run ``argv`` in a fresh process (bytecode cached in ``pycache``, as in
    an installed fleetcfg); raise SystemExit when it fails. With ``fleet``
    (a test fleet's folder), also the CPU time its hosts spent."""
    env = {k: v for k, v in (env or os.environ).items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    before = hosts_cpu(fleet) if fleet is not None else 0.0
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *argv],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
    )
    try:
        seconds, status, cpu, rss = proc.stdout.split()
    except ValueError:
        raise SystemExit(f"{argv[:4]}: no measurement: {proc.stderr[-2000:]}") from None
    if int(status) != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"{' '.join(argv[:4])} ... failed with exit status {status}")
    spent = None
    if fleet is not None:
        deadline = time.monotonic() + 10
        while _sessions(fleet) and time.monotonic() < deadline:
            time.sleep(0.2)  # the closed sessions' processes are reaped
        spent = hosts_cpu(fleet) - before
    return Run(float(seconds), float(cpu), int(rss) / 1024, spent)


@dataclass(frozen=True)
class Result:
    """The median of several runs of one command at one fleet size."""

    hosts: int
    seconds: float
    cpu: float
    rss_mib: float
    hosts_cpu: float | None = None

    @classmethod
    def of(cls, hosts: int, runs: Sequence[Run]) -> Result:
        spent = [r.hosts_cpu for r in runs if r.hosts_cpu is not None]
        return cls(
            hosts,
            statistics.median(r.seconds for r in runs),
            statistics.median(r.cpu for r in runs),
            max(r.rss_mib for r in runs),
            statistics.median(spent) if spent else None,
        )


def sizes_table(name: str, tool: Sequence[Result], floor: Sequence[Result]) -> list[str]:
    """One row per size: wall and CPU of ``name`` and of the floor, per host
    and as ratios; then the marginal cost per host between sizes (what each
    added host costs, without the interpreter's start), the figure that shows
    whether the cost grows with the fleet."""
    w = max(len(name) + 6, 9)
    head = (
        f"{'hosts':>6} {name + ' s':>{w}} {'floor s':>8} {'x':>5}   {name + ' CPU s':>{w + 4}}"
        f" {'floor CPU s':>11} {'x':>5}   {'CPU ms/host':>11} {'floor':>6}"
        f"   {'peak MiB':>8} {'floor':>6}   {'hosts CPU ms/host':>17} {'floor':>6}"
    )
    lines = [head]
    for t, f in zip(tool, floor, strict=True):
        lines.append(
            f"{t.hosts:>6} {t.seconds:>{w}.2f} {f.seconds:>8.2f} {t.seconds / f.seconds:>5.2f}"
            f"   {t.cpu:>{w + 4}.2f} {f.cpu:>11.2f} {t.cpu / f.cpu:>5.2f}"
            f"   {1000 * t.cpu / t.hosts:>11.2f} {1000 * f.cpu / f.hosts:>6.2f}"
            f"   {t.rss_mib:>8.0f} {f.rss_mib:>6.0f}"
            f"   {_per_host(t):>17} {_per_host(f):>6}"
        )
    for (t0, f0), (t1, f1) in zip(
        zip(tool, floor, strict=True), zip(tool[1:], floor[1:], strict=True), strict=False
    ):
        added = t1.hosts - t0.hosts
        if added <= 0:
            continue
        lines.append(
            f"each host added from {t0.hosts} to {t1.hosts}: {name} "
            f"{1000 * (t1.cpu - t0.cpu) / added:.2f} ms CPU, "
            f"{1000 * (t1.seconds - t0.seconds) / added:.2f} ms wall; floor "
            f"{1000 * (f1.cpu - f0.cpu) / added:.2f} ms CPU, "
            f"{1000 * (f1.seconds - f0.seconds) / added:.2f} ms wall"
        )
    return lines


def _per_host(result: Result) -> str:
    if result.hosts_cpu is None:
        return "-"
    return f"{1000 * result.hosts_cpu / result.hosts:.0f}"
