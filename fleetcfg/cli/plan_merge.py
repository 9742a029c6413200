"""``fleetcfg plan merge A.json B.json ...``: one plan from the JSON plans of
the shards of a fleet (``fleetcfg plan --shard K/N --format json``), e.g. in
the last job of a CI matrix.

Text output: the blocks of the hosts that change (as ``fleetcfg plan``
prints them), one line per shard, then the fleet's summary line. JSON: the
``plan --format json`` object of the whole fleet. Exit codes as ``plan``
(``--detailed-exitcode`` too); 1 when the inputs do not merge (a host in two
shards, shards planned from different repos, a file that is not a JSON plan).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fleetcfg import __version__
from fleetcfg.cli import plan_view
from fleetcfg.cli.output import stdout_console
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.plan.fleet import read_plan_json
from fleetcfg.plan.shards import merge_plan_outputs


def read_plan_output(path: Path) -> Any:
    """The decoded JSON of one shard's ``plan --format json`` output."""
    return read_plan_json(
        path,
        what="JSON plan",
        hint="save each shard's plan with fleetcfg plan --format json > FILE",
    )


def _shard_line(source: str, data: Any) -> str:
    hosts = data.get("hosts") or []
    shard = data.get("shard")
    label = f"shard {shard} ({source})" if shard else source
    summary = merge_plan_outputs([(source, data)], __version__).summary
    return f"{label}: {len(hosts)} hosts: {summary.line()}"


def merge_command(files: Sequence[Path], output_format: str, *, detailed: bool) -> ExitCode:
    """Run the command; returns the exit code (raises :class:`FleetcfgError`
    for a file that cannot be read or merged)."""
    documents = [(str(path), read_plan_output(path)) for path in files]
    merged = merge_plan_outputs(documents, __version__)
    if output_format == "json":
        plan_view.write_plan_json(merged, sys.stdout)
    else:
        console = stdout_console()
        lines = plan_view.plan_lines(merged)
        for text, style in lines[:-1]:
            console.print(text, style=style or None, markup=False, highlight=False)
        for source, data in documents:
            console.print(_shard_line(source, data), markup=False, highlight=False)
        text, style = lines[-1]
        console.print(text, style=style or None, markup=False, highlight=False)
    return plan_view.exit_code(merged, detailed=detailed)
