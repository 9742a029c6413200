"""containerd namespaces, cgroups and feature flags."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from fleetcfg.core.findings import Finding
from fleetcfg.core.rules import (
    CONFLICT,
    IGNORED_KEY,
    INVALID_VALUE,
    NO_EFFECT,
)
from fleetcfg.dockerd.base import v
from fleetcfg.dockerd.checks.context import (
    START,
    E,
    RuleContext,
    W,
    check,
    find,
)
from fleetcfg.dockerd.checks.load_time import cgroup_driver


@check
def containerd_namespaces(ctx: RuleContext) -> Iterator[Finding]:
    if ctx.get("containerd-namespace") == "plugins.moby":
        yield find(
            CONFLICT,
            E,
            '"containerd-namespace" must differ from the plugins namespace '
            f'"plugins.moby" (containers namespace and plugins namespace cannot be the '
            f"same); {START}",
            "containerd-namespace",
        )


@check
def cgroup_parent(ctx: RuleContext) -> Iterator[Finding]:
    parent = ctx.get("cgroup-parent")
    if not ctx.has("cgroup-parent") or not parent or parent.endswith(".slice"):
        return
    if "exec-opts" in ctx.invalid:
        return
    if cgroup_driver(ctx.cfg) == "systemd":
        yield find(
            INVALID_VALUE,
            E,
            f'"cgroup-parent" "{parent}" must be a systemd slice ending in ".slice" with '
            f"the systemd cgroup driver; {START}",
            "cgroup-parent",
        )
    elif cgroup_driver(ctx.cfg) is None:
        yield find(
            INVALID_VALUE,
            W,
            f'"cgroup-parent" "{parent}" is not a ".slice": on hosts where dockerd uses '
            "the systemd cgroup driver (the default on cgroup v2) it refuses to start. "
            "Pin exec-opts native.cgroupdriver=cgroupfs or use a .slice",
            "cgroup-parent",
        )


@check
def cpu_rt(ctx: RuleContext) -> Iterator[Finding]:
    for key in ("cpu-rt-period", "cpu-rt-runtime"):
        if ctx.has(key) and ctx.raw[key]:
            yield find(
                INVALID_VALUE,
                W,
                f'"{key}" works only on cgroup v1 hosts; on cgroup v2 (current '
                f"distributions) {START}",
                key,
            )


KNOWN_FEATURES = ("buildkit", "containerd-snapshotter", "cdi", "windows-dns-proxy")


@check
def features(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.has("features"):
        return
    for name in ctx.cfg.features or {}:
        if name == "windows-dns-proxy":
            if ctx.engine < v("28.0"):
                yield find(
                    INVALID_VALUE,
                    E,
                    "feature option 'windows-dns-proxy' is only available on Windows; Engine "
                    f"{ctx.engine.short} {START[8:]}. Remove it",
                    "features",
                    name,
                )
            else:
                yield find(
                    NO_EFFECT,
                    W,
                    '"windows-dns-proxy" has no effect on Linux; remove it',
                    "features",
                    name,
                )
        elif name not in KNOWN_FEATURES:
            guess = difflib.get_close_matches(name, KNOWN_FEATURES, n=1, cutoff=0.6)
            yield find(
                IGNORED_KEY,
                W,
                f'"{name}" is not a feature dockerd knows; it is accepted and does nothing'
                + (f'. Did you mean "{guess[0]}"?' if guess else ""),
                "features",
                name,
            )
