"""Default ulimits (they break every container create when wrong)."""

from __future__ import annotations

from collections.abc import Iterator

from fleetcfg.core.findings import Finding
from fleetcfg.core.rules import (
    ULIMITS,
)
from fleetcfg.dockerd.checks.context import (
    EVERY_CONTAINER,
    E,
    RuleContext,
    W,
    check,
    find,
)

ULIMIT_NAMES = (
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
)


@check
def ulimits(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.has("default-ulimits"):
        return
    for key, ul in (ctx.cfg.default_ulimits or {}).items():
        loc = ("default-ulimits", key)
        if ul is None:
            yield find(ULIMITS, E, f'default ulimit "{key}" is null; {EVERY_CONTAINER}', *loc)
            continue
        name = ul.name if ul.name is not None else ""
        if name not in ULIMIT_NAMES:
            shown = f'"{name}"' if name else "missing"
            yield find(
                ULIMITS,
                E,
                f'default ulimit "{key}": Name is {shown}, not a ulimit type ('
                f"{', '.join(ULIMIT_NAMES)}); dockerd does not check it when it loads "
                f"the file, and then {EVERY_CONTAINER} (invalid ulimit type)",
                *loc,
            )
        elif name != key:
            yield find(
                ULIMITS,
                W,
                f'default ulimit "{key}" sets Name "{name}": dockerd applies it as '
                f'{name} (the map key only names the entry). Use "{name}" as the key '
                "too",
                *loc,
            )
        if ul.soft is not None and ul.hard is not None and ul.soft > ul.hard and ul.hard >= 0:
            yield find(
                ULIMITS,
                E,
                f'default ulimit "{key}": Soft {ul.soft} is above Hard {ul.hard}; '
                f"{EVERY_CONTAINER} (ulimit soft limit must be less than or equal to "
                "hard limit)",
                *loc,
            )
