"""Rendering many hosts: shared work, identical results."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetcfg.core.errors import FleetcfgError
from fleetcfg.inventory import load_inventory
from fleetcfg.render import Renderer
from fleetcfg.render.templates import TemplateSet
from tests.unit.inventory.repo import write_repo

PROFILE = """
labels: ["role={{ role }}"]
metrics-addr: "{{ address }}:9323"
"""


class CountingTemplates(TemplateSet):
    """A TemplateSet that counts how often a template is really rendered."""

    renders = 0

    def render(self, *args: Any, **kwargs: Any) -> tuple[str, list[int]]:
        CountingTemplates.renders += 1
        return super().render(*args, **kwargs)


def fleet(n: int, extra: str = "") -> str:
    hosts = "\n".join(
        f"      h{i}: {{address: 10.0.{i // 250}.{i % 250 + 1}{extra}}}" for i in range(n)
    )
    return f"""
defaults:
  daemon_profile: base
  vars: {{role: web}}
groups:
  web:
    hosts:
{hosts}
"""


def counting_renderer(path: Path) -> Renderer:
    renderer = Renderer(load_inventory(path))
    CountingTemplates.renders = 0
    renderer.templates.__class__ = CountingTemplates
    return renderer


def test_hosts_that_differ_only_in_a_printed_address_share_one_render(tmp_path: Path) -> None:
    renderer = counting_renderer(write_repo(tmp_path, fleet(50), {"base.yaml.j2": PROFILE}))
    results = [renderer.render(h) for h in renderer.inventory.hosts.values()]
    assert CountingTemplates.renders == 1
    assert results[7].to_json_dict()["metrics-addr"] == "10.0.0.8:9323"
    assert results[49].to_json_dict()["metrics-addr"] == "10.0.0.50:9323"


def test_variables_a_template_does_not_read_do_not_cause_renders(tmp_path: Path) -> None:
    hosts = "\n".join(
        f"  h{i}: {{address: 10.0.0.{i + 1}, vars: {{unused: u{i}, role: {'db' if i == 3 else 'web'}}}}}"
        for i in range(20)
    )
    inventory = f"defaults: {{daemon_profile: base}}\nhosts:\n{hosts}\n"
    profile = 'labels: ["role={{ role | upper }}"]\n'
    renderer = counting_renderer(write_repo(tmp_path, inventory, {"base.yaml.j2": profile}))
    for host in renderer.inventory.hosts.values():
        renderer.render(host)
    assert CountingTemplates.renders == 2  # role=web and role=db
    assert renderer.render("h3").to_json_dict()["labels"] == ["role=DB"]


TRICKY = [
    "ci-01",
    "10.0.0.1",
    "2375",
    "true",
    "null",
    "1e3",
    "0o17",
    "~",
    "-x",
    "a:b",
    "x y",
    "#c",
    "2024-01-01",
    "a,b",
    "[x]",
    "",
]

POSITIONS = """
plain: {{ v }}
quoted: "{{ v }}"
{{ v }}-key: 1
list: [{{ v }}]
twice: {{ v }}{{ v }}
"""


def outcome(renderer: Renderer, host: str) -> str:
    try:
        return json.dumps(renderer.render(host).data, sort_keys=True, default=str)
    except FleetcfgError as exc:
        return f"error: {type(exc).__name__}"


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(TRICKY) | st.text("ab1.:-_ #", max_size=6), min_size=1, max_size=4))
def test_printed_variables_come_out_as_if_each_host_were_rendered_alone(values: list[str]) -> None:
    hosts = "\n".join(
        f"  h{i}: {{address: 10.0.0.{i + 1}, vars: {{v: {json.dumps(v)}}}}}"
        for i, v in enumerate(values)
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = write_repo(
            Path(tmp),
            f"defaults: {{daemon_profile: base}}\nhosts:\n{hosts}\n",
            {"base.yaml.j2": POSITIONS},
        )
        shared = Renderer(load_inventory(path))
        alone = Renderer(load_inventory(path), placeholders=False)
        for i in range(len(values)):
            assert outcome(shared, f"h{i}") == outcome(alone, f"h{i}"), values[i]
