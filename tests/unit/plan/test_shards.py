"""--shard K/N: stable slices of the fleet, and merging the shards' plans."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from fleetcfg.core.errors import PlanError, UsageError
from fleetcfg.plan.model import Action, HostPlan, Plan
from fleetcfg.plan.shards import Shard, merge_plan_outputs, shard_of


@dataclass(frozen=True)
class H:
    name: str


FLEET = [H(f"ci-{i:04d}") for i in range(1000)] + [H(f"dev-{c}") for c in "abcdefgh"]


@pytest.mark.parametrize("count", [1, 2, 3, 7, 16])
def test_every_host_is_in_exactly_one_shard(count: int) -> None:
    slices = [Shard(k, count).select(FLEET) for k in range(1, count + 1)]
    names = [h.name for s in slices for h in s]
    assert sorted(names) == sorted(h.name for h in FLEET)
    assert len(names) == len(set(names))


def test_shards_are_roughly_even() -> None:
    sizes = [len(Shard(k, 4).select(FLEET)) for k in range(1, 5)]
    assert min(sizes) > len(FLEET) / 4 * 0.8


def test_adding_or_removing_hosts_moves_no_other_host() -> None:
    before = {h.name: shard_of(h.name, 5) for h in FLEET}
    grown = [*FLEET, *(H(f"new-{i}") for i in range(50))]
    after = {h.name: shard_of(h.name, 5) for h in grown}
    assert all(after[name] == shard for name, shard in before.items())
    shrunk = {h.name: shard_of(h.name, 5) for h in FLEET[::2]}
    assert all(before[name] == shard for name, shard in shrunk.items())


def test_a_slice_keeps_the_selection_order() -> None:
    picked = Shard(2, 3).select(FLEET)
    assert picked == [h for h in FLEET if h in picked]


def test_the_slice_of_a_host_is_fixed_across_runs_and_machines() -> None:
    # sha256 of the name, not Python's per-process hash(): pinned values
    names = ("ci-0001", "ci-0002", "web-01", "web-02", "db-01")
    assert [shard_of(n, 4) for n in names] == [4, 4, 4, 1, 3]


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "1", "a/b", "1/4/2", "-1/4"])
def test_a_bad_shard_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="K/N"):
        Shard.parse(text)


def test_a_shard_parses_and_prints_as_k_of_n() -> None:
    assert Shard.parse(" 2/8 ") == Shard(2, 8)
    assert str(Shard(2, 8)) == "2/8"


# --------------------------------------------------------------------------
# merge


def output(*hosts: HostPlan, repo: str = "r" * 64) -> dict[str, Any]:
    """What `fleetcfg plan --format json` prints (the parts merge reads)."""
    plan = Plan(fleetcfg_version="0", inventory="inventory.yaml", repo_sha256=repo, hosts=[*hosts])
    entries = []
    for host in plan.hosts:
        entry = host.model_dump(mode="json")
        entry["changes"] = host.changes
        entries.append(entry)
    return {"inventory": plan.inventory, "repo_sha256": repo, "hosts": entries}


def host(name: str, action: Action, *, unreachable: bool = False) -> HostPlan:
    return HostPlan(host=name, action=action, unreachable=unreachable)


def test_merge_counts_every_shards_hosts_once() -> None:
    merged = merge_plan_outputs(
        [
            ("a.json", output(host("a1", Action.RELOAD), host("a2", Action.NONE))),
            ("b.json", output(host("b1", Action.RESTART))),
            ("c.json", output(host("c1", Action.ERROR, unreachable=True))),
        ],
        "0",
    )
    assert [h.host for h in merged.hosts] == ["a1", "a2", "b1", "c1"]
    summary = merged.summary
    assert (summary.reload, summary.restart, summary.unchanged, summary.unreachable) == (1, 1, 1, 1)


def test_merge_refuses_a_host_in_two_shards() -> None:
    with pytest.raises(PlanError, match=r"two shards: a.json and b.json") as caught:
        merge_plan_outputs(
            [
                ("a.json", output(host("x", Action.NONE))),
                ("b.json", output(host("x", Action.NONE))),
            ],
            "0",
        )
    assert caught.value.host == "x"


def test_merge_refuses_shards_planned_from_different_repos() -> None:
    with pytest.raises(PlanError, match="different repos"):
        merge_plan_outputs(
            [
                ("a.json", output(host("a", Action.NONE), repo="1" * 64)),
                ("b.json", output(host("b", Action.NONE), repo="2" * 64)),
            ],
            "0",
        )


def test_merge_names_the_file_that_is_not_a_plan_output() -> None:
    with pytest.raises(PlanError, match="no hosts list") as caught:
        merge_plan_outputs([("lint.json", {"findings": []})], "0")
    assert caught.value.file == "lint.json"
    with pytest.raises(PlanError, match=r"hosts\[0\]\.action") as caught:
        merge_plan_outputs([("bad.json", {"hosts": [{"host": "x", "action": "explode"}]})], "0")
    assert caught.value.file == "bad.json"
