"""``fleetcfg lint``: the whole repo (no FILE arguments), or standalone files.

Exit codes: 0 no errors (warnings and info allowed), 1 errors, 2 usage error
(a missing inventory, a bad option).
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from fleetcfg.cli.common import FileKind, parse_engine
from fleetcfg.cli.exits import exits_on_error
from fleetcfg.cli.output import stdout_console
from fleetcfg.core.errors import FleetcfgError, UsageError
from fleetcfg.core.findings import Finding, Severity
from fleetcfg.core.rules import all_rules, get_rule, suggest_rule
from fleetcfg.core.terminal import escape_json_controls
from fleetcfg.core.versions import DEFAULT_ENGINE
from fleetcfg.inventory import find_inventory
from fleetcfg.lint import report
from fleetcfg.lint.files import lint_file
from fleetcfg.lint.github import format_github
from fleetcfg.lint.repo import RepoReport, lint_repo
from fleetcfg.lint.sarif import format_sarif


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"
    github = "github"


#: problems of inventory.yaml itself (its lint settings do not apply to them)
_LOADING_RULES = frozenset(f"FC05{n}" for n in range(6))
_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def _list_rules() -> None:
    for rule in all_rules():
        typer.echo(f"{rule.id}  {rule.severity.value:<7}  {rule.name:<24}  {rule.summary}")


def _explain(rule_id: str) -> None:
    if rule_id.lower() == "all":
        _list_rules()
        return
    try:
        rule = get_rule(rule_id)
    except KeyError:
        raise UsageError(
            f"unknown rule {rule_id!r}",
            hint=suggest_rule(rule_id) or "fleetcfg lint --explain all lists every rule",
        ) from None
    typer.echo(f"{rule.id} {rule.name} ({rule.severity.value} by default): {rule.summary}\n")
    typer.echo(rule.explanation)
    if rule.id in _LOADING_RULES:
        typer.echo("\nThis is a problem of inventory.yaml itself: it cannot be disabled.")
        return
    other = "warning" if rule.severity is Severity.ERROR else "error"
    typer.echo(
        "\nIn a repo, disable or re-grade it in inventory.yaml: "
        f"lint: {{disable: [{rule.id}]}} or lint: {{severity: {{{rule.id}: {other}}}}}"
    )


def _print_text(findings: list[Finding], repo: RepoReport | None, files: int) -> None:
    console = stdout_console()
    for f in findings:
        line = report.text_line(f)
        if console.is_terminal:
            loc, _, rest = line.partition(f": {f.rule} ")
            console.print(
                f"[bold]{_esc(loc)}[/]: {f.rule} [{_STYLE[f.severity]}]{_esc(rest)}[/]",
                highlight=False,
            )
        else:
            console.print(line, markup=False, highlight=False)
    # always, also in CI logs (stdout not a terminal)
    if repo is not None:
        summary = report.summary_line(findings, hosts=repo.hosts, files=repo.documents)
    else:
        summary = report.summary_line(findings, files=files)
    console.print(summary, markup=False, highlight=False)


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _lint_files(
    files: list[Path], kind: FileKind | None, engine_version: str | None
) -> list[Finding]:
    engine = parse_engine(engine_version) or DEFAULT_ENGINE
    findings: list[Finding] = []
    for path in files:
        findings.extend(lint_file(path, kind=(kind or FileKind.daemon).value, engine=engine))
    return findings


def _lint_repo(
    inventory: Path | None, kind: FileKind | None, engine_version: str | None
) -> RepoReport:
    for given, option in ((kind, "--kind"), (engine_version, "--engine-version")):
        if given is not None:
            raise UsageError(
                f"{option} applies to FILE arguments; the repo lint renders each host's "
                "profiles for the engine_version inventory.yaml gives it"
            )
    # FLEETCFG_INVENTORY is read here, not as the option's envvar: it must not
    # count as --inventory next to FILE arguments
    return lint_repo(find_inventory(inventory or os.environ.get("FLEETCFG_INVENTORY")))


def _internal_error(exc: Exception, output: OutputFormat) -> NoReturn:
    """Report a bug in lint itself: one line on stderr, exit 1, and for
    ``-f sarif`` a valid log that says the run failed (code scanning must not
    read it as "no findings")."""
    detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    message = f"internal error, lint did not finish: {detail} (a bug in fleetcfg: please report it)"
    if output is OutputFormat.sarif:
        typer.echo(format_sarif([], failure=message), nl=False)
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    @app.command("lint")
    @exits_on_error
    def lint(
        files: Annotated[
            list[Path] | None,
            typer.Argument(help="daemon.json / config.json files; none: lint the repo"),
        ] = None,
        *,
        inventory: Annotated[
            Path | None,
            typer.Option(
                "--inventory",
                "-i",
                help="the repo's inventory.yaml, or its folder (default: $FLEETCFG_INVENTORY, "
                "else the nearest inventory.yaml here or above)",
            ),
        ] = None,
        kind: Annotated[
            FileKind | None,
            typer.Option("--kind", "-k", help="what the FILE arguments are (default daemon)"),
        ] = None,
        engine_version: Annotated[
            str | None,
            typer.Option(
                "--engine-version",
                help=f"the Docker Engine version FILE arguments are for (default {DEFAULT_ENGINE})",
            ),
        ] = None,
        output: Annotated[
            OutputFormat,
            typer.Option("--format", "-f", help="text, json, sarif (code scanning), github"),
        ] = OutputFormat.text,
        explain: Annotated[
            str | None,
            typer.Option(
                "--explain",
                metavar="RULE",
                help="explain a rule, by id or name (all: list every rule) and exit",
            ),
        ] = None,
    ) -> None:
        """Lint the repo (inventory.yaml, profiles/, every host's rendered daemon.json
        and config.json), or standalone files. Exit 0: no errors; 1: errors; 2: usage."""
        repo: RepoReport | None = None
        try:
            if explain:
                _explain(explain)
                return
            if files:
                if inventory is not None:
                    raise UsageError("give FILE arguments or --inventory, not both")
                findings = _lint_files(files, kind, engine_version)
            else:
                repo = _lint_repo(inventory, kind, engine_version)
                findings = repo.findings
        except FleetcfgError:
            raise  # exits_on_error reports it
        except Exception as exc:  # a bug: one line and exit 1, never a traceback
            _internal_error(exc, output)
        # JSON escapes for the controls a terminal acts on (the same JSON values)
        if output is OutputFormat.json:
            typer.echo(escape_json_controls(report.format_json(findings)), nl=False)
        elif output is OutputFormat.sarif:
            typer.echo(escape_json_controls(format_sarif(findings)), nl=False)
        elif output is OutputFormat.github:
            typer.echo(format_github(findings), nl=False)
        else:
            _print_text(findings, repo, len(files or ()))
        raise typer.Exit(report.exit_code(findings))
