"""Plan output at fleet scale: hosts whose changes are identical share one
block (one diff, then the hosts, abbreviated), so 800 hosts with the same
change print one diff, not 800. ``--verbose`` and ``--format json`` keep one
block per host."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fleetcfg.plan.model import HostPlan

Line = tuple[str, str]  # (text, rich style)

#: host names shown in a group's header before "and N more"
SHOWN_NAMES = 5


def abbreviated(names: list[str], shown: int = SHOWN_NAMES) -> str:
    """``a, b, c, d, e and 795 more`` (every name when there are few)."""
    if len(names) <= shown + 1:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"


def grouped_lines(hosts: Iterable[HostPlan], block: Callable[[HostPlan], list[Line]]) -> list[Line]:
    """The blocks of ``hosts`` (``block(host)``: its header line, then the
    body), hosts with the same body merged into one block whose header names
    them all, in the order of each group's first host."""
    groups: dict[tuple[Line, ...], tuple[list[HostPlan], list[Line]]] = {}
    for host in hosts:
        lines = block(host)
        if not lines:
            continue
        body = tuple(lines[1:])
        group = groups.setdefault(body, ([], lines))
        group[0].append(host)
    out: list[Line] = []
    for members, lines in groups.values():
        if len(members) == 1:
            out.extend(lines)
            continue
        header, style = lines[0]
        state = header.rpartition(": ")[2]
        names = abbreviated([h.host for h in members])
        out.append((f"# {len(members)} hosts ({names}): {state}", style))
        out.extend(lines[1:])
    return out
