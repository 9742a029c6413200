"""Versions, deprecations, and fields dockerd ignores."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

from fleetcfg.core.findings import Finding
from fleetcfg.core.jsondoc import Loc, format_loc
from fleetcfg.core.rules import (
    DEPRECATED,
    ENGINE_VERSION,
    IGNORED_KEY,
    INVALID_VALUE,
)
from fleetcfg.core.versions import EngineVersion
from fleetcfg.dockerd.base import Key, v
from fleetcfg.dockerd.checks.context import (
    INFO,
    START,
    E,
    RuleContext,
    W,
    check,
    find,
)
from fleetcfg.dockerd.daemon import (
    _Nested,
    key_metadata,
)


@functools.cache
def _deprecated() -> dict[str, tuple[Key, EngineVersion]]:
    """The deprecated keys (in the model's order) and since when."""
    return {
        key: (meta, meta.deprecated_since)
        for key, meta in key_metadata().items()
        if meta.deprecated_since is not None
    }


@check
def deprecated_keys(ctx: RuleContext) -> Iterator[Finding]:
    for key, (meta, since) in _deprecated().items():
        if not ctx.has(key) or ctx.engine < since:
            continue
        if key == "allow-nondistributable-artifacts" and ctx.at_least("28.1"):
            yield find(
                IGNORED_KEY,
                W,
                '"allow-nondistributable-artifacts" has no effect from Engine 28.1 '
                "(non-distributable layers are always pushed); remove it",
                key,
            )
            continue
        if key == "api-cors-header" and ctx.at_least("28.0"):
            continue  # reported by the key check or as an empty no-op below
        yield find(
            DEPRECATED,
            W,
            f'"{key}" is deprecated since Engine {since.short}: {meta.deprecated_hint}',
            key,
        )


@check
def builder_gc_policy(ctx: RuleContext) -> Iterator[Finding]:
    """Engine 26.1 parses every GC policy's keepStorage at start, even when
    it is missing; an enabled GC with such a policy stops the daemon."""
    gc = ctx.cfg.builder.gc if ctx.has("builder") and ctx.cfg.builder else None
    if gc is None or gc.enabled is not True or ctx.engine >= v("27.0"):
        return
    for i, policy in enumerate(gc.policy or []):
        if not policy.keep_storage:
            yield find(
                INVALID_VALUE,
                E,
                f"builder GC policy {i} has no keepStorage; Engine {ctx.engine.short} parses it "
                f"when it starts and {START} (invalid size: ''). Set keepStorage, e.g. \"10GB\"",
                "builder",
                "gc",
                "policy",
                i,
            )


@check
def api_cors_header(ctx: RuleContext) -> Iterator[Finding]:
    # 28.x still knows the key (29.0 does not) but refuses any non-empty value
    if ctx.get("api-cors-header") and ctx.has("api-cors-header") and ctx.at_least("28.0"):
        yield find(
            ENGINE_VERSION,
            E,
            '"api-cors-header" was removed in Engine 28.0; it refuses to start with a value '
            "(DEPRECATED: ... use a reverse proxy if you need CORS headers). Remove it and put "
            "a reverse proxy in front of the API if you need CORS",
            "api-cors-header",
        )


def _nested_extras(model: object, loc: Loc) -> Iterator[tuple[Loc, str]]:
    if isinstance(model, _Nested):
        for extra in model.model_extra or {}:
            yield (*loc, extra), extra
        for name, info in type(model).model_fields.items():
            yield from _nested_extras(getattr(model, name), (*loc, info.alias or name))
    elif isinstance(model, dict):
        for key, child in model.items():
            yield from _nested_extras(child, (*loc, key))
    elif isinstance(model, list):
        for index, child in enumerate(model):
            yield from _nested_extras(child, (*loc, index))


_BUILDER_28 = {
    "defaultReservedSpace",
    "defaultMaxUsedSpace",
    "defaultMinFreeSpace",
    "reservedSpace",
    "maxUsedSpace",
    "minFreeSpace",
}


def _runtime_args(loc: Loc, raw: Mapping[str, Any]) -> Finding:
    """``runtimes.NAME.args``: ``nvidia-ctk runtime configure`` writes
    ``"args": []`` itself (removing it is futile: it comes back)."""
    runtime = raw.get("runtimes", {}).get(loc[1])
    value = runtime.get(loc[2]) if isinstance(runtime, dict) else None
    if value == []:
        return find(
            IGNORED_KEY,
            INFO,
            f'"{format_loc(loc)}" is ignored by dockerd and harmless: nvidia-ctk '
            "runtime configure writes it (dockerd's field is runtimeArgs)",
            *loc,
        )
    return find(
        IGNORED_KEY,
        W,
        f'"{format_loc(loc)}" is ignored by dockerd: its arguments are never passed to '
        f'the runtime. Rename it to "runtimeArgs"',
        *loc,
    )


@check
def ignored_nested_fields(ctx: RuleContext) -> Iterator[Finding]:
    """dockerd silently ignores unknown fields inside nested objects."""
    for key in ("default-ulimits", "runtimes", "default-address-pools", "builder"):
        if not ctx.has(key):
            continue
        value = getattr(ctx.cfg, key.replace("-", "_"))
        for loc, _name in _nested_extras(value, (key,)):
            if key == "runtimes" and len(loc) == 3 and str(loc[2]).lower() == "args":
                yield _runtime_args(loc, ctx.raw)
                continue
            yield find(
                IGNORED_KEY,
                W,
                f'"{format_loc(loc)}" is not a field dockerd knows here; it ignores it '
                "(nested field names are matched case-insensitively, and unknown ones "
                "are dropped). Check the spelling or remove it",
                *loc,
            )
    if ctx.has("builder") and ctx.engine < v("28.0"):
        gc = ctx.cfg.builder.gc if ctx.cfg.builder else None
        if gc is not None:
            for name in sorted(_BUILDER_28 & set(gc.set_aliases())):
                yield find(
                    IGNORED_KEY,
                    W,
                    f'"builder.gc.{name}" was added in Engine 28.0; Engine '
                    f"{ctx.engine.short} ignores it (use defaultKeepStorage / "
                    "keepStorage)",
                    "builder",
                    "gc",
                    name,
                )
            for i, policy in enumerate(gc.policy or []):
                for name in sorted(_BUILDER_28 & set(policy.set_aliases())):
                    yield find(
                        IGNORED_KEY,
                        W,
                        f'"builder.gc.policy[{i}].{name}" was added in Engine 28.0; '
                        f"Engine {ctx.engine.short} ignores it (use keepStorage)",
                        "builder",
                        "gc",
                        "policy",
                        i,
                        name,
                    )
