"""Files on the machine plan runs on that the repo under review may name
(inventory.yaml's ssh.identity_file and ssh_config_file): read only when
they are regular files of bounded size, never waited on or read forever."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleetcfg.core.errors import UsageError
from fleetcfg.host.transport.ssh import SshConnector
from fleetcfg.host.transport.ssh.auth import KeyCache
from fleetcfg.host.transport.targets import SshTarget


def special(tmp_path: Path, kind: str) -> str:
    if kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
        return str(path)
    return {"zero": "/dev/zero", "stdin": "/dev/stdin"}[kind]


@pytest.mark.parametrize("kind", ["zero", "fifo", "stdin"])
def test_an_identity_file_that_is_not_a_file_is_a_problem_not_a_hang(
    tmp_path: Path, kind: str
) -> None:
    # the attack: `identity_file: /dev/zero` in a pull request's inventory,
    # and paramiko read it whole until the memory ran out
    key, problem = KeyCache().load(special(tmp_path, kind))
    assert key is None and problem == "not a regular file"


def test_an_identity_file_past_the_bound_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "id_huge"
    with path.open("wb") as handle:
        handle.truncate(64 << 20)  # sparse: 64 MiB of zeros
    key, problem = KeyCache().load(str(path))
    assert key is None and problem is not None and "larger than 1 MiB" in problem


@pytest.mark.parametrize("kind", ["zero", "fifo", "stdin"])
def test_an_ssh_config_file_that_is_not_a_file_is_a_usage_error_not_a_hang(
    tmp_path: Path, kind: str
) -> None:
    path = special(tmp_path, kind)
    with SshConnector() as connector, pytest.raises(UsageError) as caught:
        connector._ssh_config(SshTarget(host="web1", ssh_config_file=path))
    assert caught.value.message == f"cannot read ssh_config file {path}: not a regular file"


def test_an_ssh_config_that_does_not_parse_is_named_without_its_content(tmp_path: Path) -> None:
    # the attack: `ssh_config_file: /etc/shadow` in a pull request's
    # inventory: paramiko's parse error quoted the line, and plan printed
    # root's password hash
    shadow = tmp_path / "shadow"
    shadow.write_text("root:$6$s4lt$S3CRETHASH:19000:0:99999:7:::\n")
    with SshConnector() as connector, pytest.raises(UsageError) as caught:
        connector._ssh_config(SshTarget(host="web1", ssh_config_file=str(shadow)))
    assert caught.value.message == (
        f"cannot read ssh_config file {shadow}: line 1 is not an ssh_config setting"
    )
    assert "S3CRET" not in str(caught.value)
