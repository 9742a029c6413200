"""What the operator allows on the command line, never the inventory: a host
with ``connection: local`` (this machine) is reached only with
--allow-local-hosts (plan.access)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import app
from fleetcfg.core.errors import TransportError
from fleetcfg.host.transport.local import LocalTransport
from fleetcfg.host.transport.targets import SshTarget
from fleetcfg.plan.access import ALLOW_LOCAL_HOSTS, Access, open_transport
from tests.unit.inventory.repo import line_of, load_repo

#: the host sets connection: local itself
INVENTORY = """
defaults: {daemon_profile: base, ssh: {ssh_config_file: none}}
hosts:
  web-01: {address: 10.0.0.1}
  ws-8: {address: 127.0.0.1, connection: local}
"""
#: its group does
BY_GROUP = """
defaults: {daemon_profile: base}
groups:
  workstations:
    connection: local
    hosts: {ws-7: {}}
"""


class Recorder:
    def __init__(self) -> None:
        self.opened: list[str] = []

    def open(self, target: SshTarget) -> object:
        self.opened.append(target.host)
        return object()


@pytest.mark.parametrize(
    ("text", "host", "needle"),
    [(INVENTORY, "ws-8", "ws-8:"), (BY_GROUP, "ws-7", "connection: local")],
    ids=["host", "group"],
)
def test_a_local_host_is_refused_where_the_inventory_chose_it(
    tmp_path: Path, text: str, host: str, needle: str
) -> None:
    inventory = load_repo(tmp_path, text)
    connector = Recorder()
    with pytest.raises(TransportError) as caught:
        open_transport(inventory.host(host), connector, repo_root=tmp_path)  # type: ignore[arg-type]
    error = caught.value
    assert error.host == host and error.key == "connection"
    assert error.file is not None and Path(error.file).name == "inventory.yaml"
    assert error.line == line_of(tmp_path / "inventory.yaml", needle)
    assert "this machine" in error.message
    assert ALLOW_LOCAL_HOSTS in (error.hint or "") and f"--limit '!{host}'" in (error.hint or "")
    assert connector.opened == []


def test_the_operator_allows_local_hosts_and_ssh_hosts_need_nothing(tmp_path: Path) -> None:
    inventory = load_repo(tmp_path, INVENTORY)
    connector = Recorder()
    allowed = Access(local_hosts=True)
    opened = open_transport(inventory.host("ws-8"), connector, repo_root=tmp_path, access=allowed)  # type: ignore[arg-type]
    assert isinstance(opened, LocalTransport)
    open_transport(inventory.host("web-01"), connector, repo_root=tmp_path)  # type: ignore[arg-type]
    assert connector.opened == ["web-01"]


@pytest.mark.parametrize("command", ["plan", "apply", "rollback", "status"])
def test_every_command_that_reaches_hosts_takes_the_flag(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"], env={"NO_COLOR": "1", "COLUMNS": "200"})
    assert result.exit_code == 0
    assert ALLOW_LOCAL_HOSTS in result.stdout
