"""OCI runtimes and default-runtime (checked at start and on reload)."""

from __future__ import annotations

from collections.abc import Iterator

from fleetcfg.core.findings import Finding
from fleetcfg.core.rules import (
    RUNTIMES,
)
from fleetcfg.dockerd.checks.context import (
    START,
    E,
    RuleContext,
    check,
    find,
)


def _shim_name(name: str) -> bool:
    """containerd's shim.BinaryName accepts any name with a dot and a non-empty
    first part (io.containerd.kata.v2, but also foo.bar); no paths."""
    head, dot, _ = name.partition(".")
    return bool(dot and head and "/" not in name)


STOCK_RUNTIMES = ("runc", "io.containerd.runc.v2")


@check
def runtimes(ctx: RuleContext) -> Iterator[Finding]:
    defined: set[str] = set()
    if ctx.has("runtimes"):
        for name, rt in (ctx.cfg.runtimes or {}).items():
            loc = ("runtimes", name)
            defined.add(name)
            if name == "runc":
                yield find(
                    RUNTIMES,
                    E,
                    f"the runtime name 'runc' is reserved; {START}. Give it another name "
                    "(runc is always available)",
                    *loc,
                )
                continue
            if rt is None or (not rt.path and not rt.runtime_type):
                yield find(
                    RUNTIMES,
                    E,
                    f'runtime "{name}" needs either "path" (an OCI runtime binary) or '
                    f'"runtimeType" (a containerd shim); {START}',
                    *loc,
                )
                continue
            if rt.path and rt.runtime_type:
                yield find(
                    RUNTIMES,
                    E,
                    f'runtime "{name}" sets both "path" and "runtimeType"; {START}. Keep one',
                    *loc,
                )
            elif rt.path and rt.options:
                yield find(
                    RUNTIMES,
                    E,
                    f'runtime "{name}": "options" go with runtimeType, not with path; '
                    f'{START}. Use "runtimeArgs" for a path runtime',
                    *loc,
                    "options",
                )
            elif rt.runtime_type and rt.runtime_args:
                yield find(
                    RUNTIMES,
                    E,
                    f'runtime "{name}": "runtimeArgs" go with path, not with '
                    f'runtimeType; {START}. Use "options" for a shim',
                    *loc,
                    "runtimeArgs",
                )
    default = ctx.get("default-runtime")
    if (
        ctx.has("default-runtime")
        and default
        and "runtimes" not in ctx.invalid
        and default not in defined
        and default not in STOCK_RUNTIMES
        and not _shim_name(default)
    ):
        names = ", ".join(sorted(defined | set(STOCK_RUNTIMES)))
        yield find(
            RUNTIMES,
            E,
            f"default-runtime '{default}' is not defined (dockerd: specified default "
            f"runtime '{default}' does not exist); {START}. Define it in "
            f'"runtimes" or use one of: {names}',
            "default-runtime",
        )
