"""``fleetcfg render HOST``: print the target config of one host, or explain
where each of its settings comes from."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape

from fleetcfg.cli.common import FileKind, LimitOption
from fleetcfg.cli.exits import exits_on_error
from fleetcfg.cli.output import plain_text, stderr_console
from fleetcfg.core.errors import FleetcfgError, UsageError
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.core.findings import Finding, Severity, has_errors
from fleetcfg.core.secrets import SecretRegistry
from fleetcfg.core.terminal import escape_json_controls, one_line
from fleetcfg.inventory import DEFAULT_INVENTORY, Host, Inventory, load_inventory
from fleetcfg.render import Kind, RenderedConfig, Renderer
from fleetcfg.render.surface import SurfaceFile, render_surface


def _finding_line(finding: Finding) -> str:
    where = ":".join(str(p) for p in (finding.file, finding.line, finding.column) if p is not None)
    path = f" {finding.path}:" if finding.path else ""
    return one_line(f"{where}: {finding.severity.value} {finding.rule}{path} {finding.message}")


def _show(value: Any, secrets: SecretRegistry) -> str:
    if value is None:
        return "(not set)"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return secrets.mask(text)


def explain_lines(
    host: Host, inventory: Inventory, secrets: SecretRegistry, chains: list[str]
) -> list[str]:
    """The ``--explain`` report: every setting and variable of ``host``, the
    layer that set it, where, and its value (masked)."""
    rows = [
        (name, origin.layer, str(origin.location or "-"), _show(value, secrets))
        for name, value, origin in host.explain()
    ]
    header = ("SETTING", "SET BY", "WHERE", "VALUE")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    lines = [
        f"host {host.name} ({host.location})",
        f"inventory: {inventory.display}",
        f"groups: {', '.join(host.groups) or '(none)'}",
        *chains,
        "",
    ]
    for row in [header, *rows]:
        lines.append("  ".join([*(row[i].ljust(widths[i]) for i in range(3)), row[3]]))
    return lines


def register(app: typer.Typer) -> None:
    @app.command("render")
    @exits_on_error
    def render(
        host: Annotated[
            str | None, typer.Argument(help="inventory name of the host", metavar="[HOST]")
        ] = None,
        *,
        kind: Annotated[
            FileKind,
            typer.Option(
                "--kind", "-k", help="daemon: /etc/docker/daemon.json; client: config.json"
            ),
        ] = FileKind.daemon,
        user: Annotated[
            str | None,
            typer.Option("--user", "-u", help="client user (--kind client; default: the first)"),
        ] = None,
        inventory_path: Annotated[
            str,
            typer.Option(
                "--inventory",
                "-i",
                help="inventory file; profiles/ is next to it",
                envvar="FLEETCFG_INVENTORY",
            ),
        ] = DEFAULT_INVENTORY,
        explain: Annotated[
            bool,
            typer.Option("--explain", help="show every setting, its value and where it is set"),
        ] = False,
        show_secrets: Annotated[
            bool,
            typer.Option("--show-secrets", help="print env()/file() values and credentials"),
        ] = False,
        surface: Annotated[
            bool,
            typer.Option(
                "--surface",
                help="print HOST's other files (certs.d, unit drop-ins, buildkitd.toml) "
                "instead; a key file shows its size and keyed digest only",
            ),
        ] = False,
        limit: LimitOption = None,
        output: Annotated[
            str | None,
            typer.Option(
                "--output",
                "-o",
                help="write the whole file tree (rootfs/ + manifest.json) of HOST or of "
                "the --limit hosts, which must render identically, into this folder",
                metavar="DIR",
            ),
        ] = None,
        engine_versions: Annotated[
            list[str] | None,
            typer.Option(
                "--engine-version",
                help="with --limit/-o: also validate for this Engine version (repeatable)",
            ),
        ] = None,
    ) -> None:
        """Print the target config of HOST (canonical JSON, secrets masked).

        With --limit (hosts or a group) or -o DIR: the whole file tree those hosts
        get (daemon.json, each client user's config.json) for an image build: -o
        writes it with its modes plus a manifest; without -o the manifest is
        printed. Hosts that do not render identically are refused, key by key."""
        if limit or output is not None:
            if host is not None and limit:
                raise UsageError("give HOST or --limit, not both")
            if explain or show_secrets or user is not None or kind is not FileKind.daemon:
                raise UsageError("--limit/-o render every file: drop --kind, --user, --explain")
            from fleetcfg.cli.tree_cmd import render_tree_command

            render_tree_command(
                inventory_path, limit or [host or ""], output, engine_versions or []
            )
            return
        if host is None:
            raise UsageError("give a HOST, or --limit GROUP|HOST (with -o DIR)")
        inventory = load_inventory(inventory_path)
        target = inventory.host(host)
        renderer = Renderer(inventory)
        if surface:
            if explain or user is not None or kind is not FileKind.daemon:
                raise UsageError(
                    "--surface prints every other file: drop --kind, --user, --explain"
                )
            _print_surface(renderer, target)
            return
        kind_name: Kind = "client" if kind is FileKind.client else "daemon"
        rendered: RenderedConfig | FleetcfgError
        try:
            rendered = renderer.render(target, kind_name, user)
        except FleetcfgError as exc:
            rendered = exc
        if explain:
            chain = (
                " -> ".join(f"{p.name} ({p.display})" for p in rendered.profiles)
                if isinstance(rendered, RenderedConfig)
                else "(not rendered)"
            )
            for line in explain_lines(
                target, inventory, renderer.secrets, [f"{kind_name} profile: {chain}"]
            ):
                typer.echo(plain_text(one_line(line)))
        if isinstance(rendered, FleetcfgError):
            raise rendered
        findings = sorted(rendered.findings, key=Finding.sort_key)
        console = stderr_console()
        for finding in findings:
            style = "red" if finding.severity is Severity.ERROR else "yellow"
            console.print(f"[{style}]{escape(_finding_line(finding))}[/]", highlight=False)
        if has_errors(findings):
            raise typer.Exit(ExitCode.ERROR)
        if not explain:
            # the same JSON, with the controls a terminal acts on as \\u escapes
            typer.echo(
                escape_json_controls(rendered.canonical_json(show_secrets=show_secrets)), nl=False
            )
            if kind_name == "daemon":
                files = render_surface(renderer, target, rendered).files
                for line in surface_summary(files, target.name):
                    console.print(escape(line), highlight=False, style="dim")


def surface_summary(files: tuple[SurfaceFile, ...], host: str) -> list[str]:
    """The note under daemon.json that names the host's other files."""
    if not files:
        return []
    lines = [f"# {host} also gets (fleetcfg render {host} --surface prints them):"]
    lines += [f"#   {f.path} ({f.mode:04o}, {f.action.label} on change)" for f in files]
    return lines


def _print_surface(renderer: Renderer, host: Host) -> None:
    """Every surface file of ``host``: a header, then its content (a secret
    file: its size and keyed digest only); findings on stderr."""
    daemon: RenderedConfig | None = None
    if host.daemon_profile is not None:
        try:
            daemon = renderer.render(host, "daemon")
        except FleetcfgError:
            daemon = None
    result = render_surface(renderer, host, daemon)
    console = stderr_console()
    for finding in result.findings:
        style = "red" if finding.severity is Severity.ERROR else "yellow"
        console.print(f"[{style}]{escape(_finding_line(finding))}[/]", highlight=False)
    for file in result.files:
        typer.echo(f"==> {file.path} ({file.mode:04o} root:root, {file.action.label} on change)")
        typer.echo(plain_text(renderer.mask(file.display_text())), nl=False)
    if not result.files:
        console.print(f"{host.name} has no other files (no registries with certificates)")
    if has_errors(result.findings):
        raise typer.Exit(ExitCode.ERROR)
