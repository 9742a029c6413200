"""The plan views: what ``fleetcfg plan`` (and ``apply``, before it asks, and
``plan merge``) prints (pure functions from a :class:`~fleetcfg.plan.model.Plan`
to lines, except :func:`print_plan` and :func:`write_plan_json`), and the plan's
exit code.

Text: a block per host that changes or needs attention (the semantic diff of
each file first, then its text diff, then why this action, warnings and
errors; hosts with identical changes share one block), then a summary line.
JSON (``--format json``): one object on one line, written host by host.
"""

from __future__ import annotations

import io
import json
from typing import Any, TextIO

from rich.console import Console

from fleetcfg.cli.plan_groups import grouped_lines
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.core.terminal import escape_json_controls, one_line
from fleetcfg.plan.model import Action, FileKind, FilePlan, HostPlan, Plan
from fleetcfg.plan.streams import json_output_chunks

Line = tuple[str, str]  # (text, rich style)

_ACTION_WORDS = {
    Action.NONE: "no changes",
    Action.WRITE: "write (no reload or restart)",
    Action.RELOAD: "reload",
    Action.RESTART: "restart",
    Action.ERROR: "error",
}
_ACTION_STYLE = {
    Action.NONE: "",
    Action.WRITE: "cyan",
    Action.RELOAD: "yellow",
    Action.RESTART: "bold magenta",
    Action.ERROR: "bold red",
}
_CHANGE_STYLE = {"+": "green", "-": "red", "~": "yellow", "=": "dim"}


def _file_header(f: FilePlan) -> Line:
    who = f" ({f.user})" if f.kind is FileKind.CLIENT and f.user else ""
    notes: list[str] = []
    if f.live_sha256 is None:
        notes.append("new file")
        if not f.parent_exists:
            notes.append("its folder is created")
    elif f.live_mode is not None and (f.live_mode, f.live_owner, f.live_group) != (
        f.mode,
        f.owner,
        f.group,
    ):
        notes.append(
            f"{f.live_mode:04o} {f.live_owner}:{f.live_group} -> {f.mode:04o} {f.owner}:{f.group}"
        )
    if f.credentials:
        shown = any(n.endswith(f"-> {f.mode:04o} {f.owner}:{f.group}") for n in notes)
        notes.append("holds credentials" if shown else f"holds credentials: {f.mode:04o}")
    if f.remove:
        notes = ["removed"]
    symbol = "-" if f.remove else "+" if f.live_sha256 is None else "~"
    extra = f" [{', '.join(notes)}]" if notes else ""
    return f"  {symbol} {f.path}{who}{extra}", "bold"


def host_lines(host: HostPlan) -> list[Line]:
    """The block of one host (empty for an unchanged host with nothing to say)."""
    if host.action is Action.NONE and not host.warnings and not host.errors:
        return []
    address = f" ({host.address})" if host.address and host.address != host.host else ""
    state = "unreachable" if host.unreachable else _ACTION_WORDS[host.action]
    if host.action is Action.RESTART and host.daemon_reload:
        state = "daemon-reload + restart"
    if host.recreate_builder and host.action is not Action.ERROR:
        state += " + builder recreation"
    lines: list[Line] = [(f"# {host.host}{address}: {state}", _ACTION_STYLE[host.action])]
    for f in host.files:
        if not f.changed:
            continue
        lines.append(_file_header(f))
        for change in f.changes:
            lines.append((f"      {change.display}", _CHANGE_STYLE.get(change.display[:1], "")))
        if f.text_diff:
            lines.append(("", ""))
            for text in f.text_diff.splitlines():
                style = ""
                if text.startswith(("+++", "---")):
                    style = "bold"
                elif text.startswith("@@"):
                    style = "cyan"
                elif text.startswith("+"):
                    style = "green"
                elif text.startswith("-"):
                    style = "red"
                lines.append((f"      {text}", style))
    # each reason, warning and error on one line (a value it quotes may hold a newline)
    for reason in host.reasons:
        lines.append((f"  {one_line(reason)}", "dim"))
    for warning in host.warnings:
        lines.append((f"  warning: {one_line(warning)}", "yellow"))
    for error in host.errors:
        lines.append((f"  error: {one_line(error)}", "red"))
    lines.append(("", ""))
    return lines


def summary_line(plan: Plan) -> str:
    summary = plan.summary
    if not plan.hosts:
        return "No hosts to plan."
    changes = summary.reload + summary.restart + summary.write
    if not changes and not summary.error and not summary.unreachable:
        noun = "host matches" if summary.unchanged == 1 else "hosts match"
        return f"No changes. {summary.unchanged} {noun} the configuration."
    return f"Plan: {summary.line()}."


def plan_lines(plan: Plan, *, per_host: bool = False) -> list[Line]:
    """The whole text report: host blocks (hosts with identical changes in
    one block unless ``per_host``), then the summary line."""
    lines: list[Line] = []
    if per_host:
        for host in plan.hosts:
            lines.extend(host_lines(host))
    else:
        lines.extend(grouped_lines(plan.hosts, host_lines))
    lines.append((summary_line(plan), "bold"))
    return lines


def summary_json(plan: Plan) -> dict[str, Any]:
    """The ``summary`` object of ``--format json``: the counts and the line."""
    summary = plan.summary.model_dump(mode="json")
    summary["line"] = summary_line(plan)
    return summary


def write_plan_json(plan: Plan, out: TextIO) -> None:
    """The ``--format json`` object, on one line, written host by host
    (host text's control characters as JSON escapes: it may go to a terminal)."""
    for chunk in json_output_chunks(plan, summary_json(plan)):
        out.write(escape_json_controls(chunk))
    out.flush()


def plan_json(plan: Plan) -> dict[str, Any]:
    """The ``--format json`` object."""
    buffer = io.StringIO()
    write_plan_json(plan, buffer)
    data: dict[str, Any] = json.loads(buffer.getvalue())
    return data


def print_plan(plan: Plan, console: Console, *, per_host: bool = False) -> None:
    """Print :func:`plan_lines` (colours only on a terminal)."""
    for text, style in plan_lines(plan, per_host=per_host):
        console.print(text, style=style or None, markup=False, highlight=False)


def exit_code(plan: Plan, *, detailed: bool) -> ExitCode:
    """0 / 1 (errors or unreachable hosts); with ``detailed``: 0 no changes,
    2 changes, 1 errors."""
    summary = plan.summary
    if summary.error or summary.unreachable:
        return ExitCode.ERROR
    if detailed and summary.reload + summary.restart + summary.write:
        return ExitCode.CHANGES
    return ExitCode.OK
