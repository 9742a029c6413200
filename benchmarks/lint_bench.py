"""Benchmark: `fleetcfg lint` of a large repo against just loading its YAML.

Generates repos of 1,000, 2,500 and 5,000 hosts (``--hosts``) in 40 groups
(``--groups``: 200 repeats the sites with numbered names) (8 sites with 3
child groups each, 8 more groups; the shipped profiles; realistic variables:
regional mirrors, per-group log rotation, engine versions, client users, a few
per-host overrides, and one group with a planted mistake shared by all its
hosts), then measures in fresh processes:

* the CPU time (of that process alone: the machine may be busy) and peak
  memory (max RSS, the interpreter and imports included; ``--tracemalloc``:
  the peak of Python's own allocations instead, much slower) of loading
  inventory.yaml with ruamel.yaml, and of the repo lint (``lint_repo``) of
  the same repo;
* the ratio (target: lint under 10x the YAML load) and the per-host cost
  (target: linear, the per-host time of the largest repo at most 1.5x that of
  the smallest).

Prints a table and exits 1 when a target is missed.

    python -m benchmarks.lint_bench                  # 1000, 2500, 5000 hosts
    python -m benchmarks.lint_bench --hosts 5000 --profile
    python -m benchmarks.lint_bench --hosts 2000 10000 20000 --groups 200 --repeat 1
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SIZES = (1000, 2500, 5000)
GROUPS = 40
MAX_RATIO = 10.0
MAX_PER_HOST_GROWTH = 1.5

# (site group, child groups, profile, settings of the site group)
_SITES: list[tuple[str, str, dict[str, Any]]] = [
    ("ci-eu", "ci", {"client_users": ["root", "gitlab-runner"], "region": "eu"}),
    ("ci-us", "ci", {"client_users": ["root", "gitlab-runner"], "region": "us"}),
    ("prod-eu", "prod", {"region": "eu"}),
    ("prod-us", "prod", {"region": "us"}),
    ("prod-ap", "prod", {"region": "ap"}),
    ("dev-berlin", "developer", {"manage": "keys", "engine_version": "27.5"}),
    ("dev-austin", "developer", {"manage": "keys", "engine_version": "27.5"}),
    ("airgap-a", "airgapped", {"engine_version": "24.0", "airgapped": True}),
]
_STANDALONE = [
    ("batch", "base"),
    ("gpu-eu", "base"),
    ("gpu-us", "base"),
    ("edge-1", "prod"),
    ("edge-2", "prod"),
    ("storage", "base"),
    ("monitoring", "prod"),
    ("legacy-lab", "base"),  # the planted mistake: a pool in the office range
]


def _flow(value: Any) -> str:
    """A small value as YAML flow text (strings quoted only where needed)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, str) and (value[:1].isdigit() or ":" in value or value == ""):
        return json.dumps(value)
    return str(value)


def generate_repo(root: Path, hosts: int, groups: int = GROUPS, seed: int = 7) -> Path:
    """Write inventory.yaml (``hosts`` hosts in ``groups`` groups) and the
    shipped profiles under ``root``; returns the inventory path. Each site is
    4 groups (the site and 3 zones) and there are 8 standalone groups, so
    ``groups`` is 8 plus a multiple of 4 (40: the 8 sites once; 200: 48
    sites, the 8 kinds repeated with numbered names)."""
    site_count, rest = divmod(groups - len(_STANDALONE), 4)
    if rest or site_count < 1:
        raise ValueError(f"groups must be {len(_STANDALONE)} plus a multiple of 4, got {groups}")
    sites = [
        (name if i < len(_SITES) else f"{name}{i // len(_SITES) + 1}", profile, settings)
        for i, (name, profile, settings) in (
            (i, _SITES[i % len(_SITES)]) for i in range(site_count)
        )
    ]
    rnd = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "profiles", root / "profiles", dirs_exist_ok=True)
    shipped = (ROOT / "inventory.yaml").read_text()
    head = shipped.split("\ngroups:", 1)[0]  # defaults, networks, rollout, lint
    leaves: list[tuple[str, list[str]]] = []
    lines = [head.rstrip(), "", "groups:"]
    for site, profile, settings in sites:
        children = [f"{site}-{zone}" for zone in ("a", "b", "c")]
        lines += [f"  {site}:", f"    description: site {site}"]
        lines.append(f"    children: [{', '.join(children)}]")
        lines.append(f"    daemon_profile: {profile}")
        if "client_users" in settings:
            lines.append(f"    client_users: {_flow(settings['client_users'])}")
        if "manage" in settings:
            lines.append(f"    manage: {settings['manage']}")
        if "engine_version" in settings:
            lines.append(f'    engine_version: "{settings["engine_version"]}"')
        site_vars: dict[str, Any] = {}
        if "region" in settings:
            mirror = f"mirror-{settings['region']}.corp.example.com"
            site_vars.update(mirror_host=mirror, registry_mirrors=[f"https://{mirror}"])
        if profile == "ci":
            site_vars.update(
                ci_cache_mirror="https://ci-cache.corp.example.com", log_max_size="20m"
            )
        if settings.get("airgapped"):
            site_vars.update(
                internal_domain="airgap.example.com",
                use_proxy=False,
                mirror_host="registry.airgap.example.com",
                registry_mirrors=["http://registry.airgap.example.com:5000"],
                insecure_registries=["registry.airgap.example.com:5000"],
            )
        if site_vars:
            lines.append(f"    vars: {_flow(site_vars)}")
        for child in children:
            lines += [f"  {child}:", f'    vars: {{log_max_file: "{rnd.choice((3, 5, 10))}"}}']
            lines.append("    hosts: HOSTS:" + child)
            leaves.append((child, []))
    for name, profile in _STANDALONE:
        lines += [f"  {name}:", f"    daemon_profile: {profile}"]
        if name == "legacy-lab":
            lines.append("    vars: {address_pools: [{base: 192.168.64.0/18, size: 24}]}")
        lines.append("    hosts: HOSTS:" + name)
        leaves.append((name, []))
    for i in range(hosts):
        leaves[i % len(leaves)][1].append(_host_line(i, rnd))
    text = "\n".join(lines) + "\n"
    for name, entries in leaves:
        text = text.replace(f"    hosts: HOSTS:{name}\n", "    hosts:\n" + "".join(entries), 1)
    path = root / "inventory.yaml"
    path.write_text(text)
    return path


def _host_line(i: int, rnd: random.Random) -> str:
    address = f"10.{20 + i // 62500}.{(i // 250) % 250}.{i % 250 + 1}"
    entry: dict[str, Any] = {"address": address}
    roll = rnd.random()
    if roll < 0.04:
        entry["vars"] = {"log_max_size": "100m"}
    elif roll < 0.06:
        entry["engine_version"] = "28.5"
    return f"      host-{i:05d}: {_flow(entry)}\n"


# -- measurements (each in a fresh process) -------------------------------------------


def _child(mode: str, path: Path, memory: bool) -> dict[str, Any]:
    if mode == "yaml":
        from ruamel.yaml import YAML

        def run() -> Any:
            return YAML(typ="safe").load(path.read_text())

    else:
        from fleetcfg.lint.repo import lint_repo

        def run() -> Any:
            return lint_repo(path)

    if memory:
        tracemalloc.start()
    start = time.process_time()
    result = run()
    seconds = time.process_time() - start
    if memory:
        peak = tracemalloc.get_traced_memory()[1]
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out: dict[str, Any] = {"seconds": seconds, "peak": peak}
    if mode == "lint":
        out.update(
            findings=len(result.findings),
            errors=sum(f.severity == "error" for f in result.findings),
            documents=result.documents,
        )
    return out


def measure(mode: str, path: Path, *, memory: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.lint_bench", "--child", mode, str(path)]
    if memory:
        cmd.append("--memory")
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout))


def profile(path: Path, top: int) -> None:
    """Where the lint's time goes (cProfile, in this process)."""
    from fleetcfg.lint.repo import lint_repo

    profiler = cProfile.Profile()
    profiler.enable()
    lint_repo(path)
    profiler.disable()
    stats = pstats.Stats(profiler)
    print(f"\nprofile of the lint of {path} (cumulative):")
    stats.sort_stats("cumulative").print_stats(top)
    print("by own time:")
    stats.sort_stats("tottime").print_stats(top)


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--groups", type=int, default=GROUPS, help="8 plus a multiple of 4")
    parser.add_argument("--repeat", type=int, default=2, help="timing runs per size (min kept)")
    parser.add_argument("--keep", type=Path, help="write the generated repos here")
    parser.add_argument("--profile", action="store_true", help="profile the largest lint")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--tracemalloc", action="store_true", help="peak of Python allocations")
    parser.add_argument("--child", choices=("yaml", "lint"), help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("path", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.path, args.memory)))
        return 0

    sizes = sorted(args.hosts)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="fleetcfg-lint-bench-"))
    rows = []
    try:
        for n in sizes:
            path = generate_repo(workdir / f"hosts-{n}", n, args.groups)
            yaml_runs = [measure("yaml", path) for _ in range(args.repeat)]
            yaml_s = min(r["seconds"] for r in yaml_runs)
            lint_runs = [measure("lint", path) for _ in range(args.repeat)]
            lint_s = min(r["seconds"] for r in lint_runs)
            if args.tracemalloc:
                yaml_mem = measure("yaml", path, memory=True)["peak"]
                lint_mem = measure("lint", path, memory=True)["peak"]
            else:
                yaml_mem = max(r["peak"] for r in yaml_runs)
                lint_mem = max(r["peak"] for r in lint_runs)
            rows.append((n, yaml_s, lint_s, yaml_mem, lint_mem, lint_runs[0]))
        header = (
            f"{'hosts':>6} {'yaml CPU':>10} {'lint CPU':>8} {'ratio':>6} {'ms/host':>8} "
            f"{'yaml peak':>10} {'lint peak':>10} {'KB/host':>8} {'files':>6} {'findings':>8}"
        )
        print(header)
        print("-" * len(header))
        for n, yaml_s, lint_s, yaml_mem, lint_mem, run in rows:
            print(
                f"{n:>6} {yaml_s:>9.2f}s {lint_s:>7.2f}s {lint_s / yaml_s:>5.1f}x "
                f"{lint_s / n * 1000:>8.3f} {_mb(yaml_mem):>10} {_mb(lint_mem):>10} "
                f"{lint_mem / n / 1000:>8.1f} {run['documents']:>6} {run['findings']:>8}"
            )
        largest, smallest = rows[-1], rows[0]
        ratio = largest[2] / largest[1]
        growth = (largest[2] / largest[0]) / (smallest[2] / smallest[0])
        ok_ratio = ratio < MAX_RATIO
        ok_linear = growth <= MAX_PER_HOST_GROWTH or len(rows) == 1
        print(
            f"\nlint / YAML load at {largest[0]} hosts: {ratio:.1f}x "
            f"(target < {MAX_RATIO:.0f}x): {'ok' if ok_ratio else 'MISSED'}"
        )
        if len(rows) > 1:
            print(
                f"per-host time at {largest[0]} vs {smallest[0]} hosts: {growth:.2f}x "
                f"(target <= {MAX_PER_HOST_GROWTH}x, linear): {'ok' if ok_linear else 'MISSED'}"
            )
        if args.profile:
            profile(workdir / f"hosts-{sizes[-1]}" / "inventory.yaml", args.top)
        return 0 if ok_ratio and ok_linear else 1
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
