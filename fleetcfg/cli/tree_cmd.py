"""``fleetcfg render --limit GROUP|HOST [-o DIR]``: the one file tree a host or
a group gets (for image builds), and what ``fleetcfg cloud-init`` builds on.

Without ``-o`` it prints the manifest (no secret in it), so a reviewer can see
whether a group renders identically without writing anything."""

from __future__ import annotations

from collections.abc import Sequence

import typer
from rich.markup import escape

from fleetcfg.cli.common import parse_engine
from fleetcfg.cli.output import stderr_console
from fleetcfg.core.errors import FleetcfgError, UsageError
from fleetcfg.core.versions import EngineVersion
from fleetcfg.inventory import Inventory, load_inventory
from fleetcfg.plan.fleet import lint_settings
from fleetcfg.plan.repohash import combine, lookup_digests
from fleetcfg.plan.tree import (
    Tree,
    build_manifest,
    combine_trees,
    manifest_json,
    render_tree,
)
from fleetcfg.plan.tree_output import write_tree
from fleetcfg.render import Renderer


def selection_text(limit: Sequence[str]) -> str:
    return "--limit " + ",".join(limit)


def load_tree(
    inventory_path: str, limit: Sequence[str], engine_versions: Sequence[str] = ()
) -> tuple[Inventory, Tree, str]:
    """Load the inventory, render every host ``limit`` selects, and return
    the one tree they share (warnings printed on stderr) and the repo's
    sha256 (over the repo files those renders read too). Raises
    :class:`FleetcfgError` on errors."""
    engines: list[EngineVersion] = []
    for text in engine_versions:
        engine = parse_engine(text)
        if engine is not None:
            engines.append(engine)
    inventory = load_inventory(inventory_path)
    hosts = inventory.select(limit)
    selection = selection_text(limit)
    if not hosts:
        raise UsageError(f"{selection} selects no host in {inventory.display}")
    renderer = Renderer(inventory)
    lint = lint_settings(inventory)
    trees = [render_tree(renderer, host, lint=lint, engines=engines) for host in hosts]
    tree = combine_trees(trees, selection)
    console = stderr_console()
    for warning in tree.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    return inventory, tree, combine(lookup_digests(inventory, renderer.lookups))


def render_tree_command(
    inventory_path: str,
    limit: Sequence[str],
    output: str | None,
    engine_versions: Sequence[str],
) -> None:
    """``render --limit ... [-o DIR]``."""
    _, tree, repo_hash = load_tree(inventory_path, limit, engine_versions)
    manifest = build_manifest(tree, selection=list(limit), repo_sha256=repo_hash)
    if output is None:
        typer.echo(manifest_json(manifest), nl=False)
        return
    try:
        written = write_tree(tree, manifest, output)
    except OSError as exc:
        raise FleetcfgError(f"cannot write {output}: {exc.strerror or exc}") from None
    engines = ", ".join(manifest["engine_versions"])
    stderr_console().print(
        escape(
            f"wrote {written}: {len(tree.files)} files for {len(tree.hosts)} hosts "
            f"(validated for Engine {engines}); manifest: {written / 'manifest.json'}"
        ),
        highlight=False,
    )
