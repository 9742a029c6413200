"""A plan written out host by host: the ``-o`` plan file and the ``--format
json`` output are streamed, so a fleet's plan is never held a second time
as one string (or one dict) in memory."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from fleetcfg.plan.model import HostPlan, Plan


def _head(plan: Plan) -> dict[str, Any]:
    """The plan's fields other than its hosts, as JSON values."""
    head: dict[str, Any] = plan.model_dump(mode="json", exclude={"hosts"})
    return head


def plan_file_chunks(plan: Plan) -> Iterator[str]:
    """The plan file: the Plan model as indented JSON, a host at a time."""
    yield "{\n"
    for key, value in _head(plan).items():
        yield f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},\n"
    yield '  "hosts": ['
    for index, host in enumerate(plan.hosts):
        text = host.model_dump_json(indent=2).replace("\n", "\n    ")
        yield ("," if index else "") + "\n    " + text
    yield "\n  ]\n}\n"


def host_entry(host: HostPlan) -> dict[str, Any]:
    """A host in ``plan --format json``: its plan plus the changed key paths."""
    entry: dict[str, Any] = host.model_dump(mode="json")
    entry["changes"] = host.changes
    return entry


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_output_chunks(plan: Plan, summary: Mapping[str, Any]) -> Iterator[str]:
    """``plan --format json``: one line, a host at a time."""
    head = _head(plan)
    head["created_at"] = plan.created_at.isoformat()
    yield _compact(head)[:-1] + ("," if head else "") + '"hosts":['
    for index, host in enumerate(plan.hosts):
        yield ("," if index else "") + _compact(host_entry(host))
    yield '],"summary":' + _compact(summary) + "}\n"
