"""How SSH settings resolve: inventory beats ssh_config beats defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcfg.core.errors import UsageError
from fleetcfg.host.transport.ssh import ssh_config_lookup
from fleetcfg.host.transport.targets import (
    DEFAULT_COMMAND_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT,
    JumpSpec,
    SshTarget,
    resolve_ssh_target,
)

HOME = Path("/home/alice")

SSH_CONFIG = """
Host web1
    HostName 10.0.0.11
    User deploy
    Port 2222
    IdentityFile ~/.ssh/web_ed25519
    UserKnownHostsFile ~/.ssh/fleet_known_hosts

Host 10.9.*
    ProxyJump bastion

Host bastion
    HostName bastion.example.com
    User jump
    IdentityFile ~/.ssh/bastion_key

Host inner
    HostName 172.16.0.5
    ProxyJump outer

Host outer
    HostName 203.0.113.7
    ProxyJump gateway:2200

Host loop-a
    ProxyJump loop-b
Host loop-b
    ProxyJump loop-a

Host web1 other
    ConnectTimeout 4
    StrictHostKeyChecking accept-new
    IdentitiesOnly yes
"""


@pytest.fixture(autouse=True)
def _home(monkeypatch: pytest.MonkeyPatch) -> None:
    # paramiko expands ~ in ssh_config with the process's HOME
    monkeypatch.setenv("HOME", str(HOME))


def resolve(target: SshTarget, config: str = SSH_CONFIG, **kwargs: object):
    return resolve_ssh_target(
        target,
        ssh_config_lookup(config),
        home=HOME,
        local_user="alice",
        environ=kwargs.pop("environ", {"SSH_AUTH_SOCK": "/tmp/agent.sock"}),  # type: ignore[arg-type]
    )


def test_ssh_config_fills_in_what_the_inventory_leaves_unset() -> None:
    resolved = resolve(SshTarget(host="web1"))
    ep = resolved.endpoint
    assert (ep.hostname, ep.port, ep.user) == ("10.0.0.11", 2222, "deploy")
    assert ep.identity_files == ("/home/alice/.ssh/web_ed25519",)
    assert ep.known_hosts_files == ("/home/alice/.ssh/fleet_known_hosts",)
    assert resolved.connect_timeout == 4
    assert resolved.accept_new_host_keys is True


def test_inventory_settings_win_over_ssh_config() -> None:
    target = SshTarget(
        host="web1",
        port=22,
        user="root",
        identity_files=("/keys/fleet",),
        known_hosts_file="/tmp/kh",
        connect_timeout=30,
        accept_new_host_keys=False,
    )
    resolved = resolve(target)
    ep = resolved.endpoint
    assert (ep.port, ep.user) == (22, "root")
    assert ep.identity_files == ("/keys/fleet",)
    assert ep.known_hosts_files == ("/tmp/kh",)
    assert resolved.connect_timeout == 30
    assert resolved.accept_new_host_keys is False


def test_explicit_address_is_used_and_ssh_config_is_looked_up_by_it() -> None:
    # like `ssh 10.9.0.4`: the Host web1 block does not apply, Host 10.9.* does
    resolved = resolve(SshTarget(host="web1", address="10.9.0.4"))
    assert resolved.endpoint.hostname == "10.9.0.4"
    assert resolved.endpoint.user == "alice"
    assert [j.hostname for j in resolved.jumps] == ["bastion.example.com"]


def test_defaults_apply_without_any_configuration() -> None:
    resolved = resolve(SshTarget(host="db1"), config="", environ={})
    ep = resolved.endpoint
    assert (ep.hostname, ep.port, ep.user) == ("db1", 22, "alice")
    assert ep.use_default_keys and ep.identity_files == ()
    assert ep.use_agent is False  # no SSH_AUTH_SOCK
    assert ep.known_hosts_files[0] == "/home/alice/.ssh/known_hosts"
    assert resolved.jumps == ()
    assert resolved.connect_timeout == DEFAULT_CONNECT_TIMEOUT
    assert resolved.command_timeout == DEFAULT_COMMAND_TIMEOUT
    assert resolved.accept_new_host_keys is False


def test_only_default_known_hosts_may_be_created_by_accept_new() -> None:
    assert resolve(SshTarget(host="db1"), config="").endpoint.known_hosts_default
    assert not resolve(SshTarget(host="web1")).endpoint.known_hosts_default  # ssh_config's
    named = SshTarget(host="db1", known_hosts_file="/tmp/kh")
    assert not resolve(named, config="").endpoint.known_hosts_default  # the inventory's
    default = SshTarget(host="db1", known_hosts_file="~/.ssh/known_hosts")
    assert resolve(default, config="").endpoint.known_hosts_default  # named, but the default


def test_paths_expand_home_but_no_other_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the attack: `known_hosts: /tmp/kh-$AWS_SECRET_ACCESS_KEY` in a pull
    # request's inventory made plan print the secret of the machine it ran on
    # (in the unknown-key hint, `ssh-keyscan ... >> PATH`)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-secret")
    target = SshTarget(
        host="db1",
        known_hosts_file="/tmp/kh-$AWS_SECRET_ACCESS_KEY",
        identity_files=("${AWS_SECRET_ACCESS_KEY}/id", "$HOME/.ssh/id_fleet", "${HOME}/k"),
    )
    config = "Host db1\n    GlobalKnownHostsFile /etc/$AWS_SECRET_ACCESS_KEY\n"
    ep = resolve(target, config=config).endpoint
    assert ep.known_hosts_files == ("/tmp/kh-$AWS_SECRET_ACCESS_KEY",)
    assert ep.identity_files == (
        "${AWS_SECRET_ACCESS_KEY}/id",
        "/home/alice/.ssh/id_fleet",
        "/home/alice/k",
    )
    assert ep.global_known_hosts_files == ("/etc/$AWS_SECRET_ACCESS_KEY",)
    assert "wJalrXUtnFEMI" not in repr(ep)


def test_agent_is_used_when_ssh_auth_sock_is_set_unless_identities_only() -> None:
    assert resolve(SshTarget(host="db1")).endpoint.use_agent is True
    assert resolve(SshTarget(host="other")).endpoint.use_agent is False
    assert resolve(SshTarget(host="other", use_agent=True)).endpoint.use_agent is True


def test_jump_hosts_get_their_own_ssh_config_settings() -> None:
    resolved = resolve(SshTarget(host="app", address="10.9.1.1", identity_files=("/k/app",)))
    (bastion,) = resolved.jumps
    assert (bastion.hostname, bastion.user, bastion.port) == ("bastion.example.com", "jump", 22)
    assert bastion.identity_files == ("/home/alice/.ssh/bastion_key",)
    assert bastion.label == "jump host bastion"


def test_jump_hosts_without_their_own_key_use_the_targets_identity_files() -> None:
    target = SshTarget(host="app", proxy_jump=("ops@gw:2022",), identity_files=("/k/app",))
    (hop,) = resolve(target).jumps
    assert (hop.hostname, hop.user, hop.port) == ("gw", "ops", 2022)
    assert hop.identity_files == ("/k/app",)


def test_proxy_jump_of_the_first_hop_is_followed_like_openssh() -> None:
    resolved = resolve(SshTarget(host="inner"))
    assert [(j.hostname, j.port) for j in resolved.jumps] == [
        ("gateway", 2200),
        ("203.0.113.7", 22),
    ]
    assert resolved.endpoint.hostname == "172.16.0.5"


def test_explicit_empty_proxy_jump_forces_a_direct_connection() -> None:
    assert resolve(SshTarget(host="app", address="10.9.0.1", proxy_jump=())).jumps == ()


def test_a_proxy_jump_loop_is_reported() -> None:
    with pytest.raises(UsageError, match="ProxyJump"):
        resolve(SshTarget(host="loop-a"))


def test_ssh_config_none_disables_the_file() -> None:
    resolved = resolve_ssh_target(SshTarget(host="web1"), None, home=HOME, local_user="alice")
    assert resolved.endpoint.hostname == "web1"


def test_known_hosts_name_uses_brackets_for_other_ports() -> None:
    assert resolve(SshTarget(host="web1")).endpoint.known_hosts_name == "[10.0.0.11]:2222"
    assert resolve(SshTarget(host="db1")).endpoint.known_hosts_name == "db1"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("bastion", JumpSpec("bastion")),
        ("ops@bastion", JumpSpec("bastion", "ops")),
        ("ops@bastion:2222", JumpSpec("bastion", "ops", 2222)),
        ("ssh://ops@bastion:2222", JumpSpec("bastion", "ops", 2222)),
        ("[2001:db8::1]:22", JumpSpec("2001:db8::1", None, 22)),
        ("2001:db8::1", JumpSpec("2001:db8::1")),
    ],
)
def test_proxy_jump_hops_parse_like_openssh(spec: str, expected: JumpSpec) -> None:
    assert JumpSpec.parse(spec) == expected


@pytest.mark.parametrize("spec", ["", "ops@", "host:port", "host:70000", "a b"])
def test_bad_proxy_jump_hops_are_usage_errors_naming_the_host(spec: str) -> None:
    with pytest.raises(UsageError) as info:
        JumpSpec.parse(spec, owner="web1")
    assert info.value.host == "web1"


def test_invalid_target_settings_are_rejected_early() -> None:
    with pytest.raises(UsageError, match="port"):
        SshTarget(host="web1", port=0)
    with pytest.raises(UsageError, match="command_timeout"):
        SshTarget(host="web1", command_timeout=0)
