"""Host users and host file content cannot steer what fleetcfg reads or writes
as root (issue 9, items 1, 2, 3, 6 and 9, and root's paths), on real sshd hosts
(tests/fleet) with the real unprivileged user ``nopriv`` as the attacker.

Each test sets up what an attacker on the host can do as ``nopriv`` (links in
their own home, files they own, a loop racing apply), runs fleetcfg as root,
and asserts the owners, modes and contents on the host afterwards.
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetcfg.host.state import BACKUP_DIR, LOCK_DIR, STATE_DIR
from tests.e2e.test_apply import cli, write_repo
from tests.fleet import Fleet, FleetHost

pytestmark = pytest.mark.e2e

HOME = "/home/nopriv"
DOCKER = f"{HOME}/.docker"
CONFIG = f"{DOCKER}/config.json"
#: root's own registry credentials, which no other user may ever see
ROOT_CONFIG = "/root/.docker/config.json"
ROOT_AUTHS = '{"auths": {"root-only.example.com": {"auth": "cm9vdDpzM2NyM3Q="}}}\n'
CLIENT_PROFILE = '{"detachKeys": "{{ detach | default(\'ctrl-e,e\') }}"}\n'


def nopriv() -> pwd.struct_passwd:
    return pwd.getpwnam("nopriv")


def owner_and_mode(host: FleetHost, remote: str) -> tuple[str, int]:
    info = os.lstat(host.path(remote))
    return pwd.getpwuid(info.st_uid).pw_name, stat.S_IMODE(info.st_mode)


def as_nopriv(host: FleetHost, command: str) -> None:
    """Run ``command`` on the host as nopriv (through ssh, like the attacker)."""
    done = host.ssh(command, user="nopriv")
    assert done.returncode == 0, done.stderr


def nopriv_docker_folder(host: FleetHost, config: str | None = "{}\n", mode: int = 0o600) -> None:
    """~nopriv/.docker (0700) made by nopriv, with ``config`` as config.json."""
    as_nopriv(host, f"mkdir -m 0700 {DOCKER}")
    if config is not None:
        user = nopriv()
        host.write_file(CONFIG, config, mode=mode, uid=user.pw_uid, gid=user.pw_gid)


def repo(tmp_path: Path, fleet: Fleet, host: FleetHost) -> Path:
    """An inventory that manages daemon.json and nopriv's config.json."""
    path = write_repo(
        tmp_path,
        fleet,
        [host],
        host_extra={host.name: "client_users: [nopriv]"},
        defaults="client_profile: client\n",
    )
    (tmp_path / "profiles" / "client.json.j2").write_text(CLIENT_PROFILE)
    return path


# -- items 1 and 2: races and late links in the user's folder ------------------------

ATTACKER = textwrap.dedent(
    """\
    import os, sys, time
    folder, victim, stop = sys.argv[1:4]
    end = time.time() + 300
    n = 0
    while time.time() < end and not os.path.exists(stop):
        try:
            names = os.listdir(folder)
        except OSError:
            time.sleep(0.01)
            continue
        for name in names:
            if name.startswith(".config.json.fleetcfg-"):
                link = os.path.join(folder, ".link%d" % n)
                n += 1
                try:
                    os.symlink(victim, link)
                    os.rename(link, os.path.join(folder, name))
                except OSError:
                    if os.path.islink(link):
                        os.unlink(link)
    """
)


@pytest.fixture
def attacker(fleet: Fleet) -> Iterator[subprocess.Popen[bytes]]:
    """nopriv on host-01, swapping every upload next to their config.json for a
    link to /etc/docker/victim as fast as python can, until told to stop."""
    host = fleet.hosts[0]
    stop = f"{HOME}/stop-attacker"
    user = nopriv()
    host.write_file(f"{HOME}/attack.py", ATTACKER, uid=user.pw_uid, gid=user.pw_gid)
    command = f"python3 {HOME}/attack.py {DOCKER} /etc/docker/victim {stop}"
    proc = subprocess.Popen(
        host.ssh_argv(command, user="nopriv"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    yield proc
    as_nopriv(host, f"touch {stop}")
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()


def test_a_user_racing_the_upload_with_links_never_gets_a_root_file(
    fleet: Fleet, tmp_path: Path, attacker: subprocess.Popen[bytes]
) -> None:
    """Item 1: the upload next to a user's config.json swapped for a link to a
    root file while apply writes it. The user's file is written as the user,
    so the kernel refuses every step on the link."""
    host = fleet.hosts[0]
    host.write_file("/etc/docker/victim", "root only\n", mode=0o600)
    nopriv_docker_folder(host)
    path = repo(tmp_path, fleet, host)
    for attempt in range(8):  # bounded: before the fix the loop wins in one or two
        user = nopriv()
        host.remove_file(CONFIG)  # it may be a link the attacker left: start from a file
        host.write_file(CONFIG, "{}\n", mode=0o600, uid=user.pw_uid, gid=user.pw_gid)
        cli("apply", "-i", str(path), "--yes")
        assert attacker.poll() is None, attacker.stderr.read() if attacker.stderr else ""
        assert host.read_file("/etc/docker/victim") == "root only\n", attempt
        assert owner_and_mode(host, "/etc/docker/victim") == ("root", 0o600), attempt
    assert owner_and_mode(host, "/etc/docker") == ("root", 0o755)


def test_a_user_folder_turned_into_a_link_after_the_plan_is_not_followed(
    fleet: Fleet, tmp_path: Path
) -> None:
    """Item 2: ~/.docker is missing when plan runs, then nopriv makes it a link
    to a root-only folder before apply: nothing is created or chowned there."""
    host = fleet.hosts[0]
    host.write_file("/etc/docker/secret/keep", "root only\n", mode=0o600)
    os.chmod(host.path("/etc/docker/secret"), 0o700)
    path = repo(tmp_path, fleet, host)
    plan_file = tmp_path / "plan.json"
    code, out, err = cli("plan", "-i", str(path), "-o", str(plan_file))
    assert code in (0, 2), out + err
    as_nopriv(host, f"ln -s /etc/docker/secret {DOCKER}")
    cli("apply", str(plan_file), "--yes")
    assert owner_and_mode(host, "/etc/docker/secret") == ("root", 0o700)
    assert host.listdir("/etc/docker/secret") == ["keep"]
    assert owner_and_mode(host, "/etc/docker/secret/keep") == ("root", 0o600)


# -- item 3: static links to root's files -------------------------------------------------


def test_a_user_folder_linked_to_roots_docker_folder_is_not_read_or_written(
    fleet: Fleet, tmp_path: Path
) -> None:
    """Item 3: ~/.docker -> /root/.docker. Plan reads nopriv's config as
    nopriv (permission denied), so root's credentials are never read, shown,
    merged or handed over, and apply writes nothing there."""
    host = fleet.hosts[0]
    host.write_file(ROOT_CONFIG, ROOT_AUTHS, mode=0o600)
    as_nopriv(host, f"ln -s /root/.docker {DOCKER}")
    path = repo(tmp_path, fleet, host)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code != 0
    assert "root-only.example.com" not in out + err
    assert host.read_file(ROOT_CONFIG) == ROOT_AUTHS
    assert owner_and_mode(host, ROOT_CONFIG) == ("root", 0o600)
    assert owner_and_mode(host, "/root/.docker") == ("root", 0o755)


def test_a_user_config_linked_to_roots_config_is_not_read_or_handed_over(
    fleet: Fleet, tmp_path: Path
) -> None:
    """Item 3: ~/.docker/config.json -> /root/.docker/config.json. Before the
    fix plan read it as root, merged root's auths and apply wrote them into a
    file nopriv owns; now nopriv's own permissions refuse the read."""
    host = fleet.hosts[0]
    host.write_file(ROOT_CONFIG, ROOT_AUTHS, mode=0o600)
    nopriv_docker_folder(host, config=None)
    as_nopriv(host, f"ln -s {ROOT_CONFIG} {CONFIG}")
    path = repo(tmp_path, fleet, host)
    plan_file = tmp_path / "plan.json"
    code, out, err = cli("plan", "-i", str(path), "-o", str(plan_file))
    assert code == 1, out + err
    assert "nopriv cannot read it" in out + err
    assert "root-only.example.com" not in out + err
    assert "root-only.example.com" not in plan_file.read_text()
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code != 0 and "root-only.example.com" not in out + err
    assert os.path.islink(host.path(CONFIG))
    assert host.read_file(ROOT_CONFIG) == ROOT_AUTHS
    assert owner_and_mode(host, ROOT_CONFIG) == ("root", 0o600)


# -- root's paths ------------------------------------------------------------------------


def test_a_daemon_json_that_is_a_link_into_a_user_folder_is_refused(
    fleet: Fleet, tmp_path: Path
) -> None:
    """/etc/docker/daemon.json must be root's own file: a link (here to a file
    nopriv controls) is refused with a per-host error and left alone."""
    host = fleet.hosts[0]
    user = nopriv()
    host.write_file(f"{HOME}/daemon.json", "{}\n", mode=0o644, uid=user.pw_uid, gid=user.pw_gid)
    os.symlink(f"{HOME}/daemon.json", host.path("/etc/docker/daemon.json"))
    path = repo(tmp_path, fleet, host)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code != 0
    assert "refusing /etc/docker/daemon.json" in out + err
    assert "is a symbolic link" in out + err
    assert os.path.islink(host.path("/etc/docker/daemon.json"))
    assert host.read_file(f"{HOME}/daemon.json") == "{}\n"


# -- item 6: what a host's files can do to fleetcfg and its operator ----------------------


def test_a_huge_sparse_config_is_refused_on_the_host_before_it_is_read(
    fleet: Fleet, tmp_path: Path
) -> None:
    """Item 6: a sparse 20 MiB config.json (the issue's was 3 GB) is refused by
    its size on the host, with a per-host error; its bytes never cross."""
    host = fleet.hosts[0]
    nopriv_docker_folder(host, config=None)
    as_nopriv(host, f"truncate -s 20M {CONFIG}")
    path = repo(tmp_path, fleet, host)
    code, out, err = cli("plan", "-i", str(path))
    assert code == 1, out + err
    assert "20971520 bytes, more than the 1048576 bytes fleetcfg reads" in out + err
    assert "bug" not in (out + err).lower()
    assert owner_and_mode(host, CONFIG) == ("nopriv", 0o644)


def test_a_deeply_nested_config_is_a_host_error_not_a_crash(fleet: Fleet, tmp_path: Path) -> None:
    """Item 6: 200,000 nested arrays (under the size cap) are refused by their
    depth with a per-host error, not a RecursionError "bug"."""
    host = fleet.hosts[0]
    nopriv_docker_folder(host, config="[" * 200_000 + "]" * 200_000)
    path = repo(tmp_path, fleet, host)
    code, out, err = cli("plan", "-i", str(path))
    assert code == 1, out + err
    assert "nests arrays or objects deeper than 64 levels" in out + err
    assert "bug" not in (out + err).lower()


@pytest.mark.parametrize(
    ("planted", "plan_says"),
    [
        (
            '{"detachKeys": 1' + "0" * 5000 + "}\n",
            f"the live {CONFIG} (nopriv) does not parse (invalid JSON at line 1: json: "
            "cannot unmarshal number 1000",
        ),
        ('{"x": "\\ud800"}\n', 'x: "\ufffd" (not managed by fleetcfg, kept)'),
    ],
    ids=["5000-digits", "lone-surrogate"],
)
def test_a_config_python_cannot_decode_as_is_fails_apply_without_leaving_the_lock(
    fleet: Fleet, tmp_path: Path, planted: str, plan_says: str
) -> None:
    """Item 6: nopriv's config.json gets, between the plan and its apply, a
    5000-digit number (Python's int() refuses past 4300 digits) or a lone
    surrogate escape (json.loads keeps it, and no UTF-8 encoder takes it).
    The read under the lock failed as "unexpected ValueError" or
    "UnicodeEncodeError, a bug in fleetcfg", NOT rolled back, and left the
    host's lock for --break-lock. Now both decode as dockerd decodes them
    (a number past a 64-bit float does not parse; a lone half is U+FFFD):
    apply refuses the changed file and releases the lock, plan says so."""
    host = fleet.hosts[0]
    nopriv_docker_folder(host, config='{"detachKeys": "ctrl-p,q"}\n')
    path = repo(tmp_path, fleet, host)
    plan_file = tmp_path / "plan.json"
    code, out, err = cli("plan", "-i", str(path), "-o", str(plan_file))
    assert code == 0, out + err
    user = nopriv()
    host.write_file(CONFIG, planted, mode=0o600, uid=user.pw_uid, gid=user.pw_gid)
    code, out, err = cli("apply", str(plan_file), "--yes")
    assert code != 0, out + err
    assert f"{CONFIG} changed since the plan" in out + err
    assert "bug" not in (out + err).lower()
    assert not host.exists(LOCK_DIR)
    assert host.read_file(CONFIG) == planted
    code, out, err = cli("plan", "-i", str(path))
    assert code == 0, out + err
    assert plan_says in out + err
    assert "bug" not in (out + err).lower()


def test_terminal_escapes_in_a_host_file_are_shown_not_obeyed(fleet: Fleet, tmp_path: Path) -> None:
    """Item 6: a config.json holding escape sequences (clear the screen, a
    fake plan summary) is printed with its control characters escaped."""
    host = fleet.hosts[0]
    hostile = '{"detachKeys": "x"}\x1b[2J\x1b[1;1HPlan: 0 to reload, 0 to restart\x9b2J\n'
    nopriv_docker_folder(host, config=hostile)
    path = repo(tmp_path, fleet, host)
    _, out, err = cli("plan", "-i", str(path))
    assert "\x1b" not in out + err and "\x9b" not in out + err
    assert "\\x1b[2J" in out


# -- item 9: backups and state folders -------------------------------------------------


def test_backups_are_root_0600_and_the_state_folders_are_repaired_to_0700(
    fleet: Fleet, tmp_path: Path
) -> None:
    """Item 9: a backup of nopriv's 0644 config.json is a new root 0600 file
    (not a ``cp -p`` copy with nopriv's owner and mode), and a .fleetcfg
    folder that exists with mode 0755 is repaired to 0700."""
    host = fleet.hosts[0]
    nopriv_docker_folder(host, config='{"detachKeys": "ctrl-p,q"}\n', mode=0o644)
    os.makedirs(host.path(BACKUP_DIR), mode=0o755)
    os.chmod(host.path(STATE_DIR), 0o755)
    os.chmod(host.path(BACKUP_DIR), 0o755)
    path = repo(tmp_path, fleet, host)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == 0, out + err
    assert json.loads(host.read_file(CONFIG)) == {"detachKeys": "ctrl-e,e"}
    assert owner_and_mode(host, CONFIG)[0] == "nopriv"
    assert owner_and_mode(host, STATE_DIR) == ("root", 0o700)
    assert owner_and_mode(host, BACKUP_DIR) == ("root", 0o700)
    saved = [n for n in host.listdir(BACKUP_DIR) if "config.json" in n]
    assert len(saved) == 1
    assert owner_and_mode(host, f"{BACKUP_DIR}/{saved[0]}") == ("root", 0o600)
    assert host.read_file(f"{BACKUP_DIR}/{saved[0]}") == '{"detachKeys": "ctrl-p,q"}\n'
