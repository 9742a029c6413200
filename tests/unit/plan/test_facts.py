"""Host facts: the commands, one round trip, and the pure parsers."""

from __future__ import annotations

import json

import pytest

from fleetcfg.core.errors import UsageError
from fleetcfg.core.hashing import sha256_hex
from fleetcfg.core.versions import EngineVersion
from fleetcfg.host.state import ENGINE_RECORD_PATH
from fleetcfg.host.transport.base import CommandResult
from fleetcfg.plan.facts import (
    CLIENT_CONFIG,
    DAEMON_JSON,
    STATE_FILE,
    DaemonInfo,
    Facts,
    FileFacts,
    UnitFacts,
    engine_command,
    exec_start_argv,
    expand_exec_start,
    fact_commands,
    gather_daemon_info,
    gather_facts,
    parse_engine,
    parse_env_files,
    parse_environment_file,
    parse_files,
    parse_flags,
    parse_info,
    parse_state,
    parse_systemd_utc,
    parse_unit,
    running_live_restore,
)
from tests.fakes.dockerhost import FakeDockerHost


def result(
    argv: list[str], status: int = 0, stdout: bytes | str = b"", stderr: str = ""
) -> CommandResult:
    raw = stdout.encode() if isinstance(stdout, str) else stdout
    return CommandResult.from_bytes(argv, status, raw, stderr.encode())


# -- one round trip -------------------------------------------------------------


def test_facts_take_one_round_trip_whatever_the_number_of_users() -> None:
    host = FakeDockerHost("web1")
    host.add_user("alice")
    host.add_user("gitlab-runner", home="/var/lib/gitlab-runner")
    facts = gather_facts(host, ["root", "alice", "gitlab-runner"], info=True)
    assert host.round_trips == 1
    assert facts.engine == EngineVersion(26, 1, 5)
    assert facts.daemon_json.exists and facts.daemon_json.content is not None
    assert facts.unit is not None and facts.unit.active
    assert facts.info is not None and facts.info.running_containers == 2
    assert facts.info.live_restore is False


def test_the_user_the_host_runs_commands_as_is_read_by_the_first_program_itself() -> None:
    def read(runs_as: str | None) -> tuple[Facts, list[str], list[str]]:
        host = FakeDockerHost("web1")
        host.runs_as = runs_as
        host.add_user("alice")
        host.add_file("/root/.docker/config.json", '{"credsStore": "pass"}\n', mode=0o600)
        host.add_file("/home/alice/.docker/config.json", "{}\n", owner="alice", group="alice")
        facts = gather_facts(host, ["root", "alice"])
        assert host.round_trips == 1
        first = host.commands[0].argv  # facts_files: daemon.json, state.json, ...
        programs = [c.argv for c in host.commands if len(c.argv) > 4]
        as_user = [argv[4] for argv in programs if "as-user" in argv[2]]
        return facts, list(first[6:]), as_user

    folded, first, as_user = read("root")
    # root's config.json comes with daemon.json and state.json; alice's is
    # still read by a program run as alice (her own permissions)
    assert first == [DAEMON_JSON, STATE_FILE, "@root"] and as_user == ["alice"]
    unknown, first, as_user = read(None)  # a transport that cannot tell: as before
    assert first == [DAEMON_JSON, STATE_FILE] and as_user == ["root", "alice"]
    assert folded.users == unknown.users
    root = folded.users["root"].config
    assert root is not None and root.content == b'{"credsStore": "pass"}\n'
    assert folded.daemon_json == unknown.daemon_json and folded.engine == unknown.engine


def test_docker_info_is_asked_only_on_request() -> None:
    host = FakeDockerHost("web1")
    facts = gather_facts(host)
    assert facts.info is None and not host.ran(["timeout"], prefix=True)
    facts = gather_daemon_info(host, facts)
    assert facts.info is not None and facts.info.running_containers == 2
    assert host.round_trips == 2


def test_client_config_is_read_from_the_home_getent_reports() -> None:
    host = FakeDockerHost("ci1")
    host.add_user("gitlab-runner", home="/var/lib/gitlab-runner", group="runners")
    host.add_file(
        "/var/lib/gitlab-runner/.docker/config.json",
        '{"credsStore": "pass"}\n',
        mode=0o600,
        owner="gitlab-runner",
        group="runners",
    )
    user = gather_facts(host, ["gitlab-runner"]).users["gitlab-runner"]
    assert (user.exists, user.home, user.group) == (True, "/var/lib/gitlab-runner", "runners")
    assert user.config is not None
    assert user.config.path == "/var/lib/gitlab-runner/.docker/config.json"
    assert user.config.content == b'{"credsStore": "pass"}\n'
    assert (user.config.mode, user.config.owner) == (0o600, "gitlab-runner")


def test_a_user_the_host_does_not_know_is_reported_not_raised() -> None:
    host = FakeDockerHost("web1")
    user = gather_facts(host, ["ghost"]).users["ghost"]
    assert not user.exists
    assert user.problem == "user ghost does not exist"


def test_a_home_without_docker_folder_says_the_folder_is_missing() -> None:
    host = FakeDockerHost("web1")
    host.add_user("alice")
    config = gather_facts(host, ["alice"]).users["alice"].config
    assert config is not None
    assert (config.exists, config.parent_exists) == (False, False)


def test_an_absent_daemon_json_is_absent_not_a_problem() -> None:
    host = FakeDockerHost("web1", daemon_json=None)
    facts = gather_facts(host)
    assert not facts.daemon_json.exists
    assert facts.daemon_json.known and facts.daemon_json.parent_exists


def test_a_config_file_flag_in_execstart_reads_that_file_in_a_second_round_trip() -> None:
    host = FakeDockerHost(
        "web1", exec_start=["/usr/bin/dockerd", "--config-file=/etc/docker/custom.json"]
    )
    host.add_file("/etc/docker/custom.json", '{"debug": true}\n')
    facts = gather_facts(host)
    assert host.round_trips == 2
    assert facts.daemon_json.path == "/etc/docker/custom.json"
    assert facts.daemon_json.content == b'{"debug": true}\n'


def test_user_names_that_could_be_options_are_refused() -> None:
    with pytest.raises(UsageError, match="not a valid user name"):
        fact_commands(["-rf"])


def test_fact_commands_quote_nothing_themselves_and_name_the_files() -> None:
    commands = fact_commands(["alice"], info=True)
    assert commands[0][4:] == [CLIENT_CONFIG, "1048576", DAEMON_JSON, STATE_FILE]
    assert commands[1] == engine_command()
    assert commands[1][4:] == [ENGINE_RECORD_PATH, ""]  # plan reads apply's record
    assert fact_commands(save_engine=True)[1][4:] == [ENGINE_RECORD_PATH, "1"]
    assert commands[3][4] == "alice"  # as_user.sh alice facts_files.sh ... @alice
    assert commands[3][-3:] == [CLIENT_CONFIG, "1048576", "@alice"]
    assert commands[4][:4] == ["timeout", "10", "docker", "info"]
    assert len(commands) == 5
    assert all(isinstance(arg, str) for argv in commands for arg in argv)


def test_fact_commands_are_built_once_but_each_caller_gets_its_own_lists() -> None:
    first = fact_commands(["alice"], runs_as="root")
    first[0].append("--extra")
    first.pop()
    again = fact_commands(["alice"], runs_as="root")
    assert len(again) == 4 and "--extra" not in again[0]
    assert fact_commands(["bob"], runs_as="root")[3][4] == "bob"


# -- files ----------------------------------------------------------------------


def test_parse_files_keeps_the_exact_bytes_and_their_hash() -> None:
    daemon = b'{\n\n  "debug": true\n}'  # a blank line inside, no trailing newline
    state = b"--\n"  # content that looks like the separator
    out = (
        b"entry present\t/etc/docker/daemon.json\nentry present\t/s.json\n"
        + f"stat {len(daemon)} 640 root docker\t/etc/docker/daemon.json\n".encode()
        + f"stat {len(state)} 600 root root\t/s.json\n".encode()
        + b"--\n"
        + daemon
        + state
    )
    files, _ = parse_files(result(["sh"], 0, out), [DAEMON_JSON, "/s.json"])
    facts = files[DAEMON_JSON]
    assert facts.content == daemon
    assert facts.sha256 == sha256_hex(daemon)
    assert (facts.mode, facts.owner, facts.group) == (0o640, "root", "docker")
    assert files["/s.json"].content == state


def test_parse_files_tells_absent_files_and_missing_folders_apart() -> None:
    out = b"entry absent\t/a\nentry nodir\t/x/b\nentry directory\t/c\n--\n"
    files, _ = parse_files(result(["sh"], 0, out), ["/a", "/x/b", "/c"])
    assert (files["/a"].exists, files["/a"].parent_exists, files["/a"].known) == (False, True, True)
    assert (files["/x/b"].exists, files["/x/b"].parent_exists) == (False, False)
    assert files["/c"].problem == "/c is a directory"


def test_an_unreadable_file_is_a_problem_that_says_what_to_do() -> None:
    out = b"entry unreadable\t/etc/docker/daemon.json\n--\n"
    files, _ = parse_files(result(["sh"], 0, out), [DAEMON_JSON])
    assert not files[DAEMON_JSON].known
    assert "use become: true" in str(files[DAEMON_JSON].problem)


def test_a_file_that_changed_while_read_is_a_problem() -> None:
    out = b"entry present\t/a\nstat 10 644 root root\t/a\n--\nshort"
    files, _ = parse_files(result(["sh"], 0, out), ["/a"])
    assert files["/a"].problem == "a file changed while it was read; run plan again"


def test_parse_files_without_sh_is_a_problem_not_an_absent_file() -> None:
    files, users = parse_files(result(["sh"], 127, b"", "sh: not found"), [DAEMON_JSON], ["bob"])
    assert not files[DAEMON_JSON].known
    assert not users["bob"].exists


def test_users_come_with_their_home_group_and_config() -> None:
    out = (
        b"user runner\tgitlab-runner:x:998:997:GitLab:/var/lib/runner:/bin/bash\trunners\n"
        b"nouser ghost\n"
        b"entry absent\t/var/lib/runner/.docker/config.json\n--\n"
    )
    _, users = parse_files(result(["sh"], 0, out), [], ["runner", "ghost"])
    runner = users["runner"]
    assert (runner.home, runner.uid, runner.gid, runner.group) == (
        "/var/lib/runner",
        998,
        997,
        "runners",
    )
    assert runner.config is not None and runner.config.path == "/var/lib/runner/.docker/config.json"
    assert users["ghost"].problem == "user ghost does not exist"


# -- engine, unit, info -----------------------------------------------------------


def test_engine_version_comes_from_dockerd_version() -> None:
    engine, text, problem = parse_engine(
        result(["dockerd", "--version"], 0, "Docker version 20.10.24+dfsg1, build 297e128\n")
    )
    assert engine == EngineVersion(20, 10, 24) and problem is None
    assert text == "Docker version 20.10.24+dfsg1, build 297e128"


def test_a_missing_dockerd_is_a_problem() -> None:
    engine, _, problem = parse_engine(result(["dockerd", "--version"], 127, "", "not found"))
    assert engine is None
    assert problem == "dockerd is not installed (or not on PATH)"


SHOW = """LoadState=loaded
ActiveState=failed
SubState=failed
MainPID=0
ExecStart={ path=/usr/sbin/dockerd ; argv[]=/usr/sbin/dockerd -H fd:// $DOCKER_OPTS ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }
FragmentPath=/lib/systemd/system/docker.service
DropInPaths=/etc/systemd/system/docker.service.d/override.conf
Environment=HTTP_PROXY=http://proxy:3128
"""


def test_unit_flags_expand_docker_opts_from_the_environment_file() -> None:
    content = 'DOCKER_OPTS="--debug --dns 8.8.8.8"\n'
    env = f"#fleetcfg-envfiles\nfile {len(content)} /etc/default/docker\n{content}"
    unit, problem, _ = parse_unit(result(["sh"], 0, SHOW + env))
    assert problem is None and unit is not None
    assert unit.exec_start == ("/usr/sbin/dockerd", "-H", "fd://", "--debug", "--dns", "8.8.8.8")
    assert unit.flags[:2] == ("-H", "fd://")
    assert (unit.active_state, unit.active, unit.loaded) == ("failed", False, True)
    assert unit.sources == (
        "/lib/systemd/system/docker.service, /etc/systemd/system/docker.service.d/override.conf"
    )


@pytest.mark.parametrize("pid", ["\u00b2", "\u0663"])  # superscript two, Arabic-Indic three
def test_a_main_pid_in_other_digits_than_ascii_is_no_pid_not_a_crash(pid: str) -> None:
    # a compromised host (or its systemctl) answers; int() refuses "²" and
    # reads "٣" as 3, where systemd only ever prints ASCII digits
    show = SHOW.replace("MainPID=0", f"MainPID={pid}")
    unit, problem, _ = parse_unit(result(["sh"], 0, show + "#fleetcfg-envfiles\n"))
    assert problem is None and unit is not None
    assert unit.main_pid is None


def test_an_unset_variable_in_execstart_expands_to_nothing() -> None:
    unit, _, _ = parse_unit(result(["sh"], 0, SHOW + "#fleetcfg-envfiles\n"))
    assert unit is not None
    assert unit.exec_start == ("/usr/sbin/dockerd", "-H", "fd://")
    assert unit.unset_variables == ("DOCKER_OPTS",)


def test_an_unreadable_environment_file_is_remembered() -> None:
    unit, _, _ = parse_unit(
        result(["sh"], 0, SHOW + "#fleetcfg-envfiles\nunreadable 0 /etc/default/docker\n")
    )
    assert unit is not None and unit.unreadable_env_files == ("/etc/default/docker",)


def test_systemctl_missing_is_a_unit_problem() -> None:
    unit, problem, _ = parse_unit(result(["sh"], 127, "", "systemctl: not found"))
    assert unit is None and problem == "systemctl is not installed (no systemd?)"


def test_exec_start_argv_reads_quoted_and_unquoted_forms() -> None:
    plain = "{ path=/usr/bin/dockerd ; argv[]=/usr/bin/dockerd -H fd:// --containerd=/run/c.sock ; ignore_errors=no ; start_time=[n/a] }"
    assert exec_start_argv(plain) == (
        "/usr/bin/dockerd",
        "-H",
        "fd://",
        "--containerd=/run/c.sock",
    )
    quoted = '{ path=/usr/bin/dockerd ; argv[]=/usr/bin/dockerd --label "a=b c" ; flags= ; start_time=[n/a] }'
    assert exec_start_argv(quoted) == ("/usr/bin/dockerd", "--label", "a=b c")


def test_exec_start_expansion_follows_systemd() -> None:
    argv, unset = expand_exec_start(
        ["/usr/bin/dockerd", "$OPTS", "${ONE}", "--x=${ONE}", "$MISSING"],
        {"OPTS": "-D  --ipv6", "ONE": "a b"},
    )
    assert argv == ("/usr/bin/dockerd", "-D", "--ipv6", "a b", "--x=a b")
    assert unset == ("MISSING",)


def test_environment_files_parse_like_systemd() -> None:
    text = "# comment\n; other\nA=1\nB=\"two words\"\nC='single $x'\nD=multi \\\nline\nnot a line\n"
    assert parse_environment_file(text) == {
        "A": "1",
        "B": "two words",
        "C": "single $x",
        "D": "multi line",
    }


def test_env_files_output_is_framed_by_size() -> None:
    files, problem = parse_env_files(b"file 6 /a b\nX=1\nY\nabsent 0 /c\nunreadable 0 /d\n")
    assert problem is None
    assert files == {"/a b": "X=1\nY\n", "/d": None}


def test_docker_info_gives_running_containers_and_live_restore() -> None:
    info, problem = parse_info(result(["docker"], 0, '7 true "26.1.5"\n'))
    assert problem is None and info is not None
    assert (info.running_containers, info.live_restore, info.server_version) == (
        7,
        True,
        "26.1.5",
    )


def test_docker_info_that_times_out_says_so() -> None:
    info, problem = parse_info(result(["timeout"], 124))
    assert info is None and problem is not None and "did not answer" in problem


def test_docker_info_of_a_stopped_daemon_is_a_problem() -> None:
    info, problem = parse_info(
        result(
            ["docker"], 1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock"
        )
    )
    assert info is None and problem is not None and "Cannot connect" in problem


# -- fleetcfg's state ----------------------------------------------------------------


def _state(data: object) -> tuple[dict[str, object], str | None]:
    content = json.dumps(data).encode()
    file = FileFacts(STATE_FILE, True, content, sha256_hex(content), 0o644, "root", "root")
    entries, problem = parse_state(file)
    return dict(entries.files), problem


def test_state_json_records_what_fleetcfg_last_wrote() -> None:
    entries, problem = _state(
        {
            "format": 1,
            "files": {
                DAEMON_JSON: {
                    "sha256": "ab" * 32,
                    "written_at": "2025-01-31T10:00:00.000000Z",
                    "written_by": "alice@ctl",
                    "plan_id": "p1",
                    "backups": [],
                },
                "/root/.docker/config.json": {"sha256": None},
            },
        }
    )
    assert problem is None
    entry = entries[DAEMON_JSON]
    assert getattr(entry, "written_by", None) == "alice@ctl"
    assert getattr(entries["/root/.docker/config.json"], "sha256", "x") is None


def test_a_broken_state_json_is_a_problem_not_a_crash() -> None:
    file = FileFacts(STATE_FILE, True, b"{oops", sha256_hex(b"{oops"), 0o644, "root", "root")
    entries, problem = parse_state(file)
    assert entries.files == {} and problem is not None and "drift cannot be checked" in problem


# -- dockerd's flags ------------------------------------------------------------------


def test_parse_flags_understands_pflag_syntax() -> None:
    flags = parse_flags(
        ["-H", "fd://", "-Htcp://0.0.0.0:2375", "--debug", "--log-level=warn", "-G", "docker"]
    )
    assert [(f.name, f.value) for f in flags] == [
        ("host", "fd://"),
        ("host", "tcp://0.0.0.0:2375"),
        ("debug", None),
        ("log-level", "warn"),
        ("group", "docker"),
    ]
    assert flags[0].written == "-H fd://"


def test_a_short_bool_flag_cluster_is_split() -> None:
    assert [f.name for f in parse_flags(["-Dl", "debug"])] == ["debug", "log-level"]


def test_the_unit_program_reads_environment_files_only_when_execstart_has_variables() -> None:
    host = FakeDockerHost("web1", exec_start=["/usr/bin/dockerd", "-H", "fd://"])
    host.environment_files = ["/etc/default/docker"]
    host.add_file("/etc/default/docker", 'DOCKER_OPTS="--debug"\n')
    unit = gather_facts(host).unit
    assert unit is not None and unit.flags == ("-H", "fd://")
    host = FakeDockerHost("web2")  # Debian's ExecStart: -H fd:// $DOCKER_OPTS
    host.environment_files = ["/etc/default/docker"]
    host.add_file("/etc/default/docker", 'DOCKER_OPTS="--debug"\n')
    unit = gather_facts(host).unit
    assert unit is not None and unit.flags == ("-H", "fd://", "--debug")
    assert unit.variables == {"DOCKER_OPTS": "/etc/default/docker"}


# -- the daemon's containers and live-restore -------------------------------------------

START = 1_700_000_000


def _facts(
    *,
    flags: tuple[str, ...] = ("-H", "fd://"),
    content: bytes | None = b'{"live-restore": true}',
    mtime: int | None = START - 60,
    since: int | None = START,
) -> Facts:
    daemon = (
        FileFacts(
            DAEMON_JSON, True, content, sha256_hex(content), 0o644, "root", "root", mtime=mtime
        )
        if content is not None
        else FileFacts(DAEMON_JSON, False, mtime=mtime)
    )
    unit = UnitFacts(
        load_state="loaded",
        active_state="active",
        active_since=since,
        exec_start=("/usr/bin/dockerd", *flags),
    )
    return Facts(host="web1", daemon_json=daemon, unit=unit)


def test_a_daemon_json_unchanged_since_dockerd_started_is_what_it_runs() -> None:
    assert running_live_restore(_facts()) == (True, "daemon.json")
    assert running_live_restore(_facts(content=b"{}")) == (False, "daemon.json")


def test_a_daemon_json_changed_after_the_start_needs_the_daemon_itself() -> None:
    assert running_live_restore(_facts(mtime=START)) == (None, "")
    assert running_live_restore(_facts(mtime=START + 5)) == (None, "")
    assert running_live_restore(_facts(since=None)) == (None, "")
    assert running_live_restore(_facts(mtime=None)) == (None, "")


def test_no_daemon_json_in_a_folder_untouched_since_the_start_means_defaults() -> None:
    assert running_live_restore(_facts(content=None)) == (False, "daemon.json")
    assert running_live_restore(_facts(content=None, mtime=START + 1)) == (None, "")


def test_a_live_restore_flag_decides() -> None:
    assert running_live_restore(_facts(flags=("--live-restore",), mtime=START + 9)) == (
        True,
        "ExecStart",
    )
    assert running_live_restore(_facts(flags=("--live-restore=false",)))[0] is False


def test_systemd_timestamps_are_read_only_in_utc() -> None:
    assert parse_systemd_utc("Tue 2023-11-14 22:13:20 UTC") == START
    assert parse_systemd_utc("Tue 2023-11-14 23:13:20 CET") is None
    assert parse_systemd_utc("n/a") is None


def test_containers_are_counted_with_docker_ps_when_live_restore_is_known() -> None:
    host = FakeDockerHost("web1", daemon_json={"live-restore": True})
    facts = gather_daemon_info(host, gather_facts(host))
    assert facts.info == DaemonInfo(2, True, None, source="daemon.json")
    assert host.ran(["timeout", "10", "docker", "ps", "-q"])
    assert not host.ran(["timeout", "10", "docker", "info"], prefix=True)


def test_the_daemon_is_asked_when_its_file_changed_after_it_started() -> None:
    host = FakeDockerHost("web1", daemon_json={"live-restore": True})
    host.add_file(DAEMON_JSON, '{"live-restore": false}')  # written after the start
    facts = gather_daemon_info(host, gather_facts(host))
    assert host.ran(["timeout", "10", "docker", "info"], prefix=True)
    assert facts.info is not None and facts.info.live_restore is True  # what it loaded
    assert facts.info.source == "docker info"


def test_a_client_config_over_the_size_cap_is_not_read() -> None:
    host = FakeDockerHost("ci1")
    host.add_user("alice")
    host.add_file("/home/alice/.docker/config.json", b" " * (1024 * 1024 + 1), owner="alice")
    config = gather_facts(host, ["alice"]).users["alice"].config
    assert config is not None and config.content is None
    assert config.problem is not None and "is not read" in config.problem


def test_a_deeply_nested_file_is_a_problem_not_a_crash() -> None:
    host = FakeDockerHost("web1", daemon_json=b"[" * 100_000 + b"]" * 100_000)
    facts = gather_facts(host)
    assert facts.daemon_json.content is None
    assert facts.daemon_json.problem is not None
    assert "deeper than 64 levels" in facts.daemon_json.problem


def test_a_client_user_the_host_does_not_know_is_reported_as_missing() -> None:
    facts = gather_facts(FakeDockerHost("web1"), ["ghost"])
    assert not facts.users["ghost"].exists
    assert facts.users["ghost"].problem == "user ghost does not exist"
