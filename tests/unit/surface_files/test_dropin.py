"""docker.service's proxy drop-in: rendering, and the checks of hand-written lines."""

from __future__ import annotations

import pytest

from fleetcfg.dockerd.dropin import (
    check_dropin_lines,
    environment_line,
    render_dropin,
    split_environment,
)

HOSTS = {"hosts": ["unix:///var/run/docker.sock"]}


def test_rendered_drop_in_is_a_service_section_with_a_quoted_line_per_variable() -> None:
    text = render_dropin({"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "localhost,.corp"})
    assert text.splitlines()[1:] == [
        "[Service]",
        'Environment="HTTP_PROXY=http://proxy:3128"',
        'Environment="NO_PROXY=localhost,.corp"',
    ]


def test_percent_in_a_rendered_value_is_doubled_so_systemd_reads_it_back() -> None:
    line = environment_line("HTTP_PROXY", "http://u:p%40ss@proxy:3128")
    assert line == 'Environment="HTTP_PROXY=http://u:p%%40ss@proxy:3128"'
    assert not check_dropin_lines([line], {})


def test_rendered_lines_split_back_into_the_assignment() -> None:
    line = environment_line("NO_PROXY", 'a b"c\\d')
    assert split_environment(line.partition("=")[2]) == ['NO_PROXY=a b"c\\d']


def test_hand_written_lines_come_after_the_variables_as_they_are() -> None:
    text = render_dropin({"HTTP_PROXY": "http://p:1"}, ["ExecStart=", "LimitNOFILE=1048576"])
    assert text.endswith("ExecStart=\nLimitNOFILE=1048576\n")


@pytest.mark.parametrize(
    "line",
    [
        'Environment="HTTPS_PROXY=http://u:p%40ss@proxy:3128"',
        "Environment=NO_PROXY=100%",
        "Environment=A=%h",
    ],
)
def test_an_unescaped_percent_is_refused(line: str) -> None:
    (problem,) = check_dropin_lines([line], {})
    assert problem.kind == "percent"
    assert "%%" in problem.message


def test_a_doubled_percent_is_fine() -> None:
    assert not check_dropin_lines(['Environment="A=100%%"'], {})


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('Environment="HTTP_PROXY=http://proxy:3128', "not closed"),
        ("Environment=NO_PROXY=localhost, .corp", "must be quoted"),
        ("Environment=1A=b", "not NAME=value"),
        ("this is no setting", "Key=value"),
    ],
)
def test_bad_environment_quoting_is_refused(line: str, says: str) -> None:
    (problem,) = check_dropin_lines([line], {})
    assert problem.kind == "quoting"
    assert says in problem.message


def test_several_quoted_assignments_on_one_line_are_fine() -> None:
    line = 'Environment="HTTP_PROXY=http://p:1" "NO_PROXY=a, b" C=d'
    assert not check_dropin_lines([line], {})


def test_exec_start_adding_h_when_daemon_json_has_hosts_is_refused() -> None:
    lines = ["ExecStart=", "ExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/c.sock"]
    (problem,) = check_dropin_lines(lines, HOSTS)
    assert (problem.index, problem.kind) == (1, "exec-start")
    assert "-H fd://" in problem.message and "hosts" in problem.message


def test_exec_start_with_h_is_fine_when_daemon_json_has_no_hosts() -> None:
    assert not check_dropin_lines(["ExecStart=", "ExecStart=/usr/bin/dockerd -H fd://"], {})


def test_any_flag_daemon_json_also_sets_conflicts_not_only_h() -> None:
    lines = ["ExecStart=-/usr/bin/dockerd --log-level=debug"]
    (problem,) = check_dropin_lines(lines, {"log-level": "info"})
    assert "log-level" in problem.message


def test_comments_and_section_headers_are_skipped() -> None:
    assert not check_dropin_lines(["# 100% comment", "[Service]", ""], {})
