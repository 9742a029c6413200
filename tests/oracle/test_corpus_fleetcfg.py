"""fleetcfg against the corpus and against the real dockerd 26.1.5.

(a) whatever dockerd rejects or would not start with, fleetcfg reports an error;
(b) whatever fleetcfg accepts for 26.1, dockerd --validate accepts (run live);
(c) warnings where the manifest says warning, and no errors;
(d) the manifest's rule ids appear;
(e) JSON syntax errors point at the manifest's line and column.

fleetcfg is called through ``fleetcfg.lint.files.lint_bytes`` and, for a few files,
through ``fleetcfg lint --format json``. The import is inside each test so that a
missing API fails these tests one by one instead of breaking collection.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fleetcfg.core.findings import Finding, Severity
from fleetcfg.core.versions import EngineVersion
from tests.oracle.corpus import CorpusFile, Expectation, corpus_ids, dockerd_verdict, load_corpus
from tests.oracle.dockerd import validate_many_bytes
from tests.oracle.generated import generate_documents

CORPUS = load_corpus()
REFUSED = tuple(f for f in CORPUS if f.dockerd_refuses)
CASES = [(f, e) for f in CORPUS for e in f.expect]
CASE_IDS = [f"{f.file}@{e.engine}" for f, e in CASES]


def lint(raw: bytes, filename: str, engine: str = "26.1") -> list[Finding]:
    from fleetcfg.lint.files import lint_bytes

    return lint_bytes(raw, filename=filename, kind="daemon", engine=EngineVersion.parse(engine))


def describe(findings: list[Finding]) -> str:
    return (
        "\n".join(
            f"  {f.severity.value} {f.rule} {f.path or '-'} {f.line}:{f.column} {f.message}"
            for f in findings
        )
        or "  (no findings)"
    )


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is Severity.ERROR]


def warnings(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is Severity.WARNING]


# (a) -------------------------------------------------------------------------


@pytest.mark.parametrize("entry", REFUSED, ids=corpus_ids(REFUSED))
def test_fleetcfg_errors_where_dockerd_26_refuses_or_would_not_start(entry: CorpusFile) -> None:
    findings = lint(entry.raw(), entry.file)
    assert errors(findings), (
        f"{entry.file}: dockerd 26.1.5 "
        f"{'rejects it' if entry.validate == 'reject' else 'would not start'} "
        f"({entry.about}), but fleetcfg reports no error:\n{describe(findings)}"
    )


# (b) -------------------------------------------------------------------------


@pytest.mark.oracle
@pytest.mark.parametrize("entry", CORPUS, ids=corpus_ids(CORPUS))
def test_what_fleetcfg_accepts_dockerd_accepts(entry: CorpusFile) -> None:
    findings = lint(entry.raw(), entry.file)
    if errors(findings):
        return
    got = dockerd_verdict(entry.file)
    assert got.accepted, (
        f"fleetcfg accepts {entry.file} for 26.1 but dockerd --validate says: {got.message}"
    )


# (c), (d), (e) ---------------------------------------------------------------


def check_expectation(entry: CorpusFile, exp: Expectation, findings: list[Finding]) -> None:
    shown = f"{entry.file} for {exp.engine} ({entry.about}):\n{describe(findings)}"
    if exp.verdict == "ok":
        assert not errors(findings) and not warnings(findings), f"expected no findings: {shown}"
    elif exp.verdict == "accept":
        assert not errors(findings), f"expected no errors: {shown}"
    elif exp.verdict == "warning":
        assert not errors(findings), f"expected warnings only: {shown}"
        assert warnings(findings), f"expected a warning: {shown}"
    else:
        assert errors(findings), f"expected an error: {shown}"
    reported = {f.rule for f in findings}
    for group in exp.rule_alternatives():
        assert reported & set(group), f"expected rule {' or '.join(group)}: {shown}"
    if exp.line is not None:
        at = [(f.line, f.column) for f in findings if f.rule == "FC001"]
        assert (exp.line, exp.column) in at, (
            f"expected the syntax error at line {exp.line}, column {exp.column}: {shown}"
        )


@pytest.mark.parametrize(("entry", "exp"), CASES, ids=CASE_IDS)
def test_fleetcfg_verdict_matches_manifest(entry: CorpusFile, exp: Expectation) -> None:
    check_expectation(entry, exp, lint(entry.raw(), entry.file, exp.engine))


def test_findings_name_the_file_they_are_about() -> None:
    entry = next(f for f in CORPUS if f.file == "invalid-validate/log-level-warning.json")
    findings = lint(entry.raw(), "/etc/docker/daemon.json")
    assert errors(findings)
    assert all(f.file in (None, "/etc/docker/daemon.json") for f in findings)
    assert any(f.path == "log-level" for f in errors(findings)), describe(findings)


# The CLI ---------------------------------------------------------------------

SECRETS = ("s3cr3t-mirror-pass", "Pr0xyPass")


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fleetcfg", "lint", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def corpus_path(name: str) -> Path:
    return next(f.path for f in CORPUS if f.file == name)


def cli_findings(proc: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:  # pragma: no cover - the message is the point
        raise AssertionError(f"not JSON on stdout ({exc}):\n{proc.stdout}\n{proc.stderr}") from exc
    found = doc["findings"]
    assert isinstance(found, list)
    for f in found:
        assert {"rule", "severity", "message", "file", "line", "column", "path"} <= set(f)
    return found


DAEMON_26 = ("--kind", "daemon", "--engine-version", "26.1", "--format", "json")


def test_cli_exits_0_with_no_findings_for_a_clean_file() -> None:
    proc = run_cli(*DAEMON_26, corpus_path("valid/enterprise-ci-runner.json"))
    assert proc.returncode == 0, proc.stderr
    assert cli_findings(proc) == []


def test_cli_exits_0_with_warnings_only() -> None:
    path = corpus_path("warning/registry-mirror-flag-spelling.json")
    proc = run_cli(*DAEMON_26, path)
    assert proc.returncode == 0, proc.stderr
    found = cli_findings(proc)
    assert [f["rule"] for f in found if f["severity"] == "warning"] == ["FC005"]
    assert all(f["file"] == str(path) for f in found)


def test_cli_exits_1_and_locates_a_syntax_error() -> None:
    path = corpus_path("invalid-validate/syntax-trailing-comma-object.json")
    proc = run_cli(*DAEMON_26, path)
    assert proc.returncode == 1, proc.stderr
    found = cli_findings(proc)
    assert {
        "rule": "FC001",
        "severity": "error",
        "file": str(path),
        "line": 4,
        "column": 1,
    }.items() <= next(f for f in found if f["rule"] == "FC001").items()


def test_cli_lints_several_files_and_fails_if_any_has_an_error() -> None:
    good = corpus_path("valid/json-file-rotation.json")
    bad = corpus_path("invalid-start/pool-size-smaller-than-prefix.json")
    proc = run_cli(*DAEMON_26, good, bad)
    assert proc.returncode == 1, proc.stderr
    found = cli_findings(proc)
    assert {f["file"] for f in found} == {str(bad)}
    assert any(f["rule"] == "FC010" and f["path"] for f in found)


def test_cli_never_prints_credentials() -> None:
    files = [
        corpus_path("invalid-start/registry-mirror-with-credentials.json"),
        corpus_path("invalid-validate/proxies-unknown-inner-key.json"),
    ]
    for text in (run_cli(*DAEMON_26, *files), run_cli("--kind", "daemon", *files)):
        assert text.returncode == 1, text.stderr
        for secret in SECRETS:
            assert secret not in text.stdout + text.stderr


def test_cli_exits_2_on_a_bad_engine_version() -> None:
    proc = run_cli(
        "--kind", "daemon", "--engine-version", "banana", corpus_path("valid/empty-object.json")
    )
    assert proc.returncode == 2


def test_engine_version_changes_the_verdict_on_the_cli() -> None:
    path = corpus_path("version/host-gateway-ips.json")
    old = run_cli(*DAEMON_26, path)
    new = run_cli("--kind", "daemon", "--engine-version", "28.5", "--format", "json", path)
    assert (old.returncode, new.returncode) == (1, 0), old.stdout + new.stdout
    assert any(f["rule"] == "FC006" for f in cli_findings(old))


# Beyond the corpus: generated files ------------------------------------------


@pytest.mark.oracle
def test_fleetcfg_agrees_with_dockerd_on_generated_files() -> None:
    """Among 400 generated files (fixed seed), whatever fleetcfg accepts for 26.1,
    dockerd --validate accepts too (equivalently: what dockerd rejects, fleetcfg
    reports as an error)."""
    accepted = {
        str(i): raw
        for i, raw in enumerate(generate_documents(400))
        if not errors(lint(raw, f"generated-{i}.json"))
    }
    verdicts = validate_many_bytes(accepted)
    disagreements = [
        f"{accepted[key].decode(errors='replace')}    dockerd: {v.error}"
        for key, v in verdicts.items()
        if not v.accepted
    ]
    assert not disagreements, "fleetcfg accepts what dockerd rejects:\n" + "\n".join(
        disagreements[:15]
    )
