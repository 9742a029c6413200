"""`fleetcfg cloud-init` and docker.service's proxy drop-in: systemd loads a
unit's drop-ins when it starts and on daemon-reload only, so the drop-in is
written by bootcmd (before write_files, once per instance) followed by
`systemctl daemon-reload`, and the boot check asks systemd and dockerd whether
it is in effect. The boot commands are played as cloud-init runs them, in a
temporary root, with a fake systemctl that loads drop-ins as systemd does."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import app
from fleetcfg.dockerd.dropin import DROPIN_PATH, ENV_FILE_PATH
from fleetcfg.plan.cloudinit import BOOT_UNITS_NAME, boot_check_program, masked_like_dockerd
from tests.fakes.cloudinit import (
    bootcmd_files,
    load_cloud_config,
    play_bootcmd,
    play_write_files,
)
from tests.unit.image.test_cloud_init import FAKE_DOCKER, SCHEMA
from tests.unit.inventory.repo import write_repo

PASSWORD = "p@ss w%rd"
INVENTORY = """
secrets: {env: [PROXY_PASSWORD]}
defaults:
  daemon_profile: base
  engine_version: "20.10"
  proxy:
    http: http://svc@proxy.corp.example.com:3128
    https: http://svc@proxy.corp.example.com:3128
    password_env: PROXY_PASSWORD
    no_proxy: [localhost, .corp.example.com]
groups:
  runners:
    hosts:
      ci-01: {address: 10.0.0.1}
      ci-02: {address: 10.0.0.2}
"""
PROFILES = {"base.yaml.j2": 'registry-mirrors: ["https://mirror.example.com"]\n'}
ENV = {"PROXY_PASSWORD": PASSWORD, "NO_COLOR": "1"}

#: systemctl as systemd behaves for docker.service's drop-ins: it knows the
#: ones on disk at its start (the empty state: a fresh image) and at each
#: daemon-reload, never those written since
FAKE_SYSTEMCTL = r"""#!/bin/sh
dir="$FLEETCFG_ROOT/etc/systemd/system/docker.service.d"
on_disk() { find "$dir" -name '*.conf' -printf '%p %T@ %s\n' 2>/dev/null | sort; }
loaded() { cat "$FAKE_SYSTEMD/loaded" 2>/dev/null || true; }
case $1 in
daemon-reload)
    echo daemon-reload >>"$FAKE_SYSTEMD/calls"
    on_disk >"$FAKE_SYSTEMD/loaded"
    ;;
start)
    echo start >>"$FAKE_SYSTEMD/calls"
    loaded >"$FAKE_SYSTEMD/started-with"
    ;;
show)
    case "$*" in
    *NeedDaemonReload*)
        if [ "$(on_disk)" = "$(loaded)" ]; then echo no; else echo yes; fi
        ;;
    *DropInPaths*)
        loaded | sed "s#^$FLEETCFG_ROOT##; s# .*##" | tr '\n' ' ' | sed 's/ $//'
        echo
        ;;
    esac
    ;;
*) exit 1 ;;
esac
"""
#: cloud-init's cloud-init-per, its semaphores under the root
FAKE_CLOUD_INIT_PER = r"""#!/bin/sh
freq=$1
name=$(echo "$2" | sed 's/-/_/g')
shift 2
sem="$FLEETCFG_ROOT/var/lib/cloud/instances/$INSTANCE_ID/sem/bootper.$name.$freq"
mkdir -p "${sem%/*}"
[ "$freq" != always ] && [ -e "$sem" ] && exit 0
"$@"
ret=$?
printf '%s\t%s\n' "$ret" "$(date +%s)" >"$sem"
exit $ret
"""

runner = CliRunner()


def document_for(tmp_path: Path, *args: str) -> dict[str, Any]:
    inv = write_repo(tmp_path / "repo", INVENTORY, PROFILES)
    out = tmp_path / "user-data"
    result = runner.invoke(
        app, ["cloud-init", "--limit", "runners", "-i", str(inv), "-o", str(out), *args], env=ENV
    )
    assert result.exit_code == 0, result.stderr
    return load_cloud_config(out.read_text())


def rendered_dropin(tmp_path: Path, path: str = DROPIN_PATH) -> bytes:
    """What ``render -o`` gives for ``path``: the drop-in, or the environment
    file it names (the proxy password's)."""
    out = tmp_path / "tree"
    inv = tmp_path / "repo/inventory.yaml"
    result = runner.invoke(
        app, ["render", "--limit", "runners", "-o", str(out), "-i", str(inv)], env=ENV
    )
    assert result.exit_code == 0, result.stderr
    return (out / f"rootfs{path}").read_bytes()


class Machine:
    """A temporary root with the fakes on PATH: cloud-init's bootcmd and
    write_files played into it, docker.service started as systemd would."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "root"
        self.root.mkdir()
        self.systemd = tmp_path / "systemd"
        self.systemd.mkdir()
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        for name, text in (
            ("systemctl", FAKE_SYSTEMCTL),
            ("cloud-init-per", FAKE_CLOUD_INIT_PER),
            ("docker", FAKE_DOCKER),
        ):
            (bin_dir / name).write_text(text)
            (bin_dir / name).chmod(0o755)
        self.info = tmp_path / "info.json"
        self.env = {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "FLEETCFG_ROOT": str(self.root),
            "FAKE_SYSTEMD": str(self.systemd),
            "FAKE_INFO": str(self.info),
            "INSTANCE_ID": "i-0001",
        }

    def boot(self, document: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        """cloud-init's network stage: bootcmd, then write_files."""
        played = play_bootcmd(document, env=self.env)

        def write(path: str, content: bytes, mode: int, owner: str) -> None:
            target = self.root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            target.chmod(mode)

        play_write_files(document, write, stage="init")
        return played

    def systemctl(self, *args: str) -> str:
        out = subprocess.run(
            ["systemctl", *args], env=self.env, capture_output=True, text=True, check=True
        )
        return out.stdout.strip()

    def calls(self) -> list[str]:
        path = self.systemd / "calls"
        return path.read_text().split() if path.exists() else []

    def dockerd_reports(self, http: str, https: str) -> None:
        self.info.write_text(
            json.dumps(
                {
                    "RegistryConfig": {"Mirrors": ["https://mirror.example.com/"]},
                    "HTTPProxy": http,
                    "HTTPSProxy": https,
                }
            )
        )

    def check(self, document: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        program = self.root / "fleetcfg-boot-check"
        program.write_text(boot_check_program())
        [command] = document["runcmd"]
        argv = list(command[1:])
        # --file names paths of the machine; here they live under the root
        while "--file" in argv:
            at = argv.index("--file")
            del argv[at : at + 2]
        return subprocess.run(
            ["sh", str(program), *argv], env=self.env, capture_output=True, text=True, check=False
        )


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


def test_the_drop_in_is_landed_by_bootcmd_not_write_files_and_matches_the_schema(
    tmp_path: Path,
) -> None:
    document = document_for(tmp_path)
    jsonschema.validate(document, SCHEMA)
    assert list(document) == ["bootcmd", "write_files", "runcmd"]
    assert DROPIN_PATH not in [e["path"] for e in document["write_files"]]
    [entry] = document["bootcmd"]
    assert entry.startswith(f"cloud-init-per instance {BOOT_UNITS_NAME} /bin/sh -s <<")
    # the program comes on stdin: the password is in no command line, and it
    # travels base64 like any content holding it
    assert PASSWORD not in entry
    assert ENV_FILE_PATH not in [e["path"] for e in document["write_files"]]
    assert bootcmd_files(document) == {
        DROPIN_PATH: rendered_dropin(tmp_path),
        ENV_FILE_PATH: rendered_dropin(tmp_path, ENV_FILE_PATH),
    }


def test_playing_bootcmd_lands_the_drop_in_loaded_before_docker_starts(
    tmp_path: Path, machine: Machine
) -> None:
    document = document_for(tmp_path)
    played = machine.boot(document)
    assert played.returncode == 0, played.stderr
    dropin = machine.root / DROPIN_PATH.lstrip("/")
    env_file = machine.root / ENV_FILE_PATH.lstrip("/")
    assert dropin.read_bytes() == rendered_dropin(tmp_path)
    assert env_file.read_bytes() == rendered_dropin(tmp_path, ENV_FILE_PATH)
    # the password is in the environment file only: systemd shows a unit's
    # Environment= to every user of the host, not what EnvironmentFile= holds
    assert b"p%40ss" not in dropin.read_bytes() and b"p%40ss" in env_file.read_bytes()
    assert stat.S_IMODE(dropin.stat().st_mode) == 0o644
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(dropin.parent.stat().st_mode) == 0o755
    assert (dropin.stat().st_uid, dropin.stat().st_gid) == (0, 0)
    assert (env_file.stat().st_uid, env_file.stat().st_gid) == (0, 0)
    assert machine.calls() == ["daemon-reload"]
    machine.systemctl("start", "docker")  # After=network-online.target
    assert machine.systemctl("show", "docker", "-p", "NeedDaemonReload", "--value") == "no"
    assert machine.systemctl("show", "docker", "-p", "DropInPaths", "--value") == DROPIN_PATH
    assert DROPIN_PATH in (machine.systemd / "started-with").read_text()
    assert not list(dropin.parent.glob(".*"))  # no temporary file left

    masked = "http://xxxxx:xxxxx@proxy.corp.example.com:3128"
    machine.dockerd_reports(masked, masked)
    check = machine.check(document)
    assert check.returncode == 0, check.stderr
    assert PASSWORD not in " ".join(document["runcmd"][0])


def test_bootcmd_lands_the_drop_in_once_per_instance(tmp_path: Path, machine: Machine) -> None:
    document = document_for(tmp_path)
    machine.boot(document)
    dropin = machine.root / DROPIN_PATH.lstrip("/")
    dropin.write_text("[Service]\n# changed later by fleetcfg converge\n")
    second = machine.boot(document)  # a reboot: bootcmd runs on every boot
    assert second.returncode == 0, second.stderr
    assert "changed later" in dropin.read_text()
    assert machine.calls() == ["daemon-reload"]
    machine.env["INSTANCE_ID"] = "i-0002"  # an image made from this machine
    machine.boot(document)
    assert dropin.read_bytes() == rendered_dropin(tmp_path)
    assert machine.calls() == ["daemon-reload", "daemon-reload"]


def test_a_drop_in_written_without_daemon_reload_fails_the_check_and_says_why(
    tmp_path: Path, machine: Machine
) -> None:
    document = document_for(tmp_path)
    dropin = machine.root / DROPIN_PATH.lstrip("/")
    dropin.parent.mkdir(parents=True)
    dropin.write_bytes(rendered_dropin(tmp_path))  # what write_files alone would do
    (machine.root / ENV_FILE_PATH.lstrip("/")).write_bytes(rendered_dropin(tmp_path, ENV_FILE_PATH))
    machine.systemctl("start", "docker")
    machine.dockerd_reports("", "")
    check = machine.check(document)
    assert check.returncode == 1
    assert "NeedDaemonReload: yes" in check.stderr
    assert f"systemd has not loaded the drop-in {DROPIN_PATH}" in check.stderr
    assert "dockerd reports HTTP proxy '', the drop-in sets 'http://xxxxx:xxxxx@" in check.stderr
    assert PASSWORD not in check.stderr


def test_a_drop_in_loaded_after_dockerd_started_fails_the_check_on_the_proxy(
    tmp_path: Path, machine: Machine
) -> None:
    document = document_for(tmp_path)
    machine.systemctl("start", "docker")  # an image that starts docker too early
    machine.boot(document)
    machine.dockerd_reports("", "")
    check = machine.check(document)
    assert check.returncode == 1
    assert "NeedDaemonReload" not in check.stderr
    assert "dockerd started before systemd loaded the drop-in" in check.stderr


def test_a_tampered_drop_in_is_not_written(tmp_path: Path, machine: Machine) -> None:
    document = document_for(tmp_path)
    [entry] = document["bootcmd"]
    lines = entry.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("put ")) + 1
    lines[at] = "W1NlcnZpY2VdCg=="  # "[Service]\n"
    played = play_bootcmd({"bootcmd": ["\n".join(lines) + "\n"]}, env=machine.env)
    assert played.returncode == 1
    assert "does not have the sha256 fleetcfg rendered" in played.stderr
    assert not (machine.root / DROPIN_PATH.lstrip("/")).exists()
    assert machine.calls() == []


def test_docker_info_masks_proxy_credentials_as_dockerd_does() -> None:
    assert masked_like_dockerd("http://u:p@proxy:3128") == "http://xxxxx:xxxxx@proxy:3128"
    assert masked_like_dockerd("http://token@proxy:3128/") == "http://xxxxx:xxxxx@proxy:3128/"
    assert masked_like_dockerd("http://proxy:3128") == "http://proxy:3128"


def test_render_output_says_an_image_needs_nothing_at_first_boot_for_the_drop_in(
    tmp_path: Path,
) -> None:
    document_for(tmp_path)
    rendered_dropin(tmp_path)
    manifest = json.loads((tmp_path / "tree/manifest.json").read_text())
    assert manifest["first_boot"].startswith("nothing: files in the image before its first boot")
    [entry] = [f for f in manifest["files"] if f["path"] == DROPIN_PATH]
    assert entry["action"] == "daemon-reload+restart"  # on a running host
