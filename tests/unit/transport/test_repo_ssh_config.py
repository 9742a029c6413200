"""ssh_config files that live in the repo are scanned for commands, never
trusted to run them (issue 10): the scanner, and open_transport's refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcfg.core.errors import TransportError
from fleetcfg.host.transport.repo_ssh_config import ssh_config_commands
from fleetcfg.host.transport.targets import SshTarget
from fleetcfg.inventory import load_inventory
from fleetcfg.plan.fleet import open_transport
from tests.unit.inventory.repo import write_repo


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('Host *\n  ProxyCommand sh -c "id > PWNED; exec nc %h %p"\n', [(2, "ProxyCommand")]),
        ("Host *\n  proxycommand=nc %h %p\n", [(2, "ProxyCommand")]),
        ("Host *\n\tLocalCommand touch x\n", [(2, "LocalCommand")]),
        ("KnownHostsCommand /bin/x %H\n", [(1, "KnownHostsCommand")]),
        ('Match host web exec "touch x"\n', [(1, "Match exec")]),
        ("Match !exec true\n", [(1, "Match exec")]),
        ("Match exec=true\n", [(1, "Match exec")]),
        ("Host *\n  ProxyCommand none\n  ProxyJump bastion\n", []),
        ("# ProxyCommand nc %h %p\nHost exec\n  HostName exec.example.com\n", []),
    ],
)
def test_commands_in_ssh_config_are_found_by_reading_it(
    text: str, found: list[tuple[int, str]]
) -> None:
    assert ssh_config_commands(text) == found


class Recorder:
    def __init__(self) -> None:
        self.opened: list[SshTarget] = []

    def open(self, target: SshTarget) -> object:
        self.opened.append(target)
        return object()


INVENTORY = """
defaults:
  daemon_profile: base
  ssh: {ssh_config_file: SSH_CONFIG}
hosts:
  web-01: {address: 10.0.0.1}
"""


def inventory_with(tmp_path: Path, setting: str, config: Path) -> object:
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('Host *\n  ProxyJump bastion\nMatch exec "touch PWNED"\n')
    return load_inventory(write_repo(tmp_path, INVENTORY.replace("SSH_CONFIG", setting)))


def refused(inventory: object, connector: Recorder, repo: Path) -> TransportError:
    """The error open_transport refuses web-01 of ``inventory`` with."""
    with pytest.raises(TransportError) as caught:
        open_transport(
            inventory.host("web-01"),  # type: ignore[attr-defined]
            connector,  # type: ignore[arg-type]
            repo_root=repo,
        )
    return caught.value


@pytest.mark.parametrize("setting", ["ssh.conf", "ABSOLUTE"])
def test_open_transport_refuses_a_repo_ssh_config_that_runs_commands(
    tmp_path: Path, setting: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "ssh.conf"
    inventory = inventory_with(tmp_path, str(config) if setting == "ABSOLUTE" else setting, config)
    connector = Recorder()
    caught = refused(inventory, connector, tmp_path)
    assert caught.line == 3 and "Match exec" in caught.message
    assert "--trust-repo-ssh-config" in (caught.hint or "")
    assert connector.opened == []
    open_transport(
        inventory.host("web-01"),  # type: ignore[attr-defined]
        connector,  # type: ignore[arg-type]
        repo_root=tmp_path,
        trust_repo_ssh_config=True,
    )
    assert len(connector.opened) == 1


def test_a_relative_path_is_checked_against_the_repo_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    repo = tmp_path / "repo"
    inventory = inventory_with(repo, "ssh.conf", repo / "ssh.conf")
    refused(inventory, Recorder(), repo)


def test_an_ssh_config_outside_the_repo_is_the_operators_and_is_used(tmp_path: Path) -> None:
    own = tmp_path / "home" / ".ssh" / "config"
    inventory = inventory_with(tmp_path / "repo", str(own), own)
    connector = Recorder()
    open_transport(
        inventory.host("web-01"),  # type: ignore[attr-defined]
        connector,  # type: ignore[arg-type]
        repo_root=tmp_path / "repo",
    )
    assert len(connector.opened) == 1


def test_a_repo_ssh_config_too_large_to_check_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # git keeps gigabytes of one repeated byte in a blob of megabytes: a pull
    # request can add one; commands past the first MiB would go unseen
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "ssh.conf"
    inventory = inventory_with(tmp_path, "ssh.conf", config)
    with config.open("r+b") as handle:
        handle.truncate(2 << 30)  # sparse: 2 GiB
    connector = Recorder()
    caught = refused(inventory, connector, tmp_path)
    assert "larger than 1 MiB" in caught.message and "not checked for commands" in caught.message
    assert connector.opened == []
