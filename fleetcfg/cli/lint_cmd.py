"""``fleetcfg lint``: standalone files (FILE arguments) or the whole repo."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from fleetcfg.cli.common import FileKind, parse_engine
from fleetcfg.cli.output import fail_usage, print_error, stdout_console
from fleetcfg.errors import FleetcfgError, UsageError
from fleetcfg.findings import Finding, Severity
from fleetcfg.lint import report
from fleetcfg.lint.files import lint_file
from fleetcfg.rules import all_rules, get_rule
from fleetcfg.versions import DEFAULT_ENGINE


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def _explain(rule_id: str) -> None:
    try:
        rule = get_rule(rule_id)
    except KeyError:
        known = ", ".join(r.id for r in all_rules())
        raise UsageError(f"unknown rule {rule_id!r}; rules are {known}") from None
    typer.echo(f"{rule.id} {rule.name} ({rule.severity.value} by default): {rule.summary}\n")
    typer.echo(rule.explanation)


def _print_text(findings: list[Finding]) -> None:
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
    if console.is_terminal:
        console.print(report.summary_line(findings), markup=False, highlight=False)


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def register(app: typer.Typer) -> None:
    @app.command("lint")
    def lint(
        files: Annotated[
            list[Path] | None,
            typer.Argument(help="daemon.json / config.json files; none: lint the repo"),
        ] = None,
        kind: Annotated[
            FileKind, typer.Option("--kind", "-k", help="what the FILE arguments are")
        ] = FileKind.daemon,
        engine_version: Annotated[
            str | None,
            typer.Option("--engine-version", help="target Docker Engine version (default 28.x)"),
        ] = None,
        output: Annotated[
            OutputFormat, typer.Option("--format", "-f", help="output format")
        ] = OutputFormat.text,
        explain: Annotated[
            str | None, typer.Option("--explain", metavar="RULE", help="explain a rule and exit")
        ] = None,
    ) -> None:
        """Lint daemon.json / config.json files. Exit 0: no errors; 1: errors; 2: usage."""
        try:
            if explain:
                _explain(explain)
                return
            engine = parse_engine(engine_version) or DEFAULT_ENGINE
            if not files:
                raise UsageError("give one or more files to lint (repo lint: see issue #3)")
            findings: list[Finding] = []
            for path in files:
                findings.extend(lint_file(path, kind=kind.value, engine=engine))
        except UsageError as exc:
            fail_usage(exc)
        except FleetcfgError as exc:
            print_error(exc)
            raise typer.Exit(exc.exit_code) from None
        if output is OutputFormat.json:
            typer.echo(report.format_json(findings), nl=False)
        else:
            _print_text(findings)
        raise typer.Exit(report.exit_code(findings))
