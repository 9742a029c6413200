"""FakeDockerHost: a Docker host that answers like dockerd, systemd and docker."""

from __future__ import annotations

import json

from tests.fakes.dockerhost import DAEMON_JSON, FakeDockerHost


def test_a_typical_host_has_daemon_json_and_an_active_unit() -> None:
    host = FakeDockerHost("web1")
    assert host.read_file(DAEMON_JSON).exists
    active = host.run(["systemctl", "is-active", "docker"])
    assert (active.exit_status, active.stdout) == (0, "active\n")
    assert host.run(["dockerd", "--version"]).stdout.startswith("Docker version 26.1.5,")


def test_validate_accepts_a_json_object_and_rejects_broken_json() -> None:
    host = FakeDockerHost(daemon_json={"debug": True})
    ok = host.run(["dockerd", "--validate", "--config-file", DAEMON_JSON])
    assert (ok.exit_status, ok.stderr) == (0, "configuration OK\n")
    host.add_file("/etc/docker/.new", b"{broken")
    bad = host.run(["dockerd", "--validate", "--config-file", "/etc/docker/.new"])
    assert bad.exit_status == 1
    assert bad.stderr.startswith("unable to configure the Docker daemon with file /etc/docker/.new")


def test_engines_before_23_do_not_know_validate() -> None:
    host = FakeDockerHost(engine="20.10.24")
    result = host.run(["dockerd", "--validate", "--config-file", DAEMON_JSON])
    assert result.exit_status == 1 and "unknown flag: --validate" in result.stderr


def test_a_custom_validator_decides() -> None:
    host = FakeDockerHost(
        validator=lambda content, path: "no debug allowed" if b"debug" in content else None
    )
    host.write_file(DAEMON_JSON, json.dumps({"debug": True}).encode())
    result = host.run(["dockerd", "--validate", "--config-file", DAEMON_JSON])
    assert (result.exit_status, result.stderr) == (1, "no debug allowed\n")


def test_restart_loads_the_new_daemon_json() -> None:
    host = FakeDockerHost()
    host.write_file(DAEMON_JSON, b'{"debug": true}\n')
    assert host.running_config.get("debug") is None
    assert host.run(["systemctl", "restart", "docker"]).ok
    assert host.running_config == {"debug": True}
    assert host.restarts == 1
    info = host.run(["docker", "info", "--format", "{{.Debug}}"])
    assert info.stdout == "true\n"


def test_a_restart_with_an_invalid_file_leaves_the_unit_failed() -> None:
    host = FakeDockerHost()
    host.write_file(DAEMON_JSON, b"{nope")
    result = host.run(["systemctl", "restart", "docker.service"])
    assert result.exit_status == 1 and "Job for docker.service failed" in result.stderr
    assert host.run(["systemctl", "is-active", "docker"]).stdout == "failed\n"
    down = host.run(["docker", "info", "--format", "{{.ServerVersion}}"])
    assert down.exit_status == 1 and "Cannot connect to the Docker daemon" in down.stderr


def test_a_reload_with_an_invalid_file_keeps_the_old_configuration() -> None:
    host = FakeDockerHost(daemon_json={"debug": False})
    host.write_file(DAEMON_JSON, b"{nope")
    assert host.run(["systemctl", "reload", "docker"]).ok
    assert host.running_config == {"debug": False}
    assert host.reloads == 1 and len(host.reload_errors) == 1
    assert host.run(["systemctl", "is-active", "docker"]).ok


def test_an_injected_restart_failure() -> None:
    host = FakeDockerHost()
    host.fail_restarts = 1
    assert not host.run(["systemctl", "restart", "docker"]).ok
    assert host.run(["systemctl", "restart", "docker"]).ok


def test_systemctl_show_answers_properties_like_systemd() -> None:
    host = FakeDockerHost(
        exec_start=["/usr/bin/dockerd", "-H", "fd://", "--config-file", "/srv/d.json"]
    )
    out = host.run(["systemctl", "show", "docker", "-p", "ActiveState,MainPID", "-p", "ExecStart"])
    lines = out.stdout.splitlines()
    assert lines[0] == "ActiveState=active"
    assert lines[1].startswith("MainPID=")
    assert "argv[]=/usr/bin/dockerd -H fd:// --config-file /srv/d.json" in lines[2]
    value = host.run(["systemctl", "show", "docker", "--property=SubState", "--value"])
    assert value.stdout == "running\n"
    assert host.config_path == "/srv/d.json"


def test_docker_version_and_info_formats() -> None:
    host = FakeDockerHost(engine="28.5.2", daemon_json={"log-driver": "journald"})
    assert host.run(["docker", "version", "--format", "{{.Server.Version}}"]).stdout == "28.5.2\n"
    info = json.loads(host.run(["docker", "info", "--format", "{{json .}}"]).stdout)
    assert info["LoggingDriver"] == "journald"


def test_a_host_without_daemon_json() -> None:
    host = FakeDockerHost(daemon_json=None)
    assert not host.read_file(DAEMON_JSON).exists
    assert host.run(["systemctl", "restart", "docker"]).ok
    assert host.running_config == {}
