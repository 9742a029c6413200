"""Grouping identical plan blocks (fleetcfg.cli.plan_groups)."""

from __future__ import annotations

from fleetcfg.cli.plan_groups import abbreviated, grouped_lines
from fleetcfg.plan.model import Action, HostPlan


def host(name: str, action: Action = Action.RESTART) -> HostPlan:
    return HostPlan(host=name, address=name, action=action)


def block(body: str):
    def lines(h: HostPlan) -> list[tuple[str, str]]:
        if h.action is Action.NONE:
            return []
        return [(f"# {h.host}: restart", "bold"), (f"  {body}", ""), ("", "")]

    return lines


def test_800_hosts_with_one_change_print_one_block_with_the_hosts_abbreviated() -> None:
    hosts = [host(f"ci-{n:03d}") for n in range(800)]
    lines = grouped_lines(hosts, block("~ live-restore: false -> true"))
    assert lines == [
        ("# 800 hosts (ci-000, ci-001, ci-002, ci-003, ci-004 and 795 more): restart", "bold"),
        ("  ~ live-restore: false -> true", ""),
        ("", ""),
    ]


def test_different_changes_keep_their_own_blocks_in_order_and_unchanged_hosts_none() -> None:
    def lines(h: HostPlan) -> list[tuple[str, str]]:
        return block("a" if h.host.startswith("a") else "b")(h)

    hosts = [host("a-1"), host("b-1"), host("a-2"), host("quiet", Action.NONE)]
    texts = [text for text, _ in grouped_lines(hosts, lines)]
    assert texts == ["# 2 hosts (a-1, a-2): restart", "  a", "", "# b-1: restart", "  b", ""]


def test_a_few_names_are_all_shown() -> None:
    assert abbreviated(["a", "b", "c", "d", "e", "f"]) == "a, b, c, d, e, f"
    assert abbreviated([f"h{n}" for n in range(7)]) == "h0, h1, h2, h3, h4 and 2 more"
