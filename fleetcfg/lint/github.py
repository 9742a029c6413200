"""GitHub Actions workflow commands: one annotation per finding.

``::error file=profiles/base.yaml.j2,line=27,col=3,title=FC012 logging::message``

GitHub shows them on the pull request's diff. Levels: error, warning, notice
(for info). Escaping follows the runner's rules: in the message ``%``, CR and
LF are percent-encoded; in property values ``:`` and ``,`` too. Paths are
relative to the folder lint ran in (the workspace in CI).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fleetcfg.core.findings import Finding, Severity
from fleetcfg.core.rules import get_rule
from fleetcfg.core.terminal import escape_controls
from fleetcfg.lint.report import hosts_suffix

_COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _relative(file: str, root: Path) -> str:
    path = Path(file)
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(root)
        except ValueError:
            return path.as_posix()
    return path.as_posix().removeprefix("./")


def _title(rule_id: str) -> str:
    try:
        return f"{rule_id} {get_rule(rule_id).name}"
    except KeyError:
        return rule_id


def annotation(f: Finding, root: Path) -> str:
    props: list[tuple[str, str]] = []
    if f.file is not None:
        props.append(("file", _relative(f.file, root)))
        if f.line is not None:
            props.append(("line", str(f.line)))
            if f.column is not None:
                props.append(("col", str(f.column)))
    props.append(("title", _title(f.rule)))
    # a file name is the repo's too: git stores escape sequences in one
    joined = ",".join(f"{k}={escape_property(escape_controls(v))}" for k, v in props)
    message = escape_controls(f.message + hosts_suffix(f, 5))
    return f"::{_COMMANDS[f.severity]} {joined}::{escape_data(message)}"


def format_github(findings: Sequence[Finding], *, root: Path | None = None) -> str:
    base = (root or Path.cwd()).resolve()
    lines = [annotation(f, base) for f in findings]
    return "\n".join(lines) + ("\n" if lines else "")
