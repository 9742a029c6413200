"""A file that holds credentials (daemon.json with a proxy password, a
client config.json with ``auths``) is masked in every diff; its plain sha256
must not leak either (DESIGN.md, "Trust model"): with everything but the
password known, a short password is found offline by hashing guesses against
the sha256, or against a 12-hex prefix of it. Neither reaches a host's process
arguments (which any user of the host reads in /proc/PID/cmdline while apply
runs), plan output, a saved plan or the journal; plan and apply still compare
what they compared. Each test failed against the code before the fix."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.core.hashing import sha256_hex
from tests.e2e.test_apply import DAEMON_JSON, cli, write_repo
from tests.e2e.test_host_output_caps import wrap_shim
from tests.fleet import Fleet, FleetHost

pytestmark = pytest.mark.e2e

PROFILE = """\
log-driver: json-file
proxies:
  http-proxy: "http://svc:{{ env('PROXY_PASSWORD') }}@proxy.corp.example.com:3128"
"""
OLD = '{"proxies": {"http-proxy": "http://svc:hunter1@proxy.corp.example.com:3128"}}\n'
CLIENT_JSON = "/root/.docker/config.json"
#: root's config.json: credentials fleetcfg keeps (and never shows)
CLIENT_OLD = '{"auths": {"registry.corp": {"auth": "c3ZjOmh1bnRlcjI="}}}\n'
CLIENT_PROFILE = '{"detachKeys": "ctrl-e,e"}\n'

#: ``dockerd --validate`` (run by the install program while it holds the
#: upload) first saves every process's command line as the unprivileged
#: user ``nopriv`` sees it; every dockerd call is then the fleet's shim
WATCHING_DOCKERD = """\
#!/bin/bash
if [[ " $* " == *" --validate "* ]]; then
    setpriv --reuid=nopriv --regid=nogroup --clear-groups -- \\
        sh -c 'for f in /proc/[0-9]*/cmdline; do tr "\\0" " " <"$f"; echo; done' \\
        >>/usr/local/sbin/.cmdlines 2>/dev/null
fi
exec /usr/local/sbin/dockerd.fleet "$@"
"""


def proxy_fleet(
    fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, password: str = "hunter2"
) -> Path:
    """Every host with OLD as daemon.json and CLIENT_OLD as root's
    config.json; the repo: PROFILE with ``password``, and a client profile."""
    for host in fleet.hosts:
        host.write_file(DAEMON_JSON, OLD, mode=0o600)
        host.write_file(CLIENT_JSON, CLIENT_OLD, mode=0o600)
    monkeypatch.setenv("PROXY_PASSWORD", password)
    path = write_repo(
        tmp_path, fleet, fleet.hosts, profile=PROFILE, defaults="client_profile: client\n"
    )
    (tmp_path / "profiles" / "client.json.j2").write_text(CLIENT_PROFILE)
    return path


def watch_cmdlines(host: FleetHost) -> Path:
    """The file the watching ``dockerd --validate`` writes to."""
    return wrap_shim(host, "dockerd", WATCHING_DOCKERD) / ".cmdlines"


def leaks(text: str, *contents: str) -> list[str]:
    """The 12-hex prefixes of the plain sha256 of ``contents`` in ``text``."""
    prefixes = [sha256_hex(c.encode())[:12] for c in contents]
    return [p for p in prefixes if p in text]


def test_no_user_of_the_host_sees_the_sha256_of_a_file_with_a_password_while_apply_runs(
    fleet_of: Callable[[int], Fleet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    path = proxy_fleet(fleet, tmp_path, monkeypatch)
    seen = watch_cmdlines(host)
    code, out, err = cli("apply", "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    new, client = host.read_file(DAEMON_JSON), host.read_file(CLIENT_JSON)
    assert "hunter2" in new and "auths" in client and "detachKeys" in client
    cmdlines = seen.read_text()
    assert "fleetcfg-apply: install" in cmdlines  # the watcher saw the install program
    assert leaks(cmdlines, new, OLD) == []
    journal = (tmp_path / ".fleetcfg" / "journal.jsonl").read_text()
    assert leaks(out + err + journal, new, OLD, client, CLIENT_OLD) == []
    assert "hunter2" not in out + err + journal
    assert leaks(host.read_file("/etc/docker/.fleetcfg/state.json"), new, client) == []


def test_plans_of_files_with_credentials_hold_no_sha256_of_them_and_still_apply(
    fleet_of: Callable[[int], Fleet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = fleet_of(2)
    same, edited = fleet.hosts
    path = proxy_fleet(fleet, tmp_path, monkeypatch)
    code, text, err = cli("plan", "-i", str(path))
    assert code == ExitCode.OK, text + err
    code, as_json, err = cli("plan", "-i", str(path), "--format", "json")
    assert code == ExitCode.OK, as_json + err
    saved = tmp_path / "plan.json"
    code, out, err = cli("plan", "-i", str(path), "-o", str(saved))
    assert code == ExitCode.OK, out + err
    planned = json.loads(saved.read_text())
    files = [f for h in planned["hosts"] for f in h["files"]]
    assert {f["kind"] for f in files} == {"daemon", "client"}
    for file in files:
        assert file["live_sha256"].startswith("hmac-sha256:"), file
        assert file["target_sha256"].startswith("hmac-sha256:"), file
    # the live file changes between plan and apply: that host is refused
    edited.write_file(DAEMON_JSON, OLD.replace("hunter1", "hunter3"), mode=0o600)
    code, out, err = cli("apply", str(saved), "-i", str(path), "--yes")
    assert code != ExitCode.OK, out + err
    assert "changed since the plan" in " ".join(out.split()), out
    applied, client = same.read_file(DAEMON_JSON), same.read_file(CLIENT_JSON)
    assert "hunter2" in applied and "auths" in client and "detachKeys" in client
    assert re.search(r"sha256 hmac:[0-9a-f]{12}", out), out
    journal = (tmp_path / ".fleetcfg" / "journal.jsonl").read_text()
    shown = text + as_json + saved.read_text() + out + err + journal
    assert leaks(shown, applied, OLD, client, CLIENT_OLD) == []


def test_a_changed_password_in_the_repo_makes_a_saved_plan_stale(
    fleet_of: Callable[[int], Fleet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = fleet_of(1)
    host = fleet.hosts[0]
    path = proxy_fleet(fleet, tmp_path, monkeypatch)
    saved = tmp_path / "plan.json"
    code, out, err = cli("plan", "-i", str(path), "-o", str(saved))
    assert code == ExitCode.OK, out + err
    monkeypatch.setenv("PROXY_PASSWORD", "hunter4")
    code, out, err = cli("apply", str(saved), "-i", str(path), "--yes")
    assert code != ExitCode.OK, out + err
    assert "changed since the plan" in " ".join(out.split()), out
    assert host.read_file(DAEMON_JSON) == OLD


def test_a_plan_saved_with_plain_sha256_by_an_older_fleetcfg_still_applies(
    fleet_of: Callable[[int], Fleet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Older plans recorded the plain sha256 of every file: they are checked
    as before (the target's bytes: the ones a first host got)."""
    fleet = fleet_of(2)
    first, second = fleet.hosts
    path = proxy_fleet(fleet, tmp_path, monkeypatch)
    saved = tmp_path / "plan.json"
    code, out, err = cli("plan", "-i", str(path), "-o", str(saved))
    assert code == ExitCode.OK, out + err
    code, out, err = cli("apply", "-i", str(path), "--yes", "--limit", first.name)
    assert code == ExitCode.OK, out + err
    plain = {
        DAEMON_JSON: (sha256_hex(OLD.encode()), sha256_hex(first.read_file(DAEMON_JSON).encode())),
        CLIENT_JSON: (
            sha256_hex(CLIENT_OLD.encode()),
            sha256_hex(first.read_file(CLIENT_JSON).encode()),
        ),
    }
    planned = json.loads(saved.read_text())
    [older] = [h for h in planned["hosts"] if h["host"] == second.name]
    for file in older["files"]:
        file["live_sha256"], file["target_sha256"] = plain[file["path"]]
    planned["hosts"] = [older]
    saved.write_text(json.dumps(planned))
    code, out, err = cli("apply", str(saved), "-i", str(path), "--yes")
    assert code == ExitCode.OK, out + err
    assert second.read_file(DAEMON_JSON) == first.read_file(DAEMON_JSON)
    # a live file that no longer has the recorded plain sha256 is refused
    second.write_file(DAEMON_JSON, OLD.replace("hunter1", "hunter5"), mode=0o600)
    code, out, err = cli("apply", str(saved), "-i", str(path), "--yes")
    assert code != ExitCode.OK, out + err
    assert "changed since the plan" in " ".join(out.split()), out
