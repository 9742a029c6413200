"""ssh_config files that live in the repo are scanned for commands, never
trusted to run them (issue 10): the scanner, and open_transport's refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcfg.core.errors import TransportError
from fleetcfg.host.transport.repo_ssh_config import ssh_config_commands
from fleetcfg.host.transport.targets import SshTarget
from fleetcfg.inventory import load_inventory
from fleetcfg.plan.access import Access, open_transport
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


@pytest.mark.parametrize(
    "text",
    [
        # paramiko reads lines that only \n ends, and its \s takes every
        # Unicode space: str.splitlines() broke this line at the separator
        *(
            f"Host *\n  ProxyCommand{space}touch PWNED\n"
            for space in ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
        ),
        # paramiko splits a Match line like a shell (shlex): quotes vanish
        'Match "exec" "touch PWNED"\n',
        "Match ex'ec' 'touch PWNED'\n",
        "Match !\"exec\" 'touch PWNED'\n",
        # paramiko runs a quoted "none" (only none itself means no command)
        'Host *\n  ProxyCommand "none"\n',
    ],
)
def test_commands_paramiko_would_run_are_found_however_they_are_written(text: str) -> None:
    assert ssh_config_commands(text) != []


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
        access=Access(trust_repo_ssh_config=True),
    )
    assert len(connector.opened) == 1


@pytest.mark.parametrize(
    ("text", "directive"),
    [
        ("Host *\n  ProxyJump bastion\n  ProxyCommand\x0btouch PWNED\n", "ProxyCommand"),
        ('Host *\n  ProxyJump bastion\nMatch "exec" "touch PWNED"\n', "Match exec"),
    ],
    ids=["vertical-tab", "quoted-exec"],
)
def test_open_transport_refuses_a_command_written_to_slip_past_a_line_reader(
    tmp_path: Path, text: str, directive: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # both ran on the plan machine: paramiko read the command that the
    # scanner, reading lines and words its own way, did not see
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "ssh.conf"
    inventory = inventory_with(tmp_path, "ssh.conf", config)
    config.write_text(text)
    connector = Recorder()
    caught = refused(inventory, connector, tmp_path)
    assert caught.line == 3 and directive in caught.message
    assert connector.opened == []


def test_a_relative_path_is_checked_against_the_repo_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    repo = tmp_path / "repo"
    inventory = inventory_with(repo, "ssh.conf", repo / "ssh.conf")
    refused(inventory, Recorder(), repo)


def test_an_ssh_config_the_inventory_names_outside_its_folder_is_checked_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the attack: in a monorepo the inventory lives in infra/, and the same
    # pull request adds ci/ssh_config with a ProxyCommand, named as
    # ../ci/ssh_config: it ran on the plan machine (outside infra/, it was
    # taken for the operator's own file)
    checkout = tmp_path / "checkout"
    monkeypatch.chdir(checkout.parent)
    inventory = inventory_with(
        checkout / "infra", "checkout/ci/ssh_config", checkout / "ci" / "ssh_config"
    )
    connector = Recorder()
    caught = refused(inventory, connector, checkout / "infra")
    assert "is named by the repo's inventory and its Match exec (line 3)" in caught.message
    assert connector.opened == []


def test_the_operators_own_ssh_config_is_used_also_when_the_inventory_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    own = home / ".ssh" / "config"
    connector = Recorder()
    for setting in ("~/.ssh/config", str(own)):
        inventory = inventory_with(tmp_path / "repo", setting, own)
        open_transport(
            inventory.host("web-01"),  # type: ignore[attr-defined]
            connector,  # type: ignore[arg-type]
            repo_root=tmp_path / "repo",
        )
    assert len(connector.opened) == 2


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
