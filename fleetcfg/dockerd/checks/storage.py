"""Storage driver and storage options (checked when the graph driver starts)."""

from __future__ import annotations

from collections.abc import Iterator

from fleetcfg.core.findings import Finding
from fleetcfg.core.rules import (
    DEPRECATED,
    STORAGE,
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

STORAGE_DRIVERS = ("overlay2", "fuse-overlayfs", "btrfs", "zfs", "vfs")
REMOVED_STORAGE = {"aufs": v("24.0"), "overlay": v("24.0"), "devicemapper": v("25.0")}
STORAGE_OPTS = {
    "overlay2": ("overlay2.size",),
    "btrfs": ("btrfs.min_space",),
    "zfs": ("zfs.fsname",),
    "vfs": ("size", "vfs.xattrs"),
}


@check
def storage(ctx: RuleContext) -> Iterator[Finding]:
    driver = ctx.get("storage-driver") if ctx.has("storage-driver") else ""
    snapshotter = bool((ctx.cfg.features or {}).get("containerd-snapshotter"))
    if driver and not snapshotter:
        removed = REMOVED_STORAGE.get(driver)
        if removed is not None and ctx.engine >= removed:
            yield find(
                STORAGE,
                E,
                f'storage driver "{driver}" was removed in Engine {removed.short}; '
                f"{START}. Use overlay2 (migrating images means re-pulling them)",
                "storage-driver",
            )
        elif removed is not None:
            yield find(
                DEPRECATED,
                W,
                f'storage driver "{driver}" is deprecated and removed in Engine '
                f"{removed.short}; move to overlay2",
                "storage-driver",
            )
        elif driver not in STORAGE_DRIVERS:
            yield find(
                STORAGE,
                E,
                f'"{driver}" is not a storage driver (dockerd: driver not supported); '
                f"{START}. Use one of {', '.join(STORAGE_DRIVERS)}",
                "storage-driver",
            )
    if not ctx.has("storage-opts") or snapshotter:
        return
    known = STORAGE_OPTS.get(driver, ()) if driver else None
    for i, opt in enumerate(ctx.cfg.storage_opts or []):
        key, sep, _ = opt.partition("=")
        key = key.strip()
        if not sep:
            yield find(
                STORAGE,
                E,
                f'storage-opts entry "{opt}" must be key=value; {START} (unable to parse '
                "storage-opt key/value)",
                "storage-opts",
                i,
            )
            continue
        lookup = key if driver == "vfs" else key.lower()
        if key.lower() == "overlay2.override_kernel_check":
            yield find(
                STORAGE,
                E,
                f'"{key}" was removed in Engine 24.0 (overlay2: unknown option); '
                f"{START}. Remove it",
                "storage-opts",
                i,
            )
        elif known is not None and driver != "fuse-overlayfs" and lookup not in known:
            yield find(
                STORAGE,
                E,
                f'storage option "{key}" is unknown to the {driver} driver; {START}. '
                f"It knows: {', '.join(known) or 'no options'}",
                "storage-opts",
                i,
            )
        elif known is None and not any(lookup in opts for opts in STORAGE_OPTS.values()):
            yield find(
                STORAGE,
                E,
                f'storage option "{key}" is unknown to every storage driver; dockerd '
                f"refuses to start with whichever driver it picks",
                "storage-opts",
                i,
            )
