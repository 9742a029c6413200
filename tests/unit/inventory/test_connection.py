"""ssh and connection settings at every level, mapped onto the transport targets."""

from __future__ import annotations

from pathlib import Path

from fleetcfg.host.transport.targets import LocalTarget, SshTarget
from tests.unit.inventory.repo import load_repo

FLEET = """
defaults:
  ssh:
    user: root
    port: 22
    identity_file: ~/.ssh/id_ed25519
    known_hosts: ~/.ssh/known_hosts
    connect_timeout: 10
groups:
  site:
    children: [site-dmz]
    ssh:
      user: deploy
      become: true
      proxy_jump: bastion.example.com
  site-dmz:
    ssh:
      port: 2222
      proxy_jump: [jump@bastion.example.com, dmz-gw:2200]
    hosts:
      dmz-01: {address: 192.0.2.10}
      dmz-02:
        address: 192.0.2.11
        ssh: {identity_file: [~/.ssh/dmz, ~/.ssh/id_ed25519], accept_new_host_keys: true}
  laptops:
    connection: local
    hosts:
      me: {address: 127.0.0.1, ssh: {become: true, command_timeout: 300}}
hosts:
  plain: {address: 198.51.100.7}
"""


def test_defaults_give_every_host_its_ssh_target(tmp_path: Path) -> None:
    target = load_repo(tmp_path, FLEET).host("plain").target()
    assert target == SshTarget(
        host="plain",
        address="198.51.100.7",
        port=22,
        user="root",
        identity_files=("~/.ssh/id_ed25519",),
        known_hosts_file="~/.ssh/known_hosts",
        connect_timeout=10,
    )


def test_parent_group_child_group_and_host_ssh_settings_layer(tmp_path: Path) -> None:
    inv = load_repo(tmp_path, FLEET)
    dmz1 = inv.host("dmz-01").target()
    assert isinstance(dmz1, SshTarget)
    assert (dmz1.user, dmz1.port, dmz1.become) == ("deploy", 2222, True)
    assert dmz1.proxy_jump == ("jump@bastion.example.com", "dmz-gw:2200")
    assert dmz1.known_hosts_file == "~/.ssh/known_hosts"
    dmz2 = inv.host("dmz-02").target()
    assert isinstance(dmz2, SshTarget)
    assert dmz2.identity_files == ("~/.ssh/dmz", "~/.ssh/id_ed25519")
    assert dmz2.accept_new_host_keys is True
    assert dmz2.port == 2222


def test_a_comma_separated_proxy_jump_is_a_list_of_hops(tmp_path: Path) -> None:
    inv = load_repo(tmp_path, "hosts:\n  h: {ssh: {proxy_jump: 'a, b:2222'}}\n")
    target = inv.host("h").target()
    assert isinstance(target, SshTarget)
    assert target.proxy_jump == ("a", "b:2222")


def test_unset_ssh_settings_stay_unset_for_ssh_config_to_fill(tmp_path: Path) -> None:
    target = load_repo(tmp_path, "hosts:\n  h: {address: 10.0.0.1}\n").host("h").target()
    assert target == SshTarget(host="h", address="10.0.0.1")


def test_connection_local_from_a_group_gives_a_local_target(tmp_path: Path) -> None:
    inv = load_repo(tmp_path, FLEET)
    assert inv.host("me").connection == "local"
    assert inv.host("me").target() == LocalTarget(host="me", become=True, command_timeout=300)


def test_a_host_can_switch_back_to_ssh(tmp_path: Path) -> None:
    inv = load_repo(
        tmp_path,
        """
        defaults:
          connection: local
        hosts:
          remote: {address: 10.0.0.5, connection: ssh}
        """,
    )
    assert isinstance(inv.host("remote").target(), SshTarget)
